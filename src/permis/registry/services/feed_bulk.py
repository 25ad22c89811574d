"""The bulk path of the infraction feed: files of a million records, with the same result as the per-record path.

A batch is planned as in `feed.plan` (grouped by licence, each group sorted on content), cut into chunks of
whole licence groups, and each chunk is one transaction:

1. lock the chunk's licences (``SELECT ... FOR UPDATE``, ordered by id: two imports never deadlock on them);
2. load, in one query each, the events already known under the chunk's references (duplicates, offences to
   cancel), the licences' histories, their stored movements and letters;
3. for each licence, append its new events to its hash-chained history and ask the engine once for the final
   state, plus once after each earlier new event, so that the letters due are those the per-record path would
   write one record at a time;
4. write the events, movements, letters, projections and FeedRecords in bulk (COPY on PostgreSQL).

A licence whose new events the engine refuses as a whole goes through the per-record path (`feed.submit_one`),
inside the same transaction: one bad record never blocks the others. A chunk that meets a concurrent import of
the same references (unique violation, deadlock) is rolled back and done again, then record by record.

With PostgreSQL and ``workers > 1``, the chunks are shared between forked worker processes, each with its own
connection; idempotence under concurrency rests on the licence locks and the unique (sender, source_ref).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import multiprocessing
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.db import IntegrityError, OperationalError, connection, connections, transaction
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
    next_suspension_boundary,
)
from .feed import (
    CANCELLATION,
    OFFENCE,
    FeedItem,
    RecordResult,
    apply_licence,
    cancellation_problem,
    lookup_licences,
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
    by_number: int | None
    by_dossier: int | None


def import_records(
    records: list[tuple[int, Any]],
    *,
    sender: str | None = None,
    batch: str,
    on: dt.date,
    chunk_size: int = 1000,
    workers: int = 1,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> list[RecordResult]:
    """Record a file's records, (line, mapping) pairs, in bulk; one result per record, in the file's order.

    The parent only reads each record's sender, reference and licence keys, finds the licences and plans;
    the records are parsed and checked in the workers, chunk by chunk. The plan is `feed.plan`'s: records
    grouped by licence, then sorted on their content, a reference met twice going to a later round.
    """
    began = time.perf_counter()
    results: list[RecordResult | None] = [None] * len(records)
    keys = [record_keys(raw, sender) for _, raw in records]
    by_number, by_dossier = lookup_licences(
        (k[2] for k in keys if k and k[2]), (k[3] for k in keys if k and k[3])
    )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    licence_of: list[int | None] = []
    for k in keys:
        licence_id = None
        if k is not None and (k[2] or k[3]):
            a = by_number.get(k[2]) if k[2] else None
            b = by_dossier.get(k[3]) if k[3] else None
            if (
                (a is not None or not k[2])
                and (b is not None or not k[3])
                and (a is None or b is None or a == b)
            ):
                licence_id = a if a is not None else b
        licence_of.append(licence_id)
        if licence_id is not None:
            counts[(k[0], k[1])] += 1

    def parsed(index: int) -> FeedItem:
        line, raw = records[index]
        item = parse_record(raw, line, sender=sender, on=on)
        item.index = index
        if not item.errors:
            apply_licence(item, by_number, by_dossier)
        return item

    rejected: list[FeedItem] = []
    first_round: dict[int, list[Any]] = defaultdict(list)
    repeated: list[FeedItem] = []
    for index, ((line, raw), k, licence_id) in enumerate(zip(records, keys, licence_of)):
        if licence_id is not None and counts[(k[0], k[1])] == 1:
            first_round[licence_id].append(
                _Raw(
                    index,
                    line,
                    raw,
                    by_number.get(k[2]) if k[2] else None,
                    by_dossier.get(k[3]) if k[3] else None,
                )
            )
            continue
        item = parsed(index)  # a record without a licence, or whose reference comes twice: parsed here
        (rejected if item.errors else repeated).append(item)
    rounds: list[dict[int, list[Any]]] = [first_round]
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for item in sorted(repeated, key=lambda i: (i.licence_id, i.key)):
        n = seen[(item.sender, item.ref)]
        seen[(item.sender, item.ref)] = n + 1
        if counts[(item.sender, item.ref)] > 1 or n > 0:
            while len(rounds) <= n:
                rounds.append({})
            rounds[n].setdefault(item.licence_id, []).append(item)
        else:
            first_round[item.licence_id].append(item)
    # The planning's per-record keys and counts are done with: freed before the workers fork (each would
    # otherwise carry a copy of their pages as it touches them).
    del keys, licence_of, counts, seen
    for start in range(0, len(rejected), 5000):
        part = rejected[start : start + 5000]
        with transaction.atomic():
            _write_feed_records([(i, REJECTED, i.errors, None) for i in part], batch, timezone.now())
        for item in part:
            results[item.index] = RecordResult(item.position, item.ref, REJECTED, list(item.errors))
        if progress:
            progress(len(part))
    context = {"sender": sender, "by_number": by_number, "by_dossier": by_dossier}
    planned = time.perf_counter()
    for round_no, groups in enumerate(rounds):
        chunks = _chunks(sorted(groups.items()), chunk_size)
        parallel = (
            round_no == 0
            and workers > 1
            and len(chunks) > 1
            and connection.vendor == "postgresql"
            and not connection.in_atomic_block
        )
        done = (
            _parallel(chunks, workers, batch, on, context)
            if parallel
            else (process_chunk(chunk, batch=batch, on=on, context=context) for chunk in chunks)
        )
        for pairs in done:
            for index, result in pairs:
                results[index] = result
            if progress:
                progress(len(pairs))
    _flush()
    if timings is not None:
        timings["planning"] = planned - began
        timings["recording"] = time.perf_counter() - planned
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:  # a bug, never a data problem: say so loudly rather than lose a record
        raise RuntimeError(f"{len(missing)} records were not processed (first: record {missing[0]})")
    return results  # type: ignore[return-value]


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
    chunks, batch, on, context = _SHARED["chunks"], _SHARED["batch"], _SHARED["on"], _SHARED["context"]
    try:
        while True:
            index = tasks.get()
            if index is None:
                break
            try:
                out.put(("ok", process_chunk(chunks[index], batch=batch, on=on, context=context)))
            except Exception:  # noqa: BLE001 - handed to the parent, which raises it
                out.put(("error", traceback.format_exc()))
                break
    finally:
        connections.close_all()


def _parallel(chunks: list, workers: int, batch: str, on: dt.date, context: dict[str, Any]):
    """Run the chunks in `workers` forked processes; yields each chunk's results as it is done."""
    forking = multiprocessing.get_context("fork")
    connections.close_all()  # the children open their own; none may share the parent's socket
    # The planned records (a million objects) are read, never freed, by the workers: out of the cyclic
    # collector's sight, its full passes do not walk them (nor copy their memory pages in each child).
    gc.freeze()
    _SHARED.update(chunks=chunks, batch=batch, on=on, context=context)
    tasks, out = forking.Queue(), forking.Queue()
    for index in range(len(chunks)):
        tasks.put(index)
    for _ in range(workers):
        tasks.put(None)
    processes = [forking.Process(target=_worker, args=(tasks, out), daemon=True) for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        for _ in range(len(chunks)):
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
        gc.unfreeze()


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
                    apply_licence(item, context["by_number"], context["by_dossier"])
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
    """Add one licence's records to `rows`; False when the engine refuses them together (per-record path)."""
    seq = len(events)
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
            for letter in evaluation.letters:
                key = (letter.code, letter.cause or "", letter.on)
                if letter.on >= notices_from and key not in seen:
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
        prev = events[-1].hash if events else genesis_hash(licence)  # type: ignore[arg-type]
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
    """The chunk's licences, locked in id order (two imports lock in the same order: no deadlock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(_LICENCE_COLUMNS)} FROM {Licence._meta.db_table} "  # noqa: S608 - names
                "WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
                [pg_array(ids)],
            )
            return {row[0]: _Lic(*row) for row in cursor.fetchall()}
    queryset = Licence.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {row[0]: _Lic(*row) for row in queryset.values_list(*_LICENCE_COLUMNS)}


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
_FEED_FIELDS = [
    "sender",
    "source_ref",
    "batch",
    "line",
    "payload",
    "outcome",
    "errors",
    "event",
    "received_at",
]


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
                f"COPY {table} ({_columns(FeedRecord, _FEED_FIELDS)}) FROM STDIN"
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
