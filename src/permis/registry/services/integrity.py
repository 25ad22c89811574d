"""`permis verify`: the file checked against its own history (ARCHITECTURE.md, rule 4).

For every licence:

- the hash chain: events numbered 1..n without a gap, each ``prev_hash`` the hash of the event before it (the
  licence's genesis hash for the first), each ``hash`` recomputed from the stored columns, and the projection's
  ``events_count`` and ``last_hash`` naming the last event;
- the law: the history replayed by the engine on the projection's ``as_of`` day gives exactly the stored
  movements (position, date, kind, change, balance, raw balance, cap, cause, basis) and the projection's fields;
- the letters: every letter the file sends for the licence exists (``core.letters_sent``: those due on or after
  its ``notices_from`` day, and those of events recorded from that day, whatever their date), and every stored
  letter is one the engine gives, due by the projection's day, for the history or for the history as it stood
  after one of its events (``_unexplained``: the previous system's letters loaded with the population, and the
  letters sent before a later event changed what the law makes of the earlier ones, are explained; a letter
  added by hand is not);
- the seal (``core.identity_seal``): the licence's id, number and dossier number, its holder's id and identity
  (birth name, used name, given names, birth date, birth place and country, sex), the licence's fields the engine
  reads besides its events (obtained_on, route, complementary_training_on, regained, notices_from: a changed
  ``notices_from`` would hide a letter never sent) and its categories (code, obtained_on, expires_on,
  restrictions, by code), as the services wrote them. The genesis hash covers only the id and the dossier
  number, and stays so that the stored chains keep verifying; the seal, a column of its own written by every
  service that writes these rows in the same transaction (migration 0002 computed it for the rows stored before
  it), finds a change of any of them made outside the services: a category added, changed or deleted by hand
  included. A licence whose holder row is missing is a seal discrepancy too (its other checks still run);
- the count: every licence asked for (``--licence``) or counted in the file (``licence_count()``, before the
  run) was checked; one the range queries did not return is a discrepancy, so that no licence is skipped
  silently.

Like the hash chain, the seal is not keyed: it finds rows changed by hand, by a script or by a tool that does not
know it, not a forger who recomputes it (nor one who rewrites a chain's end, its projection and its movements).
The writers themselves refuse to extend a chain that no longer ends where its projection says
(``core.check_anchor``): a history whose last events were deleted is not re-anchored by the next change.

Licences are read by ranges of ids, each range with one query per table, so memory stays flat whatever the size
of the file; ``jobs`` processes share the ranges, each with its own database connection.
"""

from __future__ import annotations

import datetime as dt
import gc
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connection

from permis.rules import InputError

from ..models import Category, Event, Holder, Licence, Movement, Notice, Projection
from .core import (
    CATEGORY_SEALED_FIELDS,
    ENGINE_LICENCE_FIELDS,
    IDENTITY_FIELDS,
    PROJECTION_FIELDS,
    event_hash,
    genesis_hash,
    identity_seal,
)
from .replay import (
    EVENT_COLUMNS,
    LICENCE_COLUMNS,
    LicenceRow,
    StoredEvent,
    can_fork,
    derive,
    fetch,
    process_pool,
    select,
    stored_event,
    table,
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
    # The ids of the licences checked, kept only when they were named (``check_range``'s `only`).
    checked: list[int] = field(default_factory=list)

    def add(self, other: Report) -> None:
        self.licences += other.licences
        self.events += other.events
        self.movements += other.movements
        self.discrepancies.extend(other.discrepancies)
        self.checked.extend(other.checked)


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
    """The six range queries, in this database's dialect (quoted names; %s placeholders)."""
    in_range = "WHERE licence_id >= %s AND licence_id < %s"
    quote = connection.ops.quote_name
    # The licences with what their seal covers: their holder's id and identity, in the same query. A LEFT JOIN:
    # a licence whose holder row is missing is read all the same (its holder's columns null), and reported.
    licence_columns = ", ".join(
        f"l.{quote(Licence._meta.get_field(name).column)}" for name in LICENCE_COLUMNS
    )
    holder_columns = ", ".join(f"h.{quote(Holder._meta.get_field(name).column)}" for name in IDENTITY_FIELDS)
    licences = (
        f"SELECT {licence_columns}, l.{quote('seal')}, l.{quote('holder_id')}, h.{quote('id')}, {holder_columns} "  # noqa: S608 - names
        f"FROM {table(Licence)} l LEFT JOIN {table(Holder)} h ON h.{quote('id')} = l.{quote('holder_id')} "
        f"WHERE l.{quote('id')} >= %s AND l.{quote('id')} < %s ORDER BY l.{quote('id')}"
    )
    return {
        "licences": licences,
        "categories": select(Category, ("licence_id", *CATEGORY_SEALED_FIELDS), in_range),
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


def _movements_grouped(rows: Iterable[tuple]) -> tuple[dict[int, list[tuple]], dict[int, list[tuple]]]:
    """The movement rows (licence_id, position, ...) in position order, by licence: (the rows without their
    position, for the licences whose positions are 0, 1, 2, ...; the rows with it, for the others)."""
    regular: dict[int, list[tuple]] = {}
    irregular: dict[int, list[tuple]] = {}
    for row in rows:
        licence_id = row[0]
        bucket = regular.get(licence_id)
        if bucket is None:
            full = irregular.get(licence_id)
            if full is not None:
                full.append(row[1:])
                continue
            bucket = regular[licence_id] = []
        if row[1] == len(bucket):
            bucket.append(row[2:])
        else:
            full = [(position, *kept) for position, kept in enumerate(regular.pop(licence_id))]
            full.append(row[1:])
            irregular[licence_id] = full
    return regular, irregular


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
    licences = [row for row in fetch(queries["licences"], bounds) if only is None or row[0] in only]
    projections = {row[0]: row[1:] for row in fetch(queries["projections"], bounds)}
    events: dict[int, list[StoredEvent]] = {}
    for row in fetch(queries["events"], bounds):
        event = stored_event(row)
        bucket = events.get(event.licence_id)
        if bucket is None:
            events[event.licence_id] = [event]
        else:
            bucket.append(event)
    movements, irregular = _movements_grouped(fetch(queries["movements"], bounds))
    notices = _grouped(fetch(queries["notices"], bounds))
    categories = _grouped(fetch(queries["categories"], bounds))
    report = Report()
    if only is not None:
        report.checked = [row[0] for row in licences]
    no_rows: list[tuple] = []
    sealed = _SEALED
    for row in licences:
        licence = LicenceRow(*row[:sealed])
        stored_seal, holder_id = row[sealed], row[sealed + 1]
        if row[sealed + 2] is None:
            report.discrepancies.append(Discrepancy(licence.number, _NO_HOLDER, f"holder {holder_id}", None))
        else:
            seal = identity_seal(
                row[0],
                row[1],
                row[2],
                holder_id,
                row[sealed + 3 :],
                row[3:sealed],
                categories.get(licence.id, no_rows),
            )
            if stored_seal != seal:
                report.discrepancies.append(Discrepancy(licence.number, _SEAL, seal, stored_seal or None))
        licence_events = events.get(licence.id, no_rows)
        stored = movements.get(licence.id)
        if stored is None:
            stored = irregular.get(licence.id, no_rows)
            positions = stored is no_rows  # no movement at all: nothing out of place
        else:
            positions = True
        report.licences += 1
        report.events += len(licence_events)
        report.movements += len(stored)
        check_licence(
            licence,
            licence_events,
            projections.get(licence.id),
            stored,
            notices.get(licence.id, no_rows),
            report,
            positions,
        )
    return report


# A licence row: LICENCE_COLUMNS, then the seal, the licence's holder_id, the holder's id (null without a holder
# row) and the identity.
_SEALED = len(LICENCE_COLUMNS)
if LICENCE_COLUMNS[:3] != ("id", "number", "dossier_number") or LICENCE_COLUMNS[3:] != ENGINE_LICENCE_FIELDS:
    raise ImportError(  # pragma: no cover - a guard for the reader
        "integrity expects the licence's id, number and dossier number, then the engine's fields"
    )
_SEAL = "seal (the licence's numbers or fields, its holder's identity or its categories changed outside the services)"
_NO_HOLDER = "seal (the licence's holder row is missing)"
_NOT_CHECKED = "not verified (the check did not read this licence)"


# -- one licence --------------------------------------------------------------------------------------------------
MOVEMENT_FIELDS = ("position", "on", "kind", "change", "balance", "raw_balance", "cap", "cause", "basis")
# The projection's columns as read (PROJECTION_FIELDS' order), those derived from the history first.
_DERIVED_FIELDS = PROJECTION_FIELDS[:-2]
if PROJECTION_FIELDS[-2:] != ("events_count", "last_hash"):  # pragma: no cover - a guard for the reader
    raise ImportError("integrity expects the projection's events_count and last_hash last")
_derived_projection = operator.itemgetter(*_DERIVED_FIELDS)
_AS_OF = _DERIVED_FIELDS.index("as_of")


def check_licence(
    licence: LicenceRow,
    events: list[StoredEvent],
    projection: tuple | None,
    movements: list[tuple],
    notices: list[tuple],
    report: Report,
    positions: bool = False,
) -> None:
    """Check one licence. `movements`: its stored rows in position order, each without its position when
    `positions` (they are 0, 1, 2, ...), else each with it first."""
    out = report.discrepancies
    number = licence.number
    # The hash chain.
    genesis = previous = genesis_hash(licence)  # type: ignore[arg-type]
    previous_seq = 0
    for event in events:
        seq = event.seq
        if seq != previous_seq + 1:
            out.append(Discrepancy(number, "event sequence", f"e{previous_seq + 1}", f"e{seq}"))
        prev_hash = event.prev_hash
        if prev_hash != previous:
            link = f"the hash of e{previous_seq} as stored" if previous_seq else "the genesis hash"
            out.append(Discrepancy(number, f"e{seq} prev_hash ({link})", previous, prev_hash))
        recomputed = event_hash(prev_hash, event)  # type: ignore[arg-type]
        previous = event.hash
        if recomputed != previous:
            out.append(Discrepancy(number, f"e{seq} hash (its stored columns changed)", recomputed, previous))
        previous_seq = seq
    if projection is None:
        out.append(Discrepancy(number, "projection", "a projection", None))
        return
    events_count, last_hash = projection[-2:]
    if events_count != len(events):
        out.append(Discrepancy(number, "events_count (events stored)", len(events), events_count))
    if last_hash != previous:
        out.append(Discrepancy(number, "last_hash (hash of the last event)", previous, last_hash))
    # The law, on the projection's day.
    on = projection[_AS_OF]
    try:
        derived = derive(licence, events, on, genesis)
    except InputError as error:
        out.append(Discrepancy(number, "history", "a history the engine accepts", "; ".join(error.problems)))
        return
    except ValueError as error:
        out.append(Discrepancy(number, "as_of", "a day on which the licence carries points", str(error)))
        return
    wanted = derived.movements
    if not positions:
        _movement_differences(number, movements, wanted, out)
    elif movements != wanted:
        _movement_differences(number, [(i, *row) for i, row in enumerate(movements)], wanted, out)
    expected_projection = derived.projection
    if projection[:-2] != _derived_projection(expected_projection):
        for name, found in zip(_DERIVED_FIELDS, projection):
            if found != expected_projection[name]:
                out.append(Discrepancy(number, f"projection {name}", expected_projection[name], found))
    letters = derived.letters
    if notices:
        present = set(notices)
        if letters and not present.issuperset(letters):
            for letter in letters:
                if letter not in present:
                    out.append(Discrepancy(number, "letter", letter, None))
        extra = present.difference(letters)
        if extra:
            for letter in _unexplained(licence, events, on, derived, extra):
                out.append(Discrepancy(number, "letter (not derived from the events)", None, letter))
    elif letters:
        for letter in letters:
            out.append(Discrepancy(number, "letter", letter, None))


def _letter_keys(letters: Iterable[tuple]) -> set[tuple[str, str, dt.date]]:
    """The engine's letters (code, day, cause) as stored: (code, cause, due_on)."""
    return {(code, cause or "", day) for code, day, cause in letters}


def _unexplained(
    licence: LicenceRow, events: list[StoredEvent], on: dt.date, derived: Any, extra: set[tuple]
) -> list[tuple]:
    """The stored letters of `extra` (not among those the file sends for the history on `on`) that no state of
    the history explains, in order.

    A stored letter is explained when the engine gives it, due by `on` (the projection's day, which only moves
    forward), for the whole history or for the history as it stood after one of its events: a letter due before
    the licence's ``notices_from`` (loaded with the population, which keeps the previous system's letters), or
    one written before a later event changed what the law makes of the earlier ones (a feed record that arrives
    late, a cancellation, a correction: a letter sent stays sent). Earlier states are replayed only for a
    licence that has such letters, which a clean file rarely has."""
    extra = extra - _letter_keys(derived.evaluation.letters)
    end = len(events)
    while extra and end > 0:
        end -= 1
        try:
            earlier = derive(licence, events[:end], on)
        except (InputError, ValueError):
            continue
        extra -= _letter_keys(earlier.evaluation.letters)
    return sorted(extra)


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
    counted: int | None = None,
) -> Report:
    """Check the licences named (by id), or every licence; `jobs` processes share the work.

    Each discrepancy goes to `on_discrepancy` when given (and is then not kept in the report), else into the
    report's list. A licence named but not checked is a discrepancy, and so, for the whole file, are fewer
    licences checked than `counted` (the file's ``licence_count()`` taken before the run, by the caller that
    shows it; taken here without it): the range queries must not skip a licence silently. Licences registered
    during the run may make the count checked higher, never lower."""
    report = Report()

    def tell(items: list[Discrepancy]) -> None:
        if on_discrepancy is None:
            report.discrepancies.extend(items)
        else:
            for item in items:
                on_discrepancy(item)

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
            part = check_range(ids[0], ids[-1] + 1, set(ids))
            missed = set(ids).difference(part.checked)
            part.checked = []
            take(part)
            if missed:
                tell(_not_checked(missed))
        return report
    if counted is None:
        counted = licence_count()
    _check_file(jobs, chunk, take)
    if report.licences < counted:
        tell(
            [Discrepancy("file", f"licences verified (of the {counted:,} counted)", counted, report.licences)]
        )
    return report


def _check_file(jobs: int, chunk: int, take: Callable[[Report], None]) -> None:
    bounds = Licence.objects.values_list("id", flat=True)
    lo, hi = bounds.order_by("id").first(), bounds.order_by("-id").first()
    if lo is None:
        return
    ranges = _ranges(lo, hi, chunk)
    if jobs <= 1 or not can_fork():
        for lo_hi in ranges:
            take(check_range(*lo_hi))
        return
    with process_pool(jobs) as pool:
        for part in pool.imap(_check_range_task, ranges):
            take(part)


def _not_checked(ids: Iterable[int]) -> list[Discrepancy]:
    """A discrepancy for each licence named but not checked, by its number (its id if its row is gone)."""
    numbers = dict(Licence.objects.filter(pk__in=list(ids)).values_list("id", "number"))
    return [
        Discrepancy(numbers.get(i, f"licence id {i}"), _NOT_CHECKED, "verified", None) for i in sorted(ids)
    ]


def licence_count() -> int:
    return Licence.objects.count()
