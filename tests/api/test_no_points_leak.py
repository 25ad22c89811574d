"""L223-7: no answer to a third party or a course centre carries a balance, points or a movement.

Every operation of the third-party and course-centre routers is called, in its successful and failing cases,
for licences in every state (points lost, zero balance, suspended, invalidated), and the JSON of every answer
is walked for keys or words that speak of points. The test fails if an operation of those routers was not
called, so a new endpoint cannot slip past it.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from permis.api import checks, courses
from permis.audit.services import create_share
from permis.notices import signing
from permis.notices.documents.facts import attestation_payload, licence_state
from permis.registry import services
from tests.api.partners import APPROVAL, call, centre, key, leaks, licence
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 6, 2)
BORN = "1990-05-17"


def at(day: dt.date):
    return time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC), tick=True)


def _operations(router, prefix: str) -> set[tuple[str, str]]:
    return {
        (method, re.sub(r"\{[^}]+\}", "{}", prefix + path))
        for path, view in router.path_operations.items()
        for operation in view.operations
        for method in operation.methods
    }


def test_no_third_party_or_course_centre_answer_speaks_of_points() -> None:
    with at(TODAY):
        centre()
        lost = licence("LK0000000001", offences=[offence("2025-01-10", "2025-02-01", 4)], on=TODAY)
        zero = licence(
            "LK0000000002",
            offences=[offence("2025-01-10", "2025-02-01", 6), offence("2025-01-11", "2025-02-02", 6, "D")],
            on=TODAY,
        )
        suspended = licence("LK0000000003", on=TODAY)
        services.record_event(
            suspended, "suspension", {"from": "2025-05-01", "to": "2025-08-01"}, source="agent", on=TODAY
        )
        invalid = licence(
            "LK0000000004",
            offences=[offence("2024-01-10", "2024-02-01", 6), offence("2024-01-11", "2024-02-02", 6, "D")],
            on=TODAY,
        )
        services.record_event(
            invalid, "invalidation_notified", {"on": "2024-03-01"}, source="agent", on=TODAY
        )
        licences = [lost, zero, suspended, invalid]
        third = key("third_party")
        centre_key = key("course_centre", sender=APPROVAL)
        called: set[tuple[str, str]] = set()
        answers: list[tuple[str, object]] = []

        def hit(method: str, url: str, token: str | None, body=None) -> dict:
            response = call(method, url, token, body)
            assert response.status_code < 500, (url, response.content)
            called.add((method.upper(), re.sub(r"/\d+/", "/{}/", url)))
            answers.append((url, response.json()))
            return response.json()

        for lic in licences:
            _row, code = create_share(lic.holder, 5)
            hit("post", "/api/v1/checks/share", third, {"code": code, "purpose": "location"})
            text = signing.sign_payload(attestation_payload(licence_state(lic, TODAY), TODAY))
            hit("post", "/api/v1/checks/attestation", third, {"qr": text})
            hit("post", "/api/v1/checks/attestation", third, {"qr": text[:-3] + "AAA"})
            for on in (None, "2025-06-20"):
                body = {"licence_number": lic.number, "birth_date": BORN, **({"on": on} if on else {})}
                hit("post", "/api/v1/courses/eligibility", centre_key, body)
        hit("post", "/api/v1/checks/share", third, {"code": "ABCD-EFGH-JK"})
        hit("post", "/api/v1/checks/share", third, {"code": "ABCD-EFGH-JK", "points": 1})
        hit(
            "post",
            "/api/v1/courses/eligibility",
            centre_key,
            {"licence_number": "LK0000000001", "birth_date": "2000-01-01"},
        )
        session = hit(
            "post",
            "/api/v1/courses/sessions",
            centre_key,
            {"first_day": "2025-06-10", "place": "Paris", "price_cents": 20000, "seats": 12},
        )
        hit(
            "post",
            "/api/v1/courses/sessions",
            centre_key,
            {"first_day": "2025-01-01", "place": "P", "price_cents": 1, "seats": 1},
        )
        hit("get", "/api/v1/courses/sessions", centre_key)
    with at(dt.date(2025, 6, 11)):
        attendees = [{"licence_number": lic.number, "birth_date": BORN, "attended": True} for lic in licences]
        attendees.append({"licence_number": "NOPE", "birth_date": BORN, "attended": False})
        hit(
            "post",
            f"/api/v1/courses/sessions/{session['id']}/attendance",
            centre_key,
            {"attendees": attendees},
        )
        hit("post", "/api/v1/courses/sessions/999999/attendance", centre_key, {"attendees": attendees[:1]})

    expected = _operations(checks.router, "/api/v1/checks") | _operations(courses.router, "/api/v1/courses")
    assert expected <= called, f"operations never called: {sorted(expected - called)}"
    problems = [(url, leak) for url, answer in answers for leak in leaks(answer)]
    assert problems == []


def test_the_walker_finds_points() -> None:
    assert leaks({"a": [{"balance": 3}]}) == ["$.a[0].balance"]
    assert leaks({"status": "zero_balance", "m": "Solde : 4 points"}) == [
        "$.status = 'zero_balance'",
        "$.m = 'Solde : 4 points'",
    ]
    assert leaks({"movements": []}) == ["$.movements"]
