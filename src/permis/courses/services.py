"""Courses: who can have one count, where the next sessions are, and recording attendance.

The law is the engine's (RULES.md §8; ``permis.rules``): a voluntary course credits up to 4 points, within the
cap, the day after its last day, at most once a year (L223-6 al. 4, R223-8), nothing on an invalidated or
annulled licence nor at the cap. This module asks the engine, never re-implements it: ``eligibility`` reads
``next_creditable_course_from`` of the licence's evaluation, and attendance becomes a ``course`` event of the
licence through ``permis.registry.services.record_event``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, F, FloatField, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from permis.digits import ascii_digits
from permis.registry.models import EventKind, Licence, Source, Status
from permis.registry.services import core

from . import geography
from .models import Attendance, CourseCentre, CourseSession


class CourseError(ValueError):
    """A request refused; `field` names the input at fault, the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# -- eligibility ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Eligibility:
    """Whether a course started on `on` would credit points, and from which day one would.

    `reason` is for the holder and never states a number of points. A course centre gets only
    ``for_centre()``: yes/no and from when (L225-5: no points to third parties).
    """

    eligible_now: bool
    from_date: dt.date | None
    reason: str
    code: str = ""  # eligible, yearly_limit, at_cap, invalidated, annulled
    mandatory_48n: bool = False  # a 48N letter asks this probationary holder for a course not yet followed

    def for_centre(self) -> dict[str, object]:
        return {
            "eligible": self.eligible_now,
            "from": self.from_date.isoformat() if self.from_date else None,
        }


REASONS = {
    "eligible": _("Un stage commencé à partir du {day} donnerait des points (une fois par an, L223-6)."),
    "yearly_limit": _(
        "Un stage ne donne des points qu'une fois par an (L223-6) : un stage commencé à partir du {day} "
        "comptera."
    ),
    "at_cap": _("Le permis a tous les points qu'il peut avoir : un stage ne donnerait aucun point."),
    "invalidated": _("Le permis n'est plus valide (lettre 48SI notifiée) : un stage ne donne pas de points."),
    "annulled": _("Le permis a été annulé : un stage ne donne pas de points."),
    "mandatory": _(
        "Stage obligatoire demandé par la lettre 48N : il doit être suivi dans les 4 mois de sa réception, "
        "même s'il ne donne pas de points."
    ),
}


def _french_day(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _mandatory_pending(licence: Licence, letters: tuple, history) -> bool:
    """A 48N letter with no non-judicial course started after it: the probationary course is still due."""
    dates_48n = [letter.on for letter in letters if letter.code == "48N"]
    if not dates_48n:
        return False
    last_48n = max(dates_48n)
    for event in history.events:
        is_course = getattr(event, "kind", "") == "course" and getattr(event, "type", "") != "judicial"
        if is_course and event.first_day >= last_48n:
            return False
    return True


def eligibility(licence: Licence | int, on: dt.date) -> Eligibility:
    """Can a course started on `on` credit points on this licence, and from which day would one?

    Read from the engine: ``next_creditable_course_from`` is `on` when a course would count now, a later day
    during the yearly limit (rolling year, or per the engine's ``course_year`` option), and None on an
    invalidated or annulled licence or at the cap.
    """
    from permis.rules import Timeline

    if not isinstance(licence, Licence):
        licence = Licence.objects.get(pk=licence)
    history = core.history_of(licence)
    day = max(on, licence.obtained_on)
    evaluation = Timeline(history).at(day)
    start = evaluation.next_creditable_course_from
    mandatory = _mandatory_pending(licence, evaluation.letters, history)
    if start is None:
        if evaluation.status == Status.INVALIDATED:
            code = "invalidated"
        elif evaluation.status == Status.ANNULLED:
            code = "annulled"
        else:
            code = "at_cap"
        reason = str(REASONS[code])
    elif start <= on:
        code = "eligible"
        reason = str(REASONS[code]).format(day=_french_day(on))
    else:
        code = "yearly_limit"
        reason = str(REASONS[code]).format(day=_french_day(start))
    if mandatory:
        reason = f"{REASONS['mandatory']} {reason}"
    return Eligibility(
        eligible_now=start is not None and start <= on,
        from_date=start,
        reason=reason,
        code=code,
        mandatory_48n=mandatory,
    )


# -- where -------------------------------------------------------------------------------------------------------
def postcode_exists(postcode: str) -> bool:
    """Whether five digits can be a French postcode: a département 01 to 95 (Corsica's 20), or overseas 971 to 978
    and 986 to 988. Not whether La Poste uses it."""
    if "01" <= postcode[:2] <= "95":
        return True
    return postcode[:3] in {"971", "972", "973", "974", "975", "976", "977", "978", "986", "987", "988"}


def departement_of(postcode: str) -> str:
    """The département of a French postcode: two digits, 2A/2B for Corsica, three digits overseas."""
    postcode = postcode.strip()
    if len(postcode) != 5 or not ascii_digits(postcode):
        raise CourseError("postcode", f"{postcode!r} is not a French postcode (5 digits)")
    if not postcode_exists(postcode):
        raise CourseError(
            "postcode", f"{postcode!r} is not a French postcode (no département {postcode[:2]})"
        )
    if postcode.startswith("20"):
        return "2A" if postcode < "20200" else "2B"
    if postcode.startswith("97") or postcode.startswith("98"):
        return postcode[:3]
    return postcode[:2]


def approved_centres(on: dt.date):
    return CourseCentre.objects.filter(
        Q(withdrawn_on__isnull=True) | Q(withdrawn_on__gt=on), approved_on__lte=on
    )


def sessions_near(
    postcode: str, on: dt.date, limit: int = 20, include_full: bool = False
) -> list[CourseSession]:
    """Upcoming sessions (first day on or after `on`) of centres approved on that day, nearest first: by the
    great-circle distance between the postcode's département and the centre's (their préfectures, see
    ``geography``), so the postcode's own département comes first at 0 km and a neighbour's before the other end
    of France or overseas; soonest then cheapest at the same distance. Full sessions are left out unless
    `include_full`. Each session carries ``distance_km`` (None for a centre's département the table lacks: last).

    The distances from the postcode's département (about a hundred) go into the query as a CASE, so the
    database orders and limits."""
    departement = departement_of(postcode)
    sessions = CourseSession.objects.filter(
        first_day__gte=on,
        centre__in=approved_centres(on),
    ).select_related("centre")
    if not include_full:
        sessions = sessions.filter(seats_taken__lt=F("seats"))
    distances = geography.distances_from(departement)
    sessions = sessions.annotate(
        distance_km=Case(
            *(When(centre__departement=code, then=Value(km)) for code, km in distances.items()),
            default=Value(None),
            output_field=FloatField(),
        )
    ).order_by(F("distance_km").asc(nulls_last=True), "first_day", "price_cents", "centre__name", "pk")
    return list(sessions[:limit])


# -- the centres' doors (issue 6 builds the API on these) ---------------------------------------------------------
# How far ahead a centre may declare a session: its calendar of the next two years, not a date a typo made.
SESSIONS_AHEAD_DAYS = 730


def declare_session(
    centre: CourseCentre,
    *,
    first_day: dt.date,
    place: str,
    price_cents: int,
    seats: int,
    on: dt.date | None = None,
) -> CourseSession:
    """A new session of an approved centre: two consecutive days (R223-5), in the future."""
    on = on or core.today()
    if not centre.approved(on):
        raise CourseError("centre", f"{centre.approval_number} is not approved on {on.isoformat()}")
    if first_day <= on:
        raise CourseError("first_day", f"{first_day.isoformat()} is not after {on.isoformat()}")
    if first_day > (latest := on + dt.timedelta(days=SESSIONS_AHEAD_DAYS)):
        raise CourseError(
            "first_day",
            f"{first_day.isoformat()} is more than two years ahead (sessions are declared up to "
            f"{latest.isoformat()})",
        )
    if price_cents < 0:
        raise CourseError("price_cents", "a price cannot be negative")
    if seats < 1:
        raise CourseError("seats", "a session has at least one seat")
    if not place.strip():
        raise CourseError("place", "say where the course takes place")
    return CourseSession.objects.create(
        centre=centre,
        first_day=first_day,
        last_day=first_day + dt.timedelta(days=1),
        place=place.strip(),
        price_cents=price_cents,
        seats=seats,
    )


def register(session: CourseSession, licence: Licence) -> Attendance:
    """Book a seat (idempotent for the same licence); refuses a full session."""
    with transaction.atomic():
        locked = CourseSession.objects.select_for_update().get(pk=session.pk)
        existing = Attendance.objects.filter(session=locked, licence=licence).first()
        if existing is not None:
            return existing
        if locked.seats_taken >= locked.seats:
            raise CourseError("session", f"session {locked.pk} is full ({locked.seats} seats)")
        CourseSession.objects.filter(pk=locked.pk).update(seats_taken=F("seats_taken") + 1)
        return Attendance.objects.create(session=locked, licence=licence, recorded_at=timezone.now())


def record_attendance(
    session: CourseSession,
    licence: Licence,
    *,
    attended: bool,
    course_type: str = "voluntary",
    recorded_by: str = "",
    on: dt.date | None = None,
) -> Attendance:
    """The centre's report after the last day: present both days in full, or not.

    Attending writes the licence's ``course`` event (source ``course_centre``, idempotent per session and
    licence); the engine decides whether it credits points and credits them the day after the last day
    (R223-8 III), retroactively if the report comes later.
    """
    on = on or core.today()
    if course_type not in {"voluntary", "mandatory"}:
        raise CourseError(
            "course_type", f"{course_type!r}: a centre reports 'voluntary' or 'mandatory' courses"
        )
    if on < session.last_day:
        raise CourseError(
            "session", f"session {session.pk} ends on {session.last_day.isoformat()}: report after it"
        )
    centre = session.centre
    if not centre.approved(session.first_day):
        raise CourseError(
            "centre", f"{centre.approval_number} was not approved on {session.first_day.isoformat()}"
        )
    with transaction.atomic():
        attendance = Attendance.objects.select_for_update().filter(session=session, licence=licence).first()
        if attendance is None:
            attendance = Attendance(session=session, licence=licence, recorded_at=timezone.now())
        if attendance.event_id is not None and not attended:
            raise CourseError(
                "attended", "attendance already recorded as present: a correction goes to the préfecture"
            )
        attendance.status = Attendance.Status.ATTENDED if attended else Attendance.Status.ABSENT
        attendance.recorded_at = timezone.now()
        if attended and attendance.event_id is None:
            outcome = core.record_event(
                licence,
                EventKind.COURSE,
                {
                    "first_day": session.first_day.isoformat(),
                    "last_day": session.last_day.isoformat(),
                    "type": course_type,
                },
                source=Source.COURSE_CENTRE,
                sender=f"centre:{centre.approval_number}",
                source_ref=f"session:{session.pk}:licence:{licence.pk}",
                recorded_by=recorded_by,
                on=on,
            )
            attendance.event = outcome.event
        attendance.save()
    return attendance


def centre_eligibility(
    centre: CourseCentre,
    licence: Licence,
    on: dt.date,
    *,
    actor: str,
    request_id: str = "",
) -> dict[str, object]:
    """What an approved centre may learn before enrolling someone: yes/no and from when, never the balance
    (L225-5, L223-7). The read is logged on the holder's access log (role course_centre)."""
    from permis.audit.models import Channel, Purpose, Role
    from permis.audit.services import log_access

    if not centre.approved(on):
        raise CourseError("centre", f"{centre.approval_number} is not approved on {on.isoformat()}")
    with transaction.atomic():
        answer = eligibility(licence, on).for_centre()
        log_access(
            actor=actor,
            actor_label=f"{centre.name} (agrément {centre.approval_number})",
            role=Role.COURSE_CENTRE,
            holder=licence.holder_id,
            licence=licence,
            purpose=Purpose.COURSE_ELIGIBILITY,
            shown=["éligibilité au stage"],
            channel=Channel.API,
            request_id=request_id,
        )
    return answer
