"""The only writer of the national file (ARCHITECTURE.md, rule 5).

Every change follows the same path, in one transaction: lock the licence, append the event to its hash-chained
history, ask the rules engine what the law says, and write what follows from it: the movements, the letters due,
the projection. Views, API endpoints, commands and workers call these functions; none of them writes a file's
rows directly.

Two guards let `permis verify` see what was changed behind these functions' back. No history is extended (nor
re-evaluated) unless it still ends where its projection says the registry left it (`check_anchor`): deleting a
licence's last events and then making a change would otherwise re-anchor the projection to the shortened history.
And every licence carries a seal (`identity_seal`) of its numbers, its holder's identity, the licence's fields the
engine reads and its categories: the services that write those rows write the seal with them, in the same
transaction, under the licence's lock (`write_seal`; today the identity and the engine's fields are written only
when a licence is registered or loaded, the categories also by ``categories.set_category``; a service that comes
to change them, a correction of the identity say, must write the seal of every licence concerned, the holder's
every licence for an identity, in the same transaction).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from permis.rules import (
    History,
    InputError,
    Timeline,
    parse_history,
    trusted_history,
    trusted_stored_history,
)
from permis.rules.model import Evaluation, Letter, Suspension, quick_init

from ..models import (
    Category,
    Event,
    EventKind,
    Holder,
    Licence,
    Movement,
    Notice,
    Projection,
    Source,
)

ENGINE_KINDS = frozenset(k for k in EventKind.values if k != EventKind.CORRECTION)


class RegistryError(Exception):
    """A change the registry refuses; `problems` says which field and why, one sentence each."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class UnknownLicence(RegistryError):
    pass


class BrokenChain(RegistryError):
    """A licence's stored history no longer ends where its projection says the registry left it: events were
    removed or rewritten outside the services. Nothing is built on it until someone has looked (`permis
    verify`)."""


def today() -> dt.date:
    """Today in the registry's time zone (Europe/Paris): the legal day."""
    return timezone.localdate()


# -- the history as the engine sees it --------------------------------------------------------------------------
def engine_document(licence: Licence, events: Iterable[Event], tz: dt.tzinfo | None = None) -> dict[str, Any]:
    """The licence and its events in the engine's contract (ENGINE-IO.md), corrections applied.

    `tz`: the zone of the legal day (default: the current time zone; batch jobs pass it once for all)."""
    if tz is None:
        tz = timezone.get_current_timezone()
    document = {"licence": _licence_document(licence), "events": []}
    if not isinstance(events, list | tuple):
        events = list(events)
    if not events:
        return document
    if _plain(events):
        # No correction and the events in sequence order (nearly every history): each event is itself.
        document["events"] = [
            {
                "kind": event.kind,
                "id": f"e{event.seq}",
                **event.data,
                "recorded_on": event.recorded_at.astimezone(tz).date().isoformat(),
            }
            for event in events
        ]
        return document
    document["events"] = _corrected_events(events, tz)
    return document


def _corrected_events(events: Iterable[Event], tz: dt.tzinfo) -> list[dict[str, Any]]:
    """The engine's events of a history, each correction applied to the event it replaces (or removes)."""
    effective: dict[int, tuple[str, dict[str, Any]] | None] = {}
    recorded: dict[int, dt.date] = {}
    for event in events:
        if event.kind == EventKind.CORRECTION:
            target = event.data["replaces"]
            replacement = event.data.get("event")
            effective[target] = None if replacement is None else (replacement["kind"], replacement["data"])
        else:
            effective[event.seq] = (event.kind, event.data)
            recorded[event.seq] = event.recorded_at.astimezone(tz).date()
    out = []
    for seq, item in effective.items():
        if item is None:
            continue
        kind, data = item
        out.append({"kind": kind, "id": f"e{seq}", **data, "recorded_on": recorded[seq].isoformat()})
    return out


_CORRECTION = EventKind.CORRECTION.value


def _plain(events: list[Event] | tuple[Event, ...]) -> bool:
    """Whether no event is a correction and the sequence numbers only go up (so none is repeated)."""
    previous = None
    for event in events:
        seq = event.seq
        if event.kind == _CORRECTION or (previous is not None and seq <= previous):
            return False
        previous = seq
    return True


def _licence_document(licence: Licence) -> dict[str, Any]:
    return {
        "obtained_on": licence.obtained_on.isoformat(),
        "route": licence.route,
        "complementary_training_on": licence.complementary_training_on.isoformat()
        if licence.complementary_training_on
        else None,
        "regained": licence.regained,
    }


def history_of(licence: Licence, events: Iterable[Event] | None = None) -> History:
    """The history of `events`, every one checked (InputError); without `events`, the licence's stored history
    (`stored_history_of`: checked when each event was written)."""
    if events is None:
        return stored_history_of(licence, list(licence.events.order_by("seq")))
    return parse_history(engine_document(licence, events))


def checked_history(licence: Licence, events: list[Event], new_seq: int) -> tuple[History, dict[str, Any]]:
    """The history of stored `events` with the events from `new_seq` on (new, or a correction of the event
    `new_seq`), and its document: the stored events before it are not checked again (`trusted`), since the
    law's checks apply to a decision when it is recorded; the others are. Raises InputError."""
    document = engine_document(licence, events)
    trusted = sum(1 for item in document["events"] if int(item["id"][1:]) < new_seq)
    return parse_history(document, trusted=trusted), document


def stored_history_of(licence: Licence, events: Iterable[Event], tz: dt.tzinfo | None = None) -> History:
    """The history of events as stored, for re-evaluating it (the daily run, `permis verify`, a replay).

    Every stored event was written through `parse_history` with the whole history before it (``record_event``,
    the bulk paths), and what that check depends on never changes afterwards: the engine's trusted path builds
    the same History without checking it again. A document it cannot even read (a row changed by hand) goes
    through the checking parse, which says what is wrong (InputError).
    """
    if tz is None:
        tz = timezone.get_current_timezone()
    if not isinstance(events, list | tuple):
        events = list(events)
    if _plain(events):
        # The document engine_document would build, handed over as its parts (no dictionaries to build and
        # read back): the same History.
        try:
            return trusted_stored_history(
                licence.obtained_on,
                licence.route,
                licence.complementary_training_on,
                licence.regained,
                [(e.kind, f"e{e.seq}", e.data, e.recorded_at.astimezone(tz).date()) for e in events],
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # the document path below says what is wrong, exactly as before
    document = engine_document(licence, events, tz)
    try:
        return trusted_history(document)
    except (KeyError, TypeError, ValueError, AttributeError):
        return parse_history(document)


# -- the hash chain -----------------------------------------------------------------------------------------------
def genesis_hash(licence: Licence) -> str:
    return hashlib.sha256(f"permis:licence:{licence.pk}:{licence.dossier_number}".encode()).hexdigest()


def check_anchor(licence: Any, events_count: int, last_hash: str, anchor: tuple[int, str] | None) -> None:
    """Refuse to extend a history that does not end where the projection says the registry left it.

    Every writer stores the number of events and the hash of the last one in the projection, in the same
    transaction as the events (`anchor`: the projection's ``(events_count, last_hash)``, None without one). A
    history found shorter, or ending on another hash, lost or changed events behind the services' back; building
    on it would anchor the projection to the altered history and `permis verify` would no longer see the change.
    Raises BrokenChain, naming the licence. `events_count` and `last_hash`: the history as read now."""
    if anchor is not None and anchor[0] == events_count and anchor[1] == last_hash:
        return
    if anchor is None:
        said = "it has no projection"
    else:
        said = f"its projection was written after e{anchor[0]} (hash {anchor[1][:12]})"
    found = (
        f"e{events_count} (hash {last_hash[:12]})" if events_count else f"no event (genesis {last_hash[:12]})"
    )
    raise BrokenChain(
        [
            f"licence: the history of licence {licence.number} ends at {found} but {said}: events were removed "
            f"or changed outside the registry; nothing is recorded on it until it is checked "
            f"(permis verify --licence {licence.number})"
        ]
    )


def _locked_projection(licence: Licence) -> Projection | None:
    """The projection of a licence locked by this transaction, read after the lock: read in the locking query, it
    would be the one seen before waiting for another writer (PostgreSQL re-reads only the locked row). Handed to
    `apply_evaluation`, which writes it without reading it again."""
    return Projection.objects.filter(licence_id=licence.pk).first()


def _anchor(projection: Projection | None) -> tuple[int, str] | None:
    return None if projection is None else (projection.events_count, projection.last_hash)


# -- the seal -----------------------------------------------------------------------------------------------------
# The holder's identity as the file states it (the FranceConnect pivot, and the used name printed on letters).
IDENTITY_FIELDS = (
    "birth_name",
    "used_name",
    "given_names",
    "birth_date",
    "birth_place",
    "birth_country",
    "sex",
)
# The licence's own columns that the engine reads, besides its events (`_licence_document`, `letters_sent`): what
# the batch readers load (``replay.LICENCE_COLUMNS``) and the seal covers.
ENGINE_LICENCE_FIELDS = (
    "obtained_on",
    "route",
    "complementary_training_on",
    "regained",
    "notices_from",
)
# A category's columns as the seal covers them, in this order.
CATEGORY_SEALED_FIELDS = ("code", "obtained_on", "expires_on", "restrictions")


def _sealed(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _category_order(category: list[Any]) -> tuple:
    return category[0], category[1], category[2] or "", category[3]


def identity_seal(
    licence_id: int,
    number: str,
    dossier_number: str,
    holder_id: int,
    identity: Iterable[Any],
    engine: Iterable[Any],
    categories: Iterable[Iterable[Any]],
) -> str:
    """The seal of a licence: its numbers, its holder's identity, its fields the engine reads and its categories.

    sha256 of ``permis:seal:`` then the canonical JSON (UTF-8, no spaces) of the array ``[licence id, number,
    dossier number, holder id, [birth name, used name, given names, birth date, birth place, birth country,
    sex], [obtained_on, route, complementary_training_on, regained, notices_from], [[code, obtained_on,
    expires_on, restrictions], ...]]``: `identity` in `IDENTITY_FIELDS`' order, `engine` in
    `ENGINE_LICENCE_FIELDS`' order, one array per category in `CATEGORY_SEALED_FIELDS`' order, sorted by code
    (a licence holds a code once); dates in ISO, no date as null, ``regained`` as true or false.

    Stored in ``Licence.seal`` by every writer of these rows, in the transaction that writes them
    (`register_licence` and ``categories.set_category`` through `write_seal`, the population loaders, migration
    0002 for the rows before it); `permis verify` recomputes it. The genesis hash, which covers only the id and
    the dossier number, stays as it was: the chains already stored keep verifying."""
    values = [
        licence_id,
        number,
        dossier_number,
        holder_id,
        [_sealed(value) for value in identity],
        # ``regained`` is the only number among them: a boolean, whichever way the database handed it over.
        [bool(value) if isinstance(value, int) else _sealed(value) for value in engine],
        sorted(([_sealed(value) for value in category] for category in categories), key=_category_order),
    ]
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"permis:seal:{text}".encode()).hexdigest()


def write_seal(licence_id: int) -> str:
    """Compute a licence's seal from its rows as stored (licence, holder, categories) and store it.

    Called by the services that write these rows, inside their transaction and under the licence's lock, after
    writing: the seal is made of what the database holds, read back the way `permis verify` reads it."""
    row = (
        Licence.objects.filter(pk=licence_id)
        .values_list(
            "number",
            "dossier_number",
            "holder_id",
            *(f"holder__{name}" for name in IDENTITY_FIELDS),
            *ENGINE_LICENCE_FIELDS,
        )
        .get()
    )
    identity_end = 3 + len(IDENTITY_FIELDS)
    categories = Category.objects.filter(licence_id=licence_id).values_list(*CATEGORY_SEALED_FIELDS)
    seal = identity_seal(
        licence_id, row[0], row[1], row[2], row[3:identity_end], row[identity_end:], categories
    )
    Licence.objects.filter(pk=licence_id).update(seal=seal)
    return seal


def event_hash(prev_hash: str, event: Event) -> str:
    """The hash of an event chained to its predecessor: any change to a stored event breaks the chain.

    sha256 of the previous hash followed by the canonical JSON of the event's columns:
    ``json.dumps(canonical_payload(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
    """
    licence, seq, corrects = event.licence_id, event.seq, event.corrects_id
    if type(licence) is int and type(seq) is int and (corrects is None or type(corrects) is int):
        # The same text written directly (`permis verify` hashes every event of the file): the keys in sorted
        # order, the strings through json's own escaping, the data through a reused C encoder. A column of
        # another type (a caller's str subclass is fine) takes the general path below.
        try:
            ref = event.source_ref
            text = (
                f'{prev_hash}{{"corrects":{"null" if corrects is None else corrects},'
                f'"data":{"".join(_ENCODE(event.data, 0))},"kind":{_STRING(event.kind)},"licence":{licence},'
                f'"reason":{_STRING(event.reason)},"recorded_at":"{_utc_iso(event.recorded_at)}",'
                f'"recorded_by":{_STRING(event.recorded_by)},"sender":{_STRING(event.sender)},"seq":{seq},'
                f'"source":{_STRING(event.source)},"source_ref":{"null" if ref is None else _STRING(ref)}}}'
            )
        except TypeError:
            pass
        else:
            return hashlib.sha256(text.encode()).hexdigest()
    canonical = _CANONICAL.encode(canonical_payload(event))
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def canonical_payload(event: Event) -> dict[str, Any]:
    """The columns of an event that its hash covers, under the names the hash gives them."""
    return {
        "licence": event.licence_id,
        "seq": event.seq,
        "kind": event.kind,
        "data": event.data,
        "source": event.source,
        "sender": event.sender,
        "source_ref": event.source_ref,
        "recorded_at": _utc_iso(event.recorded_at),
        "recorded_by": event.recorded_by,
        "corrects": event.corrects_id,
        "reason": event.reason,
    }


def _utc_iso(moment: dt.datetime) -> str:
    if moment.tzinfo is not dt.UTC:  # (as read from PostgreSQL it already is)
        moment = moment.astimezone(dt.UTC)
    return moment.isoformat(timespec="microseconds")


# json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False), without a new encoder per call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_STRING = json.encoder.encode_basestring  # how _CANONICAL writes a string (ensure_ascii=False)
if json.encoder.c_make_encoder is not None:
    # What _CANONICAL.encode builds for every call, built once (no cycle check: decoded JSON has no cycles).
    _ENCODE = json.encoder.c_make_encoder(
        None, _CANONICAL.default, _STRING, None, ":", ",", True, False, True
    )
else:  # pragma: no cover - CPython always has the C encoder
    _ENCODE = _CANONICAL.iterencode


# -- writing what the engine says -------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What a change did: the event written (or found, for a duplicate) and the licence's new state."""

    licence: Licence
    event: Event | None
    duplicate: bool = False
    evaluation: Evaluation | None = None
    notices: list[Notice] = field(default_factory=list)


def next_suspension_boundary(history: History, on: dt.date) -> dt.date | None:
    days = []
    for event in history.events:
        if isinstance(event, Suspension):
            for day in (event.start, event.end + dt.timedelta(days=1)):
                if day > on:
                    days.append(day)
    return min(days) if days else None


MOVEMENT_FIELDS = ("on", "kind", "change", "balance", "raw_balance", "cap", "cause", "basis")
# The Projection fields `derive` fills (the licence and updated_at aside).
PROJECTION_FIELDS = (
    "balance",
    "raw_balance",
    "cap",
    "status",
    "suspended",
    "probation_end",
    "next_change_on",
    "as_of",
    "events_count",
    "last_hash",
)
# Every column of an Event, as the batch paths write them.
EVENT_FIELDS = (
    "id",
    "licence",
    "seq",
    "kind",
    "data",
    "source",
    "sender",
    "source_ref",
    "recorded_at",
    "recorded_by",
    "corrects",
    "reason",
    "prev_hash",
    "hash",
)


@quick_init  # made for every licence the registry re-evaluates
@dataclass(frozen=True, slots=True)
class Derived:
    """Everything the law makes follow from a history on a date, as rows ready to write."""

    evaluation: Evaluation
    movements: list[tuple]  # MOVEMENT_FIELDS, in position order
    letters: list[tuple[str, str, dt.date]]  # (code, cause, due_on), every letter due up to the date
    projection: dict[str, Any]  # Projection's fields, without the licence


def derive(
    history: History, on: dt.date, events_count: int, last_hash: str, letters_from: dt.date | None = None
) -> Derived:
    """Ask the engine once and shape its answer as the registry's rows (used by every writing path).

    `letters_from`: only the letters this file sends for a licence whose ``notices_from`` is that day
    (``letters_sent``), when given."""
    evaluation = Timeline(history).at(on)
    movements = [
        (day, kind, change, balance, raw_balance, cap, cause or "", basis)
        for day, change, balance, kind, cause, basis, cap, raw_balance, _, _ in evaluation.movements
    ]
    if letters_from is None:
        letters = [(code, cause or "", day) for code, day, cause in evaluation.letters]
    else:
        letters = letters_sent(evaluation.letters, history, letters_from)
    upcoming = evaluation.upcoming[0].on if evaluation.upcoming else None
    boundary = next_suspension_boundary(history, on)
    next_change = min(d for d in (upcoming, boundary) if d is not None) if (upcoming or boundary) else None
    projection = {
        "balance": evaluation.balance,
        "raw_balance": evaluation.raw_balance,
        "cap": evaluation.cap,
        "status": evaluation.status,
        "suspended": evaluation.suspended,
        "probation_end": evaluation.probation.end if evaluation.probation else None,
        "next_change_on": next_change,
        "as_of": on,
        "events_count": events_count,
        "last_hash": last_hash,
    }
    return Derived(evaluation, movements, letters, projection)


def letters_sent(
    letters: Iterable[Letter], history: History, notices_from: dt.date
) -> list[tuple[str, str, dt.date]]:
    """The letters this file sends for a licence, as (code, cause, due_on) rows.

    A licence's ``notices_from`` is the day the file took it over (its registration, or the national file's
    load): the letters due before that day were the previous system's to send. But a letter caused by an event
    the file learnt of on or after that day is this file's, whatever its legal date: a feed record arrives
    weeks after its offence became final, and its 48, 48M or 48N, or the 48SI when it empties the balance, must
    still go (RULES.md §6 and §9: without the 48SI's notification the licence is never invalidated).
    """
    out = []
    recorded: dict[str, dt.date | None] | None = None
    for code, day, cause in letters:
        if day < notices_from:
            if cause is None:
                continue
            if recorded is None:
                recorded = {event.id: event.recorded_on for event in history.events}
            learnt = recorded.get(cause)
            if learnt is None or learnt < notices_from:
                continue
        out.append((code, cause or "", day))
    return out


def apply_evaluation(
    licence: Licence,
    history: History,
    on: dt.date,
    events_count: int,
    last_hash: str,
    projection: Projection | None = None,
) -> tuple[Evaluation, list[Notice]]:
    """Write the movements, letters and projection that follow from `history` on `on` (inside a transaction).

    `projection`: the licence's projection as the caller read it under the licence's lock (written over, not read
    again); without it, the projection is read, or made for a new licence."""
    derived = derive(history, on, events_count, last_hash, licence.notices_from)
    stored = list(Movement.objects.filter(licence=licence).order_by("position").values_list(*MOVEMENT_FIELDS))
    wanted = derived.movements
    first_difference = 0
    for old, new in zip(stored, wanted):
        if old != new:
            break
        first_difference += 1
    if first_difference < len(stored):
        Movement.objects.filter(licence=licence, position__gte=first_difference).delete()
    Movement.objects.bulk_create(
        Movement(licence=licence, position=position, **dict(zip(MOVEMENT_FIELDS, row, strict=True)))
        for position, row in enumerate(wanted[first_difference:], start=first_difference)
    )
    existing = set(Notice.objects.filter(licence=licence).values_list("code", "cause", "due_on"))
    new_notices = [
        Notice(licence=licence, code=code, cause=cause, due_on=due_on)
        for code, cause, due_on in derived.letters
        if (code, cause, due_on) not in existing
    ]
    Notice.objects.bulk_create(new_notices)
    if projection is None:
        Projection.objects.update_or_create(licence=licence, defaults=derived.projection)
    else:
        for name, value in derived.projection.items():
            setattr(projection, name, value)
        projection.save()
    return derived.evaluation, new_notices


def _problems_for_candidate(error: InputError, index: int) -> list[str]:
    prefix = f"events[{index}]"
    return [p.replace(prefix, "event", 1) if p.startswith(prefix) else p for p in error.problems]


@transaction.atomic
def register_licence(
    *,
    holder: Holder,
    number: str,
    dossier_number: str,
    obtained_on: dt.date,
    route: str = "traditional",
    complementary_training_on: dt.date | None = None,
    regained: bool = False,
    format: str = "card",
    departement: str = "",
    categories: Iterable[Mapping[str, Any]] = (),
    on: dt.date | None = None,
) -> Licence:
    """Register a licence in the file and compute its first projection."""
    on = on or today()
    problems = []
    for name, value in (("number", number), ("dossier_number", dossier_number)):
        if not (5 <= len(value) <= 19 and value.isalnum() and value == value.upper()):
            problems.append(f"{name}: {value!r} must be 5 to 19 capital letters or digits")
    if Licence.objects.filter(number=number).exists():
        problems.append(f"number: {number!r} is already registered")
    if Licence.objects.filter(dossier_number=dossier_number).exists():
        problems.append(f"dossier_number: {dossier_number!r} is already registered")
    if problems:
        raise RegistryError(problems)
    if holder.pk is None:
        holder.save()
    licence = Licence.objects.create(
        holder=holder,
        number=number,
        dossier_number=dossier_number,
        obtained_on=obtained_on,
        route=route,
        complementary_training_on=complementary_training_on,
        regained=regained,
        format=format,
        departement=departement,
        notices_from=on,
    )
    Category.objects.bulk_create(Category(licence=licence, **item) for item in categories)
    licence.seal = write_seal(licence.pk)
    try:
        history = history_of(licence, [])
    except InputError as error:
        raise RegistryError([p.replace("licence.", "", 1) for p in error.problems]) from None
    if on < Timeline(history).first_day:
        on = Timeline(history).first_day
    apply_evaluation(licence, history, on, 0, genesis_hash(licence))
    return licence


def record_event(
    licence: Licence | int,
    kind: str,
    data: Mapping[str, Any],
    *,
    source: str,
    sender: str = "",
    source_ref: str | None = None,
    recorded_by: str = "",
    corrects: Event | None = None,
    reason: str = "",
    on: dt.date | None = None,
) -> Outcome:
    """Append one event to a licence's history and write everything the law makes follow from it.

    Idempotent on (sender, source_ref): the same record sent twice is stored once and the second call answers
    `duplicate=True`. Raises RegistryError, naming the field, when the event is not valid for this licence.
    """
    if kind not in EventKind.values:
        raise RegistryError([f"kind: {kind!r} is not one of {', '.join(EventKind.values)}"])
    if source not in Source.values:
        raise RegistryError([f"source: {source!r} is not one of {', '.join(Source.values)}"])
    on = on or today()
    licence_id = licence.pk if isinstance(licence, Licence) else licence
    try:
        with transaction.atomic():
            return _record(
                licence_id, kind, dict(data), source, sender, source_ref, recorded_by, corrects, reason, on
            )
    except IntegrityError:
        # Another process stored the same (sender, source_ref) between our check and our insert.
        if source_ref is not None:
            existing = (
                Event.objects.filter(sender=sender, source_ref=source_ref).select_related("licence").first()
            )
            if existing is not None:
                return Outcome(existing.licence, existing, duplicate=True)
        raise


def _record(
    licence_id: int,
    kind: str,
    data: dict[str, Any],
    source: str,
    sender: str,
    source_ref: str | None,
    recorded_by: str,
    corrects: Event | None,
    reason: str,
    on: dt.date,
) -> Outcome:
    try:
        licence = Licence.objects.select_for_update().get(pk=licence_id)
    except Licence.DoesNotExist:
        raise UnknownLicence([f"licence: no licence with id {licence_id}"]) from None
    if source_ref is not None:
        existing = Event.objects.filter(sender=sender, source_ref=source_ref).first()
        if existing is not None:
            return Outcome(licence, existing, duplicate=True)
    events = list(licence.events.order_by("seq"))
    seq = len(events) + 1
    previous_hash = events[-1].hash if events else genesis_hash(licence)
    projection = _locked_projection(licence)
    check_anchor(licence, len(events), previous_hash, _anchor(projection))
    if kind == EventKind.CORRECTION:
        if corrects is None or corrects.licence_id != licence.pk:
            raise RegistryError(["corrects: a correction must point at an event of the same licence"])
        data = {"replaces": corrects.seq, "event": data.get("event")}
    recorded_at = timezone.now()
    event = Event(
        licence=licence,
        seq=seq,
        kind=kind,
        data=data,
        source=source,
        sender=sender,
        source_ref=source_ref,
        recorded_at=recorded_at,
        recorded_by=recorded_by,
        corrects=corrects,
        reason=reason,
    )
    future = _future_decision(kind, data, on)
    if future:
        raise RegistryError(future)
    target = corrects.seq if kind == EventKind.CORRECTION and corrects is not None else seq
    try:
        history, _ = checked_history(licence, [*events, event], target)
    except InputError as error:
        document = engine_document(licence, [*events, event])
        index = next(
            (i for i, item in enumerate(document["events"]) if item["id"] == f"e{target}"),
            len(document["events"]),
        )
        raise RegistryError(_problems_for_candidate(error, index)) from None
    event.prev_hash = previous_hash
    event.hash = event_hash(event.prev_hash, event)
    event.save()
    evaluation, notices = apply_evaluation(
        licence, history, max(on, licence.obtained_on), seq, event.hash, projection
    )
    return Outcome(licence, event, evaluation=evaluation, notices=notices)


# The decisions an agent, a court or the post records once taken, by the field of their date: none is dated after
# the day it is recorded (a decision to come is recorded when it is taken, not before).
DECISION_DATES = {
    EventKind.INVALIDATION_NOTIFIED: "on",
    EventKind.LICENCE_SURRENDERED: "on",
    EventKind.ANNULMENT: "on",
    EventKind.NEW_LICENCE: "obtained_on",
}


def _future_decision(kind: str, data: Mapping[str, Any], on: dt.date) -> list[str]:
    """The decision's date when it is after `on` (the day it is recorded), as a problem on its field."""
    if kind == EventKind.CORRECTION:
        replacement = data.get("event")
        if not isinstance(replacement, Mapping) or not isinstance(replacement.get("data"), Mapping):
            return []
        kind, data = replacement.get("kind"), replacement["data"]
    name = DECISION_DATES.get(kind)  # type: ignore[call-overload]
    value = data.get(name) if name else None
    if not isinstance(value, str):
        return []
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return []  # the engine says what is wrong with it
    if day > on:
        return [
            f"{name}: {value} is in the future (recorded on {on.isoformat()}): a decision is recorded once taken"
        ]
    return []


def refresh(licence: Licence | int, on: dt.date | None = None) -> Evaluation:
    """Bring a licence's movements, letters and projection up to `on` (the daily run's unit of work)."""
    on = on or today()
    licence_id = licence.pk if isinstance(licence, Licence) else licence
    with transaction.atomic():
        locked = Licence.objects.select_for_update().get(pk=licence_id)
        events = list(locked.events.order_by("seq"))
        last_hash = events[-1].hash if events else genesis_hash(locked)
        projection = _locked_projection(locked)
        check_anchor(locked, len(events), last_hash, _anchor(projection))
        history = stored_history_of(locked, events)
        evaluation, _ = apply_evaluation(locked, history, on, len(events), last_hash, projection)
        return evaluation


def find_offence_event(sender: str, source_ref: str) -> Event | None:
    return Event.objects.filter(sender=sender, source_ref=source_ref, kind=EventKind.OFFENCE).first()
