"""Every operation of the partner API against its own OpenAPI document (schemathesis, in process through WSGI):
with a valid key of the operation's scope and a database holding licences, share codes and a course centre,
no answer is a server error and every documented answer matches its schema and content type.

Bounded: a few examples per operation (MAX_EXAMPLES), no deadline, so the suite stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from permis.accounts.models import Account, HolderLink
from permis.api.models import ApiKey
from permis.audit.services import create_share
from tests.api.partners import APPROVAL, centre, holder_token
from tests.notices.document_helpers import licence_with

MAX_EXAMPLES = 20
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def scope_of(path: str) -> str:
    """The scope of the key an operation needs (its router's, or police_balance for the balance)."""
    if path.startswith("/api/v1/police/") and path.endswith("/balance"):
        return "police_balance"
    section = path.removeprefix("/api/v1/").split("/", 1)[0]
    return {"courses": "course_centre", "checks": "third_party", "holder": "holder"}.get(section, section)


@pytest.fixture
def keep_the_test_connection() -> Iterator[None]:
    """Django's WSGI handler closes the database connection after each request (``close_old_connections``),
    which would end the test's transaction; Django's test client disconnects it the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(keep_the_test_connection: None, django_db_blocker: Any, db: Any) -> dict[str, str]:
    """A key per scope and a holder's access token, over a database with files, a share code and a centre."""
    lic = licence_with("48")
    licence_with("48SI")
    create_share(lic.holder, 7)
    centre(APPROVAL)
    from django.contrib.auth.models import User

    user = User.objects.create_user("holder", email="holder@example.fr")
    HolderLink.objects.create(user=user, holder=lic.holder, method="licence_form")
    Account.objects.create(user=user, franceconnect_sub="sub-holder")
    found = {}
    for scope in ("feed", "post", "course_centre", "police", "police_balance", "third_party"):
        sender = {"feed": "ANTAI", "course_centre": APPROVAL}.get(scope, "")
        found[scope] = ApiKey.objects.issue(name=scope, sender=sender, scopes=[scope])[1]
    found["holder"] = holder_token("sub-holder")
    return found


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_operation_answers_a_server_error_or_off_its_schema(case: Any, tokens: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {tokens[scope_of(case.path)]}"}
    case.call_and_validate(headers=headers, checks=CHECKS)
