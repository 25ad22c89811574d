"""What one partner check costs the database, pinned: a police check and a share-code check read the licence's
state from its projection (no replay of its events) and log the check in three statements, so that a new query
on these paths (docs/performance.md, "Partner checks") shows up here before it shows up in the benchmark."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from permis.audit.models import AccessLog
from permis.audit.services import create_share
from tests.api.partners import call, key, licence
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 6, 2)


@pytest.fixture(autouse=True)
def _today():
    # Time stands still: the rate limit's minute does not change between the warm-up call and the measured one.
    with time_machine.travel(dt.datetime(2025, 6, 2, 10, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def lic():
    return licence("QRY000000001", offences=[offence("2025-01-10", "2025-02-01", 3)], on=TODAY)


def _statements(request) -> list[str]:
    """The statements of one request, as "VERB table", once the key's rate window and the chain's head exist
    (the first call makes them). Inside the test's transaction, the log's BEGIN and COMMIT are a SAVEPOINT
    and its RELEASE."""
    request()
    with CaptureQueriesContext(connection) as queries:
        response = request()
    assert response.status_code == 200, response.content
    out = []
    for query in queries.captured_queries:
        sql = query["sql"]
        verb = sql.split()[0].upper()
        if verb in ("SAVEPOINT", "RELEASE"):
            out.append(verb)
            continue
        if connection.vendor == "postgresql":
            out.append(_postgresql_statement(sql))
            continue
        table = re.search(r'(?:FROM|INTO|UPDATE) "(\w+)"', sql).group(1)
        out.append(f"{verb} {table}" + (" FOR UPDATE" if "FOR UPDATE" in sql else ""))
    return out


def _postgresql_statement(sql: str) -> str:
    """What a statement of the checks' PostgreSQL path does, by what it reads and writes."""
    if "permis_audit_append" in sql:
        return "append to the access log"
    tables = sorted(set(re.findall(r'(?:FROM|JOIN|INTO) "(\w+)"', sql)))
    return ("upsert " if "ON CONFLICT" in sql else "read ") + " + ".join(tables)


# On PostgreSQL a check is three statements: the key with its call counted, the licence (with its holder, its
# projection and its categories, and for a share code the code), then the log's append (migration 0004).
POSTGRESQL_POLICE = [
    "upsert api_apikey + api_apiratewindow",
    "read registry_category + registry_holder + registry_licence + registry_projection",
    "append to the access log",
]
POSTGRESQL_SHARE = [
    "upsert api_apikey + api_apiratewindow",
    "read audit_sharecode + registry_category + registry_holder + registry_licence + registry_projection",
    "append to the access log",
]

LOG = [
    "SAVEPOINT",
    "SELECT audit_chainhead FOR UPDATE",
    "INSERT audit_accesslog",
    "UPDATE audit_chainhead",
    "RELEASE",
]


def _log(statements: list[str]) -> list[str]:
    if connection.vendor != "postgresql":  # SQLite has no FOR UPDATE: it serialises writers itself
        return [s.replace(" FOR UPDATE", "") for s in statements]
    return statements


def test_a_police_check_is_four_reads_and_the_logs_three_statements_or_three_on_postgresql(lic) -> None:
    token = key("police")
    statements = _statements(
        lambda: call("get", f"/api/v1/police/licences/{lic.number}?purpose=roadside_check", token)
    )
    if connection.vendor == "postgresql":
        assert statements == POSTGRESQL_POLICE
        assert AccessLog.objects.count() == 2
        return
    assert statements == [
        "SELECT api_apikey",
        "INSERT api_apiratewindow",  # the rate limit's counter (an upsert)
        "SELECT registry_licence",  # with its holder and projection
        "SELECT registry_category",
        *_log(LOG),
    ]
    assert AccessLog.objects.count() == 2


def test_a_share_code_check_reads_the_projection_not_the_events(lic) -> None:
    token = key("third_party")
    _row, code = create_share(lic.holder, 7)
    statements = _statements(lambda: call("post", "/api/v1/checks/share", token, {"code": code}))
    if connection.vendor == "postgresql":
        assert statements == POSTGRESQL_SHARE
        assert AccessLog.objects.count() == 2
        return
    assert statements == [
        "SELECT api_apikey",
        "INSERT api_apiratewindow",
        "SELECT audit_sharecode",  # with its holder
        "SELECT registry_licence",  # with its projection
        "SELECT registry_category",
        *_log(LOG),
    ]
    assert AccessLog.objects.count() == 2


@pytest.mark.postgres
def test_on_postgresql_the_checks_statements_are_prepared_once_per_connection(lic) -> None:
    """permis.config.database.prepared_cursor: PostgreSQL plans the checks' statements once per connection."""
    if connection.vendor != "postgresql":
        pytest.fail("run with DATABASE_URL=postgres://… (prepared statements are PostgreSQL's)")
    token = key("police")
    for _ in range(3):
        response = call("get", f"/api/v1/police/licences/{lic.number}?purpose=roadside_check", token)
        assert response.status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('FROM "api_apikey"' in sql for sql in prepared)
    assert any('FROM "registry_licence"' in sql for sql in prepared)
    assert any("permis_audit_append" in sql for sql in prepared)
    assert (
        len(prepared) == len(set(prepared)) <= 4
    )  # each once however many checks (+ the rate window's prune)
