"""The checks' one-statement read (PostgreSQL: ``read_facts`` and the share code's) says what the ORM's reads
say, for every kind of licence a check meets: fresh projection, points lost, suspended, projection out of date,
no projection, categories past their end, a holder with several licences. On SQLite both are the ORM's."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from ninja.responses import NinjaJSONEncoder

from permis.api.checks import ShareCheckOut
from permis.api.common import find_licence, licence_facts, read_facts
from permis.api.police import LicenceCheckOut
from permis.audit import services as audit
from permis.registry import services
from permis.registry.models import Category, Projection
from tests.api.partners import call, key, licence
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 6, 2)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(dt.datetime(2025, 6, 2, 10, tzinfo=dt.UTC), tick=False):
        yield


def _seen(facts) -> tuple:
    """Everything a check answers from the facts (the balance only for the police-balance door)."""
    lic = facts.licence
    return (
        lic.pk,
        lic.holder_id,
        lic.number,
        lic.obtained_on,
        facts.identity(),
        facts.on,
        facts.status,
        facts.public_status,
        facts.suspended,
        facts.suspension,
        facts.balance,
        facts.cap,
        facts.categories,
    )


@pytest.fixture
def licences():
    plain = licence("FCT000000001", on=TODAY, birth_name="Dupont", given_names="Élise")
    points = licence(
        "FCT000000002", offences=[offence("2025-01-10", "2025-02-01", 4)], on=TODAY, birth_name="O'Hara"
    )
    suspended = licence("FCT000000003", on=TODAY, used_name="Martin")
    services.record_event(
        suspended, "suspension", {"from": "2025-05-01", "to": "2025-08-31"}, source="agent", on=TODAY
    )
    stale = licence("FCT000000004", offences=[offence("2024-11-10", "2024-12-01", 1)], on=TODAY)
    # as the daily run left it on 2025-05-01, before the point's return on 2025-06-01 (not run since)
    Projection.objects.filter(licence=stale).update(
        balance=11, as_of=dt.date(2025, 5, 1), next_change_on=dt.date(2025, 6, 1)
    )
    bare = licence("FCT000000005", on=TODAY)
    Projection.objects.filter(licence=bare).delete()
    expired = licence("FCT000000006", on=TODAY)
    Category.objects.filter(licence=expired, code="A").update(expires_on=dt.date(2024, 1, 1))
    return [plain, points, suspended, stale, bare, expired]


def test_the_one_statement_read_says_what_the_orm_says(licences) -> None:
    for lic in licences:
        fast = read_facts(f" {lic.number[:4]} {lic.number[4:].lower()} ", TODAY)  # spaces and case as typed
        orm = licence_facts(find_licence(lic.number), TODAY)
        assert _seen(fast) == _seen(orm), lic.number
    assert read_facts("FCT999999999", TODAY) is None
    assert read_facts("", TODAY) is None
    assert read_facts("X" * 20, TODAY) is None


def test_the_facts_of_a_suspended_or_stale_licence_come_from_the_engine(licences) -> None:
    _, points, suspended, stale, bare, expired = licences
    facts = read_facts(suspended.number, TODAY)
    assert (facts.suspended, facts.suspension, facts.public_status) == (
        True,
        (dt.date(2025, 5, 1), dt.date(2025, 8, 31)),
        "suspended",
    )
    assert read_facts(points.number, TODAY).balance == 8
    assert read_facts(bare.number, TODAY).balance == 12  # no projection: the engine's answer
    # the 1-point offence final on 2024-12-01 came back on 2025-06-01, after the projection was written
    assert read_facts(stale.number, TODAY).balance == 12
    assert [(c.code, c.as_dict(TODAY)["valid"]) for c in read_facts(expired.number, TODAY).categories] == [
        ("B", True),
        ("A", False),
    ]


def test_a_share_code_reads_its_holders_current_licence(licences) -> None:
    plain = licences[0]
    newer = services.register_licence(
        holder=plain.holder,
        number="FCT000000009",
        dossier_number="DFCT00000009",
        obtained_on=dt.date(2024, 9, 1),
        categories=[{"code": "B", "obtained_on": dt.date(2024, 9, 1)}],
        on=TODAY,
    )
    _, code = audit.create_share(plain.holder, 3)
    share, facts = audit._share_facts(code.lower(), TODAY)
    assert facts.licence.pk == newer.pk
    assert _seen(facts) == _seen(licence_facts(find_licence(newer.number), TODAY))
    assert share.actor == f"share:{share.pk}" and share.holder_id == plain.holder_id
    assert audit._share_facts("ABCD-EFGH-JK", TODAY) is None


def _as_ninja_renders(schema, body: dict) -> dict:
    """What django-ninja answered when it validated the answer against its schema: the schema's fields only,
    converted, then rendered by its JSON encoder."""
    return json.loads(json.dumps(schema.model_validate(body).model_dump(), cls=NinjaJSONEncoder))


def test_the_hot_checks_answer_exactly_their_schema(licences) -> None:
    """The police and share-code checks render their answer without ninja's second validation (common.answer):
    each answer is still what the schema gives, key for key (no key more, none less, the same values)."""
    police_key, third_key = key("police"), key("third_party")
    for lic in licences:
        response = call("get", f"/api/v1/police/licences/{lic.number}?purpose=roadside_check", police_key)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/json")
        body = response.json()
        assert body == _as_ninja_renders(LicenceCheckOut, body), lic.number
        assert set(body) == set(LicenceCheckOut.model_fields)
        _, code = audit.create_share(lic.holder, 2)
        response = call("post", "/api/v1/checks/share", third_key, {"code": code})
        assert response.status_code == 200
        body = response.json()
        assert body == _as_ninja_renders(ShareCheckOut, body), lic.number
        assert set(body) == set(ShareCheckOut.model_fields)
