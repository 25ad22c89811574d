"""`permis verify`: the file checked against its own history (ARCHITECTURE.md, rule 4).

For every licence:

- the hash chain: events numbered 1..n without a gap, each ``prev_hash`` the hash of the event before it (the
  licence's genesis hash for the first), each ``hash`` recomputed from the stored columns, and the projection's
  ``events_count`` and ``last_hash`` naming the last event;
- the law: the history replayed by the engine on the projection's ``as_of`` day gives exactly the stored
  movements (position, date, kind, change, balance, raw balance, cap, cause, basis) and the projection's fields;
- the letters: every letter the engine makes due on or after the licence's ``notices_from`` day exists.

Licences are read by ranges of ids, each range with one query per table, so memory stays flat whatever the size
of the file; ``jobs`` processes share the ranges, each with its own database connection.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from permis.rules import InputError

from ..models import Event, Licence, Movement, Notice, Projection
from .core import PROJECTION_FIELDS, event_hash, genesis_hash
from .replay import (
    EVENT_COLUMNS,
    LICENCE_COLUMNS,
    EventRow,
    LicenceRow,
    can_fork,
    derive,
    event_row,
    fetch,
    process_pool,
    select,
)

CHUNK = 2000  # licence ids per range


class Discrepancy(NamedTuple):
    licence: str  # the licence number
    what: str
    expected: Any
    found: Any

    def __str__(self) -> str:
        return f"{self.licence}: {self.what}: expected {_show(self.expected)}, found {_show(self.found)}"


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return repr(value) if isinstance(value, str) else str(value)


@dataclass
class Report:
    licences: int = 0
    events: int = 0
    movements: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)

    def add(self, other: Report) -> None:
        self.licences += other.licences
        self.events += other.events
        self.movements += other.movements
        self.discrepancies.extend(other.discrepancies)


# -- reading a range of licences ----------------------------------------------------------------------------------
_MOVEMENT_COLUMNS = (
    "licence_id",
    "position",
    "on",
    "kind",
    "change",
    "balance",
    "raw_balance",
    "cap",
    "cause",
    "basis",
)
_NOTICE_COLUMNS = ("licence_id", "code", "cause", "due_on")


def _queries() -> dict[str, str]:
    """The five range queries, in this database's dialect (quoted names; %s placeholders)."""
    in_range = "WHERE licence_id >= %s AND licence_id < %s"
    return {
        "licences": select(Licence, LICENCE_COLUMNS, "WHERE id >= %s AND id < %s ORDER BY id"),
        "projections": select(Projection, ("licence_id", *PROJECTION_FIELDS), in_range),
        "events": select(Event, EVENT_COLUMNS, f"{in_range} ORDER BY licence_id, seq"),
        "movements": select(Movement, _MOVEMENT_COLUMNS, f'{in_range} ORDER BY licence_id, "position"'),
        "notices": select(Notice, _NOTICE_COLUMNS, in_range),
    }


def _grouped(rows: Iterable[tuple]) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for row in rows:
        bucket = out.get(row[0])
        if bucket is None:
            out[row[0]] = [row[1:]]
        else:
            bucket.append(row[1:])
    return out


def check_range(lo: int, hi: int, only: set[int] | None = None) -> Report:
    """Verify the licences with lo <= id < hi (or only those of `only` among them)."""
    # The rows and the engine's objects form no cycles: the cyclic collector, which would otherwise walk the
    # range's hundreds of thousands of young objects again and again, waits until the range is done.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _check_range(lo, hi, only)
    finally:
        if collecting:
            gc.enable()


def _check_range(lo: int, hi: int, only: set[int] | None) -> Report:
    queries = _queries()
    bounds = [lo, hi]
    licences = [
        LicenceRow(*row) for row in fetch(queries["licences"], bounds) if only is None or row[0] in only
    ]
    projections = {row[0]: row[1:] for row in fetch(queries["projections"], bounds)}
    events: dict[int, list[EventRow]] = {}
    for row in fetch(queries["events"], bounds):
        event = event_row(row)
        bucket = events.get(event.licence_id)
        if bucket is None:
            events[event.licence_id] = [event]
        else:
            bucket.append(event)
    movements = _grouped(fetch(queries["movements"], bounds))
    notices = _grouped(fetch(queries["notices"], bounds))
    report = Report()
    for licence in licences:
        licence_events = events.get(licence.id, [])
        stored = movements.get(licence.id, [])
        report.licences += 1
        report.events += len(licence_events)
        report.movements += len(stored)
        check_licence(
            licence, licence_events, projections.get(licence.id), stored, notices.get(licence.id, []), report
        )
    return report


# -- one licence --------------------------------------------------------------------------------------------------
MOVEMENT_FIELDS = ("position", "on", "kind", "change", "balance", "raw_balance", "cap", "cause", "basis")


def check_licence(
    licence: LicenceRow,
    events: list[EventRow],
    projection: tuple | None,
    movements: list[tuple],
    notices: list[tuple],
    report: Report,
) -> None:
    out = report.discrepancies
    number = licence.number
    # The hash chain.
    previous = genesis_hash(licence)  # type: ignore[arg-type]
    previous_seq = 0
    for event in events:
        if event.seq != previous_seq + 1:
            out.append(Discrepancy(number, "event sequence", f"e{previous_seq + 1}", f"e{event.seq}"))
        if event.prev_hash != previous:
            link = f"the hash of e{previous_seq} as stored" if previous_seq else "the genesis hash"
            out.append(Discrepancy(number, f"e{event.seq} prev_hash ({link})", previous, event.prev_hash))
        recomputed = event_hash(event.prev_hash, event)  # type: ignore[arg-type]
        if recomputed != event.hash:
            out.append(
                Discrepancy(number, f"e{event.seq} hash (its stored columns changed)", recomputed, event.hash)
            )
        previous = event.hash
        previous_seq = event.seq
    if projection is None:
        out.append(Discrepancy(number, "projection", "a projection", None))
        return
    stored_projection = dict(zip(PROJECTION_FIELDS, projection))
    if stored_projection["events_count"] != len(events):
        out.append(
            Discrepancy(
                number, "events_count (events stored)", len(events), stored_projection["events_count"]
            )
        )
    if stored_projection["last_hash"] != previous:
        out.append(
            Discrepancy(
                number, "last_hash (hash of the last event)", previous, stored_projection["last_hash"]
            )
        )
    # The law, on the projection's day.
    on = stored_projection["as_of"]
    try:
        derived = derive(licence, events, on)
    except InputError as error:
        out.append(Discrepancy(number, "history", "a history the engine accepts", "; ".join(error.problems)))
        return
    except ValueError as error:
        out.append(Discrepancy(number, "as_of", "a day on which the licence carries points", str(error)))
        return
    wanted = derived.movements
    if len(movements) != len(wanted) or any(
        stored[0] != position or stored[1:] != row
        for position, (stored, row) in enumerate(zip(movements, wanted))
    ):
        _movement_differences(number, movements, wanted, out)
    expected_projection = derived.projection
    for name in PROJECTION_FIELDS:
        if name in ("events_count", "last_hash"):
            continue  # checked against the events themselves, above
        if stored_projection[name] != expected_projection[name]:
            out.append(
                Discrepancy(number, f"projection {name}", expected_projection[name], stored_projection[name])
            )
    if derived.letters:
        present = set(notices)
        for letter in derived.letters:
            if letter not in present:
                out.append(Discrepancy(number, "letter", letter, None))


def _movement_differences(
    number: str, stored: list[tuple], wanted: list[tuple], out: list[Discrepancy]
) -> None:
    by_position = {row[0]: row[1:] for row in stored}
    for position, row in enumerate(wanted):
        found = by_position.pop(position, None)
        if found is None:
            out.append(Discrepancy(number, f"movement #{position}", row, None))
        elif found != row:
            fields = ", ".join(MOVEMENT_FIELDS[i + 1] for i, (a, b) in enumerate(zip(row, found)) if a != b)
            out.append(Discrepancy(number, f"movement #{position} ({fields})", row, found))
    for position, found in sorted(by_position.items()):
        out.append(Discrepancy(number, f"movement #{position} (not derived from the events)", None, found))


# -- the whole file -----------------------------------------------------------------------------------------------
def _ranges(lo: int, hi: int, chunk: int) -> Iterator[tuple[int, int]]:
    start = lo
    while start <= hi:
        yield start, min(start + chunk, hi + 1)
        start += chunk


def _check_range_task(bounds: tuple[int, int]) -> Report:
    return check_range(*bounds)


def verify(
    *,
    licence_ids: Sequence[int] | None = None,
    jobs: int = 1,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
    on_discrepancy: Callable[[Discrepancy], None] | None = None,
) -> Report:
    """Check the licences named (by id), or every licence; `jobs` processes share the work.

    Each discrepancy goes to `on_discrepancy` when given (and is then not kept in the report), else into the
    report's list."""
    report = Report()

    def take(part: Report) -> None:
        if on_discrepancy is not None:
            # Handed over as they come, not kept: memory stays flat however many there are.
            for item in part.discrepancies:
                on_discrepancy(item)
            part.discrepancies = []
        report.add(part)
        if progress is not None:
            progress(part.licences)

    if licence_ids is not None:
        for index in range(0, len(licence_ids), chunk):
            ids = sorted(licence_ids[index : index + chunk])
            take(check_range(ids[0], ids[-1] + 1, set(ids)))
        return report
    bounds = Licence.objects.values_list("id", flat=True)
    lo, hi = bounds.order_by("id").first(), bounds.order_by("-id").first()
    if lo is None:
        return report
    ranges = _ranges(lo, hi, chunk)
    if jobs <= 1 or not can_fork():
        for lo_hi in ranges:
            take(check_range(*lo_hi))
        return report
    with process_pool(jobs) as pool:
        for part in pool.imap(_check_range_task, ranges):
            take(part)
    return report


def licence_count() -> int:
    return Licence.objects.count()
