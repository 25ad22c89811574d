"""The infraction feed: files of offences and cancellations, idempotent, with every bad record reported on its own.

Each scenario is written for a population of licences, so that it can run twice on twin populations (same dates,
other numbers) and the two files be compared row by row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import threading
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection, connections

from permis.registry import services
from permis.registry.models import Event, FeedRecord, Licence, Movement, Notice, Projection
from permis.registry.services import feed, feed_bulk, integrity

from .factories import holder

ON = dt.date(2025, 6, 1)
OBTAINED = [
    dt.date(2010, 3, 1),
    dt.date(2023, 2, 1),
    dt.date(2015, 6, 1),
    dt.date(2012, 1, 10),
    dt.date(2018, 9, 3),
    dt.date(2005, 5, 5),
]


def population(tag: str, obtained: list[dt.date] = OBTAINED) -> list[Licence]:
    return [
        services.register_licence(
            holder=holder(birth_name=f"H{tag}{n}"),
            number=f"{tag}{n:09d}",
            dossier_number=f"{tag}D{n:08d}",
            obtained_on=day,
            categories=[{"code": "B", "obtained_on": day}],
            on=dt.date(2024, 1, 1),
        )
        for n, day in enumerate(obtained)
    ]


def sender(lic: Licence) -> str:
    """Each population has its own sender, so that twin files do not see each other's references."""
    return "ANTAI" + lic.number[:-9]


def offence(ref: str, lic: Licence, committed: str, final: str, points: int = 3, cls: str = "C4", **extra):
    return {
        "sender": sender(lic),
        "sender_ref": ref,
        "licence_number": lic.number,
        "points": str(points),
        "class": cls,
        "committed_on": committed,
        "final_on": final,
        **extra,
    }


def cancellation(ref: str, lic: Licence, cancels: str, on: str) -> dict:
    return {
        "sender": sender(lic),
        "sender_ref": ref,
        "kind": "cancellation",
        "licence_number": lic.number,
        "cancels": cancels,
        "cancelled_on": on,
    }


def scenario(lics: list[Licence]) -> list[dict]:
    """A file with a bit of everything: every record kind, every way to reject one."""
    l0, l1, l2, l3, l4, l5 = lics
    return [
        # A 1-point offence whose restoration (and letter 46) a later-final offence blocks.
        offence("A-01", l0, "2024-03-01", "2024-03-15", 1, "C3", place="75056"),
        offence("A-02", l0, "2024-07-01", "2024-10-20", 2),
        cancellation("C-01", l3, "A-08", "2025-01-10"),
        # A probationary licence brought to zero: 48N, then 48SI.
        offence("A-03", l1, "2024-01-05", "2024-02-01", 4),
        offence("A-04", l1, "2024-04-05", "2024-05-01", 3, simultaneous_group="G1"),
        offence("A-05", l1, "2024-04-05", "2024-05-01", 2, "C3", simultaneous_group="G1"),
        # The engine refuses one of these (committed before the licence was obtained): the other still goes in.
        offence("A-06", l2, "2015-01-01", "2015-02-01", 2),
        offence("A-07", l2, "2024-11-01", "2024-12-01", 2),
        # The same reference twice in the file, and a NATINF code, a speeding and a dossier number.
        offence("A-08", l3, "2024-05-01", "2024-06-01", 2),
        offence("A-08", l3, "2024-05-01", "2024-06-01", 2),
        {
            "sender": sender(l5),
            "sender_ref": "A-09",
            "dossier_number": l5.dossier_number,
            "natinf": "23800",
            "committed_on": "2024-02-02",
            "final_on": "2024-03-03",
            "how": "fine_paid",
        },
        {
            "sender": sender(l5),
            "sender_ref": "A-10",
            "licence_number": l5.number,
            "speeding_limit_kmh": "80",
            "speeding_retained_kmh": "112",
            "committed_on": "2024-08-08",
            "final_on": "2024-09-09",
        },
        # Cancellations that cannot be: an unknown reference, an offence of another licence.
        cancellation("C-02", l4, "NOPE", "2025-01-01"),
        cancellation("C-03", l4, "A-01", "2025-01-01"),
        # Records rejected on their own.
        offence("A-11", l4, "2024-02-30", "2024-03-10"),
        offence("A-12", l4, "2024-03-10", "2024-03-01"),
        offence("A-13", l4, "2024-03-10", "2099-03-01"),
        offence("A-14", l4, "2024-03-10", "2024-04-01", 13),
        {**offence("A-15", l4, "2024-03-10", "2024-04-01"), "licence_number": "ZZ999999999"},
        {**offence("", l4, "2024-03-10", "2024-04-01")},
        {
            "sender": sender(l4),
            "sender_ref": "A-16",
            "licence_number": l4.number,
            "natinf": "99999",
            "committed_on": "2024-03-10",
            "final_on": "2024-04-01",
        },
    ]


def items(records: list[dict], on: dt.date = ON) -> list[feed.FeedItem]:
    return feed.parse_all(enumerate(records, start=2), on=on)


def bulk(records: list[dict], on: dt.date = ON, **options) -> list[feed.RecordResult]:
    return feed_bulk.import_records(list(enumerate(records, start=2)), batch="test", on=on, **options)


def per_record(records: list[dict], on: dt.date = ON) -> list[feed.RecordResult]:
    return feed.submit(items(records, on), batch="test", on=on)


# -- comparing files ---------------------------------------------------------------------------------------------
def rows(lics: list[Licence]) -> dict:
    """Every row the feed wrote for these licences, without what differs by nature (ids, times, hashes)."""
    index = {lic.pk: n for n, lic in enumerate(lics)}
    name = sender(lics[0])

    def same(value):  # the populations' own sender, written the same for both
        return json.loads(json.dumps(value).replace(name, "ANTAI"))

    out: dict = {}
    for n, lic in enumerate(lics):
        events = list(Event.objects.filter(licence=lic).order_by("seq"))
        prev = services.genesis_hash(lic)
        for event in events:  # the chain holds
            assert event.prev_hash == prev and services.event_hash(prev, event) == event.hash
            prev = event.hash
        out[n] = {
            "events": [
                (e.seq, e.kind, e.data, e.source, same(e.sender), e.source_ref, e.recorded_by, e.reason)
                for e in events
            ],
            "movements": list(
                Movement.objects.filter(licence=lic)
                .order_by("position")
                .values_list(
                    "position", "on", "kind", "change", "balance", "raw_balance", "cap", "cause", "basis"
                )
            ),
            "notices": sorted(
                Notice.objects.filter(licence=lic).values_list("code", "cause", "due_on", "status")
            ),
            "projection": Projection.objects.filter(licence=lic)
            .values_list(
                "balance",
                "raw_balance",
                "cap",
                "status",
                "suspended",
                "probation_end",
                "next_change_on",
                "as_of",
                "events_count",
            )
            .get(),
        }
    numbers = {lic.number for lic in lics} | {lic.dossier_number for lic in lics}
    records = []
    for record in FeedRecord.objects.filter(sender=name).select_related("event").order_by("line", "pk"):
        payload = {k: ("#" if v in numbers else v) for k, v in record.payload.items()}
        event = (index[record.event.licence_id], record.event.seq) if record.event else None
        records.append(
            same(
                [record.sender, record.source_ref, record.line, payload, record.outcome, record.errors, event]
            )
        )
    out["feed"] = sorted(records, key=json.dumps)
    return out


def state(lics: list[Licence]) -> dict:
    """The registry's state, with the engine ids mapped back to the senders' references (they depend on the
    order of arrival) and without the feed's receipts."""
    out = {}
    for n, lic in enumerate(lics):
        events = list(Event.objects.filter(licence=lic).order_by("seq"))
        refs = {f"e{e.seq}": e.source_ref for e in events}
        out[n] = {
            "events": sorted(
                json.dumps(
                    [
                        e.kind,
                        {k: refs.get(v, v) if isinstance(v, str) else v for k, v in e.data.items()},
                        e.source_ref,
                    ]
                )
                for e in events
            ),
            "movements": [
                (*row[:-2], refs.get(row[-2], row[-2]), row[-1])
                for row in Movement.objects.filter(licence=lic)
                .order_by("position")
                .values_list("on", "kind", "change", "balance", "raw_balance", "cap", "cause", "basis")
            ],
            "notices": sorted(
                (code, refs.get(cause, cause), due)
                for code, cause, due in Notice.objects.filter(licence=lic).values_list(
                    "code", "cause", "due_on"
                )
            ),
            "projection": Projection.objects.filter(licence=lic)
            .values_list("balance", "raw_balance", "cap", "status", "next_change_on", "events_count")
            .get(),
        }
    return out


def assert_verifies() -> None:
    report = integrity.verify(jobs=1)
    assert not report.discrepancies, report.discrepancies


def outcomes(results: list[feed.RecordResult]) -> list[tuple[str, str]]:
    return [(r.sender_ref, r.outcome) for r in results]


# -- the tests ---------------------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("chunk_size", [2, 1000])
def test_the_bulk_path_and_the_per_record_path_write_the_same_rows(chunk_size: int) -> None:
    one, two = population("B"), population("P")
    bulk(scenario(one), chunk_size=chunk_size)
    per_record(scenario(two))
    assert rows(one) == rows(two)
    assert_verifies()


@pytest.mark.django_db
def test_a_scenario_gives_each_record_its_outcome() -> None:
    lics = population("S")
    results = bulk(scenario(lics))
    assert outcomes(results) == [
        ("A-01", "accepted"),
        ("A-02", "accepted"),
        ("C-01", "accepted"),
        ("A-03", "accepted"),
        ("A-04", "accepted"),
        ("A-05", "accepted"),
        ("A-06", "rejected"),
        ("A-07", "accepted"),
        ("A-08", "accepted"),
        ("A-08", "duplicate"),
        ("A-09", "accepted"),
        ("A-10", "accepted"),
        ("C-02", "rejected"),
        ("C-03", "rejected"),
        ("A-11", "rejected"),
        ("A-12", "rejected"),
        ("A-13", "rejected"),
        ("A-14", "rejected"),
        ("A-15", "rejected"),
        ("", "rejected"),
        ("A-16", "rejected"),
    ]
    balances = {lic.number: Projection.objects.get(licence=lic).balance for lic in lics}
    assert balances[lics[0].number] == 9  # 12 - 1 - 2, the restoration of the first point blocked
    assert balances[lics[3].number] == 12  # its offence cancelled
    assert Projection.objects.get(licence=lics[1]).status == "zero_balance"
    assert set(Notice.objects.filter(licence=lics[1]).values_list("code", flat=True)) >= {"48N", "48SI"}
    # The blocked restoration's letter 46 would have been written by a record-at-a-time arrival: both paths
    # write it (see the test above), so that files are the same however they came.
    assert_verifies()


@pytest.mark.django_db
def test_every_bad_record_names_its_line_its_reference_and_the_field() -> None:
    lics = population("E")
    results = {r.position: r for r in bulk(scenario(lics))}
    expected = {
        8: "line 8 (ref A-06): committed_on: 2015-01-01 is before the licence was obtained (2015-06-01)",
        14: "line 14 (ref C-02): cancels: 'NOPE': no offence with this reference from ANTAIE in the registry",
        15: "line 15 (ref C-03): cancels: 'A-01': this offence is on another licence than the one this record names",
        16: "line 16 (ref A-11): committed_on: '2024-02-30' is not a date that exists (expected YYYY-MM-DD)",
        17: "line 17 (ref A-12): final_on: 2024-03-01 is before committed_on 2024-03-10: an offence becomes final "
        "after it is committed",
        18: "line 18 (ref A-13): final_on: 2099-03-01 is in the future (received on 2025-06-01)",
        19: "line 19 (ref A-14): points: '13' must be a whole number from 0 to 12",
        20: "line 20 (ref A-15): licence_number: no licence with number ZZ999999999 in the registry",
        21: "line 21: sender_ref: missing (the sender's reference of the record is required)",
    }
    for line, error in expected.items():
        assert results[line].errors == [error], results[line].errors
    assert results[22].errors[0].startswith("line 22 (ref A-16): natinf: "), results[22].errors
    stored = {r.line: r for r in FeedRecord.objects.all()}
    for line, error in expected.items():
        assert stored[line].outcome == "rejected" and stored[line].errors == [error]
        assert stored[line].event is None
    assert stored[16].payload["committed_on"] == "2024-02-30"  # kept as it came
    assert stored[2].outcome == "accepted" and stored[2].event.source_ref == "A-01"
    assert stored[2].payload["place"] == "75056"


@pytest.mark.django_db
def test_the_same_file_sent_twice_ends_in_the_state_of_one_import() -> None:
    lics = population("T")
    bulk(scenario(lics))
    once = state(lics)
    again = bulk(scenario(lics))
    assert state(lics) == once
    assert {r.outcome for r in again if r.outcome != "rejected"} == {"duplicate"}
    assert [r.sender_ref for r in again if r.outcome == "rejected"] == [
        "A-06",
        "C-02",
        "C-03",
        "A-11",
        "A-12",
        "A-13",
        "A-14",
        "A-15",
        "",
        "A-16",
    ]
    assert FeedRecord.objects.count() == 2 * len(scenario(lics))
    assert_verifies()


@pytest.mark.django_db
def test_the_same_records_in_any_order_end_in_the_same_state() -> None:
    ordered, shuffled = population("O"), population("R")
    bulk(scenario(ordered))
    records = scenario(shuffled)
    random.Random(7).shuffle(records)  # noqa: S311 - test data
    bulk(records, chunk_size=3)
    assert state(ordered) == state(shuffled)
    # Even the engine ids are the same: each licence's records are sorted on their content.
    assert [list(Event.objects.filter(licence=a).values_list("seq", "source_ref")) for a in ordered] == [
        list(Event.objects.filter(licence=b).values_list("seq", "source_ref")) for b in shuffled
    ]


@pytest.mark.django_db
def test_a_file_split_in_two_imports_ends_in_the_state_of_one() -> None:
    whole, split = population("W"), population("X")
    bulk(scenario(whole))
    records = scenario(split)
    bulk(records[:9])
    bulk(records[9:])
    assert state(whole) == state(split)


@pytest.mark.django_db
def test_an_unknown_licence_is_rejected_and_the_other_records_go_in() -> None:
    (lic,) = population("U", [dt.date(2010, 1, 1)])
    good = offence("U-1", lic, "2025-01-01", "2025-02-01", 2)
    bad = {**offence("U-2", lic, "2025-01-01", "2025-02-01", 2), "licence_number": "AB12345"}
    also_bad = {**offence("U-3", lic, "2025-01-01", "2025-02-01", 2), "dossier_number": "ZZZZZZ9"}
    results = bulk([bad, good, also_bad])
    assert outcomes(results) == [("U-2", "rejected"), ("U-1", "accepted"), ("U-3", "rejected")]
    assert results[2].errors == [
        "line 4 (ref U-3): dossier_number: no licence with dossier number ZZZZZZ9 in the registry"
    ]
    assert Projection.objects.get(licence=lic).balance == 10


@pytest.mark.django_db
def test_a_cancellation_of_an_unknown_reference_is_rejected() -> None:
    (lic,) = population("N", [dt.date(2010, 1, 1)])
    results = per_record([cancellation("N-C", lic, "N-404", "2025-03-01")])
    assert outcomes(results) == [("N-C", "rejected")]
    assert "'N-404': no offence with this reference from ANTAIN in the registry" in results[0].errors[0]
    assert not Event.objects.filter(licence=lic).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path", [bulk, per_record], ids=["bulk", "per record"])
def test_a_cancellation_before_its_offence_in_the_same_file_cancels_it(path) -> None:
    (lic,) = population("C" + path.__name__[0].upper(), [dt.date(2010, 1, 1)])
    results = path(
        [
            cancellation("K-C", lic, "K-1", "2025-03-01"),
            offence("K-1", lic, "2025-01-01", "2025-02-01", 4),
        ]
    )
    assert outcomes(results) == [("K-C", "accepted"), ("K-1", "accepted")]
    assert Event.objects.get(source_ref="K-C").data == {"offence": "e1", "on": "2025-03-01"}
    assert Projection.objects.get(licence=lic).balance == 12
    assert list(Movement.objects.filter(licence=lic, cause="e1").values_list("kind", "change")) == [
        ("withdrawal", -4),
        ("withdrawal_cancelled", 4),
    ]


@pytest.mark.django_db
def test_a_cancellation_in_a_later_file_gives_the_points_back() -> None:
    (lic,) = population("L", [dt.date(2010, 1, 1)])
    bulk([offence("L-1", lic, "2025-01-01", "2025-02-01", 4)])
    assert Projection.objects.get(licence=lic).balance == 8
    again = bulk(
        [cancellation("L-C", lic, "L-1", "2025-03-01"), cancellation("L-D", lic, "L-1", "2025-03-02")]
    )
    assert outcomes(again) == [("L-C", "accepted"), ("L-D", "rejected")]
    assert again[1].errors == ["line 3 (ref L-D): cancels: 'L-1': this offence is already cancelled"]
    assert Projection.objects.get(licence=lic).balance == 12


@pytest.mark.django_db
def test_a_record_of_another_sender_than_the_import_is_rejected() -> None:
    (lic,) = population("D", [dt.date(2010, 1, 1)])
    records = [
        offence("D-1", lic, "2025-01-01", "2025-02-01"),
        {**offence("D-2", lic, "2025-01-01", "2025-02-01")},
    ]
    records[1]["sender"] = "TJ-PARIS"
    results = feed_bulk.import_records(list(enumerate(records, start=2)), sender="ANTAID", batch="t", on=ON)
    assert outcomes(results) == [("D-1", "accepted"), ("D-2", "rejected")]
    assert results[1].errors == [
        "line 3 (ref D-2): sender: 'TJ-PARIS' is not the sender of this import ('ANTAID')"
    ]


def test_a_record_checks_its_fields_without_a_database() -> None:
    item = feed.parse_record(
        {
            "sender_ref": "Z-1",
            "licence_number": "12",
            "points": "2",
            "natinf": "23800",
            "how": "paid",
            "committed_on": "01/02/2025",
            "colour": "red",
        },
        7,
        on=ON,
    )
    assert item.errors == [
        "line 7 (ref Z-1): colour: unknown field (the columns are: " + ", ".join(feed.COLUMNS) + ")",
        "line 7 (ref Z-1): sender: missing (name the sender in the record, or for the whole import)",
        "line 7 (ref Z-1): licence_number: '12' must be 5 to 19 letters or digits",
        "line 7 (ref Z-1): committed_on: '01/02/2025' is not a date (expected YYYY-MM-DD)",
        "line 7 (ref Z-1): final_on: missing (a date YYYY-MM-DD is required)",
        "line 7 (ref Z-1): points: give only one of natinf, points and class, or speeding (found natinf, points)",
        "line 7 (ref Z-1): how: 'paid' is not one of fine_paid, majoree_title, composition_penale, conviction",
    ]
    cancel = feed.parse_record(
        {
            "sender": "S",
            "sender_ref": "Z-2",
            "kind": "cancellation",
            "dossier_number": "ab 12345",
            "cancels": "Z-2",
            "points": 3,
        },
        8,
        on=ON,
    )
    assert cancel.errors == [
        "line 8 (ref Z-2): points: not allowed in a cancellation (it names the offence with cancels)",
        "line 8 (ref Z-2): cancels: a record cannot cancel itself (cancels is its own sender_ref)",
        "line 8 (ref Z-2): cancelled_on: missing (a date YYYY-MM-DD is required)",
    ]
    assert cancel.dossier_number == "AB12345"


# -- the command -------------------------------------------------------------------------------------------------
def write_csv(path: Path, records: list[dict], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=feed.COLUMNS, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(records)
    return path


def command(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with time_machine.travel(dt.datetime(2025, 6, 1, 10, tzinfo=dt.UTC), tick=True):
        try:
            call_command("import", *args, stdout=out, stderr=err)
            code = 0
        except CommandError as error:  # what `permis import` turns into its exit code
            code = error.returncode
            err.write(str(error))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_the_command_imports_a_csv_file_and_writes_its_report(tmp_path: Path) -> None:
    lics = population("F")
    path = write_csv(tmp_path / "offences.csv", scenario(lics))
    report = tmp_path / "report.csv"
    code, out, err = command("offences", str(path), "--report", str(report))
    assert code == 0, err
    assert "21 records" in out and "10 accepted, 1 duplicates, 10 rejected" in out, out
    assert "import offences.csv" in err and "21/21" in err  # the progress bar
    lines = list(csv.DictReader(report.open(encoding="utf-8")))
    assert len(lines) == 21
    assert lines[0] == {"line": "2", "sender_ref": "A-01", "outcome": "accepted", "errors": ""}
    assert (
        lines[15]["errors"] == "line 17 (ref A-12): final_on: 2024-03-01 is before committed_on 2024-03-10: "
        "an offence becomes final after it is committed"
    )
    assert_verifies()


@pytest.mark.django_db
def test_a_report_that_cannot_be_written_stops_the_command_before_any_record(tmp_path: Path) -> None:
    lics = population("W")
    path = write_csv(tmp_path / "offences.csv", scenario(lics))
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    events = Event.objects.count()
    code, out, err = command("offences", str(path), "--report", str(tmp_path / "taken" / "report.csv"))
    assert code == 2 and "report.csv: cannot be written" in err and out == ""
    assert Event.objects.count() == events and not FeedRecord.objects.exists()


@pytest.mark.django_db
def test_the_command_reads_json_lines_and_semicolon_csv(tmp_path: Path) -> None:
    one, two = population("J"), population("K")
    path = tmp_path / "offences.jsonl"
    records = scenario(one)
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n{not json\n", encoding="utf-8")
    report = tmp_path / "report.jsonl"
    code, out, _ = command("offences", str(path), "--report", str(report), "--quiet")
    assert code == 0 and "22 records" in out
    last = json.loads(report.read_text(encoding="utf-8").splitlines()[-1])
    assert last["line"] == 22 and last["outcome"] == "rejected"
    assert last["errors"][0].startswith("line 22: record: not a JSON object")
    code, out, _ = command("offences", str(write_csv(tmp_path / "b.csv", scenario(two), ";")), "--quiet")
    assert code == 0 and "10 accepted" in out
    assert state(one) == state(two)


@pytest.mark.django_db
def test_the_command_exits_2_when_the_file_cannot_be_read(tmp_path: Path) -> None:
    code, _, err = command("offences", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv: cannot be read" in err
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("sender_ref,place\nA,Besan\xe7on\n".encode("latin-1"))
    code, _, err = command("offences", str(bad))
    assert code == 2 and "line 2: not UTF-8 text" in err
    odd = tmp_path / "odd.csv"
    odd.write_text("sender_ref,licence,points\n", encoding="utf-8")
    code, _, err = command("offences", str(odd))
    assert code == 2 and "unknown column(s) 'licence'" in err


@pytest.mark.django_db
def test_the_command_per_record_option_gives_the_same_file(tmp_path: Path) -> None:
    one, two = population("G"), population("H")
    assert command("offences", str(write_csv(tmp_path / "a.csv", scenario(one))), "--quiet")[0] == 0
    assert (
        command("offences", str(write_csv(tmp_path / "b.csv", scenario(two))), "--quiet", "--per-record")[0]
        == 0
    )
    assert rows(one) == rows(two)


# -- PostgreSQL: several imports at once -------------------------------------------------------------------------
def _many(lics: list[Licence], seed: int, count: int) -> list[dict]:
    """Offences on distinct days per licence (no same-day tie for the engine to break by id), some cancelled."""
    rng = random.Random(seed)  # noqa: S311 - test data
    records, used = [], set()
    for n in range(count):
        lic = rng.choice(lics)
        # Files of odd and even seeds never share a day.
        final = dt.date(2022, 1, 1) + dt.timedelta(days=2 * rng.randrange(0, 600) + seed % 2)
        if (lic.pk, final) in used:
            continue
        used.add((lic.pk, final))
        committed = final - dt.timedelta(days=rng.randrange(5, 60))
        points, cls = rng.choice([(1, "C3"), (2, "C4"), (3, "C4"), (4, "D")])
        ref = f"M-{seed}-{n}"
        records.append(offence(ref, lic, committed.isoformat(), final.isoformat(), points, cls))
        if rng.random() < 0.1:
            records.append(cancellation(f"{ref}-C", lic, ref, (final + dt.timedelta(days=30)).isoformat()))
    return records


def _population(tag: str, size: int) -> list[Licence]:
    rng = random.Random(11)  # noqa: S311 - test data
    return population(
        tag, [dt.date(2003, 1, 1) + dt.timedelta(days=rng.randrange(0, 7000)) for _ in range(size)]
    )


def _at_once(*jobs) -> None:
    """Run each job in its own thread (so with its own connection), all starting together."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_imports_at_once_end_in_the_state_of_one_serial_import() -> None:
    """Each licence's records of a file are recorded in one transaction under the licence's lock, so each licence
    ends as if the files had come one after the other, in one order or the other. Everything but the letters is
    the same in both orders; the letters sent along the way (never withdrawn) depend on it."""
    assert connection.vendor == "postgresql"
    ab, ba, concurrent = _population("S", 40), _population("Z", 40), _population("Q", 40)
    for lics, order in ((ab, (1, 2)), (ba, (2, 1))):
        for seed in order:
            bulk(_many(lics, seed, 300), chunk_size=25)
        bulk(_many(lics, 1, 300), chunk_size=25)
    a, b = _many(concurrent, 1, 300), _many(concurrent, 2, 300)
    _at_once(
        lambda: bulk(a, chunk_size=25),
        lambda: bulk(b, chunk_size=25),
        lambda: bulk(list(reversed(a)), chunk_size=7),
    )
    first, second, found = state(ab), state(ba), state(concurrent)
    for n in found:
        letters = found[n].pop("notices")
        assert letters in (first[n].pop("notices"), second[n].pop("notices")), n
        assert found[n] == first[n] == second[n], n
    assert (
        Event.objects.filter(licence__in=concurrent).count() == Event.objects.filter(licence__in=ab).count()
    )
    assert_verifies()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_with_two_worker_processes_ends_as_a_serial_one() -> None:
    assert connection.vendor == "postgresql"
    serial, parallel = _population("V", 60), _population("Y", 60)
    bulk(_many(serial, 3, 500), chunk_size=20)
    results = bulk(_many(parallel, 3, 500), chunk_size=20, workers=2)
    assert {r.outcome for r in results} == {"accepted"}
    assert rows(serial)["feed"] == rows(parallel)["feed"]
    assert state(serial) == state(parallel)
    assert_verifies()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_api_path_and_a_file_import_at_once_end_as_one_serial_import() -> None:
    serial, concurrent = _population("AS", 30), _population("AC", 30)
    bulk(_many(serial, 5, 200))
    twin = _many(concurrent, 5, 200)
    _at_once(lambda: bulk(twin, chunk_size=10), lambda: per_record(list(reversed(twin))))
    assert state(serial) == state(concurrent)  # one file: the same records, whoever records each
    assert_verifies()


@pytest.mark.django_db(transaction=True)  # the command closes the connections when it ends, as any command
def test_the_permis_command_hands_import_offences_to_the_feed(tmp_path: Path, capsys) -> None:
    from permis import cli

    (lic,) = population("CL", [dt.date(2010, 1, 1)])
    path = write_csv(tmp_path / "x.csv", [offence("CL-1", lic, "2025-01-01", "2025-02-01", 2)])
    with time_machine.travel(dt.datetime(2025, 6, 1, 10, tzinfo=dt.UTC), tick=True):
        assert cli.main(["import", "offences", str(path), "--quiet"]) == 0
    assert "1 accepted, 0 duplicates, 0 rejected" in capsys.readouterr().out
    assert Projection.objects.get(licence=lic).balance == 10


@pytest.mark.postgres
@pytest.mark.django_db
def test_references_with_commas_quotes_and_backslashes_are_found_again() -> None:
    """The bulk path binds a chunk's references as one array literal: odd characters must survive it."""
    (lic,) = population("QQ", [dt.date(2010, 1, 1)])
    refs = ["A,1", 'B"2', "C\\3", "{D}", "E 5", "NULL"]
    records = [offence(ref, lic, "2025-01-01", f"2025-02-0{n + 1}", 1, "C3") for n, ref in enumerate(refs)]
    records.append(cancellation('X,"}', lic, 'B"2', "2025-03-01"))
    assert {r.outcome for r in bulk(records)} == {"accepted"}
    assert {r.outcome for r in bulk(records)} == {"duplicate"}
    assert set(Event.objects.filter(licence=lic).values_list("source_ref", flat=True)) == {*refs, 'X,"}'}


@pytest.mark.postgres
@pytest.mark.django_db
def test_many_licence_numbers_are_found_with_one_join(monkeypatch) -> None:
    """Above a threshold the licences are found by joining a temporary table, not probed one by one."""
    one, two = population("JA"), population("JB")
    monkeypatch.setattr(feed, "JOIN_ABOVE", 0)
    bulk(scenario(one))
    monkeypatch.setattr(feed, "JOIN_ABOVE", 10**9)
    bulk(scenario(two))
    assert rows(one) == rows(two)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_processes_with_references_given_twice_and_bad_records_write_the_per_record_rows() -> None:
    """The workers read their chunks from the staging table; the records planning parses itself (a reference
    given twice, a record without a licence) join them or come after them, as in a serial import."""
    one, two = population("WA"), population("WB")
    results = bulk(scenario(one), chunk_size=2, workers=2)
    per_record(scenario(two))
    assert rows(one) == rows(two)
    assert [r.position for r in results] == list(range(2, 2 + len(scenario(one))))
    assert_verifies()


@pytest.mark.django_db
def test_an_import_leaves_no_staging_table(tmp_path: Path) -> None:
    lics = population("ST")
    bulk(scenario(lics))
    code, _, _ = command("offences", str(tmp_path / "missing.csv"))
    assert code == 2
    bad = tmp_path / "late.csv"
    bad.write_bytes(b"sender_ref,place\nA,ok\nB,Besan\xe7on\n")
    assert command("offences", str(bad))[0] == 2
    quoted = tmp_path / "quoted.csv"  # found while the records are being copied into the staging table
    quoted.write_text('sender_ref,place\nA,ok\nB,"x"y\n', encoding="utf-8")
    code, _, err = command("offences", str(quoted))
    assert code == 2 and "line 3" in err, err
    assert FeedRecord.objects.count() == len(scenario(lics))
    tables = connection.introspection.table_names(include_views=False)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_temp_master WHERE type = 'table'")
            tables += [row[0] for row in cursor.fetchall()]
    assert not [t for t in tables if t.startswith(("feed_raw_", "feed_stage_", "feed_result_"))]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_command_with_two_workers_reports_every_record_in_the_file_order(tmp_path: Path) -> None:
    """The results come back chunk by chunk, in licence order; the report follows the file."""
    serial, parallel = population("RS"), population("RP")
    expected = outcomes(bulk(scenario(serial) + _many(serial, 4, 60)))
    path = write_csv(tmp_path / "p.csv", scenario(parallel) + _many(parallel, 4, 60))
    report = tmp_path / "report.csv"
    code, out, err = command(
        "offences", str(path), "--report", str(report), "--workers", "2", "--chunk-size", "5", "--quiet"
    )
    assert code == 0, err
    lines = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [int(line["line"]) for line in lines] == list(range(2, 2 + len(expected)))
    assert [(line["sender_ref"], line["outcome"]) for line in lines] == expected
    assert f"{len(expected)} records" in out
    assert rows(serial) == rows(parallel)


def _staging_tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace "
            "AND relname ~ '^feed_(raw|stage|result)_[0-9]+_[0-9a-f]+$'"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_drops_the_tables_an_interrupted_import_left_but_not_a_running_imports(
    tmp_path: Path,
) -> None:
    """An import killed with `kill -9` leaves its unlogged tables; the next import drops them, and only them: the
    tables of an import still running (its advisory lock held by its connection) stay."""
    import psycopg

    assert connection.vendor == "postgresql"
    lics = population("AB")
    with connection.cursor() as cursor:
        for tag in ("4242_0badc0de", "4243_00000001"):
            for kind in ("raw", "stage", "result"):
                cursor.execute(f"CREATE UNLOGGED TABLE feed_{kind}_{tag} (idx integer)")
        cursor.execute("CREATE TABLE feed_stage_notours (idx integer)")  # not a staging table's name
    running = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        running.execute(
            "SELECT pg_advisory_lock(%s, hashtext(%s))", [feed_bulk._LIVE_IMPORT, "4243_00000001"]
        )
        path = write_csv(tmp_path / "x.csv", scenario(lics))
        code, out, err = command("offences", str(path), "--quiet")
        assert code == 0, err
        assert _staging_tables() == {f"feed_{kind}_4243_00000001" for kind in ("raw", "stage", "result")}
    finally:
        running.close()
    with connection.cursor() as cursor:  # the running import ended: its tables go with the next import
        cursor.execute("SELECT 1 FROM feed_stage_notours")
    assert bulk(scenario(lics)) and _staging_tables() == set()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE feed_stage_notours")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_holds_its_lock_while_it_runs_and_lets_it_go_when_it_ends() -> None:
    assert connection.vendor == "postgresql"
    lics = population("AL")

    def held() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                [feed_bulk._LIVE_IMPORT],
            )
            return cursor.fetchone()[0]

    with feed_bulk.Import(sender=None, batch="lock-test", on=dt.date(2025, 6, 1)) as run:
        run.load(enumerate([], start=2))
        assert held() == 1
    assert held() == 0
    assert bulk(scenario(lics))


# -- inputs the review found (superscript digits, NaN, NUL, odd line breaks, dates, spaces, bad options) --------
def test_only_ascii_digits_and_yyyy_mm_dd_dates_are_read() -> None:
    def errors(**fields) -> list[str]:
        record = {"sender": "S", "sender_ref": "Z-1", "licence_number": "AB12345", **fields}
        record.setdefault("committed_on", "2025-03-02")
        record.setdefault("final_on", "2025-04-11")
        return feed.parse_record(record, 5, on=ON).errors

    assert errors(points="³", **{"class": "C4"}) == [
        "line 5 (ref Z-1): points: '³' must be a whole number from 0 to 12"
    ]
    assert errors(speeding_limit_kmh="٥٠", speeding_retained_kmh="97") == [
        "line 5 (ref Z-1): speeding_limit_kmh: '٥٠' must be a whole number from 1 to 500"
    ]
    assert errors(natinf="2²") == ["line 5 (ref Z-1): natinf: '2²' must be a NATINF code (digits)"]
    assert errors(points="0" * 5000 + "3", **{"class": "C4"}) == []  # no int() limit on leading zeros
    assert errors(points="9" * 5000, **{"class": "C4"})[0].startswith("line 5 (ref Z-1): points: '999")
    for day in ("2025-W10-1", "20250303", "2025-062", "２０２５-03-02"):
        assert errors(natinf="23800", committed_on=day) == [
            f"line 5 (ref Z-1): committed_on: {day!r} is not a date (expected YYYY-MM-DD)"
        ]
    # Cells are trimmed alike, whatever the column.
    item = feed.parse_record(
        {
            "sender": " S ",
            "sender_ref": " Z-2 ",
            "licence_number": " AB12345 ",
            "points": " 1 ",
            "class": " C4 ",
            "how": " fine_paid ",
            "committed_on": " 2025-03-02 ",
            "final_on": " 2025-04-11 ",
        },
        6,
        on=ON,
    )
    assert item.errors == [] and item.data["class"] == "C4" and item.data["how"] == "fine_paid"
    assert feed.parse_record(
        {"sender": "S", "sender_ref": "Z-3", "kind": " cancellation "}, 7, on=ON
    ).kind == ("cancellation")
    # A sender of nothing but spaces is a missing sender.
    blank = feed.parse_record({"sender": "  ", "sender_ref": "Z-4", "natinf": "23800"}, 8, on=ON)
    assert "line 8 (ref Z-4): sender: missing (name the sender in the record, or for the whole import)" in (
        blank.errors
    )


def test_a_record_holding_nan_or_nul_is_rejected_and_stored_as_json() -> None:
    nan = feed.parse_record(
        {"sender": "S", "sender_ref": "Z-1", "points": float("nan"), "class": "C4"}, 3, on=ON
    )
    assert "line 3 (ref Z-1): points: nan must be a whole number from 0 to 12" in nan.errors
    assert nan.payload == {"sender": "S", "sender_ref": "Z-1", "points": "NaN", "class": "C4"}
    assert json.loads(nan.payload_json) == nan.payload
    assert feed.parse_record([float("inf"), -float("inf")], 4, on=ON).payload == {
        "(raw)": ["Infinity", "-Infinity"]
    }
    nul = feed.parse_record({"sender": "S", "sender_ref": "Z-2", "place": "a\x00b", "x\x00": 1}, 5, on=ON)
    assert "line 5 (ref Z-2): place: 'a\\x00b' must be at most 100 printable characters" in nul.errors
    assert "line 5 (ref Z-2): 'x\\x00': unknown field (the columns are: " + ", ".join(feed.COLUMNS) + ")" in (
        nul.errors
    )
    # jsonb holds no U+0000: the stored copy spells it out
    assert nul.payload == {"sender": "S", "sender_ref": "Z-2", "place": "a\\u0000b", "x\\u0000": 1}
    assert json.loads(nul.payload_json) == nul.payload and "\x00" not in json.loads(json.dumps(nul.errors))[0]


@pytest.mark.django_db
@pytest.mark.parametrize("path", [bulk, per_record], ids=["bulk", "per record"])
def test_odd_digits_nan_and_nul_reject_their_record_and_the_others_go_in(path) -> None:
    lic = population("N")[0]
    records = [
        offence("N-1", lic, "2025-01-01", "2025-02-01", 1),
        {**offence("N-2", lic, "2025-01-01", "2025-02-01"), "points": "³"},
        {**offence("N-3", lic, "2025-01-01", "2025-02-01"), "points": float("nan")},
        {**offence("N-4", lic, "2025-01-01", "2025-02-01"), "points": float("inf")},
        offence("N-5", lic, "2025-01-01", "2025-02-01", place="a\x00b"),
        {**offence("N-6", lic, "2025-01-01", "2025-02-01"), "natinf": "²", "points": None, "class": None},
        offence("N-7", lic, "2025-01-02", "2025-02-02", 2),
    ]
    results = path(records)
    assert outcomes(results) == [("N-1", "accepted")] + [(f"N-{n}", "rejected") for n in range(2, 7)] + [
        ("N-7", "accepted")
    ]
    assert results[1].errors == ["line 3 (ref N-2): points: '³' must be a whole number from 0 to 12"]
    assert results[2].errors == ["line 4 (ref N-3): points: nan must be a whole number from 0 to 12"]
    assert results[4].errors == [
        "line 6 (ref N-5): place: 'a\\x00b' must be at most 100 printable characters"
    ]
    stored = {r.source_ref: r for r in FeedRecord.objects.all()}
    assert stored["N-3"].payload["points"] == "NaN" and stored["N-4"].payload["points"] == "Infinity"
    assert stored["N-5"].payload["place"] == "a\\u0000b"
    assert Projection.objects.get(licence=lic).balance == 9
    assert_verifies()


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.mark.django_db
@pytest.mark.parametrize("per", [False, True], ids=["bulk", "per record"])
def test_a_json_lines_file_with_nan_nul_and_odd_line_breaks_is_imported(tmp_path: Path, per: bool) -> None:
    lic = population("L")[0]
    lines = [
        json.dumps(offence("L-1", lic, "2025-01-01", "2025-02-01", 1)),
        json.dumps(offence("L-2", lic, "2025-01-01", "2025-02-01", place="Rue A\u2028B"), ensure_ascii=False),
        json.dumps(
            offence("L-3", lic, "2025-01-01", "2025-02-01", place="a\x0cb\x85c\x1cd\x1ee"), ensure_ascii=False
        ),
        json.dumps(offence("L-4", lic, "2025-01-01", "2025-02-01")).replace('"3"', "NaN"),
        json.dumps(offence("L-5", lic, "2025-01-01", "2025-02-01")).replace('"3"', "1e400"),
        json.dumps(offence("L-6", lic, "2025-01-01", "2025-02-01", place="a\x00b")),
        '{"sender_ref": "L-7", "points": 1' + "0" * 5000 + "}",
        json.dumps(offence("L-8", lic, "2025-01-02", "2025-02-02", 2)),
    ]
    path = write_text(tmp_path / "odd.jsonl", "\n".join(lines) + "\n")
    report = tmp_path / "report.jsonl"
    code, out, err = command(
        "offences", str(path), "--report", str(report), "--quiet", *(["--per-record"] * per)
    )
    assert code == 0, err
    assert "8 records" in out and "2 accepted, 0 duplicates, 6 rejected" in out, out
    rows_ = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["sender_ref"], r["outcome"]) for r in rows_] == [
        (1, "L-1", "accepted"),
        (2, "L-2", "rejected"),
        (3, "L-3", "rejected"),
        (4, "L-4", "rejected"),
        (5, "L-5", "rejected"),
        (6, "L-6", "rejected"),
        (7, "", "rejected"),
        (8, "L-8", "accepted"),
    ]
    assert rows_[1]["errors"] == [
        "line 2 (ref L-2): place: 'Rue A\\u2028B' must be at most 100 printable characters"
    ]
    assert rows_[3]["errors"] == ["line 4 (ref L-4): points: nan must be a whole number from 0 to 12"]
    assert rows_[4]["errors"] == ["line 5 (ref L-5): points: inf must be a whole number from 0 to 12"]
    assert rows_[6]["errors"][0].startswith("line 7: record: not a JSON object (Exceeds the limit")
    stored = {r.line: r for r in FeedRecord.objects.all()}
    assert stored[4].payload["points"] == "NaN" and stored[6].payload["place"] == "a\\u0000b"
    assert Projection.objects.get(licence=lic).balance == 9


@pytest.mark.django_db
def test_csv_cells_are_trimmed_alike(tmp_path: Path) -> None:
    lic = population("C")[0]
    path = write_text(
        tmp_path / "spaces.csv",
        "sender,sender_ref,licence_number,points,class,committed_on,final_on,how\n"
        f"{sender(lic)}, C-1 , {lic.number} , 1 , C4 , 2025-03-02 , 2025-04-11 , fine_paid \n",
    )
    code, out, err = command("offences", str(path), "--quiet")
    assert code == 0 and "1 accepted" in out, (out, err)
    assert Event.objects.get(source_ref="C-1").data["how"] == "fine_paid"


@pytest.mark.django_db
def test_an_empty_csv_file_is_a_file_error(tmp_path: Path) -> None:
    for text in ("", "\ufeff", "\n\n"):
        code, out, err = command("offences", str(write_text(tmp_path / "empty.csv", text)), "--quiet")
        assert code == 2 and "empty.csv: line 1: no header" in err and out == "", (text, err)
    code, out, _ = command("offences", str(write_text(tmp_path / "empty.jsonl", "")), "--quiet")
    assert code == 0 and "0 records" in out  # JSON Lines has no header: an empty file holds no record
    assert not FeedRecord.objects.exists()


@pytest.mark.django_db
def test_a_report_that_is_a_directory_or_the_file_itself_stops_the_command(tmp_path: Path) -> None:
    lics = population("R")
    path = write_csv(tmp_path / "offences.csv", scenario(lics))
    before = path.read_bytes()
    for report, problem in (
        (tmp_path, "is a directory"),
        (path, "is the file imported"),
        (tmp_path / "." / "offences.csv", "is the file imported"),
    ):
        code, out, err = command("offences", str(path), "--report", str(report), "--quiet")
        assert code == 2 and f"--report {report}: {problem}" in err and out == "", err
    assert path.read_bytes() == before
    assert not Event.objects.exists() and not FeedRecord.objects.exists()
    # A report tried and then not written (the file cannot be read) is not left behind, empty.
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("sender_ref,place\nA,Besan\xe7on\n".encode("latin-1"))
    code, _, err = command("offences", str(latin), "--report", str(tmp_path / "new" / "report.csv"))
    assert code == 2 and "not UTF-8" in err and not (tmp_path / "new" / "report.csv").exists()
    kept = write_text(tmp_path / "old.csv", "an earlier report\n")
    code, _, _ = command("offences", str(latin), "--report", str(kept))
    assert code == 2 and kept.read_text(encoding="utf-8") == "an earlier report\n"


@pytest.mark.django_db
def test_the_sender_option_is_checked_as_a_records_sender(tmp_path: Path) -> None:
    lic = population("Q")[0]
    record = offence("Q-1", lic, "2025-01-01", "2025-02-01")
    path = write_csv(tmp_path / "offences.csv", [record])
    for bad, message in (
        ("S" * 51, f"--sender: {'S' * 51!r} must be at most 50 printable characters"),
        ("A\tB", "--sender: 'A\\tB' must be at most 50 printable characters"),
        ("  ", "--sender: missing"),
    ):
        code, out, err = command("offences", str(path), "--sender", bad, "--quiet")
        assert code == 2 and message in err and out == "", err
    assert not FeedRecord.objects.exists()
    code, out, err = command("offences", str(path), "--sender", f" {sender(lic)} ", "--quiet")
    assert code == 0 and "1 accepted" in out, (out, err)
    assert Event.objects.get(source_ref="Q-1").sender == sender(lic)


@pytest.mark.django_db
def test_a_record_whose_quoted_cell_spans_lines_is_named_by_its_first_line(tmp_path: Path) -> None:
    (lic,) = population("ML", [dt.date(2010, 1, 1)])
    path = tmp_path / "multi.csv"
    path.write_text(
        "sender,sender_ref,licence_number,points,class,committed_on,final_on,place\n"
        f'ANTAI,ML-1,{lic.number},1,C3,2025-03-02,2025-04-11,"Rue A\nBâtiment B"\n'
        f"ANTAI,ML-2,{lic.number},1,C3,2025-03-02,2025-02-11,\n",
        encoding="utf-8",
    )
    report = tmp_path / "report.csv"
    code, _, err = command("offences", str(path), "--report", str(report), "--quiet")
    assert code == 0, err
    lines = {row["sender_ref"]: row for row in csv.DictReader(report.open(encoding="utf-8"))}
    assert lines["ML-1"]["line"] == "2"  # its place spans lines 2 and 3
    assert lines["ML-2"]["line"] == "4" and "final_on" in lines["ML-2"]["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", [bulk, per_record], ids=["bulk", "per record"])
def test_a_record_arriving_after_the_file_took_the_licence_over_gets_its_letters(path) -> None:
    """A licence taken over on 2025-05-20 (its ``notices_from``); a record final before that day arrives on
    2025-06-01 and empties the balance: its 48SI is this file's to send, or the licence is never invalidated
    (RULES.md §9). Letters due before the take-over of events the file knew of are still not sent again."""
    with time_machine.travel(dt.datetime(2025, 5, 20, 10, tzinfo=dt.UTC), tick=False):
        (lic,) = population("T" + path.__name__[0].upper(), [dt.date(2024, 1, 10)])
        lic.notices_from = dt.date(2025, 5, 20)
        lic.save(update_fields=["notices_from"])
        services.core.write_seal(lic.pk)  # what a take-over writes with it (the seal covers notices_from)
    with time_machine.travel(dt.datetime(2025, 5, 19, 10, tzinfo=dt.UTC), tick=False):
        # Known before the take-over (recorded the day before): its 48N was the previous system's.
        early = path([offence("T-1", lic, "2025-03-01", "2025-04-01", 3)], on=dt.date(2025, 5, 19))
    assert outcomes(early) == [("T-1", "accepted")]
    assert not Notice.objects.filter(licence=lic).exists()
    with time_machine.travel(dt.datetime(2025, 6, 1, 10, tzinfo=dt.UTC), tick=False):
        late = path([offence("T-2", lic, "2025-04-10", "2025-05-02", 5)], on=dt.date(2025, 6, 1))
        assert outcomes(late) == [("T-2", "accepted")]
        assert Projection.objects.get(licence=lic).balance == 0
        assert list(Notice.objects.filter(licence=lic).values_list("code", "due_on")) == [
            ("48SI", dt.date(2025, 5, 2))
        ]
        assert_verifies()


def test_two_imports_at_once_on_sqlite_both_finish(tmp_path: Path) -> None:
    """SQLite, the default database: the second of two imports at once failed ("database is locked", or "no such
    table" while the other analysed its staging table). Now it waits for the write lock and both finish."""
    import sqlite3
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PERMIS_VAR_DIR": str(tmp_path / "var"),
    }

    def permis(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "permis.cli", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    for args in (("migrate", "-v", "0"), ("demo", "--licences", "1200", "--quiet")):
        done = permis(*args)
        out, err = done.communicate(timeout=300)
        assert done.returncode == 0, err
    with sqlite3.connect(tmp_path / "db.sqlite3") as database:
        numbers = [
            row[0] for row in database.execute("SELECT number FROM registry_licence ORDER BY id LIMIT 1000")
        ]
    files = []
    for name, part in (("a", numbers[:500]), ("b", numbers[500:])):
        path = tmp_path / f"{name}.csv"
        path.write_text(
            "sender,sender_ref,licence_number,points,class,committed_on,final_on\n"
            + "".join(f"ANTAI,{name}-{i},{n},1,C3,2026-09-01,2026-10-01\n" for i, n in enumerate(part))
        )
        files.append(path)
    runs = [permis("import", "offences", str(path), "--sender", "ANTAI", "--quiet") for path in files]
    results = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _out, err in results]
    with sqlite3.connect(tmp_path / "db.sqlite3") as database:
        received = database.execute(
            "SELECT count(*) FROM registry_feedrecord WHERE source_ref LIKE '_-%'"
        ).fetchone()
    assert received == (1000,)
