"""The infraction feed (PRODUCT.md, capability 3): definitive offences and their cancellations, as senders
(ANTAI, courts, prosecutors) send them, in files or through the API.

A feed record is a flat mapping (a CSV row or a JSON object, columns in docs/feed.md). This module:

- parses and checks a record on its own (`parse_record`): every problem names the record (its line or its
  index, and its sender's reference) and the field;
- finds the records' licences by licence number or dossier number (`resolve_licences`);
- puts a batch in its processing order (`plan`): grouped by licence, offences before cancellations, each group
  sorted on the records' content, so that the same records in any order end in the same state;
- records them one by one through `record_event` (`submit`, the per-record path, used by the API and as the
  fallback of the bulk path in `feed_bulk`).

Idempotence rests on the unique (sender, source_ref) of `Event`: a record whose reference was already accepted
is a duplicate and changes nothing. Every record, accepted, duplicate or rejected, leaves a `FeedRecord`.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import logging
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from permis.digits import ascii_digits
from permis.rules.model import HOW, OFFENCE_CLASSES

from ..models import Event, EventKind, FeedRecord, Licence, Source
from .core import BrokenChain, RegistryError, record_event

log = logging.getLogger(__name__)

OFFENCE = "offence"
CANCELLATION = "cancellation"
KINDS = (OFFENCE, CANCELLATION)
SYSTEM_START = dt.date(1992, 7, 1)

# Every column a record may carry, in the order of docs/feed.md (and of the report of a CSV file).
COLUMNS = (
    "sender",
    "sender_ref",
    "kind",
    "licence_number",
    "dossier_number",
    "natinf",
    "points",
    "class",
    "speeding_limit_kmh",
    "speeding_retained_kmh",
    "committed_on",
    "final_on",
    "decided_on",
    "how",
    "simultaneous_group",
    "place",
    "cancels",
    "cancelled_on",
)
OFFENCE_ONLY = (
    "natinf",
    "points",
    "class",
    "speeding_limit_kmh",
    "speeding_retained_kmh",
    "committed_on",
    "final_on",
    "decided_on",
    "how",
    "simultaneous_group",
    "place",
)
CANCELLATION_ONLY = ("cancels", "cancelled_on")
_NUMBER = re.compile(r"^[0-9A-Z]{5,19}$")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # YYYY-MM-DD only (date.fromisoformat takes more)
_REF_MAX, _SENDER_MAX, _GROUP_MAX, _PLACE_MAX = 100, 50, 50, 100

# The engine's field names (ENGINE-IO.md) as the feed calls them, to report its problems in the feed's words.
_ENGINE_FIELDS = {
    "speeding.limit_kmh": "speeding_limit_kmh",
    "speeding.retained_kmh": "speeding_retained_kmh",
    "speeding": "speeding_limit_kmh",
    "offence": "cancels",
    "on": "cancelled_on",
}


class FeedFileError(Exception):
    """The file itself cannot be read (missing, not UTF-8, a CSV header with unknown or missing columns)."""


@dataclass(slots=True)
class FeedItem:
    """One record of a batch: what was received, what it means for the engine, and what went wrong."""

    position: int  # the line of a file (from 1, the CSV header being line 1) or the index in an API batch
    where: str  # "line" or "records"
    payload: dict[str, Any]
    sender: str = ""
    ref: str = ""
    kind: str = OFFENCE
    licence_number: str = ""
    dossier_number: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # the engine's event data (cancellations: "on" only)
    cancels: str = ""
    errors: list[str] = field(default_factory=list)
    licence_id: int | None = None
    key: tuple = ()
    payload_json: str = ""
    index: int = 0  # the item's place in its batch (a handle that survives a trip to a worker process)

    @property
    def label(self) -> str:
        place = f"line {self.position}" if self.where == "line" else f"records[{self.position}]"
        return f"{place} (ref {self.ref})" if self.ref else place

    def error(self, name: str, message: str) -> None:
        if not name.isprintable():  # an unknown field's name, kept readable (and without NUL, for jsonb)
            name = repr(name)
        self.errors.append(f"{self.label}: {name}: {message}")

    @property
    def event_kind(self) -> str:
        return EventKind.OFFENCE if self.kind == OFFENCE else EventKind.OFFENCE_CANCELLED


@dataclass(slots=True)
class RecordResult:
    """What became of one record: the line of the report, the entry of the API's response."""

    position: int
    sender_ref: str
    outcome: str  # FeedRecord.Outcome
    errors: list[str]
    event_id: int | None = None
    licence_id: int | None = None


# -- reading files -----------------------------------------------------------------------------------------------
def detect_format(path: Path, given: str | None = None) -> str:
    if given:
        return given
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    try:
        with path.open("rb") as handle:
            start = handle.read(4096).lstrip()
    except OSError as error:
        raise FeedFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    return "jsonl" if start.startswith(b"{") else "csv"


def _read_lines(path: Path) -> Iterator[str]:
    """The file's lines, decoded, each with its end, one at a time (a file of a million records is never held
    whole). The file is first read through once to check it is UTF-8, so that a file that is not is refused
    before any of its records is read, whatever else is wrong with it."""
    for _ in _decoded(path):
        pass
    return _decoded(path)


def _decoded(path: Path) -> Iterator[str]:
    try:
        handle = path.open("rb")
    except OSError as error:
        raise FeedFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    with handle:
        offset, number = 0, 0
        try:
            for raw in handle:  # lines end at b"\n", which no other UTF-8 character holds
                start = 3 if number == 0 and raw.startswith(b"\xef\xbb\xbf") else 0
                number += 1
                try:
                    yield raw[start:].decode("utf-8")
                except UnicodeDecodeError as error:
                    raise FeedFileError(
                        f"{path}: line {number}: not UTF-8 text (byte {offset + error.start})"
                    ) from None
                offset += len(raw) - start
        except OSError as error:
            raise FeedFileError(f"{path}: cannot be read ({error.strerror or error})") from None


def read_records(path: Path, fmt: str | None = None) -> Iterator[tuple[int, Any]]:
    """The records of a file as (line number, mapping), read as they are iterated; raises FeedFileError when
    the file is unreadable (the header's problems when called, the others as the records are read).

    A JSON Lines line that is not a JSON object is given as its text, for `parse_record` to reject it.
    """
    fmt = detect_format(path, fmt)
    if fmt not in {"jsonl", "csv"}:
        raise FeedFileError(f"{path}: unknown format {fmt!r} (csv or jsonl)")
    lines = _read_lines(path)
    if fmt == "jsonl":
        return _jsonl(lines)
    return _csv(path, lines)


def _jsonl(lines: Iterator[str]) -> Iterator[tuple[int, Any]]:
    # One record per line ending in "\n" (JSON Lines): not `str.splitlines`, which also breaks at U+2028,
    # \x0c, \x85, \x1c-\x1e, characters a JSON string may hold as they are.
    for number, line in enumerate(lines, start=1):
        if not line.strip(_JSON_SPACE):
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            yield number, Unparsable(f"not a JSON object ({error.msg} at column {error.colno})")
        except ValueError as error:  # a number of more than 4,300 digits
            yield number, Unparsable(f"not a JSON object ({error})")


_JSON_SPACE = " \t\r\n"  # JSON's whitespace


class Unparsable(str):
    """A line that holds no record, as its problem: `parse_record` rejects it with that message."""


def _csv(path: Path, lines: Iterator[str]) -> Iterator[tuple[int, Any]]:
    first = next(lines, "")
    if not first.strip():  # an empty file, or an empty first line: no header
        raise FeedFileError(f"{path}: line 1: no header (the first line names the columns; see docs/feed.md)")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise FeedFileError(f"{path}: line 1: the header cannot be read ({error})") from None
    if header is None:
        raise FeedFileError(f"{path}: line 1: no header (the first line names the columns; see docs/feed.md)")
    header = [name.strip() for name in header]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise FeedFileError(
            f"{path}: line 1: unknown column(s) {', '.join(map(repr, unknown))} (the columns are: "
            f"{', '.join(COLUMNS)}; see docs/feed.md)"
        )
    doubled = sorted({name for name in header if header.count(name) > 1})
    if doubled:
        raise FeedFileError(f"{path}: line 1: column(s) {', '.join(doubled)} given twice")
    if "sender_ref" not in header:
        raise FeedFileError(f"{path}: line 1: the header has no sender_ref column (see docs/feed.md)")
    return _csv_rows(path, reader, header)


_CELL = "\x1f"  # between the cells of a packed CSV line


class CsvRow(Mapping):
    """A CSV line as a read-only mapping of its non-empty cells, built on demand: a file of a million lines is
    read in the parent process, which only looks at a few columns, and parsed in the workers. The cells are kept
    as one string (a list of a dozen strings costs six times the memory), unless a cell holds the separator."""

    __slots__ = ("_index", "_packed")

    def __init__(self, index: dict[str, int], values: list[str]):
        self._index = index
        packed = _CELL.join(values)
        self._packed: str | list[str] = packed if packed.count(_CELL) == len(values) - 1 else values

    @property
    def _values(self) -> list[str]:
        packed = self._packed
        return packed.split(_CELL) if isinstance(packed, str) else packed

    def __getitem__(self, key: str) -> str:
        value = self._values[self._index[key]]
        if value == "":
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        position = self._index.get(key)
        if position is None:
            return default
        value = self._values[position]
        return value if value != "" else default

    def items(self) -> Any:
        return [(name, value) for name, value in zip(self._index, self._values) if value != ""]

    def __iter__(self) -> Iterator[str]:
        return (name for name, value in zip(self._index, self._values) if value != "")

    def __len__(self) -> int:
        return sum(1 for value in self._values if value != "")


def _csv_rows(path: Path, reader: Any, header: list[str]) -> Iterator[tuple[int, Any]]:
    width = len(header)
    index = {name: position for position, name in enumerate(header)}
    while True:
        line = (
            reader.line_num + 1
        )  # a record is named by its first line, also when a quoted cell spans several
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise FeedFileError(f"{path}: line {reader.line_num}: {error}") from None
        if not row:
            continue
        if len(row) != width:
            yield (
                line,
                Unparsable(f"{len(row)} values for {width} columns (check the separators and quotes)"),
            )
            continue
        yield line, CsvRow(index, row)


# -- one record --------------------------------------------------------------------------------------------------
def parse_record(
    raw: Any, position: int, *, where: str = "line", sender: str | None = None, on: dt.date
) -> FeedItem:
    """Check one record on its own (no database): its fields, formats and dates, received on `on`.

    `sender` is the sender the import or the API key speaks for: a record naming another one is rejected.
    """
    item = FeedItem(position=position, where=where, payload={})
    if isinstance(raw, Unparsable):
        item.payload, item.payload_json = storable({"(raw)": str(raw)})
        item.error("record", str(raw))
        return item
    if not isinstance(raw, Mapping):
        item.payload, item.payload_json = storable(
            {"(raw)": raw if isinstance(raw, str | int | float | bool | list) else repr(raw)}
        )
        item.error("record", "must be an object with the columns of docs/feed.md")
        return item
    values = {str(k): v for k, v in raw.items() if v is not None and v != ""}
    item.payload, item.payload_json = storable(values)
    ref = values.get("sender_ref")
    if isinstance(ref, str | int) and not isinstance(ref, bool):
        ref = str(ref).strip()
        if not ref:
            item.error("sender_ref", "missing (the sender's reference of the record is required)")
        elif len(ref) > _REF_MAX or not ref.isprintable():
            item.error("sender_ref", f"{ref[:120]!r} must be at most {_REF_MAX} printable characters")
        else:
            item.ref = ref
    elif ref is None:
        item.error("sender_ref", "missing (the sender's reference of the record is required)")
    else:
        item.error("sender_ref", f"{ref!r} must be a string")
    for name in values:
        if name not in COLUMNS:
            item.error(name, f"unknown field (the columns are: {', '.join(COLUMNS)})")
    _sender(item, values.get("sender"), sender)
    kind = _trimmed(values.get("kind", OFFENCE))
    if kind not in KINDS:
        item.error("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        kind = OFFENCE if "cancels" not in values else CANCELLATION
    item.kind = kind
    _licence(item, values)
    if kind == OFFENCE:
        _offence(item, values, on)
        item.key = (
            0,
            item.data.get("final_on", ""),
            item.data.get("committed_on", ""),
            item.sender,
            item.ref,
            item.payload_json,
        )
    else:
        _cancellation(item, values, on)
        item.key = (1, item.data.get("on", ""), "", item.sender, item.ref, item.payload_json)
    return item


def storable(payload: Any) -> tuple[Any, str]:
    """A record as it came, and its JSON text, as they can be stored (FeedRecord.payload, a JSONField).

    Two things a record may hold that a JSONField cannot: NaN and infinities (Python's json reads `NaN`,
    `Infinity` and `1e400`, which are not JSON), written as the strings "NaN", "Infinity" and "-Infinity"; and,
    for PostgreSQL's jsonb, the character U+0000, written as the six characters "\\u0000". A record holding one
    of them is rejected (no column takes a float, nor a NUL); only its stored copy is changed.
    """
    try:
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        text = ""
    if text and "\\u0000" not in text:  # json.dumps writes a NUL as \u0000: the common case costs one search
        return payload, text
    payload = _clean(payload)
    return payload, json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\\u0000")
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _text(item: FeedItem, values: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        item.error(name, f"{value!r} must be a string")
        return None
    value = value.strip()
    if len(value) > limit or not value.isprintable():
        item.error(name, f"{value[:120]!r} must be at most {limit} printable characters")
        return None
    return value


def check_sender(value: str) -> str:
    """The sender an import names for all its records (`--sender`), checked as a record's `sender` column:
    trimmed, at most 50 printable characters. Raises ValueError with the problem."""
    sender = value.strip()
    if not sender:
        raise ValueError("missing (the sender's code, e.g. ANTAI)")
    if len(sender) > _SENDER_MAX or not sender.isprintable():
        raise ValueError(f"{sender[:120]!r} must be at most {_SENDER_MAX} printable characters")
    return sender


def _sender(item: FeedItem, value: Any, expected: str | None) -> None:
    named = _text(item, {"sender": value}, "sender", _SENDER_MAX) if value is not None else None
    if expected and named and named != expected:
        item.error("sender", f"{named!r} is not the sender of this import ({expected!r})")
    item.sender = expected or named or ""
    if not item.sender and (value is None or named == ""):  # absent, or nothing but spaces
        item.error("sender", "missing (name the sender in the record, or for the whole import)")


def _licence(item: FeedItem, values: Mapping[str, Any]) -> None:
    if "licence_number" not in values and "dossier_number" not in values:
        item.error("licence_number", "missing (give the licence number or the dossier number)")
        return
    for name in ("licence_number", "dossier_number"):
        value = _text(item, values, name, 40)
        if value is None:
            continue
        normalised = normalise_number(value)
        if normalised is None:
            item.error(name, f"{value!r} must be 5 to 19 letters or digits")
            continue
        setattr(item, name, normalised)


def _date(
    item: FeedItem, values: Mapping[str, Any], name: str, on: dt.date, required: bool
) -> dt.date | None:
    value = values.get(name)
    if value is None:
        if required:
            item.error(name, "missing (a date YYYY-MM-DD is required)")
        return None
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            item.error(name, f"{value!r} is not a date that exists (expected YYYY-MM-DD)")
            return None
    else:
        item.error(name, f"{value!r} is not a date (expected YYYY-MM-DD)")
        return None
    if day < SYSTEM_START:
        item.error(name, f"{day.isoformat()} is before 1992-07-01, when the points system started")
        return None
    if day > on:
        item.error(name, f"{day.isoformat()} is in the future (received on {on.isoformat()})")
        return None
    return day


def _whole(item: FeedItem, values: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = values.get(name)
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and ascii_digits(value.strip()):
        # ASCII digits only: str.isdigit also takes '³' and '٥', which int() refuses or reads. Leading zeros
        # aside, more than 9 digits is out of range anyway (and int() refuses more than 4,300).
        digits = value.strip().lstrip("0") or "0"
        number = int(digits) if len(digits) <= 9 else None
    if number is None or not low <= number <= high:
        item.error(name, f"{value!r} must be a whole number from {low} to {high}")
        return None
    return number


def _trimmed(value: Any) -> Any:
    """A cell without the spaces around it, as every other text column (a value of another type as it is)."""
    return value.strip() if isinstance(value, str) else value


def _offence(item: FeedItem, values: Mapping[str, Any], on: dt.date) -> None:
    for name in CANCELLATION_ONLY:
        if name in values:
            item.error(name, "only for a cancellation (kind=cancellation)")
    committed = _date(item, values, "committed_on", on, True)
    final = _date(item, values, "final_on", on, True)
    decided = _date(item, values, "decided_on", on, False)
    if committed and final and final < committed:
        item.error(
            "final_on",
            f"{final.isoformat()} is before committed_on {committed.isoformat()}: an offence "
            "becomes final after it is committed",
        )
    if decided and final and decided < final:
        item.error("decided_on", f"{decided.isoformat()} is before final_on {final.isoformat()}")
    data: dict[str, Any] = {}
    if committed:
        data["committed_on"] = committed.isoformat()
    if final:
        data["final_on"] = final.isoformat()
    if decided:
        data["decided_on"] = decided.isoformat()
    ways = [
        name
        for name, present in (
            ("natinf", "natinf" in values),
            ("points", "points" in values or "class" in values),
            ("speeding", "speeding_limit_kmh" in values or "speeding_retained_kmh" in values),
        )
        if present
    ]
    if not ways:
        item.error(
            "natinf",
            "missing: give natinf, or points and class, or speeding_limit_kmh and speeding_retained_kmh",
        )
    elif len(ways) > 1:
        item.error(
            ways[1] if ways[1] != "speeding" else "speeding_limit_kmh",
            f"give only one of natinf, points and class, or speeding (found {', '.join(ways)})",
        )
    elif ways[0] == "natinf":
        code = _text(item, values, "natinf", 10)
        if code is not None:
            if not ascii_digits(code):
                item.error("natinf", f"{code!r} must be a NATINF code (digits)")
            else:
                data["natinf"] = code
    elif ways[0] == "points":
        points = _whole(item, values, "points", 0, 12)
        cls = _trimmed(values.get("class"))
        if cls is None:
            item.error("class", f"missing (points go with a class: {', '.join(OFFENCE_CLASSES)})")
        elif cls not in OFFENCE_CLASSES:
            item.error("class", f"{cls!r} is not one of {', '.join(OFFENCE_CLASSES)}")
        if "points" not in values:
            item.error("points", "missing (a class goes with points)")
        if points is not None and cls in OFFENCE_CLASSES:
            data["points"], data["class"] = points, cls
    else:
        limit = _whole(item, values, "speeding_limit_kmh", 1, 500)
        retained = _whole(item, values, "speeding_retained_kmh", 1, 500)
        if limit is not None and retained is not None:
            if retained <= limit:
                item.error(
                    "speeding_retained_kmh", f"{retained} km/h does not exceed the limit of {limit} km/h"
                )
            else:
                data["speeding"] = {"limit_kmh": limit, "retained_kmh": retained}
    how = _trimmed(values.get("how"))
    if how is not None:
        if how not in HOW:
            item.error("how", f"{how!r} is not one of {', '.join(HOW)}")
        else:
            data["how"] = how
    group = _text(item, values, "simultaneous_group", _GROUP_MAX)
    if group:
        data["simultaneous_group"] = group
    _text(item, values, "place", _PLACE_MAX)
    item.data = data


def _cancellation(item: FeedItem, values: Mapping[str, Any], on: dt.date) -> None:
    for name in OFFENCE_ONLY:
        if name in values:
            item.error(name, "not allowed in a cancellation (it names the offence with cancels)")
    cancels = _text(item, values, "cancels", _REF_MAX)
    if cancels is None and "cancels" not in values:
        item.error("cancels", "missing (the sender_ref of the offence cancelled)")
    elif cancels is not None:
        if not cancels:
            item.error("cancels", "missing (the sender_ref of the offence cancelled)")
        elif cancels == item.ref:
            item.error("cancels", "a record cannot cancel itself (cancels is its own sender_ref)")
        else:
            item.cancels = cancels
    day = _date(item, values, "cancelled_on", on, True)
    item.data = {"on": day.isoformat()} if day else {}


def engine_problems(item: FeedItem, problems: Iterable[str]) -> list[str]:
    """The engine's problems about a candidate event ("event.final_on: ...") in the feed's words."""
    out = []
    for problem in problems:
        name, _, message = problem.partition(": ")
        if name == "event" or name.startswith("event."):
            path = name[len("event.") :] if name.startswith("event.") else ""
            name = _ENGINE_FIELDS.get(path, path) or "record"
        elif not message:
            name, message = "record", problem
        if name == "cancels" and "already cancelled" in message:
            message = f"{item.cancels!r}: this offence is already cancelled"
        out.append(f"{item.label}: {name}: {message}")
    return out


# -- licences and processing order ------------------------------------------------------------------------------
@dataclass(slots=True)
class LicenceRow:
    id: int
    number: str
    dossier_number: str


def pg_array(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal ('{1,2,NULL}'), to bind with a cast (%s::bigint[]): psycopg's own array
    dumping looks up a dumper per element, which costs more than the whole query for a chunk's ids."""
    out = []
    for value in values:
        if value is None:
            out.append("NULL")
        elif isinstance(value, bool):
            out.append("t" if value else "f")
        elif isinstance(value, int | dt.date):
            out.append(str(value))
        else:
            out.append('"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(out) + "}"


def lookup_licences(
    numbers: Iterable[str], dossiers: Iterable[str], batch_size: int = 20_000
) -> tuple[dict[str, int], dict[str, int]]:
    """The ids of the licences with these numbers, and with these dossier numbers."""
    found: list[dict[str, int]] = []
    for field_name, keys in (("number", sorted(set(numbers))), ("dossier_number", sorted(set(dossiers)))):
        ids: dict[str, int] = {}
        if connection.vendor == "postgresql" and len(keys) > JOIN_ABOVE:
            found.append(_lookup_joined(field_name, keys))
            continue
        for start in range(0, len(keys), batch_size):
            chunk = keys[start : start + batch_size]
            if connection.vendor == "postgresql":  # one array parameter rather than 20,000
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT {field_name}, id FROM {Licence._meta.db_table} "  # noqa: S608 - names
                        f"WHERE {field_name} = ANY(%s::text[])",
                        [pg_array(chunk)],
                    )
                    ids.update(cursor.fetchall())
            else:
                ids.update(
                    Licence.objects.filter(**{f"{field_name}__in": chunk}).values_list(field_name, "id")
                )
        found.append(ids)
    return found[0], found[1]


JOIN_ABOVE = 50_000  # more keys than this: one join with a temporary table rather than index probes


def _lookup_joined(field_name: str, keys: list[str]) -> dict[str, int]:
    """The ids of many licences at once: the keys copied into a temporary table, joined in one query."""
    table = Licence._meta.db_table
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own, for COPY
        cursor.execute("DROP TABLE IF EXISTS pg_temp.feed_keys")  # an earlier lookup of the same transaction
        cursor.execute("CREATE TEMPORARY TABLE feed_keys (key text PRIMARY KEY) ON COMMIT DROP")
        with cursor.copy("COPY feed_keys (key) FROM STDIN") as copy:
            for key in keys:
                copy.write_row((key,))
        cursor.execute("ANALYZE feed_keys")
        cursor.execute(
            f"SELECT l.{field_name}, l.id FROM {table} l JOIN feed_keys k ON k.key = l.{field_name}"  # noqa: S608
        )
        return dict(cursor.fetchall())


def apply_licence(item: FeedItem, by_number: Mapping[str, int], by_dossier: Mapping[str, int]) -> None:
    """Set the item's licence, or say why it has none (unknown number, dossier of another licence)."""
    a = b = None
    if item.licence_number:
        a = by_number.get(item.licence_number)
        if a is None:
            item.error("licence_number", f"no licence with number {item.licence_number} in the registry")
    if item.dossier_number:
        b = by_dossier.get(item.dossier_number)
        if b is None:
            item.error(
                "dossier_number", f"no licence with dossier number {item.dossier_number} in the registry"
            )
    if a is not None and b is not None and a != b:
        item.error(
            "dossier_number",
            f"{item.dossier_number} is the dossier of another licence than number {item.licence_number}",
        )
    if not item.errors:
        item.licence_id = a if a is not None else b


def resolve_licences(items: list[FeedItem]) -> None:
    """Find each record's licence (`licence_id`); an unknown or contradictory one is a record error."""
    good = [i for i in items if not i.errors]
    by_number, by_dossier = lookup_licences(
        (i.licence_number for i in good if i.licence_number),
        (i.dossier_number for i in good if i.dossier_number),
    )
    for item in good:
        apply_licence(item, by_number, by_dossier)


def normalise_number(value: Any) -> str | None:
    """A licence or dossier number as the registry writes it (no spaces, capitals), or None if it is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    normalised = value.strip().replace(" ", "").upper()
    return normalised if _NUMBER.match(normalised) else None


def record_keys(raw: Any, sender: str | None) -> tuple[str, str, str | None, str | None] | None:
    """What planning needs of a raw record without checking it all: (sender, reference, number, dossier).

    The same normalisation as `parse_record`, so that a record planned by its keys and then parsed lands on
    the same licence.
    """
    if not isinstance(raw, Mapping) or isinstance(raw, Unparsable):
        return None
    ref = raw.get("sender_ref")
    ref = str(ref).strip() if isinstance(ref, str | int) and not isinstance(ref, bool) else ""
    named = raw.get("sender")
    named = named.strip() if isinstance(named, str) else ""
    number = raw.get("licence_number")
    dossier = raw.get("dossier_number")
    return (
        sender or named,
        ref,
        normalise_number(number) if number not in (None, "") else None,
        normalise_number(dossier) if dossier not in (None, "") else None,
    )


@dataclass
class Plan:
    """A batch in its processing order: rejected records first, then rounds of licence groups.

    A round holds at most one record per (sender, sender_ref): the second record with a reference already in the
    batch goes to the next round, where it is a duplicate of the first (or is tried, if the first was rejected).
    Within a round, records are grouped by licence (ascending id) and each group is sorted on the records'
    content: offences by final_on, committed_on, reference; then cancellations. The same records in any order
    give the same plan.
    """

    rejected: list[FeedItem]
    rounds: list[list[tuple[int, list[FeedItem]]]]

    def ordered(self) -> Iterator[FeedItem]:
        yield from self.rejected
        for groups in self.rounds:
            for _, group in groups:
                yield from group


def plan(items: list[FeedItem]) -> Plan:
    resolve_licences(items)
    rejected = sorted((i for i in items if i.errors), key=lambda i: (i.position, i.payload_json))
    good = sorted((i for i in items if not i.errors), key=lambda i: (i.licence_id, i.key))
    seen: dict[tuple[str, str], int] = defaultdict(int)
    rounds: list[dict[int, list[FeedItem]]] = []
    for item in good:
        n = seen[(item.sender, item.ref)]
        seen[(item.sender, item.ref)] = n + 1
        while len(rounds) <= n:
            rounds.append({})
        rounds[n].setdefault(item.licence_id, []).append(item)
    return Plan(rejected, [sorted(groups.items()) for groups in rounds])


# -- the per-record path ----------------------------------------------------------------------------------------
def submit(
    items: list[FeedItem],
    *,
    batch: str,
    on: dt.date,
    progress: Callable[[int], None] | None = None,
) -> list[RecordResult]:
    """Record a batch one record at a time through `record_event`, each in its own transaction.

    Returns one result per item, in the order of `items`.
    """
    results: dict[int, RecordResult] = {}
    the_plan = plan(items)
    for item in the_plan.ordered():
        results[id(item)] = submit_one(item, batch=batch, on=on)
        if progress is not None:
            progress(1)
    return [results[id(item)] for item in items]


def submit_one(item: FeedItem, *, batch: str, on: dt.date) -> RecordResult:
    """Record one planned item (its licence resolved) and store its FeedRecord, in one transaction."""
    if item.errors:
        return _store(item, batch, FeedRecord.Outcome.REJECTED, item.errors, None)
    with transaction.atomic():
        licence = Licence.objects.select_for_update().filter(pk=item.licence_id).first()
        if licence is None:  # deleted since it was resolved: cannot happen in an append-only file
            item.error("licence_number", "no such licence in the registry")
            return _store(item, batch, FeedRecord.Outcome.REJECTED, item.errors, None)
        existing = (
            Event.objects.filter(sender=item.sender, source_ref=item.ref).only("pk", "licence_id").first()
        )
        if existing is not None:
            return _store(item, batch, FeedRecord.Outcome.DUPLICATE, [], existing)
        data = dict(item.data)
        if item.kind == CANCELLATION:
            target = (
                Event.objects.filter(sender=item.sender, source_ref=item.cancels, kind=EventKind.OFFENCE)
                .only("pk", "seq", "licence_id")
                .first()
            )
            problem = cancellation_problem(item, target.licence_id if target else None, licence.pk)
            if problem:
                item.error("cancels", problem)
                return _store(item, batch, FeedRecord.Outcome.REJECTED, item.errors, None)
            data = {"offence": f"e{target.seq}", **data}
        try:
            outcome = record_event(
                licence,
                item.event_kind,
                data,
                source=Source.FEED,
                sender=item.sender,
                source_ref=item.ref,
                on=on,
            )
        except BrokenChain as error:
            # Nothing wrong with the record: the licence's file was altered outside the registry and waits for
            # someone to check it. The operators are told (an error in the logs, as the daily run does); the
            # sender is told to send it again, without the file's internals. Nothing is kept that would stop
            # the same record later: only an accepted record makes (sender, reference) a duplicate.
            log.error("feed record %s/%s not recorded: %s", item.sender, item.ref, "; ".join(error.problems))
            item.error(
                "licence_number",
                f"the registry cannot record on licence {licence.number} until its file has been checked "
                "(an integrity check is pending); nothing was recorded: send this record again later",
            )
            return _store(item, batch, FeedRecord.Outcome.REJECTED, item.errors, None)
        except RegistryError as error:
            item.errors.extend(engine_problems(item, error.problems))
            return _store(item, batch, FeedRecord.Outcome.REJECTED, item.errors, None)
        status = FeedRecord.Outcome.DUPLICATE if outcome.duplicate else FeedRecord.Outcome.ACCEPTED
        return _store(item, batch, status, [], outcome.event)


def cancellation_problem(item: FeedItem, target_licence: int | None, licence_id: int) -> str | None:
    if target_licence is None:
        return f"{item.cancels!r}: no offence with this reference from {item.sender} in the registry"
    if target_licence != licence_id:
        return f"{item.cancels!r}: this offence is on another licence than the one this record names"
    return None


def _store(item: FeedItem, batch: str, outcome: str, errors: list[str], event: Event | None) -> RecordResult:
    FeedRecord.objects.create(
        sender=item.sender,
        source_ref=item.ref,
        batch=batch,
        line=item.position,
        payload=item.payload,
        outcome=outcome,
        errors=list(errors),
        event=event,
    )
    return RecordResult(
        item.position,
        item.ref,
        outcome,
        list(errors),
        event.pk if event is not None else None,
        event.licence_id if event is not None else item.licence_id,
    )


def new_batch_name(kind: str, name: str = "") -> str:
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S.%f")
    text = f"{kind}:{stamp}" + (f":{name}" if name else "")
    return text[:100]


def summary(results: Iterable[RecordResult]) -> dict[str, int]:
    counts = dict.fromkeys(FeedRecord.Outcome.values, 0)
    for result in results:
        counts[result.outcome] += 1
    return counts


def parse_all(
    records: Iterable[tuple[int, Any]], *, where: str = "line", sender: str | None = None, on: dt.date
) -> list[FeedItem]:
    items = [parse_record(raw, position, where=where, sender=sender, on=on) for position, raw in records]
    for index, item in enumerate(items):
        item.index = index
    return items


def report_rows(results: Iterable[RecordResult]) -> Iterator[dict[str, Any]]:
    for result in results:
        yield {
            "line": result.position,
            "sender_ref": result.sender_ref,
            "outcome": result.outcome,
            "errors": result.errors,
        }


def write_report(path: Path, results: Iterable[RecordResult], fmt: str | None = None) -> None:
    """The report of an import: one line per record (line, sender_ref, outcome, errors), CSV or JSON Lines."""
    fmt = fmt or ("jsonl" if path.suffix.lower() in {".jsonl", ".ndjson", ".json"} else "csv")
    with path.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "jsonl":
            for row in report_rows(results):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        writer = csv.writer(handle)
        writer.writerow(["line", "sender_ref", "outcome", "errors"])
        for row in report_rows(results):
            writer.writerow([row["line"], row["sender_ref"], row["outcome"], " | ".join(row["errors"])])
