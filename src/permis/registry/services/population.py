"""Loading a whole population into an empty file, fast: the service layer's bulk path for `permis demo`.

Each person goes through the same steps as a change made one at a time (the hash chain of its events, the
engine's answer shaped by ``derive``), but the rows are written a chunk at a time (COPY on PostgreSQL).

The file looks as if it had been in service all along: each event is recorded the day it happened, the feed's
offences keep their record (with the place of the offence), and the letters due before the load day went out,
each with its delivery and, for a registered letter, its postal receipt (``permis.notices.demo``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from permis.notices import demo as letters_demo
from permis.notices.models import Delivery
from permis.notices.services import postal_lines
from permis.rules import InputError

from ..demo import Person
from ..models import (
    Category,
    Event,
    EventKind,
    FeedRecord,
    Holder,
    Licence,
    Movement,
    Notice,
    NoticeStatus,
    Projection,
)
from .bulkio import copy_rows, reset_sequences
from .core import (
    ENGINE_LICENCE_FIELDS,
    EVENT_FIELDS,
    IDENTITY_FIELDS,
    MOVEMENT_FIELDS,
    PROJECTION_FIELDS,
    derive,
    event_hash,
    genesis_hash,
    history_of,
    identity_seal,
)
from .feed_bulk import FEED_FIELDS

HOLDER_FIELDS = (
    "id",
    *IDENTITY_FIELDS,  # the seal's fields, in its order
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
    "seal",
    "created_at",
)
CATEGORY_FIELDS = ("licence", "code", "obtained_on", "expires_on", "restrictions")
PROJECTION_COLUMNS = ("licence", *PROJECTION_FIELDS, "updated_at")
NOTICE_FIELDS = ("id", "licence", "code", "cause", "due_on", "status", "created_at")
FEED_SENDER = "ANTAI"


@dataclass
class LoadSummary:
    people: int = 0
    events: int = 0
    movements: int = 0
    letters: int = 0
    deliveries: int = 0
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
    """When the file learnt of an event: the day it happened, at noon in Paris, never in the future. The letters
    it made due are made then too, so that a letter is dated its due day (``notices.demo``)."""
    return letters_demo.at(day, letters_demo.MADE_AT, now)


def _feed_payload(number: str, ref: str, data: dict, place: str) -> dict:
    """The record the feed received for a demo offence, in the feed's columns (docs/feed.md)."""
    payload = {"sender": FEED_SENDER, "sender_ref": ref, "kind": "offence", "licence_number": number}
    for key, value in data.items():
        if key == "speeding":
            payload["speeding_limit_kmh"] = value["limit_kmh"]
            payload["speeding_retained_kmh"] = value["retained_kmh"]
        else:
            payload[key] = value
    if place:
        payload["place"] = place
    return payload


def _sent_letters(
    events: list[Event], letters: list[tuple[str, str, dt.date]], on: dt.date
) -> list[tuple[str, str, dt.date, dt.date | None, int | None]]:
    """The letters due before `on`, each with its postal receipt day and, for a 48SI, the index in `events` of
    the notification its receipt is (the first ``invalidation_notified`` after the day it was sent)."""
    notifications = [
        (dt.date.fromisoformat(event.data["on"]), index)
        for index, event in enumerate(events)
        if event.kind == EventKind.INVALIDATION_NOTIFIED
    ]
    out = []
    for code, cause, due_on in letters:
        if due_on >= on:
            continue
        receipt_on, event_index = letters_demo.usual_receipt(code, due_on, on), None
        if code == "48SI":
            receipt_on = None
            for position, (day, index) in enumerate(notifications):
                if day > due_on:
                    receipt_on, event_index = day, index
                    del notifications[position]
                    break
        out.append((code, cause, due_on, receipt_on, event_index))
    return out


def load_people(
    people: Iterable[Person], on: dt.date, chunk: int = 2000, progress: Callable[[int], None] | None = None
) -> LoadSummary:
    """Write every person (holder, licence, categories, history, movements, letters, projection)."""
    summary = LoadSummary()
    now = timezone.now()
    holder_id = (Holder.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    licence_id = (Licence.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    event_id = (Event.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    notice_id = (Notice.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    delivery_id = (Delivery.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    batch: list[Person] = []

    def flush() -> None:
        nonlocal holder_id, licence_id, event_id, notice_id, delivery_id
        rows: dict[str, list[tuple]] = {name: [] for name in ("h", "l", "c", "e", "f", "m", "n", "d", "p")}
        for person in batch:
            licence = Licence(id=licence_id, holder_id=holder_id, notices_from=on, **person.licence)
            events = [
                Event(
                    id=event_id + seq - 1,
                    licence_id=licence_id,
                    seq=seq,
                    kind=kind,
                    data=data,
                    source=source,
                    sender=FEED_SENDER if source == "feed" else "",
                    recorded_by="demo",
                    source_ref=f"DEMO-{licence_id}-{seq}" if source == "feed" else None,
                    recorded_at=_recorded_at(_main_date(kind, data), now),
                    reason="",
                )
                for seq, (kind, data, source) in enumerate(person.events, start=1)
            ]
            try:
                history = history_of(licence, events)
            except InputError as error:
                summary.skipped.append(f"{person.licence['number']}: {'; '.join(error.problems)}")
                continue
            derived = derive(history, max(on, licence.obtained_on), len(events), "")
            h = person.holder
            # The letters: those due before the load went out (their deliveries); a 48SI's receipt is the event
            # that notified it, which says so before the chain is hashed.
            sent = _sent_letters(events, derived.letters, on) if derived.letters else []
            address = ""
            if sent:
                address = ", ".join(
                    postal_lines(
                        SimpleNamespace(  # the fields postal_lines reads, without a model instance per holder
                            pk=holder_id,
                            given_names=h["given_names"],
                            birth_name=h["birth_name"],
                            used_name=h.get("used_name", ""),
                            address=h["address"],
                            postal_code=h["postal_code"],
                            city=h["city"],
                        )
                    )
                )
            sent_by_due = {
                (code, cause, due_on): (receipt, index) for code, cause, due_on, receipt, index in sent
            }
            for code, cause, due_on in derived.letters:
                status = NoticeStatus.PENDING
                made = letters_demo.at(due_on, letters_demo.MADE_AT, now)
                if (code, cause, due_on) in sent_by_due:
                    receipt_on, index = sent_by_due[(code, cause, due_on)]
                    status = NoticeStatus.DELIVERED
                    rows["d"].append(
                        letters_demo.delivery_row(
                            delivery_id, notice_id, code, due_on, address, receipt_on, now
                        )
                    )
                    if index is not None:
                        for name, value in letters_demo.receipt_event(delivery_id).items():
                            setattr(events[index], name, value)
                    delivery_id += 1
                rows["n"].append((notice_id, licence_id, code, cause, due_on, status, made))
                notice_id += 1
            prev = genesis_hash(licence)
            for event in events:
                event.prev_hash = prev
                event.hash = prev = event_hash(prev, event)
            # derive ran before the chain was hashed (a 48SI's receipt rewrites its event first): the projection
            # takes the chain's last hash now.
            derived.projection["last_hash"] = prev
            for index, event in enumerate(events):
                if event.kind == EventKind.OFFENCE and event.source == "feed":
                    payload = _feed_payload(
                        licence.number, event.source_ref, event.data, person.places.get(index, "")
                    )
                    rows["f"].append(
                        (
                            FEED_SENDER,
                            event.source_ref,
                            "demo",
                            event.seq,
                            payload,
                            FeedRecord.Outcome.ACCEPTED.value,
                            [],
                            event.id,
                            event.recorded_at,
                        )
                    )
            identity = (
                h["birth_name"],
                h.get("used_name", ""),
                h["given_names"],
                h["birth_date"],
                h["birth_place"],
                h.get("birth_country", "99100"),
                h["sex"],
            )
            rows["h"].append(
                (
                    holder_id,
                    *identity,
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
            categories = [
                (licence_id, c["code"], c["obtained_on"], c.get("expires_on"), "") for c in person.categories
            ]
            seal = identity_seal(
                licence_id,
                licence.number,
                licence.dossier_number,
                holder_id,
                identity,
                (getattr(licence, name) for name in ENGINE_LICENCE_FIELDS),
                (row[1:] for row in categories),
            )
            rows["l"].append(
                (licence_id, holder_id, *(person.licence[k] for k in LICENCE_FIELDS[2:10]), on, seal, now)
            )
            rows["c"] += categories
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
                    e.reason,
                    e.prev_hash,
                    e.hash,
                )
                for e in events
            ]
            rows["m"] += [(licence_id, position, *row) for position, row in enumerate(derived.movements)]
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
            copy_rows(FeedRecord, FEED_FIELDS, rows["f"])
            summary.movements += copy_rows(Movement, ("licence", "position", *MOVEMENT_FIELDS), rows["m"])
            summary.letters += copy_rows(Notice, NOTICE_FIELDS, rows["n"])
            summary.deliveries += copy_rows(Delivery, letters_demo.DELIVERY_FIELDS, rows["d"])
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
    reset_sequences(Holder, Licence, Event, Category, Movement, Notice, Delivery, FeedRecord)
    return summary
