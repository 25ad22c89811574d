"""Sessions near a postcode, declaring sessions, attendance through the registry, and the demo seed."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command

from permis.courses import services as courses
from permis.courses.demo import seed_courses
from permis.courses.models import Attendance, CourseCentre, CourseSession
from permis.registry import services
from permis.registry.models import Event, Movement
from permis.registry.services import today
from tests.registry import factories
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db
ON = dt.date(2025, 6, 2)


def _centre(departement: str, name: str, **extra) -> CourseCentre:
    postcode = {"2A": "20000", "971": "97110"}.get(departement, f"{departement}000")
    values = {
        "name": name,
        "approval_number": f"R25{departement:0>3}{CourseCentre.objects.count() + 1:04d}0",
        "address": "1 rue de la Gare",
        "postcode": postcode,
        "city": "Ville",
        "departement": departement,
        "approved_on": dt.date(2020, 1, 1),
    }
    values.update(extra)
    return CourseCentre.objects.create(**values)


def _session(centre: CourseCentre, first_day: dt.date, price: int = 22000, **extra) -> CourseSession:
    values = {"place": "Salle municipale", "price_cents": price, "seats": 20}
    values.update(extra)
    return CourseSession.objects.create(
        centre=centre, first_day=first_day, last_day=first_day + dt.timedelta(days=1), **values
    )


@pytest.mark.parametrize(
    ("postcode", "departement"),
    [("75011", "75"), ("06000", "06"), ("20000", "2A"), ("20200", "2B"), ("97110", "971")],
)
def test_the_departement_of_a_postcode(postcode: str, departement: str) -> None:
    assert courses.departement_of(postcode) == departement


@pytest.mark.parametrize("postcode", ["7501", "ABCDE", "", "750111"])
def test_a_malformed_postcode_is_refused_with_its_field(postcode: str) -> None:
    with pytest.raises(courses.CourseError) as error:
        courses.departement_of(postcode)
    assert error.value.field == "postcode"


def test_sessions_near_put_the_departement_first_then_the_soonest() -> None:
    paris, lyon = _centre("75", "Paris Stages"), _centre("69", "Lyon Stages")
    far_soon = _session(lyon, ON + dt.timedelta(days=3))
    near_late = _session(paris, ON + dt.timedelta(days=30))
    near_soon = _session(paris, ON + dt.timedelta(days=10), price=25000)
    near_soon_cheaper = _session(paris, ON + dt.timedelta(days=10), price=19000)
    assert courses.sessions_near("75011", ON) == [near_soon_cheaper, near_soon, near_late, far_soon]
    assert courses.sessions_near("69003", ON) == [far_soon, near_soon_cheaper, near_soon, near_late]
    assert courses.sessions_near("75011", ON, limit=2) == [near_soon_cheaper, near_soon]


def test_sessions_near_list_the_nearest_departement_first_even_when_a_farther_session_is_sooner() -> None:
    """A holder in the Essonne with no session there sees Paris's before Marseille's, and overseas last."""
    paris, marseille = _centre("75", "Paris Stages"), _centre("13", "Marseille Stages")
    guadeloupe = _centre("971", "Guadeloupe Stages")
    overseas_soonest = _session(guadeloupe, ON + dt.timedelta(days=1))
    marseille_soon = _session(marseille, ON + dt.timedelta(days=2))
    paris_late = _session(paris, ON + dt.timedelta(days=40))
    found = courses.sessions_near("91000", ON)
    assert found == [paris_late, marseille_soon, overseas_soonest]
    assert [session.distance_km for session in found] == pytest.approx([26.5, 634.3, 6790], rel=0.01)
    assert courses.sessions_near("91000", ON, limit=1) == [paris_late]  # the database orders, then limits


def test_sessions_near_put_the_postcodes_own_departement_first_then_its_neighbours() -> None:
    essonne, paris = _centre("91", "Évry Stages"), _centre("75", "Paris Stages")
    corsica = _centre("2A", "Ajaccio Stages")
    paris_soon = _session(paris, ON + dt.timedelta(days=1))
    essonne_late = _session(essonne, ON + dt.timedelta(days=60))
    ajaccio = _session(corsica, ON + dt.timedelta(days=1))
    found = courses.sessions_near("91080", ON)
    assert found == [essonne_late, paris_soon, ajaccio]
    assert found[0].distance_km == 0
    # From Bastia (2B), the other Corsican département comes before the mainland, and Évry before Paris.
    assert courses.sessions_near("20200", ON) == [ajaccio, essonne_late, paris_soon]
    # From Guadeloupe, with no session on the island: Paris, then Évry a little farther, then Ajaccio.
    assert courses.sessions_near("97110", ON) == [paris_soon, essonne_late, ajaccio]


def test_a_centre_whose_departement_has_no_reference_point_comes_last() -> None:
    paris = _centre("75", "Paris Stages")
    unknown = _centre("989", "Nulle part", postcode="98900")
    nowhere = _session(unknown, ON + dt.timedelta(days=1))
    far = _session(_centre("974", "Réunion Stages", postcode="97400"), ON + dt.timedelta(days=90))
    paris_session = _session(paris, ON + dt.timedelta(days=30))
    found = courses.sessions_near("75011", ON)
    assert found == [paris_session, far, nowhere]
    assert found[-1].distance_km is None


def test_sessions_near_leave_out_past_full_and_unapproved() -> None:
    paris = _centre("75", "Paris Stages")
    withdrawn = _centre("75", "Retiré", withdrawn_on=ON - dt.timedelta(days=1))
    future = _centre("75", "Pas encore agréé", approved_on=ON + dt.timedelta(days=5))
    kept = _session(paris, ON)
    _session(paris, ON - dt.timedelta(days=1))
    full = _session(paris, ON + dt.timedelta(days=2), seats=10, seats_taken=10)
    _session(withdrawn, ON + dt.timedelta(days=3))
    _session(future, ON + dt.timedelta(days=7))
    assert courses.sessions_near("75011", ON) == [kept]
    assert courses.sessions_near("75011", ON, include_full=True) == [kept, full]


def test_a_declared_session_lasts_two_consecutive_days() -> None:
    centre = _centre("13", "Marseille Stages")
    session = courses.declare_session(
        centre, first_day=ON + dt.timedelta(days=5), place="Hôtel", price_cents=23000, seats=18, on=ON
    )
    assert session.last_day - session.first_day == dt.timedelta(days=1)
    with pytest.raises(courses.CourseError, match="first_day"):
        courses.declare_session(centre, first_day=ON, place="Hôtel", price_cents=1, seats=1, on=ON)
    withdrawn = _centre("13", "Retiré", withdrawn_on=ON)
    with pytest.raises(courses.CourseError, match="centre"):
        courses.declare_session(
            withdrawn, first_day=ON + dt.timedelta(days=5), place="Hôtel", price_cents=1, seats=1, on=ON
        )


def test_registering_takes_a_seat_and_refuses_a_full_session() -> None:
    centre = _centre("75", "Paris Stages")
    session = _session(centre, ON + dt.timedelta(days=5), seats=1)
    a = factories.licence()
    b = factories.licence(holder=factories.holder(birth_name="DURAND"))
    courses.register(session, a)
    courses.register(session, a)  # the same licence twice takes one seat
    session.refresh_from_db()
    assert session.seats_taken == 1
    with pytest.raises(courses.CourseError, match="full"):
        courses.register(session, b)


def test_attendance_becomes_a_course_event_credited_the_day_after_the_last_day() -> None:
    lic = factories.licence(obtained_on=dt.date(2010, 3, 1))
    services.record_event(
        lic, "offence", offence("2025-01-02", "2025-01-10", 3), source="feed", sender="ANTAI", on=ON
    )
    centre = _centre("75", "Paris Stages")
    session = _session(centre, dt.date(2025, 5, 5))
    with pytest.raises(courses.CourseError, match="session"):
        courses.record_attendance(session, lic, attended=True, on=dt.date(2025, 5, 5))
    attendance = courses.record_attendance(session, lic, attended=True, recorded_by="centre", on=ON)
    assert attendance.status == Attendance.Status.ATTENDED
    event = Event.objects.get(pk=attendance.event_id)
    assert (event.kind, event.source) == ("course", "course_centre")
    assert event.data == {"first_day": "2025-05-05", "last_day": "2025-05-06", "type": "voluntary"}
    credit = Movement.objects.get(licence=lic, kind="course_credit")
    assert credit.on == dt.date(2025, 5, 7) and credit.change == 3
    # Reporting again is idempotent; a present report cannot be turned into an absence by the centre.
    assert courses.record_attendance(session, lic, attended=True, on=ON).event_id == event.pk
    assert Event.objects.filter(licence=lic, kind="course").count() == 1
    with pytest.raises(courses.CourseError, match="attended"):
        courses.record_attendance(session, lic, attended=False, on=ON)


def test_an_absence_writes_no_event() -> None:
    lic = factories.licence()
    session = _session(_centre("75", "Paris Stages"), dt.date(2025, 5, 5))
    attendance = courses.record_attendance(session, lic, attended=False, on=ON)
    assert attendance.status == Attendance.Status.ABSENT and attendance.event_id is None
    assert not Event.objects.filter(licence=lic, kind="course").exists()


def _snapshot() -> list[tuple]:
    return [
        (
            s.centre.approval_number,
            s.centre.name,
            s.centre.withdrawn_on,
            s.first_day,
            s.price_cents,
            s.seats_taken,
        )
        for s in CourseSession.objects.select_related("centre").order_by(
            "centre__approval_number", "first_day"
        )
    ]


def test_the_demo_seed_is_deterministic_and_covers_the_demo_departements() -> None:
    seeded = seed_courses(ON, seed=7)
    assert seeded.centres >= 20 and seeded.sessions >= 100
    first = _snapshot()
    assert seed_courses(ON, seed=7).centres == 0  # already seeded: nothing added
    CourseSession.objects.all().delete()
    CourseCentre.objects.all().delete()
    seed_courses(ON, seed=7)
    assert _snapshot() == first
    departements = set(CourseCentre.objects.values_list("departement", flat=True))
    assert {"75", "13", "69", "33", "59"} <= departements
    assert CourseCentre.objects.exclude(withdrawn_on=None).count() == 1
    assert all(s.last_day - s.first_day == dt.timedelta(days=1) for s in CourseSession.objects.all())
    near = courses.sessions_near("75011", ON)  # the named demo holders live in Paris 11e
    assert near and near[0].centre.departement == "75"


def test_permis_demo_seeds_courses_at_the_end() -> None:
    out = io.StringIO()
    call_command("demo", "--licences", "8", "--quiet", stdout=out)
    assert "centres agréés" in out.getvalue()
    assert CourseCentre.objects.exists()
    assert courses.sessions_near("75011", today())


def test_a_centre_learns_yes_or_no_and_from_when_and_the_read_is_logged() -> None:
    from permis.audit.services import accesses_of, verify_chain

    lic = factories.licence(obtained_on=dt.date(2010, 3, 1))
    centre = _centre("75", "Paris Stages")
    answer = courses.centre_eligibility(centre, lic, ON, actor="key:ab12cd34", request_id="r-9")
    assert answer == {"eligible": False, "from": None}
    (entry,) = accesses_of(lic.holder)
    assert (entry.role, entry.purpose, entry.channel) == ("course_centre", "course_eligibility", "api")
    assert centre.approval_number in entry.actor_label and entry.shown == ["éligibilité au stage"]
    assert verify_chain() == []
    withdrawn = _centre("75", "Retiré", withdrawn_on=ON)
    with pytest.raises(courses.CourseError, match="centre"):
        courses.centre_eligibility(withdrawn, lic, ON, actor="key:x")
