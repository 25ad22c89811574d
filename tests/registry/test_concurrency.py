"""Eight processes writing to the same 100 licences at once end in exactly the state of a serial run.

The operations (offences from the feed with their sender references, some sent twice, cancellations of some of
them, courses) are drawn once, deterministically. They are split across 8 processes that start together on 100
licences, and run again one after the other on 100 twin licences. The event numbers (and so the engine ids
"e<seq>") depend on the order of arrival, so ids are mapped back to the sender references before comparing:
events as a multiset per licence, movements and projections exactly. Letters are sent as they fall due and
never withdrawn, so which intermediate letters exist depends on the order; both files must verify, which checks
that every letter due at the end exists.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
from collections import Counter

import pytest
from django.db import connection, connections

from permis.registry import services
from permis.registry.models import Event, Licence, Movement, Projection
from permis.registry.services import integrity

from .factories import holder

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROCESSES = 8
LICENCES = 100
ON = dt.date(2025, 6, 1)
SEED = 20250601


def _licences(prefix: str) -> list[int]:
    rng = random.Random(SEED)  # noqa: S311 - the same licences for both runs
    ids = []
    for n in range(LICENCES):
        obtained = dt.date(2004, 1, 1) + dt.timedelta(days=rng.randrange(0, 20 * 365))
        lic = services.register_licence(
            holder=holder(birth_name=f"H{prefix}{n}"),
            number=f"{prefix}{n:010d}",
            dossier_number=f"{prefix}D{n:09d}",
            obtained_on=obtained,
            categories=[{"code": "B", "obtained_on": obtained}],
            on=dt.date(2022, 1, 1),
        )
        ids.append(lic.pk)
    return ids


def _operations() -> list[list[dict]]:
    """The operations of each of the 8 processes; a cancellation follows its offence in the same process."""
    rng = random.Random(SEED)  # noqa: S311 - a deterministic draw
    per_process: list[list[dict]] = [[] for _ in range(PROCESSES)]
    used_days: dict[int, set[dt.date]] = {}
    ref = 0
    for _ in range(420):
        index = rng.randrange(LICENCES)
        days = used_days.setdefault(index, set())
        final = dt.date(2022, 2, 1) + dt.timedelta(days=rng.randrange(0, 1200))
        if final in days or len(days) >= 7:
            continue
        days.add(final)
        committed = final - dt.timedelta(days=rng.randrange(10, 90))
        points, cls = rng.choice([(1, "C3"), (1, "C4"), (2, "C4"), (3, "C4"), (4, "C4"), (6, "D")])
        ref += 1
        offence = {
            "op": "offence",
            "licence": index,
            "ref": f"R-{ref:05d}",
            "data": {
                "committed_on": committed.isoformat(),
                "final_on": final.isoformat(),
                "points": points,
                "class": cls,
            },
        }
        process = rng.randrange(PROCESSES)
        per_process[process].append(offence)
        if rng.random() < 0.15:  # the sender sends it again, from another process
            per_process[(process + rng.randrange(1, PROCESSES)) % PROCESSES].append(offence)
        if rng.random() < 0.2:
            on = final + dt.timedelta(days=rng.randrange(5, 200))
            if on not in days:
                days.add(on)
                per_process[process].append(
                    {
                        "op": "offence_cancelled",
                        "licence": index,
                        "ref": f"X-{ref:05d}",
                        "offence": offence["ref"],
                        "data": {"on": on.isoformat()},
                    }
                )
    for index in rng.sample(range(LICENCES), 25):
        first = dt.date(2023, 1, 2) + dt.timedelta(days=rng.randrange(0, 800))
        if first in used_days.get(index, set()) or first + dt.timedelta(days=1) in used_days.get(
            index, set()
        ):
            continue
        used_days.setdefault(index, set()).update({first, first + dt.timedelta(days=1)})
        ref += 1
        per_process[rng.randrange(PROCESSES)].append(
            {
                "op": "course",
                "licence": index,
                "ref": f"S-{ref:05d}",
                "data": {
                    "first_day": first.isoformat(),
                    "last_day": (first + dt.timedelta(days=1)).isoformat(),
                },
            }
        )
    for ops in per_process:
        rng.shuffle(ops)
        # Keep every cancellation after its offence within the process.
        ops.sort(key=lambda op: op["op"] == "offence_cancelled")
    return per_process


def _apply(op: dict, licence_ids: list[int], run: str) -> str:
    """Record one operation; references are prefixed with the run's letter (they are unique file-wide)."""
    licence_id = licence_ids[op["licence"]]
    data = dict(op["data"])
    if op["op"] == "offence":
        source, sender = "feed", "ANTAI"
    elif op["op"] == "offence_cancelled":
        source, sender = "feed", "TJ-PARIS"
        target = Event.objects.get(sender="ANTAI", source_ref=run + op["offence"], licence_id=licence_id)
        data["offence"] = target.engine_id
    else:
        source, sender = "course_centre", "CENTRE-75-001"
    try:
        outcome = services.record_event(
            licence_id, op["op"], data, source=source, sender=sender, source_ref=run + op["ref"], on=ON
        )
    except services.RegistryError as error:
        return f"refused {op['ref']}: {error}"
    return f"{'duplicate' if outcome.duplicate else 'stored'} {op['ref']}"


def _worker(ops: list[dict], licence_ids: list[int], run: str, database: str, barrier, results) -> None:
    # A forked child: its own connection to the test database (named explicitly, as the parent sees it).
    connections["default"].settings_dict["NAME"] = database
    barrier.wait(timeout=60)
    outcomes = [_apply(op, licence_ids, run) for op in ops]
    connections.close_all()
    results.put(outcomes)


def _normalised_state(licence_ids: list[int]) -> dict[int, dict]:
    """Each licence's events (as a multiset), movements and projection, with engine ids made order-free."""
    state = {}
    for index, licence_id in enumerate(licence_ids):
        events = list(Event.objects.filter(licence_id=licence_id).order_by("seq"))
        refs = {f"e{e.seq}": e.source_ref[1:] for e in events}  # without the run's letter
        multiset = Counter()
        for e in events:
            data = dict(e.data)
            if "offence" in data:
                data["offence"] = refs[data["offence"]]
            multiset[(e.kind, json.dumps(data, sort_keys=True), e.source, e.sender, e.source_ref[1:])] += 1
        movements = [
            (
                m.position,
                m.on,
                m.kind,
                m.change,
                m.balance,
                m.raw_balance,
                m.cap,
                refs.get(m.cause, m.cause),
                m.basis,
            )
            for m in Movement.objects.filter(licence_id=licence_id).order_by("position")
        ]
        p = Projection.objects.get(licence_id=licence_id)
        projection = (
            p.balance, p.raw_balance, p.cap, p.status, p.suspended, p.probation_end, p.next_change_on, p.as_of,
            p.events_count,
        )  # fmt: skip
        state[index] = {"events": multiset, "movements": movements, "projection": projection}
    return state


def test_eight_processes_at_once_end_as_a_serial_run() -> None:
    assert connection.vendor == "postgresql"
    concurrent_ids = _licences("C")
    serial_ids = _licences("S")
    per_process = _operations()
    assert sum(len(ops) for ops in per_process) > 400

    connections.close_all()  # the children must not share the parent's connection
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    database = connection.settings_dict["NAME"]
    children = [
        context.Process(target=_worker, args=(ops, concurrent_ids, "C", database, barrier, results))
        for ops in per_process
    ]
    for child in children:
        child.start()
    concurrent_outcomes = [results.get(timeout=300) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0

    serial_outcomes = [[_apply(op, serial_ids, "S") for op in ops] for ops in per_process]

    flat = Counter(o for outcomes in concurrent_outcomes for o in outcomes)
    assert flat == Counter(o for outcomes in serial_outcomes for o in outcomes)
    assert sum(1 for o in flat.elements() if o.startswith("duplicate")) > 20
    assert sum(1 for o in flat.elements() if o.startswith("stored R-")) > 300

    concurrent, serial = _normalised_state(concurrent_ids), _normalised_state(serial_ids)
    for index in range(LICENCES):
        assert concurrent[index] == serial[index], f"licence #{index}"
    assert (
        Event.objects.filter(licence_id__in=concurrent_ids).count()
        == Event.objects.filter(licence_id__in=serial_ids).count()
    )
    # Both files are whole: hash chains unbroken, every letter due present.
    report = integrity.verify()
    assert report.licences == Licence.objects.count() == 2 * LICENCES
    assert report.discrepancies == []
