"""The daily run (PRODUCT.md, capability 4): apply every change that falls due on or before a date.

Only the licences whose projection says a change is due (``next_change_on <= on``) are touched, in licence id
order, in batches that each commit on their own: a run killed at any point loses at most the batches it was
in (one per process), and the next run starts from what is still due. A licence's rows after the run are exactly those that
``services.core.refresh(licence, on)`` would leave (movements, letters, projection), so catching up several days
in one run gives the same file as running each day.

Each batch is one transaction: lock the batch's licences (``SELECT ... FOR UPDATE``, in id order, as every
writer locks a licence before touching its file), read their events, movements and letters in one query each,
replay each history once, then write the differences in a handful of statements. On PostgreSQL two processes
(``jobs``) share the batches; SQLite, with one writer at a time, runs them one after the other.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from permis.rules import InputError

from ..models import Movement, Notice, NoticeStatus, Projection
from .core import PROJECTION_FIELDS, RegistryError, check_anchor
from .replay import (
    can_fork,
    derive,
    fetch,
    load_events,
    load_licences,
    process_pool,
    select,
    table,
)

logger = logging.getLogger(__name__)

MOVEMENT_COLUMNS = (
    "licence",
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
NOTICE_COLUMNS = ("licence", "code", "cause", "due_on", "status", "created_at")

BATCH_SIZE = 500
DEFAULT_JOBS = min(2, os.cpu_count() or 1)
PAGE_BATCHES = 20  # due licence ids are read 20 batches at a time


@dataclass
class DailySummary:
    on: dt.date
    licences: int = 0  # licences brought up to date
    changes: int = 0  # movements written (restorations, probation increments and end, ...)
    letters: int = 0  # letters made due (Notice rows created)
    batches: int = 0
    seconds: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)
    selected: int = 0  # licences selected as due (some may have been brought up to date meanwhile)
    # Licences whose stored history the engine refused (a row changed by hand, say), or that no longer ends where
    # its projection says (`core.check_anchor`): (number, problems). Each is left as it was, still due, and
    # named; the run goes on with the others (the next run tries it again).
    failed: list[tuple[str, list[str]]] = field(default_factory=list)

    def add(self, other: DailySummary) -> None:
        self.failed.extend(other.failed)
        self.licences += other.licences
        self.changes += other.changes
        self.letters += other.letters
        self.batches += other.batches
        self.selected += other.selected
        for kind, count in other.kinds.items():
            self.kinds[kind] = self.kinds.get(kind, 0) + count

    def as_dict(self) -> dict:
        return {
            "on": self.on.isoformat(),
            "licences": self.licences,
            "changes": self.changes,
            "letters": self.letters,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "kinds": dict(sorted(self.kinds.items())),
            "failed": [{"licence": number, "problems": problems} for number, problems in self.failed],
        }


def due_count(on: dt.date) -> int:
    return Projection.objects.filter(next_change_on__lte=on).count()


def _due_ids(on: dt.date, after: int, limit: int) -> list[int]:
    return list(
        Projection.objects.filter(next_change_on__lte=on, licence_id__gt=after)
        .order_by("licence_id")
        .values_list("licence_id", flat=True)[:limit]
    )


def run_daily(
    on: dt.date,
    *,
    batch_size: int = BATCH_SIZE,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> DailySummary:
    """Bring every licence with a change due on or before `on` up to `on`. Idempotent and resumable.

    With `jobs` > 1, that many processes share the batches (each batch still one transaction of its own; a
    licence is in one batch only, so the processes never wait for each other).
    """
    summary = DailySummary(on=on)
    start = time.perf_counter()

    def take(part: DailySummary) -> None:
        summary.add(part)
        if progress is not None:
            progress(part.selected)

    # SQLite has one writer at a time: its batches run one after the other.
    if jobs > 1 and connection.vendor != "sqlite" and can_fork():
        # The due ids are read here, in this thread (a pool's feeder thread would open a connection of its
        # own); at most two batches per process are in flight.
        with process_pool(jobs) as pool:
            pending: deque = deque()
            for ids in _batches(on, batch_size):
                pending.append(pool.apply_async(_run_batch, ((ids, on),)))
                while len(pending) >= 2 * jobs:
                    take(pending.popleft().get())
            while pending:
                take(pending.popleft().get())
    else:
        for ids in _batches(on, batch_size):
            take(_run_batch((ids, on)))
    summary.seconds = time.perf_counter() - start
    return summary


def _batches(on: dt.date, batch_size: int) -> Iterator[list[int]]:
    """The due licence ids in id order, `batch_size` at a time (read a page of batches at a time)."""
    last_id = 0
    while True:
        page = _due_ids(on, last_id, batch_size * PAGE_BATCHES)
        if not page:
            return
        last_id = page[-1]
        for index in range(0, len(page), batch_size):
            yield page[index : index + batch_size]


def _run_batch(args: tuple[list[int], dt.date]) -> DailySummary:
    ids, on = args
    part = DailySummary(on=on, selected=len(ids), batches=1)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A batch's commit need not wait for its WAL flush: if the server crashes before the flush, the
            # batch's licences are simply still due, and the next run (or the run resumed) brings them up to
            # date from their events, as it would have. Nothing else can have built on the lost batch: any
            # later synchronous commit (a letter's delivery claim, say) flushes the WAL up to and past it.
            # Every other writer keeps synchronous commits.
            _execute("SET LOCAL synchronous_commit TO OFF", [])
        _apply_batch(ids, on, part)
    return part


def _apply_batch(ids: Sequence[int], on: dt.date, summary: DailySummary) -> None:
    licences = load_licences(ids, lock=True)
    # Read again under the lock: another writer may have brought a licence up to date meanwhile.
    projections = {row[0]: row[1:] for row in fetch(_SQL["projections"], [list(licences), on])}
    due = [licence_id for licence_id in licences if licence_id in projections]
    if not due:
        return
    events = load_events(due)
    stored: dict[int, list[tuple]] = {licence_id: [] for licence_id in due}
    for row in fetch(_SQL["movements"], [due]):
        stored[row[0]].append(row[1:])
    existing: set[tuple] = set(fetch(_SQL["notices"], [due]))

    stale: list[int] = []
    new_movements: list[tuple] = []
    new_notices: list[tuple] = []
    projections_out: list[tuple] = []
    now = timezone.now()
    for licence_id in due:
        licence = licences[licence_id]
        licence_events = events.get(licence_id, [])
        as_of, events_count, last_hash = projections[licence_id]
        # Never move a projection back in time (it may already be ahead of `on`).
        try:
            derived = derive(licence, licence_events, max(on, as_of))
            # The history must still end where the projection says (no event lost or rewritten since).
            projection = derived.projection
            check_anchor(
                licence, projection["events_count"], projection["last_hash"], (events_count, last_hash)
            )
        except (InputError, RegistryError) as error:
            summary.failed.append((licence.number, list(error.problems)))
            logger.error("daily run of %s: licence %s left as it was: %s", on, licence.number, error.problems)
            continue
        old = stored[licence_id]
        first_difference = 0
        for old_row, new_row in zip(old, derived.movements):
            if old_row[1:] != new_row:
                break
            first_difference += 1
        stale.extend(row[0] for row in old[first_difference:])
        for position in range(first_difference, len(derived.movements)):
            row = derived.movements[position]
            new_movements.append((licence_id, position, *row))
            summary.kinds[row[1]] = summary.kinds.get(row[1], 0) + 1
        for code, cause, due_on in derived.letters:
            key = (licence_id, code, cause, due_on)
            if key not in existing:
                existing.add(key)
                new_notices.append((licence_id, code, cause, due_on, NoticeStatus.PENDING, now))
        projections_out.append((*(derived.projection[name] for name in PROJECTION_FIELDS), now, licence_id))
    if stale:
        _execute(f"DELETE FROM {table(Movement)} WHERE id IN %s", [stale])  # noqa: S608
    _insert(Movement, MOVEMENT_COLUMNS, new_movements)
    _insert(Notice, NOTICE_COLUMNS, new_notices)
    _update_projections(projections_out)
    summary.licences += len(projections_out)
    summary.changes += len(new_movements)
    summary.letters += len(new_notices)


class _Queries(dict):
    """The batch's read queries, built on first use (names quoted for the database in use)."""

    def __missing__(self, name: str) -> str:
        movement_columns = ("licence_id", "id", *MOVEMENT_COLUMNS[2:])
        queries = {
            "projections": select(
                Projection,
                ("licence_id", "as_of", "events_count", "last_hash"),
                "WHERE licence_id IN %s AND next_change_on <= %s",
            ),
            "movements": select(
                Movement, movement_columns, 'WHERE licence_id IN %s ORDER BY licence_id, "position"'
            ),
            "notices": select(Notice, ("licence_id", "code", "cause", "due_on"), "WHERE licence_id IN %s"),
        }
        self.update(queries)
        return queries[name]


_SQL = _Queries()


def _execute(sql: str, params: Sequence) -> None:
    """Run a statement; on PostgreSQL through a server-binding cursor (arrays sent in binary)."""
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            # %b: parameters in binary (arrays of text need no quoting then).
            cursor.execute(sql.replace("IN %s", "= ANY(%s)").replace("%s", "%b"), params)
        return
    pieces = sql.split("%s")
    text, expanded = [pieces[0]], []
    for value, piece in zip(params, pieces[1:]):
        if isinstance(value, list | tuple):
            text.append("(" + ", ".join(["%s"] * len(value)) + ")")
            expanded.extend(value)
        else:
            text.append("%s")
            expanded.append(value)
        text.append(piece)
    with connection.cursor() as cursor:
        cursor.execute("".join(text), expanded)


def _insert(model, names: Sequence[str], rows: list[tuple]) -> None:
    """INSERT rows in one statement on PostgreSQL (unnest of one array per column), row by row elsewhere."""
    if not rows:
        return
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    columns = ", ".join(quote(f.column) for f in fields)
    into = quote(model._meta.db_table)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in fields)
        _execute(
            f"INSERT INTO {into} ({columns}) SELECT * FROM unnest({arrays})",  # noqa: S608
            [list(column) for column in zip(*rows)],
        )
        return
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {into} ({columns}) VALUES ({placeholders})",  # noqa: S608
            [_prepared(fields, row) for row in rows],
        )


def _update_projections(rows: list[tuple]) -> None:
    """UPDATE the projections (the same values as `Projection.objects.update_or_create` writes) in one statement
    on PostgreSQL, row by row elsewhere. Each row: the PROJECTION_FIELDS, updated_at, then the licence id."""
    if not rows:  # a batch whose every licence was refused
        return
    quote = connection.ops.quote_name
    fields = [Projection._meta.get_field(name) for name in (*PROJECTION_FIELDS, "updated_at", "licence")]
    into = quote(Projection._meta.db_table)
    if connection.vendor == "postgresql":
        names = [quote(f.column) for f in fields]
        assignments = ", ".join(f"{name} = v.{name}" for name in names[:-1])
        arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in fields)
        _execute(
            f"UPDATE {into} AS p SET {assignments} FROM unnest({arrays}) AS v({', '.join(names)}) "  # noqa: S608
            f"WHERE p.licence_id = v.licence_id",
            [list(column) for column in zip(*rows)],
        )
        return
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields[:-1])
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {into} SET {assignments} WHERE licence_id = %s",  # noqa: S608
            [_prepared(fields, row) for row in rows],
        )


def _prepared(fields, row: tuple) -> list:
    return [field.get_db_prep_save(value, connection) for field, value in zip(fields, row)]
