"""The service layer: one transaction per change, the engine's answer written in full."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from permis.registry import services
from permis.registry.models import Event, Movement, Notice, Projection
from permis.registry.services import RegistryError
from permis.rules import InputError

from .factories import licence, offence

pytestmark = pytest.mark.django_db


def test_a_new_licence_gets_its_projection_at_once() -> None:
    lic = licence(obtained_on=dt.date(2010, 3, 1), on=dt.date(2024, 1, 1))
    projection = Projection.objects.get(licence=lic)
    assert (projection.balance, projection.cap, projection.status) == (12, 12, "valid")
    assert projection.events_count == 0
    assert list(Movement.objects.filter(licence=lic).values_list("kind", flat=True)) == [
        "initial",
        "probation_increment",
        "probation_increment",
        "probation_end",
    ]


def test_an_offence_writes_the_event_its_movement_its_letter_and_the_projection() -> None:
    lic = licence(on=dt.date(2024, 1, 1))
    outcome = services.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-20", 3),
        source="feed",
        sender="ANTAI",
        source_ref="A-1",
        on=dt.date(2024, 3, 21),
    )
    assert not outcome.duplicate
    assert outcome.event.seq == 1 and outcome.event.hash
    projection = Projection.objects.get(licence=lic)
    assert (projection.balance, projection.as_of) == (9, dt.date(2024, 3, 21))
    assert projection.next_change_on == dt.date(2027, 3, 20)
    last = Movement.objects.filter(licence=lic).last()
    assert (last.kind, last.change, last.cause) == ("withdrawal", -3, "e1")
    # The letter 46 of the end of probation (2013) predates the licence's registration: history, not a notice.
    assert list(Notice.objects.filter(licence=lic).values_list("code", "cause", "due_on")) == [
        ("48", "e1", dt.date(2024, 3, 20)),
    ]


def test_the_same_record_sent_twice_is_stored_once() -> None:
    lic = licence()
    first = services.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-20"),
        source="feed",
        sender="ANTAI",
        source_ref="A-2",
        on=dt.date(2024, 4, 1),
    )
    second = services.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-20"),
        source="feed",
        sender="ANTAI",
        source_ref="A-2",
        on=dt.date(2024, 4, 1),
    )
    assert second.duplicate and second.event.pk == first.event.pk
    assert Event.objects.filter(licence=lic).count() == 1
    assert Projection.objects.get(licence=lic).balance == 9


def test_a_bad_event_names_the_field_and_writes_nothing() -> None:
    lic = licence()
    with pytest.raises(RegistryError) as error:
        services.record_event(
            lic,
            "offence",
            offence("2024-03-20", "2024-03-01"),
            source="feed",
            sender="ANTAI",
            source_ref="A-3",
            on=dt.date(2024, 4, 1),
        )
    assert any(p.startswith("event.final_on:") for p in error.value.problems), error.value.problems
    assert Event.objects.filter(licence=lic).count() == 0
    assert Projection.objects.get(licence=lic).balance == 12


def test_the_hash_chain_links_each_event_to_the_previous_one() -> None:
    lic = licence()
    a = services.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-20", 2),
        source="feed",
        sender="S",
        source_ref="1",
        on=dt.date(2024, 4, 1),
    ).event
    b = services.record_event(
        lic,
        "course",
        {"first_day": "2024-05-02", "last_day": "2024-05-03"},
        source="course_centre",
        on=dt.date(2024, 5, 10),
    ).event
    assert a.prev_hash == services.genesis_hash(lic)
    assert b.prev_hash == a.hash
    assert services.event_hash(a.prev_hash, Event.objects.get(pk=a.pk)) == a.hash


def test_a_late_offence_rewrites_the_derived_movements_but_never_the_history() -> None:
    lic = licence()
    services.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-15", 1, "C3"),
        source="feed",
        sender="S",
        source_ref="1",
        on=dt.date(2024, 10, 1),
    )
    assert Projection.objects.get(licence=lic).balance == 12  # one point back on 2024-09-15
    # An offence committed inside the window, final only now, blocks that restoration (strict reading).
    services.record_event(
        lic,
        "offence",
        offence("2024-07-01", "2024-10-20", 2),
        source="feed",
        sender="S",
        source_ref="2",
        on=dt.date(2024, 10, 21),
    )
    projection = Projection.objects.get(licence=lic)
    assert projection.balance == 9
    assert not Movement.objects.filter(licence=lic, kind="one_point_restoration").exists()
    assert Event.objects.filter(licence=lic).count() == 2


def test_a_correction_replaces_an_event_without_touching_it() -> None:
    lic = licence()
    wrong = services.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-20", 4),
        source="feed",
        sender="S",
        source_ref="1",
        on=dt.date(2024, 4, 1),
    ).event
    services.record_event(
        lic,
        "correction",
        {"event": {"kind": "offence", "data": offence("2024-03-01", "2024-03-20", 2)}},
        source="agent",
        recorded_by="agent.dupont",
        corrects=wrong,
        reason="barème mal appliqué",
        on=dt.date(2024, 4, 2),
    )
    assert Projection.objects.get(licence=lic).balance == 10
    assert Event.objects.get(pk=wrong.pk).data["points"] == 4


def test_refresh_applies_the_changes_due_since_the_last_evaluation() -> None:
    lic = licence()
    services.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-20", 3),
        source="feed",
        sender="S",
        source_ref="1",
        on=dt.date(2024, 4, 1),
    )
    evaluation = services.refresh(lic, dt.date(2027, 3, 20))
    assert evaluation.balance == 12
    projection = Projection.objects.get(licence=lic)
    assert (projection.balance, projection.next_change_on) == (12, None)
    assert Notice.objects.filter(licence=lic, code="46", due_on=dt.date(2027, 3, 20)).exists()


# -- the law's preconditions of a decision, and its date ----------------------------------------------------------
def _stored_without_checks(lic, kind: str, data: dict) -> Event:
    """An event written as a file held before the law's preconditions were checked (a surrender of a valid
    licence): appended to the chain, and the projection's anchor with it, as the registry wrote them then."""
    events = list(lic.events.order_by("seq"))
    event = Event(
        licence=lic,
        seq=len(events) + 1,
        kind=kind,
        data=data,
        source="agent",
        recorded_at=timezone.now(),
        recorded_by="agent:before",
    )
    event.prev_hash = events[-1].hash if events else services.genesis_hash(lic)
    event.hash = services.event_hash(event.prev_hash, event)
    event.save()
    Projection.objects.filter(licence=lic).update(events_count=event.seq, last_hash=event.hash)
    return event


def test_a_history_stored_before_the_preconditions_stays_readable_and_writable() -> None:
    lic = licence(on=dt.date(2024, 1, 1))
    _stored_without_checks(lic, "licence_surrendered", {"on": "2024-02-01"})
    with pytest.raises(InputError):  # checked as a whole, the history is refused
        services.history_of(lic, list(lic.events.order_by("seq")))
    assert services.history_of(lic) is not None  # read as stored
    assert services.refresh(lic, dt.date(2024, 3, 1)).balance == 12
    outcome = services.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-20", 3),
        source="feed",
        sender="ANTAI",
        source_ref="A-9",
    )
    assert outcome.evaluation.balance == 9
    # What is added is checked: a second surrender of the same licence is refused, on its field.
    with pytest.raises(RegistryError) as refused:
        services.record_event(lic, "licence_surrendered", {"on": "2024-04-01"}, source="agent")
    assert refused.value.problems == ["event.on: the licence is already surrendered on 2024-02-01 (e1)"]
    out = io.StringIO()
    call_command("verify", "--quiet", "--jobs", "1", "--all", stdout=out, stderr=out)
    assert out.getvalue().splitlines()[-1].endswith("no discrepancy")


def test_a_new_licence_on_a_valid_licence_is_refused() -> None:
    lic = licence(on=dt.date(2024, 1, 1))
    services.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-20", 6),
        source="feed",
        sender="ANTAI",
        source_ref="A-1",
    )
    with pytest.raises(RegistryError) as refused:
        services.record_event(lic, "new_licence", {"obtained_on": "2024-11-30"}, source="agent")
    (problem,) = refused.value.problems
    assert problem.startswith(
        "event.obtained_on: the licence is neither invalidated (48SI notified) nor annulled"
    )
    assert Projection.objects.get(licence=lic).balance == 6
    assert not Event.objects.filter(licence=lic, kind="new_licence").exists()


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("annulment", {"on": "2024-06-02"}, "on"),
        ("licence_surrendered", {"on": "2024-06-02"}, "on"),
        ("new_licence", {"obtained_on": "2024-06-02"}, "obtained_on"),
        ("invalidation_notified", {"on": "2024-06-02"}, "on"),
    ],
)
def test_a_decision_dated_after_the_day_it_is_recorded_is_refused(kind: str, data: dict, field: str) -> None:
    lic = licence(on=dt.date(2024, 1, 1))
    services.record_event(lic, "annulment", {"on": "2024-05-01"}, source="agent", on=dt.date(2024, 6, 1))
    with pytest.raises(RegistryError) as refused:
        services.record_event(lic, kind, data, source="agent", on=dt.date(2024, 6, 1))
    assert refused.value.problems == [
        f"{field}: 2024-06-02 is in the future (recorded on 2024-06-01): a decision is recorded once taken"
    ]


def test_a_correction_cannot_date_a_decision_after_today() -> None:
    lic = licence(on=dt.date(2024, 1, 1))
    annulment = services.record_event(
        lic, "annulment", {"on": "2024-05-01"}, source="agent", on=dt.date(2024, 6, 1)
    ).event
    with pytest.raises(RegistryError) as refused:
        services.record_event(
            lic,
            "correction",
            {"event": {"kind": "annulment", "data": {"on": "2029-12-01"}}},
            source="agent",
            corrects=annulment,
            on=dt.date(2024, 6, 1),
        )
    assert refused.value.problems[0].startswith("on: 2029-12-01 is in the future")
