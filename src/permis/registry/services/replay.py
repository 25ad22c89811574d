"""Rebuilding licences from their stored events, many at a time: what the daily run and `permis verify` share.

`services.core.apply_evaluation` says what a licence's movements, letters and projection are on a date; this
module computes the same rows without touching the database (``derive``), from light row objects that carry the
attribute names of the models (so ``engine_document``, ``genesis_hash`` and ``event_hash`` accept them), loaded
for a whole batch of licences in one query per table.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import multiprocessing
import multiprocessing.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import connection, connections
from django.utils import timezone

from ..models import Event, Licence
from .core import ENGINE_LICENCE_FIELDS, Derived, genesis_hash, stored_history_of
from .core import derive as core_derive

# A movement as stored: (on, kind, change, balance, raw_balance, cap, cause, basis), in position order.
MovementRow = tuple[dt.date, str, int, int, int, int, str, str]
# A letter as stored in Notice: (code, cause, due_on).
LetterKey = tuple[str, str, dt.date]

# The licence's numbers, then the columns the engine reads: those the seal covers (``core.identity_seal``).
LICENCE_COLUMNS = ("id", "number", "dossier_number", *ENGINE_LICENCE_FIELDS)

EVENT_COLUMNS = (
    "licence_id",
    "seq",
    "kind",
    "data",
    "source",
    "sender",
    "source_ref",
    "recorded_at",
    "recorded_by",
    "corrects_id",
    "reason",
    "prev_hash",
    "hash",
)


@dataclass(slots=True)
class LicenceRow:
    """The columns of a Licence that the engine and the hash chain read."""

    id: int
    number: str
    dossier_number: str
    obtained_on: dt.date
    route: str
    complementary_training_on: dt.date | None
    regained: bool
    notices_from: dt.date

    @property
    def pk(self) -> int:
        return self.id


class StoredEvent(NamedTuple):
    """A stored Event's columns, under the model's attribute names, as a tuple: `permis verify` makes one per
    stored event, and a tuple costs no Python ``__init__``."""

    licence_id: int
    seq: int
    kind: str
    data: Any
    source: str
    sender: str
    source_ref: str | None
    recorded_at: dt.datetime
    recorded_by: str
    corrects_id: int | None
    reason: str
    prev_hash: str
    hash: str


# The name the readers of single licences use (one type for every stored event read in raw SQL).
EventRow = StoredEvent


def stored_event(row: tuple) -> StoredEvent:
    """The event of a raw row of EVENT_COLUMNS: the row itself as a StoredEvent when PostgreSQL handed it over
    ready (the JSON decoded, the datetime aware), else converted by ``event_row``."""
    if isinstance(row[3], str | bytes) or row[7].tzinfo is None:
        return event_row(row)
    return _new_tuple(StoredEvent, row)


_new_tuple = tuple.__new__


# -- reading many licences at once, in raw SQL ------------------------------------------------------------------------
# On PostgreSQL these queries go through a plain psycopg cursor on Django's connection (same transaction):
# parameters bound by the server and results in binary, which for thousands of rows is several times cheaper
# than Django's client-side binding cursor. Table and column names come from the models.
def quoted_columns(model, names: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    return ", ".join(quote(model._meta.get_field(name.removesuffix("_id")).column) for name in names)


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def select(model, names: Sequence[str], rest: str) -> str:
    """SELECT the named columns of `model` then `rest` (WHERE ...): names from the models, values as parameters."""
    return f"SELECT {quoted_columns(model, names)} FROM {table(model)} {rest}"  # noqa: S608


def fetch(sql: str, params: Sequence[Any]) -> list[tuple]:
    """Run `sql` (%s placeholders; `IN %s` takes a list of ids) and return its rows."""
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.adapters.register_loader("jsonb", _jsonb_loader())
            cursor.execute(sql.replace("IN %s", "= ANY(%s)").replace("%s", "%b"), params, binary=True)
            return cursor.fetchall()
    # Elsewhere (SQLite): a list becomes (%s, %s, ...), through Django's cursor.
    pieces = sql.split("%s")
    text, expanded = [pieces[0]], []
    for value, piece in zip(params, pieces[1:]):
        if isinstance(value, list | tuple):
            text.append("(" + ", ".join(["%s"] * len(value)) + ")" if value else "(NULL)")
            expanded.extend(value)
        else:
            text.append("%s")
            expanded.append(value)
        text.append(piece)
    with connection.cursor() as cursor:
        cursor.execute("".join(text), expanded)
        return cursor.fetchall()


@functools.cache
def _jsonb_loader() -> type:
    """psycopg's binary jsonb loader, less its Python layers: a version byte, then the document's text, read by
    json's C scanner (json.loads, with its exact errors, for anything else)."""
    import psycopg

    scan = json.JSONDecoder().scan_once
    loads = json.loads

    class JsonbLoader(psycopg.adapt.Loader):
        format = psycopg.pq.Format.BINARY

        def load(self, data: Any) -> Any:
            if data[:1] != b"\x01":
                raise psycopg.DataError(f"unknown jsonb binary format: {bytes(data[:1])!r}")
            text = bytes(data[1:]).decode()
            try:
                value, end = scan(text, 0)
            except StopIteration:
                return loads(text)
            return value if end == len(text) else loads(text)

    return JsonbLoader


def load_licences(ids: Sequence[int], *, lock: bool = False) -> dict[int, LicenceRow]:
    sql = (
        f"SELECT {quoted_columns(Licence, LICENCE_COLUMNS)} FROM {table(Licence)} WHERE id IN %s ORDER BY id"  # noqa: S608
    )
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return {row[0]: LicenceRow(*row) for row in fetch(sql, [list(ids)])}


def event_row(row: tuple) -> StoredEvent:
    """A StoredEvent from the EVENT_COLUMNS of a raw row (JSON as text or decoded, datetimes naive or aware)."""
    data = row[3]
    recorded_at = row[7]
    return StoredEvent(
        row[0],
        row[1],
        row[2],
        json.loads(data) if isinstance(data, str | bytes) else data,
        row[4],
        row[5],
        row[6],
        recorded_at if recorded_at.tzinfo is not None else recorded_at.replace(tzinfo=dt.UTC),
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
    )


def load_events(ids: Sequence[int]) -> dict[int, list[EventRow]]:
    events: dict[int, list[EventRow]] = {}
    sql = (
        f"SELECT {quoted_columns(Event, EVENT_COLUMNS)} FROM {table(Event)} "  # noqa: S608
        "WHERE licence_id IN %s ORDER BY licence_id, seq"
    )
    for row in fetch(sql, [list(ids)]):
        event = event_row(row)
        bucket = events.get(event.licence_id)
        if bucket is None:
            events[event.licence_id] = [event]
        else:
            bucket.append(event)
    return events


def derive(
    licence: LicenceRow | Licence, events: Sequence[EventRow | Event], on: dt.date, genesis: str | None = None
) -> Derived:
    """The movements, letters and projection of `licence` on `on`, as `services.core.apply_evaluation` writes
    them (a test keeps the two in step). `genesis`: the licence's genesis hash, when the caller has it."""
    if not events:
        # A licence without events: its rows depend only on these columns (and its genesis hash), and many
        # licences share them, so the engine's answer is kept (the first answer for a key is the answer).
        key = (
            licence.obtained_on,
            licence.route,
            licence.complementary_training_on,
            licence.regained,
            licence.notices_from,
            on,
        )
        known = _WITHOUT_EVENTS.get(key)
        if known is None:
            if len(_WITHOUT_EVENTS) >= _WITHOUT_EVENTS_MAX:
                _WITHOUT_EVENTS.clear()
            known = _WITHOUT_EVENTS[key] = _derive(licence, events, on)
        return Derived(
            known.evaluation,
            known.movements,
            known.letters,
            {**known.projection, "last_hash": genesis or genesis_hash(licence)},  # type: ignore[arg-type]
        )
    return _derive(licence, events, on)


_WITHOUT_EVENTS: dict[tuple, Derived] = {}
_WITHOUT_EVENTS_MAX = 20_000  # a few tens of MiB at most


def _derive(licence: LicenceRow | Licence, events: Sequence[EventRow | Event], on: dt.date) -> Derived:
    # Batch jobs never activate another zone: the legal day is in the settings' zone (Europe/Paris).
    history = stored_history_of(licence, events, timezone.get_default_timezone())  # type: ignore[arg-type]
    last_hash = events[-1].hash if events else genesis_hash(licence)  # type: ignore[arg-type]
    return core_derive(history, on, len(events), last_hash, licence.notices_from)


def can_fork() -> bool:
    """Whether other processes can share the work: they see this connection's data only if it is committed
    (not inside a transaction) and not in an in-memory SQLite database."""
    if connection.in_atomic_block:
        return False
    if connection.vendor == "sqlite":
        return not connection.is_in_memory_db()
    return True


@contextmanager
def process_pool(jobs: int) -> Iterator[multiprocessing.pool.Pool]:
    """`jobs` forked processes, each with its own database connection, closed when the work is done."""
    connections.close_all()  # the children must not share the parent's connection; it reopens when needed
    pool = multiprocessing.get_context("fork").Pool(jobs, initializer=_pool_process_started)
    try:
        yield pool
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _pool_process_started() -> None:
    # Say goodbye to the server when the process ends, so that its session is gone when the pool is.
    multiprocessing.util.Finalize(None, connections.close_all, exitpriority=10)
