"""The second pass of `make test` runs the database tests on PostgreSQL: this proves it really does."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_postgresql_pass_runs_on_postgresql_15_or_newer() -> None:
    assert connection.vendor == "postgresql"
    assert connection.pg_version >= 150000
