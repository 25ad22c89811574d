"""`permis verify`: a clean file verifies; every kind of change made behind the service layer's back is found."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.db import connection

from permis.registry import services
from permis.registry.models import Event, Licence, Movement, Notice, Projection
from permis.registry.services import daily, integrity

from .factories import licence, offence

ON = dt.date(2024, 6, 1)


def _file() -> list[Licence]:
    """A small file: a clean licence, a probationary one, and one with offences, a course and a cancellation."""
    clean = licence(obtained_on=dt.date(2008, 4, 2), on=ON)
    young = licence(obtained_on=dt.date(2023, 2, 1), on=ON)
    busy = licence(obtained_on=dt.date(2012, 9, 1), on=ON)
    refs = iter(range(1000))
    offences = [
        offence("2023-10-01", "2023-11-02", 3),
        offence("2023-12-01", "2024-01-10", 1, "C3"),
        offence("2024-02-01", "2024-03-05", 4, "D"),
        offence("2024-03-01", "2024-06-01", 2),
    ]
    for data in offences:
        services.record_event(
            busy, "offence", data, source="feed", sender="ANTAI", source_ref=f"V-{next(refs)}", on=ON
        )
    services.record_event(
        busy, "offence_cancelled", {"offence": "e2", "on": "2024-04-20"}, source="feed", on=ON
    )
    services.record_event(
        busy,
        "course",
        {"first_day": "2024-05-02", "last_day": "2024-05-03"},
        source="course_centre",
        sender="CENTRE-75-001",
        on=ON,
    )
    services.record_event(
        young, "offence", offence("2024-01-01", "2024-02-01", 2), source="feed", sender="ANTAI", on=ON
    )
    return [clean, young, busy]


def _verify(*args: str) -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify", "--quiet", "--jobs", "1", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code)
    return code, out.getvalue().splitlines() + err.getvalue().splitlines()


@pytest.mark.django_db
def test_a_clean_file_verifies() -> None:
    _file()
    code, lines = _verify()
    assert code == 0, lines
    assert lines[-1].startswith("verified 3 licences, 7 events, ")
    assert lines[-1].endswith("no discrepancy")


@pytest.mark.django_db
def test_a_clean_file_still_verifies_after_daily_runs() -> None:
    _file()
    for day in (dt.date(2024, 7, 10), dt.date(2025, 2, 1), dt.date(2027, 6, 1)):
        daily.run_daily(day)
    code, lines = _verify("--all")
    assert code == 0, lines


def _busy() -> Licence:
    return Licence.objects.order_by("-id").first()


def _balance(lic: Licence) -> None:
    Projection.objects.filter(licence=lic).update(balance=12)


def _event_data(lic: Licence) -> None:
    event = Event.objects.get(licence=lic, seq=1)
    Event.objects.filter(pk=event.pk).update(data={**event.data, "points": 1})


def _event_date(lic: Licence) -> None:
    event = Event.objects.get(licence=lic, seq=6)
    Event.objects.filter(pk=event.pk).update(recorded_at=event.recorded_at - dt.timedelta(days=30))


def _event_hash(lic: Licence) -> None:
    Event.objects.filter(licence=lic, seq=3).update(hash="0" * 64)


def _rechained(lic: Licence) -> None:
    # A careful forger: changes an event and recomputes its hash, but cannot fix the next event's prev_hash.
    event = Event.objects.get(licence=lic, seq=3)
    event.data = {**event.data, "points": 1}
    event.hash = services.event_hash(event.prev_hash, event)
    Event.objects.filter(pk=event.pk).update(data=event.data, hash=event.hash)


def _middle_event_deleted(lic: Licence) -> None:
    Event.objects.filter(licence=lic, seq=3).delete()


def _last_event_deleted(lic: Licence) -> None:
    Event.objects.filter(licence=lic, seq=6).delete()


def _movement_deleted(lic: Licence) -> None:
    Movement.objects.filter(licence=lic, kind="withdrawal").order_by("position").first().delete()


def _movement_changed(lic: Licence) -> None:
    Movement.objects.filter(licence=lic, kind="withdrawal").update(basis="L223-1")


def _movement_forged(lic: Licence) -> None:
    last = Movement.objects.filter(licence=lic).order_by("-position").first()
    Movement.objects.create(
        licence=lic,
        position=last.position + 1,
        on=last.on,
        kind="course",
        change=4,
        balance=min(last.cap, last.balance + 4),
        raw_balance=last.raw_balance + 4,
        cap=last.cap,
        cause="e9",
        basis="L223-6",
    )


def _notice_deleted(lic: Licence) -> None:
    # The 48 of e4 (due 2024-06-01): the 48M sent for it earlier is history, no longer derived.
    Notice.objects.filter(licence=lic, code="48").delete()


def _projection_deleted(lic: Licence) -> None:
    Projection.objects.filter(licence=lic).delete()


def _next_change(lic: Licence) -> None:
    Projection.objects.filter(licence=lic).update(next_change_on=None)


TAMPERING: dict[str, tuple[Callable[[Licence], None], str]] = {
    "balance": (_balance, "projection balance: expected "),
    "event data": (_event_data, "e1 hash (its stored columns changed)"),
    "event recorded_at": (_event_date, "e6 hash (its stored columns changed)"),
    "event hash": (_event_hash, "e4 prev_hash"),
    "event rewritten with its hash": (_rechained, "e4 prev_hash"),
    "middle event deleted": (_middle_event_deleted, "event sequence: expected 'e3', found 'e4'"),
    "last event deleted": (_last_event_deleted, "events_count (events stored): expected 5, found 6"),
    "movement deleted": (_movement_deleted, "movement #"),
    "movement changed": (_movement_changed, "(basis): expected "),
    "movement forged": (_movement_forged, "(not derived from the events): expected nothing"),
    "notice deleted": (_notice_deleted, ": letter: expected ('48', 'e4', 2024-06-01), found nothing"),
    "projection deleted": (_projection_deleted, "projection: expected 'a projection', found nothing"),
    "next change date": (_next_change, "projection next_change_on: expected 2027-"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(TAMPERING))
def test_each_kind_of_tampering_is_found(name: str) -> None:
    lics = _file()
    busy = lics[-1]
    tamper, message = TAMPERING[name]
    tamper(busy)
    code, lines = _verify()
    assert code == 1, lines
    found = [line for line in lines if line.startswith(f"{busy.number}: ")]
    assert any(message in line for line in found), lines
    # Only the tampered licence is reported, and the summary counts the lines.
    assert all(line.startswith(busy.number) for line in lines[:-1]), lines
    assert lines[-1].endswith(f"{len(found)} discrepanc{'ies' if len(found) > 1 else 'y'}")


@pytest.mark.django_db
def test_one_licence_can_be_checked_alone() -> None:
    clean, young, busy = _file()
    _balance(busy)
    assert _verify("--licence", clean.number)[0] == 0
    code, lines = _verify("--licence", busy.number)
    assert code == 1 and lines[0].startswith(busy.number)


@pytest.mark.django_db
def test_an_unknown_licence_is_an_error() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no licence numbered NOPE1") as unknown:
        call_command("verify", "--licence", "NOPE1")
    assert unknown.value.returncode == 2  # 1 means a discrepancy: a typo must not read as a tampered file


@pytest.mark.django_db
def test_the_tampered_rows_are_told_apart_from_the_chain() -> None:
    """An altered balance is a projection problem, not a chain problem: the chain check stays quiet."""
    lics = _file()
    _balance(lics[-1])
    report = integrity.verify()
    assert [(d.what, d.found) for d in report.discrepancies] == [("projection balance", 12)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_find_the_same_discrepancies() -> None:
    assert connection.vendor == "postgresql"
    lics = _file()
    for _ in range(30):
        lics.append(licence(obtained_on=dt.date(2015, 1, 1), on=ON))
    _balance(lics[2])
    _movement_deleted(lics[2])
    one = integrity.verify(jobs=1, chunk=4)
    two = integrity.verify(jobs=2, chunk=4)
    assert one.licences == two.licences == 33
    assert sorted(one.discrepancies) == sorted(two.discrepancies) and len(one.discrepancies) >= 2
