"""`permis verify`: a clean file verifies; every kind of change made behind the service layer's back is found."""

from __future__ import annotations

import datetime as dt
import importlib
import io
import logging
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection

from permis.registry import services
from permis.registry.models import Category, Event, FeedRecord, Holder, Licence, Movement, Notice, Projection
from permis.registry.services import daily, feed_bulk, integrity
from permis.registry.services.categories import set_category
from permis.registry.services.core import BrokenChain

from .factories import holder, licence, offence

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


def _notice_forged(lic: Licence) -> None:
    # A 48SI for e4, which never emptied the balance.
    Notice.objects.create(licence=lic, code="48SI", cause="e4", due_on=dt.date(2024, 6, 1))


def _future_notice_forged(lic: Licence) -> None:
    # A letter the law gives this history, but not yet: a 46 for a restoration after the projection's day.
    Notice.objects.create(licence=lic, code="46", cause="", due_on=dt.date(2027, 3, 5))


def _holder_renamed(lic: Licence) -> None:
    Holder.objects.filter(pk=lic.holder_id).update(birth_name="DUPONT")


def _licence_moved(lic: Licence) -> None:
    # The licence handed to another holder of the file.
    other = Licence.objects.exclude(pk=lic.pk).order_by("id").first()
    Licence.objects.filter(pk=lic.pk).update(holder_id=other.holder_id)


def _seal_blanked(lic: Licence) -> None:
    Licence.objects.filter(pk=lic.pk).update(seal="")


def _category_added(lic: Licence) -> None:
    # A heavy category that no agent recorded: the police API would serve it.
    Category.objects.create(licence=lic, code="CE", obtained_on=dt.date(2020, 1, 1))


def _category_changed(lic: Licence) -> None:
    Category.objects.filter(licence=lic, code="B").update(expires_on=dt.date(2040, 1, 1))


def _category_restricted(lic: Licence) -> None:
    Category.objects.filter(licence=lic, code="B").update(restrictions="78")


def _category_deleted(lic: Licence) -> None:
    Category.objects.filter(licence=lic, code="B").delete()


def _letter_hidden_by_notices_from(lic: Licence) -> None:
    # The review's case: a letter the file owes deleted, and notices_from moved past it so that it is no longer
    # one this file sends; the replay alone has nothing to say.
    Notice.objects.filter(licence=lic, code="48").delete()
    Licence.objects.filter(pk=lic.pk).update(notices_from=dt.date(2099, 1, 1))


def _obtained_on(lic: Licence) -> None:
    Licence.objects.filter(pk=lic.pk).update(obtained_on=dt.date(2011, 9, 1))


def _route(lic: Licence) -> None:
    Licence.objects.filter(pk=lic.pk).update(route="supervised")


def _complementary_training(lic: Licence) -> None:
    Licence.objects.filter(pk=lic.pk).update(complementary_training_on=dt.date(2013, 1, 1))


def _regained(lic: Licence) -> None:
    Licence.objects.filter(pk=lic.pk).update(regained=True)


def _projection_deleted(lic: Licence) -> None:
    Projection.objects.filter(licence=lic).delete()


def _next_change(lic: Licence) -> None:
    Projection.objects.filter(licence=lic).update(next_change_on=None)


SEAL = "seal (the licence's numbers or fields, its holder's identity or its categories changed outside the services)"

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
    "notice forged": (
        _notice_forged,
        "letter (not derived from the events): expected nothing, found ('48SI', 'e4', 2024-06-01)",
    ),
    "notice forged ahead of time": (
        _future_notice_forged,
        "letter (not derived from the events): expected nothing, found ('46', '', 2027-03-05)",
    ),
    "holder renamed": (_holder_renamed, SEAL),
    "licence moved to another holder": (_licence_moved, SEAL),
    "seal blanked": (_seal_blanked, SEAL),
    "category added": (_category_added, SEAL),
    "category's medical validity changed": (_category_changed, SEAL),
    "category's restrictions changed": (_category_restricted, SEAL),
    "category deleted": (_category_deleted, SEAL),
    "letter deleted and notices_from moved past it": (_letter_hidden_by_notices_from, SEAL),
    "obtained_on changed": (_obtained_on, SEAL),
    "route changed": (_route, SEAL),
    "complementary training added": (_complementary_training, SEAL),
    "regained set": (_regained, SEAL),
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


# -- letters the history does not explain --------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_letter_on_a_licence_whose_history_gives_none_is_found() -> None:
    clean, _, _ = _file()
    assert not Notice.objects.filter(licence=clean).exists()
    Notice.objects.create(licence=clean, code="48", cause="e1", due_on=dt.date(2024, 5, 2))
    code, lines = _verify("--licence", clean.number)
    assert code == 1
    assert lines[0] == (
        f"{clean.number}: letter (not derived from the events): expected nothing, found ('48', 'e1', 2024-05-02)"
    )


@pytest.mark.django_db
def test_letters_an_earlier_state_of_the_history_gave_are_not_reported() -> None:
    """A letter sent before a later record changed what the law makes of the earlier ones stays sent: not a
    discrepancy. Here a withdrawal's 48 became a 48M once an offence with an earlier legal date arrived."""
    lic = licence(obtained_on=dt.date(2012, 9, 1), on=ON)
    for ref, data in (
        ("L-1", offence("2024-01-05", "2024-02-10", 4)),
        ("L-2", offence("2023-11-01", "2023-12-01", 3)),  # arrives after L-1, final before it
    ):
        services.record_event(lic, "offence", data, source="feed", sender="ANTAI", source_ref=ref, on=ON)
    stored = set(Notice.objects.filter(licence=lic).values_list("code", "cause", "due_on"))
    assert ("48", "e1", dt.date(2024, 2, 10)) in stored and ("48M", "e1", dt.date(2024, 2, 10)) in stored
    assert integrity.verify().discrepancies == []
    # A 48M for e2, which no state of the history gave, is reported.
    Notice.objects.create(licence=lic, code="48M", cause="e2", due_on=dt.date(2023, 12, 1))
    assert [(d.what, d.found) for d in integrity.verify().discrepancies] == [
        ("letter (not derived from the events)", ("48M", "e2", dt.date(2023, 12, 1)))
    ]


# -- the numbers and the identity ----------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("birth_name", "DURAND"),
        ("used_name", "DURAND"),
        ("given_names", "Camille Marie"),
        ("birth_date", dt.date(1990, 5, 18)),
        ("birth_place", "69123"),
        ("birth_country", "99134"),
        ("sex", "male"),
    ],
)
def test_a_change_of_the_holders_identity_is_found(name: str, value: object) -> None:
    clean, young, busy = _file()
    Holder.objects.filter(pk=young.holder_id).update(**{name: value})
    code, lines = _verify()
    assert code == 1, lines
    (line,) = lines[:-1]
    assert line.startswith(f"{young.number}: {SEAL}: expected '") and line.endswith(
        f"', found '{young.seal}'"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["number", "dossier_number"])
def test_a_change_of_the_licence_numbers_is_found(column: str) -> None:
    _, young, _ = _file()
    Licence.objects.filter(pk=young.pk).update(**{column: "ZZ0000000001"})
    report = integrity.verify()
    whats = {(d.licence, d.what) for d in report.discrepancies}
    number = "ZZ0000000001" if column == "number" else young.number
    assert (number, SEAL) in whats
    assert {licence for licence, _ in whats} == {number}


@pytest.mark.django_db
def test_licences_registered_for_one_holder_carry_the_seal_of_its_identity() -> None:
    person = holder()
    first = licence(holder=person, on=ON)
    second = licence(holder=person, obtained_on=dt.date(2020, 1, 1), on=ON)
    assert first.seal and second.seal and first.seal != second.seal
    assert integrity.verify().discrepancies == []
    Holder.objects.filter(pk=person.pk).update(given_names="Claude")
    assert {d.licence for d in integrity.verify().discrepancies} == {first.number, second.number}


@pytest.mark.django_db
def test_the_migration_seals_the_licences_already_stored(monkeypatch) -> None:
    """A file stored before the seal (every seal empty) verifies once migration 0002 has run, with the models as
    they stood at 0002, by batches (two licences each here), categories included."""
    from django.db.migrations.loader import MigrationLoader

    migration = importlib.import_module("permis.registry.migrations.0002_licence_seal")
    monkeypatch.setattr(migration, "BATCH", 2)
    apps = MigrationLoader(connection).project_state(("registry", "0002_licence_seal")).apps
    lics = _file()
    set_category(lics[2], code="C", obtained_on=dt.date(2015, 1, 1), expires_on=dt.date(2030, 1, 1))
    set_category(lics[2], code="A", obtained_on=dt.date(2016, 1, 1), restrictions="80")
    lics = list(Licence.objects.order_by("id"))
    Licence.objects.update(seal="")
    blank = integrity.verify().discrepancies
    assert [(d.licence, d.what, d.expected, d.found) for d in blank] == [
        (lic.number, SEAL, lic.seal, None) for lic in lics
    ]
    migration.seal_existing(apps, SimpleNamespace(connection=connection))
    assert integrity.verify().discrepancies == []
    assert [lic.seal for lic in Licence.objects.order_by("id")] == [lic.seal for lic in lics]


# -- the categories, the licence's fields, the holder row ----------------------------------------------------------
@pytest.mark.django_db
def test_categories_changed_through_the_registry_keep_the_file_clean() -> None:
    clean, young, busy = _file()
    before = Licence.objects.get(pk=busy.pk).seal
    set_category(busy, code="C", obtained_on=dt.date(2015, 1, 1), expires_on=dt.date(2030, 1, 1))
    added = Licence.objects.get(pk=busy.pk).seal
    set_category(busy, code="C", obtained_on=dt.date(2015, 1, 1), expires_on=dt.date(2031, 1, 1))
    set_category(busy, code="B", obtained_on=dt.date(2012, 9, 1), restrictions="01")
    assert len({before, added, Licence.objects.get(pk=busy.pk).seal}) == 3
    assert integrity.verify().discrepancies == []
    # ... and a category changed by hand afterwards is still found.
    Category.objects.filter(licence=busy, code="C").update(obtained_on=dt.date(2014, 1, 1))
    assert [(d.licence, d.what) for d in integrity.verify().discrepancies] == [(busy.number, SEAL)]


@pytest.mark.django_db
def test_the_seal_does_not_depend_on_the_order_categories_were_given_in() -> None:
    b = {"code": "B", "obtained_on": dt.date(2010, 3, 1)}
    a = {"code": "A", "obtained_on": dt.date(2012, 3, 1), "expires_on": dt.date(2030, 1, 1)}
    first = licence(categories=[b, a], on=ON, holder=holder(), number="SEAL00001", dossier_number="DOSS00001")
    expected = first.seal
    Category.objects.filter(licence=first).delete()
    Category.objects.bulk_create([Category(licence=first, **a), Category(licence=first, **b)])
    assert services.core.write_seal(first.pk) == expected
    assert integrity.verify().discrepancies == []


def _holder_row_missing(lic: Licence) -> None:
    """The licence pointed at a holder that does not exist (the foreign key is checked at commit, which a test
    never reaches; a database without the constraint, or with it switched off, takes it for good)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_licence SET holder_id = 987654 WHERE id = %s", [lic.pk])


def _holder_row_back(lic: Licence) -> None:
    Licence.objects.filter(pk=lic.pk).update(holder_id=lic.holder_id)


NO_HOLDER = "seal (the licence's holder row is missing): expected 'holder 987654', found nothing"


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["--licence", "--all"])
def test_a_licence_whose_holder_row_is_missing_is_checked_and_reported(scope: str) -> None:
    clean, young, busy = _file()
    _holder_row_missing(busy)
    _balance(busy)  # its other checks still run
    try:
        code, lines = _verify(*(("--licence", busy.number) if scope == "--licence" else ("--all",)))
    finally:
        _holder_row_back(busy)
    assert code == 1, lines
    assert lines[:-1] == [
        f"{busy.number}: {NO_HOLDER}",
        f"{busy.number}: projection balance: expected 7, found 12",
    ]
    assert lines[-1].startswith(f"verified {1 if scope == '--licence' else 3} licences, ")


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["--licence", "--all"])
def test_a_licence_the_check_did_not_read_is_a_discrepancy(monkeypatch, scope: str) -> None:
    """Whatever makes the range queries miss a licence (here the inner join on the holders that once skipped a
    licence without its holder row), the count says so: a licence asked for or counted is checked or named."""
    clean, young, busy = _file()
    queries = integrity._queries

    def inner_join() -> dict[str, str]:
        out = queries()
        out["licences"] = out["licences"].replace(" LEFT JOIN ", " JOIN ")
        return out

    monkeypatch.setattr(integrity, "_queries", inner_join)
    _holder_row_missing(busy)
    try:
        if scope == "--licence":
            code, lines = _verify("--licence", busy.number, "--licence", clean.number)
        else:
            code, lines = _verify("--all")
    finally:
        _holder_row_back(busy)
    assert code == 1, lines
    if scope == "--licence":
        expected = f"{busy.number}: not verified (the check did not read this licence): expected 'verified'"
        assert lines[:-1] == [f"{expected}, found nothing"]
        assert lines[-1].startswith("verified 1 licences, ")
    else:
        assert lines[:-1] == ["file: licences verified (of the 3 counted): expected 3, found 2"]
        assert lines[-1].startswith("verified 2 licences, ")


# -- the writers refuse a chain that lost its end ------------------------------------------------------------------
def _truncated() -> tuple[Licence, Licence]:
    """The small file with the busy licence's last event deleted behind the services' back; and the young
    licence, whose probation makes changes due."""
    lics = _file()
    _last_event_deleted(lics[-1])
    return lics[1], lics[-1]


def _still_reported(busy: Licence) -> None:
    code, lines = _verify()
    assert code == 1, lines
    assert f"{busy.number}: events_count (events stored): expected 5, found 6" in lines


@pytest.mark.django_db
def test_refresh_refuses_a_history_that_lost_its_last_event() -> None:
    _, busy = _truncated()
    with pytest.raises(BrokenChain, match=f"licence {busy.number} ends at e5 .* after e6 .*permis verify"):
        services.refresh(busy, dt.date(2024, 7, 1))
    _still_reported(busy)


@pytest.mark.django_db
def test_recording_an_event_refuses_a_history_that_lost_its_last_event() -> None:
    _, busy = _truncated()
    with pytest.raises(BrokenChain, match=busy.number):
        services.record_event(
            busy,
            "offence",
            offence("2024-05-01", "2024-05-20", 1, "C3"),
            source="feed",
            sender="ANTAI",
            on=ON,
        )
    assert Event.objects.filter(licence=busy).count() == 5
    _still_reported(busy)


@pytest.mark.django_db
def test_recording_an_event_refuses_a_last_event_whose_hash_was_changed() -> None:
    lics = _file()
    busy = lics[-1]
    Event.objects.filter(licence=busy, seq=6).update(hash="f" * 64)
    with pytest.raises(BrokenChain, match=busy.number):
        services.refresh(busy, dt.date(2024, 7, 1))


@pytest.mark.django_db
def test_the_daily_run_names_a_history_that_lost_its_last_event_and_goes_on() -> None:
    young, busy = _truncated()
    before = Projection.objects.get(licence=busy)
    summary = daily.run_daily(dt.date(2030, 1, 1))
    assert [number for number, _ in summary.failed] == [busy.number]
    assert "permis verify" in summary.failed[0][1][0]
    assert Projection.objects.get(licence=busy).as_of == before.as_of  # left as it was
    assert Projection.objects.get(licence=young).as_of == dt.date(2030, 1, 1)  # the others went on
    _still_reported(busy)


@pytest.mark.django_db
def test_a_feed_import_refuses_the_records_of_a_history_that_lost_its_last_event(caplog) -> None:
    young, busy = _truncated()
    records = [
        {
            "sender": "ANTAI",
            "sender_ref": f"X-{lic.number}",
            "licence_number": lic.number,
            "points": "1",
            "class": "C3",
            "committed_on": "2024-05-01",
            "final_on": "2024-05-20",
        }
        for lic in (young, busy)
    ]
    with caplog.at_level(logging.ERROR, logger="permis.registry.services.feed"):
        results = feed_bulk.import_records(list(enumerate(records, start=2)), batch="test", on=ON)
    assert [r.outcome for r in results] == ["accepted", "rejected"]
    # The sender is told to send it again, without the file's internals; the operators get the whole story.
    (error,) = results[1].errors
    assert f"cannot record on licence {busy.number} until its file has been checked" in error
    assert "send this record again later" in error and "hash" not in error
    assert f"the history of licence {busy.number} ends at e5" in caplog.text
    assert FeedRecord.objects.get(source_ref=f"X-{busy.number}").outcome == "rejected"
    assert Event.objects.filter(licence=busy).count() == 5
    _still_reported(busy)
    # Once the file is checked and set right, the same record goes in: a rejection does not make it a duplicate.
    last = Event.objects.filter(licence=busy).order_by("-seq").first()
    Projection.objects.filter(licence=busy).update(events_count=last.seq, last_hash=last.hash)
    again = feed_bulk.import_records(list(enumerate(records[1:], start=2)), batch="again", on=ON)
    assert [r.outcome for r in again] == ["accepted"]
