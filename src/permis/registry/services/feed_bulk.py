"""The bulk path of the infraction feed: files of a million records, with the same result as the per-record path.

A batch is planned as in `feed.plan` (grouped by licence, each group sorted on content), cut into chunks of
whole licence groups, and each chunk is one transaction. The records wait in a staging table (`Import`), so
that memory is bounded by the chunk, not by the file; each chunk is read from it when its turn comes:

1. lock the chunk's licences (``SELECT ... FOR UPDATE``, ordered by id: two imports never deadlock on them);
2. load, in one query each, the events already known under the chunk's references (duplicates, offences to
   cancel), the licences' histories, their stored movements and letters;
3. for each licence, append its new events to its hash-chained history and ask the engine once for the final
   state, plus once after each earlier new event, so that the letters due are those the per-record path would
   write one record at a time;
4. write the events, movements, letters, projections and FeedRecords in bulk (COPY on PostgreSQL).

A licence whose new events the engine refuses as a whole goes through the per-record path (`feed.submit_one`),
inside the same transaction: one bad record never blocks the others. So does a licence whose history no longer
ends where its projection says (events deleted or rewritten by hand: `core.check_anchor`), whose records the
per-record path then refuses, naming the licence. A chunk that meets a concurrent import of
the same references (unique violation, deadlock) is rolled back and done again, then record by record.

With PostgreSQL and ``workers > 1``, the chunks are shared between forked worker processes, each with its own
connection, reading its chunks from the (unlogged) staging table; idempotence under concurrency rests on the licence locks and the unique (sender, source_ref).
"""

from __future__ import annotations

import bisect
import datetime as dt
import gc
import itertools
import json
import logging
import multiprocessing
import os
import re
import secrets
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.db import DatabaseError, IntegrityError, OperationalError, connection, connections, transaction
from django.utils import timezone

from permis.rules import History, InputError, Timeline, parse_history

from ..models import Event, EventKind, FeedRecord, Licence, Movement, Notice, Projection, Source
from .core import (
    EVENT_FIELDS,
    MOVEMENT_FIELDS,
    PROJECTION_FIELDS,
    engine_document,
    event_hash,
    genesis_hash,
    letters_sent,
    next_suspension_boundary,
)
from .feed import (
    CANCELLATION,
    OFFENCE,
    CsvRow,
    FeedItem,
    RecordResult,
    Unparsable,
    apply_licence,
    cancellation_problem,
    parse_record,
    pg_array,
    record_keys,
    submit_one,
)

ACCEPTED = FeedRecord.Outcome.ACCEPTED.value
DUPLICATE = FeedRecord.Outcome.DUPLICATE.value
REJECTED = FeedRecord.Outcome.REJECTED.value
_SEP = "\x1f"  # between the fields of a stored movement, as compared with the engine's
_RETRIES = 3


@dataclass(slots=True)
class _Lic:
    """The licence columns the engine, the hash chain and the letters need (the shape `engine_document` reads)."""

    pk: int
    dossier_number: str
    obtained_on: dt.date
    route: str
    complementary_training_on: dt.date | None
    regained: bool
    notices_from: dt.date
    # The projection's anchor (None without a projection): where the registry left the history (`_anchors`).
    events_count: int | None = None
    last_hash: str | None = None


@dataclass(slots=True)
class _Ev:
    """An event row, stored or about to be, with the attributes `engine_document` and `event_hash` read."""

    licence_id: int
    seq: int
    kind: str
    data: dict[str, Any]
    recorded_at: dt.datetime
    source: str = Source.FEED.value
    sender: str = ""
    source_ref: str | None = None
    recorded_by: str = ""
    corrects_id: int | None = None
    reason: str = ""
    prev_hash: str = ""
    hash: str = ""
    id: int | None = None


@dataclass
class _Rows:
    events: list[_Ev]
    feed: list[tuple[FeedItem, str, list[str], Any]]  # item, outcome, errors, event (_Ev, or an existing id)
    deletes: list[tuple[int, int]]  # (licence, first position to delete)
    movements: list[tuple]
    notices: list[tuple]
    projections: list[tuple]


Progress = Callable[[int], None]


# -- the entry point ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Raw:
    """A record not parsed yet (a worker parses it), with the ids its licence and dossier numbers found."""

    index: int
    position: int
    raw: Any
    number: str | None
    dossier: str | None
    by_number: int | None
    by_dossier: int | None

    def apply(self, item: FeedItem) -> None:
        """`feed.apply_licence` with what planning found for this record's numbers (the same numbers as the
        parsed record's: `record_keys` and `parse_record` normalise them alike)."""
        apply_licence(
            item,
            {self.number: self.by_number} if self.by_number is not None else {},
            {self.dossier: self.by_dossier} if self.by_dossier is not None else {},
        )


_STAGE_COLUMNS = "idx, line, payload, number, dossier, by_number, by_dossier"
_PAGE = 5000


def _pages_by_idx(columns: str, table: str, where: str) -> Iterator[list[tuple]]:
    """Rows of one of the import's own tables (`columns` starting with `idx`, the record's place in the file)
    matching `where`, in the file's order, a page of _PAGE rows at a time (keyset pagination on idx)."""
    after = -1
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns} FROM {table} WHERE ({where}) AND idx > %s "  # noqa: S608 (our own names)
                f"ORDER BY idx LIMIT {_PAGE}",
                [after],
            )
            page = cursor.fetchall()
        if not page:
            return
        yield page
        after = page[-1][0]


logger = logging.getLogger("permis.registry.feed")

# The staging tables of an import on PostgreSQL are unlogged tables named after it (`Import`): a tag made of the
# process id and a random suffix. While the import runs, a connection of its own holds a session advisory lock
# on that tag (this class, then the tag's hashtext); PostgreSQL releases the lock when that connection ends, with
# the command or with its process (`kill -9`, a crash, the server restarting). So tables whose tag nobody holds
# belong to an import that ended without dropping them, and the next import drops them (`drop_abandoned_tables`).
_LIVE_IMPORT = 0x7065726D  # "perm", the advisory lock class of live imports
_STAGING_TABLE = re.compile(r"feed_(?:raw|stage|result)_(\d+_[0-9a-f]+)")


def _claim(tag: str) -> Any:
    """A connection of its own (autocommit) holding the advisory lock of the import `tag` until it is closed.

    Not Django's connection: the command closes that one before forking its workers, and the lock must last
    as long as the import's tables."""
    import psycopg

    alive = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        alive.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [_LIVE_IMPORT, tag])
    except BaseException:
        alive.close()
        raise
    return alive


def drop_abandoned_tables(alive: Any) -> list[str]:
    """Drop the staging tables of imports that ended without dropping them; returns their tags.

    A tag is abandoned when its advisory lock is free: taken here for a moment, the tables dropped, the lock let
    go. A live import holds its lock from before it creates its tables until after it drops them, so its tables
    are never taken for abandoned ones (two tags with the same hash only delay a drop to a later import)."""
    rows = alive.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace "
        "AND relname LIKE 'feed%'"
    ).fetchall()
    tags: dict[str, list[str]] = defaultdict(list)
    for (name,) in rows:
        if (match := _STAGING_TABLE.fullmatch(name)) is not None:
            tags[match[1]].append(name)
    dropped = []
    for tag, tables in sorted(tags.items()):
        (free,) = alive.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", [_LIVE_IMPORT, tag]
        ).fetchone()
        if not free:
            continue  # an import still running, or another one dropping them right now
        try:
            for table in tables:
                alive.execute(f'DROP TABLE IF EXISTS "{table}"')  # a name matched above: letters, digits, _
        finally:
            alive.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [_LIVE_IMPORT, tag])
        logger.warning("dropped the staging tables of an import that ended without dropping them: %s", tables)
        dropped.append(tag)
    return dropped


class Import:
    """One bulk import, its memory bounded by the chunk size rather than by the file's records.

    The records are copied into a staging table (`load`: unlogged on PostgreSQL, so that the worker processes
    read it; temporary on SQLite), where the licences are found and the records grouped by licence in one
    query. `record` then hands chunks of whole licences, read from that table in licence order, to the workers;
    the results are counted as they come back and kept in a second table, from which `results` reads them in
    the file's order (for the report). Only the records planning cannot place on their own, those without a
    licence (parsed and rejected a page at a time) and those whose reference comes more than once in the file
    (the rounds of `feed.plan`), are parsed in this process; the second kind stays in memory until recorded.

    A context manager: the staging tables are dropped when it ends.
    """

    def __init__(self, *, sender: str | None, batch: str, on: dt.date):
        self.sender, self.batch, self.on = sender, batch, on
        self.postgres = connection.vendor == "postgresql"
        tag = f"{os.getpid()}_{secrets.token_hex(4)}"
        self.raw, self.stage, self.kept = f"feed_raw_{tag}", f"feed_stage_{tag}", f"feed_result_{tag}"
        self.count = 0
        self.counts = dict.fromkeys(FeedRecord.Outcome.values, 0)
        self._pending: list[tuple] = []
        self._ranges: list[tuple[int | None, int | None]] = []
        self._extras: list[dict[int, list[FeedItem]]] = []
        self._tag = tag
        self._alive: Any = None  # PostgreSQL: the connection holding this import's advisory lock

    def __enter__(self) -> Import:
        if self.postgres:
            self._alive = _claim(self._tag)
            drop_abandoned_tables(self._alive)
        return self

    def __exit__(self, *exc: object) -> None:
        self._pending.clear()
        try:
            with connection.cursor() as cursor:
                for table in (self.raw, self.stage, self.kept):
                    cursor.execute(f"DROP TABLE IF EXISTS {table}")
        except DatabaseError:  # a transaction already failing: its rollback drops them
            if not connection.in_atomic_block:
                raise
        finally:
            if self._alive is not None:  # after the drop: until then the tables are this live import's
                self._alive.close()
                self._alive = None

    # -- staging -----------------------------------------------------------------------------------------------
    def load(self, records: Iterable[tuple[int, Any]]) -> int:
        """Copy the records, (line, mapping) pairs, into the staging table; FeedFileError from reading them
        leaves nothing behind. Returns their number."""
        kind = "UNLOGGED" if self.postgres else "TEMPORARY"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"CREATE {kind} TABLE {self.raw} (idx integer, line integer, refkey text, number text, "
                "dossier text, payload text)"
            )
            cursor.execute(
                f"CREATE {kind} TABLE {self.kept} (idx integer PRIMARY KEY, line integer, ref text, "
                "outcome text, errors text, event_id bigint, licence_id bigint)"
            )
            rows = self._staged(records)
            if self.postgres:
                with cursor.cursor.copy(f"COPY {self.raw} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                sql = f"INSERT INTO {self.raw} VALUES (%s, %s, %s, %s, %s, %s)"  # noqa: S608 - a table name
                while part := list(itertools.islice(rows, _PAGE)):
                    cursor.executemany(sql, part)
        return self.count

    def _staged(self, records: Iterable[tuple[int, Any]]) -> Iterator[tuple]:
        dumps = json.dumps
        for index, (line, raw) in enumerate(records):
            self.count = index + 1
            keys = record_keys(raw, self.sender)
            if isinstance(raw, Unparsable):
                payload = dumps({"unparsable": str(raw)})
            else:
                payload = dumps({"raw": dict(raw.items()) if isinstance(raw, CsvRow) else raw})
            if keys is None:
                yield (index, line, None, None, None, payload)
            else:  # (sender, reference) in one text without NUL (PostgreSQL's text holds none)
                yield (index, line, dumps(keys[:2]), keys[2], keys[3], payload)

    def _plan(self) -> None:
        """Each record's licence found, and whether planning can place it on its own (``refs = 1``): it has a
        licence and no other record with a licence has its (sender, reference)."""
        kind = "UNLOGGED" if self.postgres else "TEMPORARY"
        licences = Licence._meta.db_table
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""CREATE {kind} TABLE {self.stage} AS
                SELECT s.*, CASE WHEN s.licence_id IS NULL THEN 0
                    ELSE count(s.licence_id) OVER (PARTITION BY s.refkey) END AS refs FROM (
                    SELECT r.idx, r.line, r.refkey, r.payload, r.number, r.dossier,
                        n.id AS by_number, d.id AS by_dossier,
                        CASE WHEN (r.number IS NOT NULL OR r.dossier IS NOT NULL)
                            AND (r.number IS NULL OR n.id IS NOT NULL)
                            AND (r.dossier IS NULL OR d.id IS NOT NULL)
                            AND (n.id IS NULL OR d.id IS NULL OR n.id = d.id)
                        THEN coalesce(n.id, d.id) END AS licence_id
                    FROM {self.raw} r
                    LEFT JOIN {licences} n ON n.number = r.number
                    LEFT JOIN {licences} d ON d.dossier_number = r.dossier
                ) s"""  # noqa: S608 - table names
            )
            cursor.execute(f"DROP TABLE {self.raw}")
            cursor.execute(f"CREATE INDEX {self.stage}_l ON {self.stage} (licence_id, idx) WHERE refs = 1")
            cursor.execute(f"CREATE INDEX {self.stage}_i ON {self.stage} (idx)")
            if self.postgres:
                cursor.execute(f"ANALYZE {self.stage}")

    def _pages(self, where: str) -> Iterator[list[tuple]]:
        """The staged records matching `where`, in the file's order, a page at a time."""
        return _pages_by_idx(_STAGE_COLUMNS, self.stage, where)

    def _entry(self, row: tuple) -> _Raw:
        index, line, payload, number, dossier, by_number, by_dossier = row
        value = json.loads(payload)
        raw = Unparsable(value["unparsable"]) if "unparsable" in value else value["raw"]
        return _Raw(index, line, raw, number, dossier, by_number, by_dossier)

    def _parsed(self, row: tuple) -> FeedItem:
        entry = self._entry(row)
        item = parse_record(entry.raw, entry.position, sender=self.sender, on=self.on)
        item.index = entry.index
        if not item.errors:
            entry.apply(item)
        return item

    # -- results ----------------------------------------------------------------------------------------------
    def _add(self, pairs: Iterable[tuple[int, RecordResult]], progress: Progress | None) -> None:
        dumps, counts, pending = json.dumps, self.counts, self._pending
        done = 0
        for index, r in pairs:
            counts[r.outcome] += 1
            pending.append(
                (
                    index,
                    r.position,
                    r.sender_ref,
                    r.outcome,
                    dumps(r.errors, ensure_ascii=False),
                    r.event_id,
                    r.licence_id,
                )
            )
            done += 1
        if len(pending) >= _PAGE:
            self._keep()
        if progress:
            progress(done)

    def _keep(self) -> None:
        if not self._pending:
            return
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(f"COPY {self.kept} FROM STDIN") as copy:
                    for row in self._pending:
                        copy.write_row(row)
            else:
                cursor.executemany(
                    f"INSERT INTO {self.kept} VALUES (%s, %s, %s, %s, %s, %s, %s)",  # noqa: S608 - a table name
                    self._pending,
                )
        self._pending.clear()

    def results(self) -> Iterator[RecordResult]:
        """One result per record, in the file's order, read a page at a time."""
        self._keep()
        columns = "idx, line, ref, outcome, errors, event_id, licence_id"
        for page in _pages_by_idx(columns, self.kept, "TRUE"):
            for _, line, ref, outcome, errors, event_id, licence_id in page:
                yield RecordResult(line, ref, outcome, json.loads(errors), event_id, licence_id)

    # -- recording --------------------------------------------------------------------------------------------
    def record(
        self,
        *,
        chunk_size: int = 1000,
        workers: int = 1,
        progress: Progress | None = None,
        timings: dict[str, float] | None = None,
    ) -> dict[str, int]:
        """Record the staged records; returns the count of each outcome.

        The plan is `feed.plan`'s: records grouped by licence, then sorted on their content, a reference met
        twice going to a later round. The records are parsed and checked in the workers, chunk by chunk.
        """
        began = time.perf_counter()
        self._plan()
        rounds = self._unplaced(chunk_size, progress)
        planned = time.perf_counter()
        parallel = workers > 1 and len(self._ranges) > 1 and self.postgres and not connection.in_atomic_block
        context = {"sender": self.sender}
        if parallel:
            self._keep()  # nothing pending is copied into the workers
            done = _parallel(self, len(self._ranges), workers)
        else:
            done = (self.chunk(n, context) for n in range(len(self._ranges)))
        for pairs in done:
            self._add(pairs, progress)
        for groups in rounds:
            for chunk in _chunks(sorted(groups.items()), chunk_size):
                self._add(process_chunk(chunk, batch=self.batch, on=self.on, context=context), progress)
        _flush()
        self._keep()
        if timings is not None:
            timings["planning"] = planned - began
            timings["recording"] = time.perf_counter() - planned
        recorded = sum(self.counts.values())
        if recorded != self.count:  # a bug, never a data problem: say so loudly rather than lose a record
            raise RuntimeError(f"{self.count - recorded} records were not processed")
        return dict(self.counts)

    def _unplaced(self, chunk_size: int, progress: Progress | None) -> list[dict[int, list[FeedItem]]]:
        """Parse the records planning cannot place on its own: the rejected ones are written a page at a time;
        those whose reference comes several times are planned in rounds (returned: the later rounds). Sets the
        chunks of the first round (`_ranges`, each with its part of the first round's parsed records)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT refkey, count(*) FROM {self.stage} WHERE licence_id IS NOT NULL "  # noqa: S608
                "GROUP BY refkey HAVING count(*) > 1"
            )
            counts = dict(cursor.fetchall())
        repeated: list[FeedItem] = []
        for page in self._pages("refs <> 1"):
            rejected = []
            for row in page:
                item = self._parsed(row)
                (rejected if item.errors else repeated).append(item)
            if rejected:
                with transaction.atomic():
                    _write_feed_records(
                        [(i, REJECTED, i.errors, None) for i in rejected], self.batch, timezone.now()
                    )
                self._add(
                    ((i.index, RecordResult(i.position, i.ref, REJECTED, list(i.errors))) for i in rejected),
                    progress,
                )
        first_round: dict[int, list[FeedItem]] = defaultdict(list)
        rounds: list[dict[int, list[FeedItem]]] = [first_round]
        seen: dict[tuple[str, str], int] = defaultdict(int)
        for item in sorted(repeated, key=lambda i: (i.licence_id, i.key)):
            n = seen[(item.sender, item.ref)]
            seen[(item.sender, item.ref)] = n + 1
            if counts.get(json.dumps([item.sender, item.ref]), 0) > 1 or n > 0:
                while len(rounds) <= n:
                    rounds.append({})
                rounds[n].setdefault(item.licence_id, []).append(item)
            else:
                first_round[item.licence_id].append(item)
        with connection.cursor() as cursor:
            # Chunks of whole licences, about `chunk_size` records each, as ranges of licence ids.
            cursor.execute(
                f"""SELECT max(licence_id) FROM (
                    SELECT licence_id, (sum(n) OVER (ORDER BY licence_id) - n) / {int(chunk_size)} AS chunk
                    FROM (SELECT licence_id, CAST(count(*) AS INTEGER) AS n FROM {self.stage}
                          WHERE refs = 1 GROUP BY licence_id) g
                ) c GROUP BY chunk ORDER BY chunk"""  # noqa: S608 - a table name and a number
            )
            ends = [row[0] for row in cursor.fetchall()]
        ends[-1:] = [None]  # the last chunk takes every licence after the one before it
        self._ranges = list(zip([None, *ends[:-1]], ends))
        self._extras = [{} for _ in self._ranges]
        for licence_id, items in first_round.items():
            n = bisect.bisect_left(ends, licence_id, hi=len(ends) - 1)
            self._extras[n][licence_id] = items
        return rounds[1:]

    def chunk(self, n: int, context: dict[str, Any]) -> list[tuple[int, RecordResult]]:
        """Read the n-th chunk of the first round from the staging table and record it."""
        low, high = self._ranges[n]
        conditions, params = ["refs = 1"], []
        if low is not None:
            conditions.append("licence_id > %s")
            params.append(low)
        if high is not None:
            conditions.append("licence_id <= %s")
            params.append(high)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT licence_id, {_STAGE_COLUMNS} FROM {self.stage} "  # noqa: S608 - names
                f"WHERE {' AND '.join(conditions)} ORDER BY licence_id, idx",
                params,
            )
            rows = cursor.fetchall()
        groups: dict[int, list[Any]] = {}
        for licence_id, *row in rows:
            groups.setdefault(licence_id, []).append(self._entry(tuple(row)))
        for licence_id, items in self._extras[n].items():
            groups.setdefault(licence_id, []).extend(items)
        return process_chunk(sorted(groups.items()), batch=self.batch, on=self.on, context=context)


def import_records(
    records: Iterable[tuple[int, Any]],
    *,
    sender: str | None = None,
    batch: str,
    on: dt.date,
    chunk_size: int = 1000,
    workers: int = 1,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> list[RecordResult]:
    """Record records, (line, mapping) pairs, in bulk; one result per record, in their order (for callers that
    want them all in memory; the command reads them from `Import.results` as it writes its report)."""
    with Import(sender=sender, batch=batch, on=on) as run:
        run.load(records)
        run.record(chunk_size=chunk_size, workers=workers, progress=progress, timings=timings)
        return list(run.results())


def _flush() -> None:
    """Wait until every chunk committed so far is on disk (they commit without waiting, see `_chunk`).

    A commit that writes WAL waits, with synchronous_commit on, for the WAL to be flushed up to its own
    record: every earlier commit, of any connection, is then durable too.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT txid_current()")


def _chunks(groups: list[tuple[int, list[FeedItem]]], size: int) -> list[list[tuple[int, list[FeedItem]]]]:
    chunks: list[list[tuple[int, list[FeedItem]]]] = []
    current: list[tuple[int, list[FeedItem]]] = []
    count = 0
    for group in groups:
        current.append(group)
        count += len(group[1])
        if count >= size:
            chunks.append(current)
            current, count = [], 0
    if current:
        chunks.append(current)
    return chunks


# -- worker processes --------------------------------------------------------------------------------------------
_SHARED: dict[str, Any] = {}


def _worker(tasks: Any, out: Any) -> None:
    run: Import = _SHARED["run"]
    context = {"sender": run.sender}
    try:
        while True:
            index = tasks.get()
            if index is None:
                break
            try:
                out.put(("ok", run.chunk(index, context)))
            except Exception:  # noqa: BLE001 - handed to the parent, which raises it
                out.put(("error", traceback.format_exc()))
                break
    finally:
        connections.close_all()


def _parallel(run: Import, count: int, workers: int) -> Iterator[list[tuple[int, RecordResult]]]:
    """Run the `count` chunks of `run` in `workers` forked processes, each reading its chunks from the
    staging table; yields each chunk's results as it is done."""
    forking = multiprocessing.get_context("fork")
    connections.close_all()  # the children open their own; none may share the parent's socket
    _SHARED.update(run=run)
    tasks, out = forking.Queue(), forking.Queue()
    for index in range(count):
        tasks.put(index)
    for _ in range(workers):
        tasks.put(None)
    processes = [forking.Process(target=_worker, args=(tasks, out), daemon=True) for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        for _ in range(count):
            status, payload = out.get()
            if status == "error":
                raise RuntimeError(f"a feed worker failed:\n{payload}")
            yield payload
    finally:
        for process in processes:
            if process.is_alive():
                process.join(timeout=30)
            if process.is_alive():
                process.terminate()
        _SHARED.clear()


# -- one chunk ---------------------------------------------------------------------------------------------------
def process_chunk(
    groups: list[tuple[int, list[Any]]], *, batch: str, on: dt.date, context: dict[str, Any]
) -> list[tuple[int, RecordResult]]:
    """Record a chunk of licence groups in one transaction; retried, then done record by record, on conflict."""
    collecting = gc.isenabled()
    gc.disable()  # a chunk makes many small objects that live until its end: no cyclic collection meanwhile
    try:
        return _process_chunk(groups, batch=batch, on=on, context=context)
    finally:
        if collecting:
            gc.enable()


def _process_chunk(
    groups: list[tuple[int, list[Any]]], *, batch: str, on: dt.date, context: dict[str, Any]
) -> list[tuple[int, RecordResult]]:
    good, rejected, strays = _materialise(groups, on, context)
    # A record whose parsed licence is not its group's cannot happen (planning and parsing normalise numbers
    # alike); were it to, the per-record path records it wherever it belongs.
    out = [(item.index, submit_one(item, batch=batch, on=on)) for item in strays]
    for _ in range(_RETRIES):
        try:
            return out + _chunk(good, rejected, batch, on)
        except (IntegrityError, OperationalError):
            # A concurrent import stored one of these references first (or a deadlock on them): start again,
            # the duplicates will now be seen.
            continue
    out.extend((item.index, submit_one(_fresh(item), batch=batch, on=on)) for item in rejected)
    for _, group in good:
        out.extend((item.index, submit_one(_fresh(item), batch=batch, on=on)) for item in group)
    return out


def _materialise(
    groups: list[tuple[int, list[Any]]], on: dt.date, context: dict[str, Any]
) -> tuple[list[tuple[int, list[FeedItem]]], list[FeedItem], list[FeedItem]]:
    """Parse the chunk's raw records; the good ones by licence, each group sorted on content as `plan` does."""
    good: list[tuple[int, list[FeedItem]]] = []
    rejected: list[FeedItem] = []
    strays: list[FeedItem] = []
    for licence_id, entries in groups:
        items = []
        for entry in entries:
            if isinstance(entry, _Raw):
                item = parse_record(entry.raw, entry.position, sender=context["sender"], on=on)
                item.index = entry.index
                if not item.errors:
                    entry.apply(item)
            else:
                item = _fresh(entry)
            if item.errors:
                rejected.append(item)
            elif item.licence_id != licence_id:
                strays.append(item)
            else:
                items.append(item)
        if items:
            items.sort(key=lambda i: i.key)
            good.append((licence_id, items))
    return good, rejected, strays


def _fresh(item: FeedItem) -> FeedItem:
    return replace(item, errors=list(item.errors))


def _chunk(
    groups: list[tuple[int, list[FeedItem]]], rejected: list[FeedItem], batch: str, on: dt.date
) -> list[tuple[int, RecordResult]]:
    now = timezone.now()
    rows = _Rows([], [(item, REJECTED, item.errors, None) for item in rejected], [], [], [], [])
    out: list[tuple[int, RecordResult]] = []
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The chunk commits without waiting for the disk; `import_records` waits once, at the end, for
            # every chunk (`_flush`). A crash in between loses only chunks whose records were not reported yet,
            # and sending the file again records them.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        ids = [licence_id for licence_id, _ in groups]
        licences = _lock(ids)
        known = _known_refs(groups)
        histories = _histories(ids)
        stored_movements = _stored_movements(ids)
        stored_notices = _stored_notices(ids)
        fallback: list[FeedItem] = []
        pending: dict[tuple[str, str], tuple[int, int]] = {}  # offences of the chunk's earlier licences
        tz = timezone.get_current_timezone()  # once for the chunk's licences, not once per licence
        for licence_id, group in groups:
            licence = licences.get(licence_id)
            if licence is None:  # gone since it was resolved: the file is append-only, so never
                fallback.extend(group)
                continue
            if not _licence_group(
                licence,
                group,
                known,
                pending,
                histories.get(licence_id, []),
                stored_movements.get(licence_id, []),
                stored_notices.get(licence_id, set()),
                on,
                now,
                rows,
                tz,
            ):
                fallback.extend(group)
        _write(rows, batch, now)
        for item, outcome, errors, event in rows.feed:
            if isinstance(event, _Ev):
                event_id, licence_id = event.id, event.licence_id
            elif event is not None:
                event_id, licence_id = event
            else:
                event_id, licence_id = None, item.licence_id
            out.append(
                (
                    item.index,
                    RecordResult(item.position, item.ref, outcome, list(errors), event_id, licence_id),
                )
            )
        for item in fallback:
            out.append((item.index, submit_one(_fresh(item), batch=batch, on=on)))
    return out


def _licence_group(
    licence: _Lic,
    group: list[FeedItem],
    known: dict[tuple[str, str], tuple[int, int, int, str]],
    pending: dict[tuple[str, str], tuple[int, int]],
    events: list[_Ev],
    stored_movements: list[str],
    stored_notices: set[tuple[str, str, dt.date]],
    on: dt.date,
    now: dt.datetime,
    rows: _Rows,
    tz: dt.tzinfo | None = None,
) -> bool:
    """Add one licence's records to `rows`; False when the engine refuses them together, or when the history no
    longer ends where its projection says (the per-record path then refuses them, naming the licence:
    `core.check_anchor`)."""
    seq = len(events)
    prev = events[-1].hash if events else genesis_hash(licence)  # type: ignore[arg-type]
    if seq != licence.events_count or prev != licence.last_hash:
        return False
    new: list[_Ev] = []
    feed: list[tuple[FeedItem, str, list[str], Any]] = []
    local: dict[str, int] = {}  # reference -> seq of the offences of this group
    for item in group:
        found = known.get((item.sender, item.ref))
        if found is not None:
            feed.append((item, DUPLICATE, [], (found[0], found[1])))
            continue
        data = item.data
        if item.kind == CANCELLATION:
            target_licence = target_seq = None
            if item.cancels in local:
                target_licence, target_seq = licence.pk, local[item.cancels]
            else:
                target = known.get((item.sender, item.cancels))
                if target is not None and target[3] == EventKind.OFFENCE:
                    target_licence, target_seq = target[1], target[2]
                elif (
                    item.sender,
                    item.cancels,
                ) in pending:  # recorded a moment ago, as the per-record path sees it
                    target_licence, target_seq = pending[(item.sender, item.cancels)]
            problem = cancellation_problem(item, target_licence, licence.pk)
            if problem:
                feed.append((item, REJECTED, [*item.errors, f"{item.label}: cancels: {problem}"], None))
                continue
            data = {"offence": f"e{target_seq}", **data}
        seq += 1
        event = _Ev(licence.pk, seq, item.event_kind, data, now, sender=item.sender, source_ref=item.ref)
        new.append(event)
        feed.append((item, ACCEPTED, [], event))
        if item.kind == OFFENCE:
            local[item.ref] = seq
    if new:
        document = engine_document(licence, [*events, *new], tz)
        before = len(document["events"]) - len(new)
        try:
            # The stored events were checked when they were written (`core.stored_history_of`): only the new
            # ones are checked, against them.
            history = parse_history(document, trusted=before)
        except InputError:
            return False
        day = max(on, licence.obtained_on)
        seen = set(stored_notices)
        notices_from = licence.notices_from
        evaluations = [
            Timeline(History(history.licence, history.events[: before + k], history.options)).at(day)
            for k in range(1, len(new))
        ]
        final = Timeline(history).at(day)
        evaluations.append(final)
        for evaluation in evaluations:
            for key in letters_sent(evaluation.letters, history, notices_from):
                if key not in seen:
                    seen.add(key)
                    rows.notices.append((licence.pk, *key))
        first = 0
        movements = final.movements
        for stored, movement in zip(stored_movements, movements):
            if stored != _movement_text(movement):
                break
            first += 1
        if first < len(stored_movements):
            rows.deletes.append((licence.pk, first))
        rows.movements.extend(
            (
                licence.pk,
                position,
                m.on,
                m.kind,
                m.change,
                m.balance,
                m.raw_balance,
                m.cap,
                m.cause or "",
                m.basis,
            )
            for position, m in enumerate(movements[first:], start=first)
        )
        for event in new:
            event.prev_hash = prev
            event.hash = prev = event_hash(prev, event)  # type: ignore[arg-type]
        upcoming = final.upcoming[0].on if final.upcoming else None
        boundary = next_suspension_boundary(history, day)
        next_change = (
            min(d for d in (upcoming, boundary) if d is not None) if (upcoming or boundary) else None
        )
        rows.projections.append(
            (
                licence.pk,
                final.balance,
                final.raw_balance,
                final.cap,
                final.status,
                final.suspended,
                final.probation.end if final.probation else None,
                next_change,
                day,
                seq,
                prev,
            )
        )
        rows.events.extend(new)
        for event in new:
            if event.kind == EventKind.OFFENCE:
                pending[(event.sender, event.source_ref)] = (event.licence_id, event.seq)
    rows.feed.extend(feed)
    return True


def _movement_text(m: Any) -> str:
    return f"{m.on.isoformat()}{_SEP}{m.kind}{_SEP}{m.change}{_SEP}{m.balance}{_SEP}{m.raw_balance}{_SEP}{m.cap}{_SEP}{m.cause or ''}{_SEP}{m.basis}"


# -- reading -----------------------------------------------------------------------------------------------------
_LICENCE_COLUMNS = (
    "id",
    "dossier_number",
    "obtained_on",
    "route",
    "complementary_training_on",
    "regained",
    "notices_from",
)


def _lock(ids: list[int]) -> dict[int, _Lic]:
    """The chunk's licences, locked in id order (two imports lock in the same order: no deadlock), each with its
    projection's anchor."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(_LICENCE_COLUMNS)} FROM {Licence._meta.db_table} "  # noqa: S608 - names
                "WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
                [pg_array(ids)],
            )
            licences = {row[0]: _Lic(*row) for row in cursor.fetchall()}
    else:
        queryset = Licence.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        licences = {row[0]: _Lic(*row) for row in queryset.values_list(*_LICENCE_COLUMNS)}
    _anchors(licences)
    return licences


def _anchors(licences: dict[int, _Lic]) -> None:
    """Each locked licence's projection anchor, read once the locks are held: a projection read in the locking
    query itself would be the one seen before waiting for another writer's lock (PostgreSQL re-reads only the
    locked rows), not the one that writer left."""
    if not licences:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT licence_id, events_count, last_hash FROM {Projection._meta.db_table} "  # noqa: S608 - a name
                "WHERE licence_id = ANY(%s::bigint[])",
                [pg_array(list(licences))],
            )
            rows = cursor.fetchall()
    else:
        rows = Projection.objects.filter(licence_id__in=list(licences)).values_list(
            "licence_id", "events_count", "last_hash"
        )
    for licence_id, events_count, last_hash in rows:
        licence = licences[licence_id]
        licence.events_count, licence.last_hash = events_count, last_hash


def _known_refs(groups: list[tuple[int, list[FeedItem]]]) -> dict[tuple[str, str], tuple[int, int, int, str]]:
    """The stored events under the chunk's references and the references it cancels: (id, licence, seq, kind)."""
    by_sender: dict[str, set[str]] = defaultdict(set)
    for _, group in groups:
        for item in group:
            by_sender[item.sender].add(item.ref)
            if item.cancels:
                by_sender[item.sender].add(item.cancels)
    known = {}
    for sender, refs in by_sender.items():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT source_ref, id, licence_id, seq, kind FROM {Event._meta.db_table} "  # noqa: S608
                    "WHERE sender = %s AND source_ref = ANY(%s::text[])",
                    [sender, pg_array(sorted(refs))],
                )
                rows = cursor.fetchall()
        else:
            rows = Event.objects.filter(sender=sender, source_ref__in=sorted(refs)).values_list(
                "source_ref", "id", "licence_id", "seq", "kind"
            )
        for ref, *rest in rows:
            known[(sender, ref)] = tuple(rest)
    return known


def _histories(ids: list[int]) -> dict[int, list[_Ev]]:
    out: dict[int, list[_Ev]] = defaultdict(list)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT licence_id, seq, kind, data::text, recorded_at, hash FROM {Event._meta.db_table} "  # noqa: S608
                "WHERE licence_id = ANY(%s::bigint[]) ORDER BY licence_id, seq",
                [pg_array(ids)],
            )
            loads = json.loads
            for licence_id, seq, kind, data, recorded_at, hash_ in cursor.fetchall():
                out[licence_id].append(_Ev(licence_id, seq, kind, loads(data), recorded_at, hash=hash_))
        return out
    for licence_id, seq, kind, data, recorded_at, hash_ in (
        Event.objects.filter(licence_id__in=ids)
        .order_by("licence_id", "seq")
        .values_list("licence_id", "seq", "kind", "data", "recorded_at", "hash")
    ):
        out[licence_id].append(_Ev(licence_id, seq, kind, data, recorded_at, hash=hash_))
    return out


def _stored_movements(ids: list[int]) -> dict[int, list[str]]:
    if connection.vendor == "postgresql":
        table = Movement._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT licence_id, string_agg(concat_ws(E'\\x1f', "on"::text, kind, change::text,
                        balance::text, raw_balance::text, cap::text, cause, basis), E'\\x1e' ORDER BY position)
                    FROM {table} WHERE licence_id = ANY(%s::bigint[]) GROUP BY licence_id""",  # noqa: S608 - a table name
                [pg_array(ids)],
            )
            return {licence_id: text.split("\x1e") for licence_id, text in cursor.fetchall()}
    out: dict[int, list[str]] = defaultdict(list)
    for licence_id, *values in (
        Movement.objects.filter(licence_id__in=ids)
        .order_by("licence_id", "position")
        .values_list("licence_id", "on", "kind", "change", "balance", "raw_balance", "cap", "cause", "basis")
    ):
        on, *rest = values
        out[licence_id].append(_SEP.join([on.isoformat(), *(str(v) for v in rest)]))
    return out


def _stored_notices(ids: list[int]) -> dict[int, set[tuple[str, str, dt.date]]]:
    out: dict[int, set[tuple[str, str, dt.date]]] = defaultdict(set)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT licence_id, code, cause, due_on FROM {Notice._meta.db_table} "  # noqa: S608
                "WHERE licence_id = ANY(%s::bigint[])",
                [pg_array(ids)],
            )
            rows = cursor.fetchall()
    else:
        rows = Notice.objects.filter(licence_id__in=ids).values_list("licence_id", "code", "cause", "due_on")
    for licence_id, code, cause, due_on in rows:
        out[licence_id].add((code, cause, due_on))
    return out


# -- writing -----------------------------------------------------------------------------------------------------
def _write(rows: _Rows, batch: str, now: dt.datetime) -> None:
    if connection.vendor == "postgresql":
        _write_postgres(rows, now)
    else:
        _write_orm(rows, now)
    _write_feed_records(rows.feed, batch, now)


def _columns(model: Any, names: list[str]) -> str:
    return ", ".join(f'"{model._meta.get_field(name).column}"' for name in names)


_EVENT_FIELDS = list(EVENT_FIELDS)
_MOVEMENT_FIELDS = ["licence", "position", *MOVEMENT_FIELDS]
_PROJECTION_FIELDS = ["licence", *PROJECTION_FIELDS]
# A feed receipt's columns, as the bulk paths copy them (this import and the demo population).
FEED_FIELDS = (
    "sender",
    "source_ref",
    "batch",
    "line",
    "payload",
    "outcome",
    "errors",
    "event",
    "received_at",
)


def _write_postgres(rows: _Rows, now: dt.datetime) -> None:
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own, for COPY
        if rows.events:
            table = Event._meta.db_table
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)",  # noqa: S608 - a table name
                [len(rows.events)],
            )
            for event, (pk,) in zip(rows.events, cursor.fetchall()):
                event.id = pk
            with cursor.copy(f"COPY {table} ({_columns(Event, _EVENT_FIELDS)}) FROM STDIN") as copy:
                for e in rows.events:
                    copy.write_row(
                        (
                            e.id,
                            e.licence_id,
                            e.seq,
                            e.kind,
                            json.dumps(e.data),
                            e.source,
                            e.sender,
                            e.source_ref,
                            e.recorded_at,
                            e.recorded_by,
                            e.corrects_id,
                            e.reason,
                            e.prev_hash,
                            e.hash,
                        )
                    )
        if rows.deletes:
            cursor.execute(
                f"""DELETE FROM {Movement._meta.db_table} m USING unnest(%s::bigint[], %s::integer[]) AS d(l, p)
                    WHERE m.licence_id = d.l AND m.position >= d.p""",  # noqa: S608 - a table name
                [pg_array(d[0] for d in rows.deletes), pg_array(d[1] for d in rows.deletes)],
            )
        if rows.movements:
            table = Movement._meta.db_table
            with cursor.copy(f"COPY {table} ({_columns(Movement, _MOVEMENT_FIELDS)}) FROM STDIN") as copy:
                for row in rows.movements:
                    copy.write_row(row)
        if rows.notices:
            table = Notice._meta.db_table
            columns = _columns(Notice, ["licence", "code", "cause", "due_on", "status", "created_at"])
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows.notices:
                    copy.write_row((*row, "pending", now))
        if rows.projections:
            table = Projection._meta.db_table
            columns = _columns(Projection, [*_PROJECTION_FIELDS, "updated_at"])
            updates = ", ".join(
                f'"{Projection._meta.get_field(n).column}" = EXCLUDED."{Projection._meta.get_field(n).column}"'
                for n in [*_PROJECTION_FIELDS[1:], "updated_at"]
            )
            types = [
                "bigint",
                "smallint",
                "smallint",
                "smallint",
                "text",
                "boolean",
                "date",
                "date",
                "date",
                "integer",
                "text",
            ]
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            cursor.execute(
                f"""INSERT INTO {table} ({columns}) SELECT *, %s FROM unnest({arrays})
                    ON CONFLICT (licence_id) DO UPDATE SET {updates}""",  # noqa: S608 - names from the model
                [now, *(pg_array(column) for column in zip(*rows.projections))],
            )


def _write_orm(rows: _Rows, now: dt.datetime) -> None:
    if rows.events:
        created = Event.objects.bulk_create(
            Event(
                licence_id=e.licence_id,
                seq=e.seq,
                kind=e.kind,
                data=e.data,
                source=e.source,
                sender=e.sender,
                source_ref=e.source_ref,
                recorded_at=e.recorded_at,
                recorded_by=e.recorded_by,
                corrects_id=e.corrects_id,
                reason=e.reason,
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
            for e in rows.events
        )
        for event, row in zip(rows.events, created):
            event.id = row.pk
    for licence_id, position in rows.deletes:
        Movement.objects.filter(licence_id=licence_id, position__gte=position).delete()
    Movement.objects.bulk_create(
        Movement(**dict(zip(["licence_id", *_MOVEMENT_FIELDS[1:]], row))) for row in rows.movements
    )
    Notice.objects.bulk_create(
        Notice(licence_id=licence_id, code=code, cause=cause, due_on=due_on)
        for licence_id, code, cause, due_on in rows.notices
    )
    for row in rows.projections:
        values = dict(zip(_PROJECTION_FIELDS[1:], row[1:]))
        Projection.objects.update_or_create(licence_id=row[0], defaults=values)


def _write_feed_records(
    feed: list[tuple[FeedItem, str, list[str], Any]], batch: str, now: dt.datetime
) -> None:
    if not feed:
        return

    def event_id(event: Any) -> int | None:
        if isinstance(event, _Ev):
            return event.id
        return event[0] if event is not None else None

    if connection.vendor == "postgresql":
        with connection.cursor() as wrapper:
            table = FeedRecord._meta.db_table
            with wrapper.cursor.copy(
                f"COPY {table} ({_columns(FeedRecord, FEED_FIELDS)}) FROM STDIN"
            ) as copy:
                for item, outcome, errors, event in feed:
                    copy.write_row(
                        (
                            item.sender,
                            item.ref,
                            batch,
                            item.position,
                            item.payload_json,
                            outcome,
                            json.dumps(errors, ensure_ascii=False) if errors else "[]",
                            event_id(event),
                            now,
                        )
                    )
        return
    FeedRecord.objects.bulk_create(
        FeedRecord(
            sender=item.sender,
            source_ref=item.ref,
            batch=batch,
            line=item.position,
            payload=item.payload,
            outcome=outcome,
            errors=list(errors),
            event_id=event_id(event),
        )
        for item, outcome, errors, event in feed
    )
