"""The course-centre journey over the API: declare a session, check eligibility (yes/no and from when, never the
balance), submit attendance after the last day, and the daily run of the next day credits the points."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command

from permis.audit.models import AccessLog
from permis.courses.models import Attendance, CourseSession
from permis.registry.models import Event, Projection
from tests.api.partners import APPROVAL, call, centre, key, leaks, licence
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 6, 2)
BORN = "1990-05-17"  # the factories' holder


def at(day: dt.date):
    return time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC), tick=True)


@pytest.fixture(autouse=True)
def _today():
    with at(TODAY):
        yield


@pytest.fixture
def centre_key() -> str:
    centre()
    return key("course_centre", sender=APPROVAL, name="Stage Prévention Paris")


def test_the_whole_journey_credits_the_points_the_day_after_the_last_day(centre_key: str) -> None:
    lic = licence("CC0000000001", offences=[offence("2025-01-10", "2025-02-01", 4)], on=TODAY)
    answers = []

    response = call(
        "post",
        "/api/v1/courses/sessions",
        centre_key,
        {"first_day": "2025-06-10", "place": "Salle des fêtes, Paris 11e", "price_cents": 23000, "seats": 20},
    )
    assert response.status_code == 201, response.content
    session = response.json()
    answers.append(session)
    assert (session["first_day"], session["last_day"], session["seats_taken"]) == (
        "2025-06-10",
        "2025-06-11",
        0,
    )
    listing = call("get", "/api/v1/courses/sessions", centre_key).json()
    assert [s["id"] for s in listing] == [session["id"]]
    answers.append(listing)

    check = {"licence_number": "CC0000000001", "birth_date": BORN, "on": "2025-06-10"}
    response = call("post", "/api/v1/courses/eligibility", centre_key, check)
    assert response.status_code == 200, response.content
    assert response.json() == {"eligible": True, "from": "2025-06-10"}
    answers.append(response.json())
    entry = AccessLog.objects.get()
    assert (entry.role, entry.purpose, entry.licence_id) == ("course_centre", "course_eligibility", lic.pk)

    attendance_url = f"/api/v1/courses/sessions/{session['id']}/attendance"
    present = {"attendees": [{"licence_number": "CC0000000001", "birth_date": BORN, "attended": True}]}
    with at(dt.date(2025, 6, 10)):  # during the course: too early
        early = call("post", attendance_url, centre_key, present).json()
    assert early["rejected"] == 1 and "report after it" in early["attendees"][0]["errors"][0]
    answers.append(early)

    with at(dt.date(2025, 6, 11)):
        response = call("post", attendance_url, centre_key, present)
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["recorded"], body["rejected"]) == (1, 0)
        answers.append(body)
        assert Event.objects.filter(licence=lic, kind="course").count() == 1
        assert Projection.objects.get(licence=lic).balance == 8  # not yet: the day after the last day
        again = call("post", attendance_url, centre_key, present).json()
        assert again["recorded"] == 1 and Event.objects.filter(licence=lic, kind="course").count() == 1

    with at(dt.date(2025, 6, 12)):
        call_command("daily", "--quiet", stdout=io.StringIO(), stderr=io.StringIO())
        projection = Projection.objects.get(licence=lic)
        assert projection.balance == 12 and projection.as_of == dt.date(2025, 6, 12)
        # A year's limit now: not eligible, and the centre learns from which day it would be.
        response = call(
            "post",
            "/api/v1/courses/eligibility",
            centre_key,
            {"licence_number": "CC0000000001", "birth_date": BORN},
        )
        answers.append(response.json())
        assert response.json()["eligible"] is False
    assert Attendance.objects.get().status == "attended"
    assert AccessLog.objects.filter(role="course_centre", purpose="course_attendance").count() == 2
    for answer in answers:
        assert leaks(answer) == [], answer


def test_eligibility_no_and_from_when(centre_key: str) -> None:
    licence("CC0000000002", on=TODAY)  # 12 points: at the cap
    response = call(
        "post",
        "/api/v1/courses/eligibility",
        centre_key,
        {"licence_number": "CC0000000002", "birth_date": BORN},
    )
    assert response.json() == {"eligible": False, "from": None}
    wrong = call(
        "post",
        "/api/v1/courses/eligibility",
        centre_key,
        {"licence_number": "CC0000000002", "birth_date": "1990-05-18"},
    )
    assert wrong.status_code == 404 and wrong.json() == {
        "error": "licence_number: no licence with this number and birth date"
    }
    assert AccessLog.objects.count() == 1


def test_a_centre_only_reaches_its_own_sessions(centre_key: str) -> None:
    other = centre("R2506900020", name="Autre centre", departement="69", postcode="69001")
    foreign = CourseSession.objects.create(
        centre=other,
        first_day=dt.date(2025, 5, 1),
        last_day=dt.date(2025, 5, 2),
        place="Lyon",
        price_cents=20000,
        seats=10,
    )
    licence("CC0000000003", offences=[offence("2025-01-10", "2025-02-01", 4)], on=TODAY)
    body = {"attendees": [{"licence_number": "CC0000000003", "birth_date": BORN, "attended": True}]}
    response = call("post", f"/api/v1/courses/sessions/{foreign.pk}/attendance", centre_key, body)
    assert response.status_code == 404 and "R2507500010" in response.json()["error"]
    assert call("get", "/api/v1/courses/sessions", centre_key).json() == []
    assert Event.objects.filter(kind="course").count() == 0


def test_keys_bodies_and_centres_are_checked(centre_key: str) -> None:
    session = {"first_day": "2025-06-10", "place": "Paris", "price_cents": 23000, "seats": 20}
    unlinked = key("course_centre", sender="", name="Sans centre")
    response = call("post", "/api/v1/courses/sessions", unlinked, session)
    assert response.status_code == 403 and "approval number" in response.json()["error"]
    assert call("post", "/api/v1/courses/sessions", key("police"), session).status_code == 403
    assert call("post", "/api/v1/courses/sessions", None, session).status_code == 401
    response = call("post", "/api/v1/courses/sessions", centre_key, {**session, "balance": 3})
    assert response.status_code == 422 and response.json()["error"] == "balance: unknown field"
    response = call("post", "/api/v1/courses/sessions", centre_key, {**session, "first_day": "2025-06-01"})
    assert response.status_code == 422 and response.json()["error"].startswith("first_day:")
    for far in ("9999-12-31", "2027-06-03"):  # the last day of the calendar; two years and a day ahead
        response = call("post", "/api/v1/courses/sessions", centre_key, {**session, "first_day": far})
        assert response.status_code == 422, response.content
        assert response.json()["error"] == (
            f"first_day: {far} is more than two years ahead (sessions are declared up to 2027-06-02)"
        )
    assert (
        call(
            "post", "/api/v1/courses/sessions", centre_key, {**session, "first_day": "2027-06-02"}
        ).status_code
        == 201
    )
    assert call("post", "/api/v1/courses/sessions", centre_key, {**session, "seats": 0}).status_code == 422
    with at(dt.date(2025, 6, 3)):
        from permis.courses.models import CourseCentre

        CourseCentre.objects.filter(approval_number=APPROVAL).update(withdrawn_on=dt.date(2025, 6, 3))
        response = call("post", "/api/v1/courses/sessions", centre_key, session)
        assert response.status_code == 403 and "not approved" in response.json()["error"]


def test_the_apikey_command_links_a_course_centre_key_to_its_centre() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="approval number"):
        call_command(
            "apikey",
            "create",
            "--name",
            "X",
            "--scope",
            "course_centre",
            "--sender",
            "R0",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    centre()
    out = io.StringIO()
    call_command(
        "apikey",
        "create",
        "--name",
        "X",
        "--scope",
        "course_centre",
        "--sender",
        APPROVAL,
        stdout=out,
        stderr=io.StringIO(),
    )
    assert call("get", "/api/v1/courses/sessions", out.getvalue().strip()).status_code == 200
