"""Loading a whole population into an empty file, fast: the service layer's bulk path for `permis demo`.

Each person goes through the same steps as a change made one at a time (the hash chain of its events, the
engine's answer shaped by ``derive``), but the rows are written a chunk at a time (COPY on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from permis.rules import InputError

from ..demo import Person
from ..models import Category, Event, Holder, Licence, Movement, Notice, NoticeStatus, Projection
from .bulkio import copy_rows, reset_sequences
from .core import (
    EVENT_FIELDS,
    MOVEMENT_FIELDS,
    PROJECTION_FIELDS,
    derive,
    event_hash,
    genesis_hash,
    history_of,
)

HOLDER_FIELDS = (
    "id",
    "birth_name",
    "used_name",
    "given_names",
    "birth_date",
    "birth_place",
    "birth_country",
    "sex",
    "address",
    "postal_code",
    "city",
    "email",
    "phone",
    "notice_channel",
    "sms_alerts",
    "created_at",
)
LICENCE_FIELDS = (
    "id",
    "holder",
    "number",
    "dossier_number",
    "format",
    "obtained_on",
    "route",
    "complementary_training_on",
    "regained",
    "departement",
    "notices_from",
    "created_at",
)
CATEGORY_FIELDS = ("licence", "code", "obtained_on", "expires_on", "restrictions")
PROJECTION_COLUMNS = ("licence", *PROJECTION_FIELDS, "updated_at")
NOTICE_FIELDS = ("licence", "code", "cause", "due_on", "status", "created_at")

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@dataclass
class LoadSummary:
    people: int = 0
    events: int = 0
    movements: int = 0
    letters: int = 0
    skipped: list[str] = field(default_factory=list)
    balances: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)


def _main_date(kind: str, data: dict) -> dt.date:
    key = {
        "offence": "final_on",
        "course": "last_day",
        "suspension": "from",
        "new_licence": "obtained_on",
    }.get(kind, "on")
    return dt.date.fromisoformat(data[key])


def _recorded_at(day: dt.date, now: dt.datetime) -> dt.datetime:
    """When the file learnt of an event: two days after it, at noon in Paris, never in the future."""
    moment = dt.datetime.combine(day + dt.timedelta(days=2), dt.time(12), tzinfo=PARIS)
    return min(moment, now)


def load_people(
    people: Iterable[Person], on: dt.date, chunk: int = 2000, progress: Callable[[int], None] | None = None
) -> LoadSummary:
    """Write every person (holder, licence, categories, history, movements, letters, projection)."""
    summary = LoadSummary()
    now = timezone.now()
    holder_id = (Holder.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    licence_id = (Licence.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    event_id = (Event.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    batch: list[Person] = []

    def flush() -> None:
        nonlocal holder_id, licence_id, event_id
        rows: dict[str, list[tuple]] = {name: [] for name in ("h", "l", "c", "e", "m", "n", "p")}
        for person in batch:
            licence = Licence(id=licence_id, holder_id=holder_id, notices_from=on, **person.licence)
            events = []
            prev = genesis_hash(licence)
            for seq, (kind, data, source) in enumerate(person.events, start=1):
                event = Event(
                    id=event_id + seq - 1,
                    licence_id=licence_id,
                    seq=seq,
                    kind=kind,
                    data=data,
                    source=source,
                    sender="ANTAI" if source == "feed" else "",
                    recorded_by="demo",
                    source_ref=f"DEMO-{licence_id}-{seq}" if source == "feed" else None,
                    recorded_at=_recorded_at(_main_date(kind, data), now),
                    reason="",
                )
                event.prev_hash = prev
                event.hash = prev = event_hash(prev, event)
                events.append(event)
            try:
                history = history_of(licence, events)
            except InputError as error:
                summary.skipped.append(f"{person.licence['number']}: {'; '.join(error.problems)}")
                continue
            derived = derive(history, max(on, licence.obtained_on), len(events), prev)
            h = person.holder
            rows["h"].append(
                (
                    holder_id,
                    h["birth_name"],
                    h.get("used_name", ""),
                    h["given_names"],
                    h["birth_date"],
                    h["birth_place"],
                    h.get("birth_country", "99100"),
                    h["sex"],
                    h["address"],
                    h["postal_code"],
                    h["city"],
                    h["email"],
                    h["phone"],
                    "post",
                    False,
                    now,
                )
            )
            rows["l"].append(
                (licence_id, holder_id, *(person.licence[k] for k in LICENCE_FIELDS[2:10]), on, now)
            )
            rows["c"] += [
                (licence_id, c["code"], c["obtained_on"], c.get("expires_on"), "") for c in person.categories
            ]
            rows["e"] += [
                (
                    e.id,
                    licence_id,
                    e.seq,
                    e.kind,
                    e.data,
                    e.source,
                    e.sender,
                    e.source_ref,
                    e.recorded_at,
                    e.recorded_by,
                    None,
                    "",
                    e.prev_hash,
                    e.hash,
                )
                for e in events
            ]
            rows["m"] += [(licence_id, position, *row) for position, row in enumerate(derived.movements)]
            rows["n"] += [
                (
                    licence_id,
                    code,
                    cause,
                    due_on,
                    NoticeStatus.DELIVERED if due_on < on else NoticeStatus.PENDING,
                    now,
                )
                for code, cause, due_on in derived.letters
            ]
            p = derived.projection
            rows["p"].append((licence_id, *(p[k] for k in PROJECTION_FIELDS), now))
            summary.people += 1
            summary.events += len(events)
            summary.balances[p["balance"]] += 1
            summary.statuses[p["status"]] += 1
            holder_id += 1
            licence_id += 1
            event_id += len(events)
        with transaction.atomic():
            copy_rows(Holder, HOLDER_FIELDS, rows["h"])
            copy_rows(Licence, LICENCE_FIELDS, rows["l"])
            copy_rows(Category, CATEGORY_FIELDS, rows["c"])
            copy_rows(Event, EVENT_FIELDS, rows["e"])
            summary.movements += copy_rows(Movement, ("licence", "position", *MOVEMENT_FIELDS), rows["m"])
            summary.letters += copy_rows(Notice, NOTICE_FIELDS, rows["n"])
            copy_rows(Projection, PROJECTION_COLUMNS, rows["p"])
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for person in people:
        batch.append(person)
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    reset_sequences(Holder, Licence, Event, Category, Movement, Notice)
    return summary
