"""Requests are taken as they are written or refused (issue 6, "request bodies validated strictly"): a JSON body's
types are exact ("23000" is not a number, "yes" not a boolean), an unknown field is refused, and a check's
unknown query parameter too; each with a 422 whose error names the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pydantic
import pytest
import time_machine

from permis.api.v1 import api, field_name
from permis.audit.models import AccessLog
from permis.audit.services import create_share
from permis.courses.models import Attendance, CourseCentre, CourseSession
from tests.api.partners import APPROVAL, call, centre, key, licence
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 6, 2)
BORN = "1990-05-17"  # the factories' holder
SESSION = {"first_day": "2025-06-10", "place": "Paris", "price_cents": 23000, "seats": 20}


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(dt.datetime(2025, 6, 2, 10, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def centre_key() -> str:
    centre()
    return key("course_centre", sender=APPROVAL, name="Stage Prévention Paris")


@pytest.fixture
def lic():
    return licence("STR000000001", offences=[offence("2025-01-10", "2025-02-01", 3)], on=TODAY)


def refused(response: Any, error: str) -> None:
    assert response.status_code == 422, response.content
    assert response.json()["error"] == error


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"price_cents": "23000"}, "price_cents: Input should be a valid integer"),
        ({"price_cents": 23000.0}, "price_cents: Input should be a valid integer"),
        ({"seats": True}, "seats: Input should be a valid integer"),
        ({"place": 75011}, "place: Input should be a valid string"),
        ({"first_day": 20250610}, "first_day: Input should be a valid date"),
        ({"first_day": "2025-06-10T00:00:00"}, "first_day: a date is written YYYY-MM-DD"),
        ({"first_day": "10/06/2025"}, "first_day: a date is written YYYY-MM-DD"),
        ({"first_day": "2025-02-30"}, "first_day: 2025-02-30 is not a day of the calendar"),
        ({"colour": 1}, "colour: unknown field"),
    ],
)
def test_a_session_with_a_field_of_the_wrong_type_is_refused_naming_it(centre_key, change, error) -> None:
    refused(call("post", "/api/v1/courses/sessions", centre_key, {**SESSION, **change}), error)
    assert not CourseSession.objects.exists()


def test_a_well_typed_session_is_still_declared(centre_key) -> None:
    response = call("post", "/api/v1/courses/sessions", centre_key, SESSION)
    assert response.status_code == 201, response.content
    assert response.json()["first_day"] == "2025-06-10"


def test_attendance_and_eligibility_take_exact_types(centre_key, lic) -> None:
    session = CourseSession.objects.create(
        centre=CourseCentre.objects.get(approval_number=APPROVAL),
        first_day=dt.date(2025, 5, 20),
        last_day=dt.date(2025, 5, 21),
        place="Paris",
        price_cents=20000,
        seats=10,
    )
    url = f"/api/v1/courses/sessions/{session.pk}/attendance"
    line = {"licence_number": lic.number, "birth_date": BORN, "attended": True}
    for change, error in [
        ({"attended": "yes"}, "attendees[0].attended: Input should be a valid boolean"),
        ({"attended": 1}, "attendees[0].attended: Input should be a valid boolean"),
        ({"birth_date": "17/05/1990"}, "attendees[0].birth_date: a date is written YYYY-MM-DD"),
        ({"licence_number": 1234567}, "attendees[0].licence_number: Input should be a valid string"),
        ({"course_type": "free"}, "attendees[0].course_type: Input should be 'voluntary' or 'mandatory'"),
        ({"seat": 3}, "attendees[0].seat: unknown field"),
    ]:
        refused(call("post", url, centre_key, {"attendees": [{**line, **change}]}), error)
    refused(call("post", url, centre_key, {"attendees": [line], "late": False}), "late: unknown field")
    assert not Attendance.objects.exists() and not AccessLog.objects.exists()

    eligibility = {"licence_number": lic.number, "birth_date": BORN}
    refused(
        call("post", "/api/v1/courses/eligibility", centre_key, {**eligibility, "on": 20250610}),
        "on: Input should be a valid date",
    )
    refused(
        call("post", "/api/v1/courses/eligibility", centre_key, {**eligibility, "birth_date": None}),
        "birth_date: Input should be a valid date",
    )
    assert not AccessLog.objects.exists()
    response = call("post", "/api/v1/courses/eligibility", centre_key, {**eligibility, "on": "2025-06-10"})
    assert response.status_code == 200 and response.json()["eligible"] is True
    assert call("post", url, centre_key, {"attendees": [line]}).json()["recorded"] == 1


def test_several_problems_are_all_named(centre_key) -> None:
    response = call(
        "post", "/api/v1/courses/sessions", centre_key, {"place": "", "price_cents": "1", "seats": 20}
    )
    assert response.status_code == 422
    assert response.json()["error"] == (
        "first_day: Field required; place: String should have at least 1 character; "
        "price_cents: Input should be a valid integer"
    )
    assert [d["loc"][-1] for d in response.json()["details"]] == ["first_day", "place", "price_cents"]


def test_an_unknown_query_parameter_of_a_check_is_refused_naming_it(lic) -> None:
    police = key("police", "police_balance")
    for path in (f"/api/v1/police/licences/{lic.number}", f"/api/v1/police/licences/{lic.number}/balance"):
        refused(
            call("get", f"{path}?purpose=roadside_check&foo=1&purpose_detial=PV%2012", police),
            "foo, purpose_detial: unknown query parameter (it takes purpose, purpose_detail)",
        )
        assert call("get", f"{path}?purpose=roadside_check&purpose_detail=PV", police).status_code == 200
    refused(
        call(
            "post",
            "/api/v1/police/qr?purpose=roadside_check",
            police,
            {"qr": "x", "purpose": "roadside_check"},
        ),
        "purpose: unknown query parameter (it takes none)",
    )
    third = key("third_party")
    _row, code = create_share(lic.holder, 7)
    refused(
        call("post", "/api/v1/checks/share?code=1", third, {"code": code}),
        "code: unknown query parameter (it takes none)",
    )
    refused(
        call("post", "/api/v1/checks/attestation?x", third, {"qr": "x"}),
        "x: unknown query parameter (it takes none)",
    )
    assert AccessLog.objects.count() == 2  # the two answered police checks only


def test_the_field_names_are_the_callers() -> None:
    assert field_name(("body", "body", "attendees", 0, "attended")) == "attendees[0].attended"
    assert field_name(("body", "body")) == "body"
    assert field_name(("query", "purpose")) == "purpose"
    assert field_name(("path", "session_id")) == "session_id"


def _models(annotation: Any) -> list[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        found = [annotation]
        for field in annotation.model_fields.values():
            found += _models(field.annotation)
        return found
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models(arg)]


def test_every_body_schema_of_the_api_is_strict() -> None:
    """A guard: a new write operation whose body is lax (or takes unknown fields) fails here. The feed and the
    postal receipts read their bodies themselves, through their own strict schemas (tested in their files)."""
    bodies = []
    for _prefix, router in api._routers:
        for view in router.path_operations.values():
            for operation in view.operations:
                for model in operation.models:
                    if model.__ninja_param_source__ != "body":
                        continue
                    for field in model.model_fields.values():
                        bodies += _models(field.annotation)
    assert {m.__name__ for m in bodies} >= {"SessionIn", "EligibilityIn", "AttendanceIn", "QrIn", "ShareIn"}
    lax = [m.__name__ for m in bodies if m.model_config.get("strict") is not True]
    open_ = [m.__name__ for m in bodies if m.model_config.get("extra") != "forbid"]
    assert lax == [] and open_ == []
