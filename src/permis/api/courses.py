"""Approved course centres: declare sessions, check an attendee's eligibility, submit attendance (capability 8).

Scope ``course_centre``. The key is linked to one centre by its ``sender``: the centre's approval number
(``permis apikey create --scope course_centre --sender <approval number>``), so a centre only declares
sessions and attendance for itself, and a withdrawn centre's key stops working the day of the withdrawal.

A centre never learns points (L225-5, L223-7): eligibility is yes/no and from which day
(``permis.courses.services.centre_eligibility``), attendance answers recorded or rejected. The points are the
engine's: attendance is a ``course`` event, credited the day after the last day by the daily run.
An attendee is named by the licence number and the birth date together, as printed on the licence: a number
alone would let a centre probe the file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from permis.audit.models import Channel, Purpose, Role
from permis.audit.services import log_access
from permis.courses.models import CourseCentre, CourseSession
from permis.courses.services import CourseError, centre_eligibility, declare_session, record_attendance
from permis.registry.models import Licence
from permis.registry.services.core import RegistryError

from .auth import KeyAuth
from .common import ERRORS, STRICT, Day, find_licence, request_id
from .models import ApiKey, Scope

router = Router(tags=["course centres"], auth=KeyAuth(Scope.COURSE_CENTRE))
MAX_ATTENDEES = 200


class SessionIn(Schema):
    model_config = STRICT

    first_day: Day = Field(
        description="the first of the two consecutive days (R223-5), after today and at most two years ahead"
    )
    place: str = Field(min_length=1, max_length=200)
    price_cents: int = Field(ge=0, le=10_000_000, description="the price in euro cents")
    seats: int = Field(ge=1, le=1000)


class SessionOut(Schema):
    id: int
    first_day: dt.date
    last_day: dt.date
    place: str
    price_cents: int
    seats: int
    seats_taken: int


class AttendeeIn(Schema):
    model_config = STRICT

    licence_number: str = Field(min_length=1, max_length=19)
    birth_date: Day


class EligibilityIn(AttendeeIn):
    on: Day | None = Field(None, description="the course's first day (default: today)")


class EligibilityOut(Schema):
    eligible: bool = Field(description="a course started that day would credit points")
    from_: dt.date | None = Field(
        alias="from",
        description="the first day from which a course would credit points; null when none would "
        "(a licence at its cap, invalidated or annulled)",
    )


class AttendanceLineIn(AttendeeIn):
    attended: bool = Field(description="present both days in full")
    course_type: Literal["voluntary", "mandatory"] = "voluntary"


class AttendanceIn(Schema):
    model_config = STRICT

    attendees: list[AttendanceLineIn] = Field(min_length=1, max_length=MAX_ATTENDEES)


class AttendanceResultOut(Schema):
    index: int
    licence_number: str
    outcome: Literal["recorded", "rejected"]
    errors: list[str]


class AttendanceOut(Schema):
    session: int
    recorded: int
    rejected: int
    attendees: list[AttendanceResultOut]


def _centre(request: HttpRequest, on: dt.date | None = None) -> CourseCentre:
    """The centre the key speaks for; 403 when the key names none or the centre is not approved today."""
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    centre = CourseCentre.objects.filter(approval_number=key.sender).first() if key.sender else None
    if centre is None:
        raise HttpError(
            403, "this key is not linked to a course centre (its sender must be the centre's approval number)"
        )
    on = on or timezone.localdate()
    if not centre.approved(on):
        raise HttpError(403, f"centre {centre.approval_number} is not approved on {on.isoformat()}")
    return centre


def _attendee(line: AttendeeIn) -> Licence | None:
    licence = find_licence(line.licence_number)
    if licence is None or licence.holder.birth_date != line.birth_date:
        return None
    return licence


def _session(centre: CourseCentre, session_id: int) -> CourseSession:
    session = CourseSession.objects.select_related("centre").filter(pk=session_id, centre=centre).first()
    if session is None:
        raise HttpError(404, f"session: no session {session_id} of centre {centre.approval_number}")
    return session


def _session_out(session: CourseSession) -> dict[str, Any]:
    return {
        "id": session.pk,
        "first_day": session.first_day,
        "last_day": session.last_day,
        "place": session.place,
        "price_cents": session.price_cents,
        "seats": session.seats,
        "seats_taken": session.seats_taken,
    }


@router.post(
    "/sessions",
    response={201: SessionOut, **ERRORS},
    summary="Declare a session",
    description="Two consecutive days from `first_day` (after today, at most two years ahead), a place, a price and a number of seats. "
    "The session is then listed to holders looking for a course near them.",
)
def create_session(request: HttpRequest, body: SessionIn) -> Status:
    centre = _centre(request)
    try:
        session = declare_session(
            centre, first_day=body.first_day, place=body.place, price_cents=body.price_cents, seats=body.seats
        )
    except CourseError as error:
        raise HttpError(422, f"{error.field}: {error.message}") from None
    return Status(201, _session_out(session))


@router.get(
    "/sessions",
    response={200: list[SessionOut], **ERRORS},
    summary="List the centre's sessions",
    description="Every session of the key's centre, soonest first.",
)
def list_sessions(request: HttpRequest) -> list[dict[str, Any]]:
    centre = _centre(request)
    return [_session_out(s) for s in CourseSession.objects.filter(centre=centre).order_by("first_day", "pk")]


@router.post(
    "/eligibility",
    response={200: EligibilityOut, **ERRORS},
    by_alias=True,
    summary="Check an attendee's eligibility",
    description="Would a course started on `on` (default today) credit points, and from which day would one: "
    "yes/no and a date, never the balance. The licence is named by its number and its holder's birth date; "
    "a mismatch answers 404 without saying which. Logged on the holder's access log.",
)
def check_eligibility(request: HttpRequest, body: EligibilityIn) -> dict[str, Any]:
    today = timezone.localdate()
    on = body.on or today
    centre = _centre(request, today)
    licence = _attendee(body)
    if licence is None:
        raise HttpError(404, "licence_number: no licence with this number and birth date")
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    try:
        answer = centre_eligibility(
            centre, licence, on, actor=f"key:{key.prefix}", request_id=request_id(request)
        )
    except CourseError as error:
        raise HttpError(422, f"{error.field}: {error.message}") from None
    return {"eligible": answer["eligible"], "from": answer["from"]}


@router.post(
    "/sessions/{session_id}/attendance",
    response={200: AttendanceOut, **ERRORS},
    summary="Submit a session's attendance",
    description=f"After the last day, at most {MAX_ATTENDEES} attendees a request: present both days in full "
    "or not. Each attendee is recorded or rejected on its own, with the reason. Attending becomes a course "
    "event of the licence; the engine credits the points the day after the last day (R223-8). Sending the "
    "same attendance again is harmless.",
)
def submit_attendance(request: HttpRequest, session_id: int, body: AttendanceIn) -> dict[str, Any]:
    centre = _centre(request)
    session = _session(centre, session_id)
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    rid = request_id(request)
    results = []
    for index, line in enumerate(body.attendees):
        where = f"attendees[{index}]"
        result: dict[str, Any] = {
            "index": index,
            "licence_number": line.licence_number,
            "outcome": "rejected",
            "errors": [],
        }
        results.append(result)
        licence = _attendee(line)
        if licence is None:
            result["errors"].append(f"{where}: licence_number: no licence with this number and birth date")
            continue
        try:
            with transaction.atomic():
                record_attendance(
                    session,
                    licence,
                    attended=line.attended,
                    course_type=line.course_type,
                    recorded_by=f"api:{key.name}"[:150],
                )
                log_access(
                    actor=f"key:{key.prefix}",
                    actor_label=f"{centre.name} (agrément {centre.approval_number})",
                    role=Role.COURSE_CENTRE,
                    holder=licence.holder_id,
                    licence=licence.pk,
                    purpose=Purpose.COURSE_ATTENDANCE,
                    shown=["déclaration de présence"],
                    channel=Channel.API,
                    request_id=rid,
                )
        except CourseError as error:
            result["errors"].append(f"{where}: {error.field}: {error.message}")
            continue
        except RegistryError as error:
            result["errors"] += [f"{where}: {problem}" for problem in error.problems]
            continue
        result["outcome"] = "recorded"
    recorded = sum(1 for r in results if r["outcome"] == "recorded")
    return {
        "session": session.pk,
        "recorded": recorded,
        "rejected": len(results) - recorded,
        "attendees": results,
    }
