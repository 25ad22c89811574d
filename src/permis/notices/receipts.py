"""The postal receipt of a registered letter (LRAR), as the postal partner or an agent reports it.

A registered letter comes back as an *avis de réception*: the day the holder signed for it (``received``), or
the day it was first presented when nobody collected it (``not_collected``). Both are the day the letter counts
as notified (CE 17 Apr 2025 n° 492072, RULES.md §6 and §9):

- for a 48SI, that day is the invalidation's: the licence loses its validity from that date. The receipt is
  therefore written to the licence's history as an ``invalidation_notified`` event, through the registry's
  service layer (the one writer of the file), in the same transaction as the receipt;
- for a 48N, it starts the four months within which the course is mandatory (``legal.received_on``).

A receipt is recorded once. The same receipt reported again is a duplicate (nothing changes); a different one
for the same letter is refused, since it contradicts what the file already says: a correction is an agent's
decision, made in the back office with its reason, not a second report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from permis.digits import ascii_id
from permis.registry.models import Event, EventKind, Source
from permis.registry.services import RegistryError, record_event, today

from .legal import LegalError, legal_day
from .models import Channel, Delivery, ReceiptKind

# A delivery id as a partner or an agent writes it: ASCII digits, within the database's bigint.
MAX_ID = 2**63 - 1

# Who the invalidation event says reported it: its (sender, source_ref) makes recording it idempotent.
EVENT_SENDER = "post"


class ReceiptError(LegalError):
    """A receipt that is refused; `problems` says which letter, which field and why."""


@dataclass(frozen=True)
class ReceiptOutcome:
    """What recording a receipt did: the delivery as it stands, whether it was already known, and the event the
    receipt wrote in the licence's history (a 48SI's invalidation), if any."""

    delivery: Delivery
    duplicate: bool
    event: Event | None = None


def event_source_ref(delivery: Delivery | int) -> str:
    """The source_ref of the invalidation event a delivery's receipt records (one per letter)."""
    return f"receipt:{delivery.pk if isinstance(delivery, Delivery) else delivery}"


def record_postal_receipt(delivery: Delivery | int, *, kind: str, on: dt.date, source: str) -> ReceiptOutcome:
    """Record the receipt of a registered letter: `kind` (received or not_collected) on `on`, reported by `source`.

    `source` names who reports it: "agent:<login>" for an agent (the invalidation event is then an agent's),
    anything else for a partner (e.g. "api:La Poste"; the event is then the system's). Refused, with the reason:
    a delivery that is not a registered letter, or not sent yet; a date before it was sent or after today; a
    receipt that contradicts the one already recorded. For a 48SI, writes the ``invalidation_notified`` event
    dated `on`, so the licence is invalidated from that day.
    """
    delivery_id = delivery.pk if isinstance(delivery, Delivery) else delivery
    label = f"delivery {delivery_id}"
    problems = []
    if kind not in ReceiptKind.values:
        problems.append(f"{label}: kind: {kind!r} is not one of {', '.join(ReceiptKind.values)}")
    if not isinstance(on, dt.date) or isinstance(on, dt.datetime):
        problems.append(f"{label}: on: {on!r} is not a date")
    source = (source or "").strip()
    if not source:
        problems.append(f"{label}: source: say who reports the receipt (e.g. agent:<login> or api:<partner>)")
    elif len(source) > Delivery._meta.get_field("receipt_source").max_length:
        problems.append(f"{label}: source: at most 100 characters")
    if problems:
        raise ReceiptError(problems)

    with transaction.atomic():
        try:
            row = Delivery.objects.select_for_update().select_related("notice").get(pk=delivery_id)
        except Delivery.DoesNotExist:
            raise ReceiptError([f"{label}: no such delivery"]) from None
        label = f"delivery {row.pk} (letter {row.notice.code} of licence {row.notice.licence_id})"
        if row.channel != Channel.REGISTERED:
            raise ReceiptError(
                [
                    f"{label}: channel: a postal receipt is for a registered letter, this one went by {row.channel}"
                ]
            )
        if row.receipt_on is not None:
            if (row.receipt_kind, row.receipt_on) == (kind, on):
                _sync(delivery, row)
                return ReceiptOutcome(row, duplicate=True, event=_event(row))
            raise ReceiptError(
                [
                    f"{label}: a receipt is already recorded ({row.receipt_kind} on {row.receipt_on.isoformat()}, "
                    f"by {row.receipt_source}); {kind} on {on.isoformat()} contradicts it: a correction is made "
                    "in the back office"
                ]
            )
        if row.sent_at is None:
            raise ReceiptError([f"{label}: the letter has not been sent yet, it cannot have been received"])
        sent_on = legal_day(row.sent_at)
        if on < sent_on:
            raise ReceiptError(
                [f"{label}: on: {on.isoformat()} is before the letter was sent ({sent_on.isoformat()})"]
            )
        if on > today():
            raise ReceiptError([f"{label}: on: {on.isoformat()} is in the future"])
        row.receipt_kind = kind
        row.receipt_on = on
        row.receipt_source = source
        row.receipt_recorded_at = timezone.now()
        row.save(update_fields=["receipt_kind", "receipt_on", "receipt_source", "receipt_recorded_at"])
        event = None
        if row.notice.code == "48SI":
            try:
                event = record_event(
                    row.notice.licence_id,
                    EventKind.INVALIDATION_NOTIFIED,
                    {"on": on.isoformat()},
                    source=Source.AGENT if source.startswith("agent:") else Source.SYSTEM,
                    sender=EVENT_SENDER,
                    source_ref=event_source_ref(row),
                    recorded_by=source,
                    reason=f"avis de réception de la lettre 48SI ({kind}), envoi {row.pk}",
                ).event
            except RegistryError as error:
                raise ReceiptError([f"{label}: {problem}" for problem in error.problems]) from None
        _sync(delivery, row)
        return ReceiptOutcome(row, duplicate=False, event=event)


def find_registered(reference: int | str) -> Delivery | None:
    """The registered letter a partner names: by its delivery id, or by the reference printed on it (the print
    queue's reference: the delivery's ``provider_ref``, or the name of its PDF in the print queue)."""
    if isinstance(reference, bool):
        return None
    if isinstance(reference, int):
        return Delivery.objects.filter(pk=reference).first() if 0 < reference <= MAX_ID else None
    if isinstance(reference, str) and ascii_id(reference):
        return Delivery.objects.filter(pk=int(reference)).first()
    if isinstance(reference, str) and reference.strip():
        reference = reference.strip()
        printed = Q(provider_ref=reference) | Q(document_path__endswith=f"/{reference}.pdf")
        return Delivery.objects.filter(printed, channel=Channel.REGISTERED).order_by("pk").first()
    return None


def _event(row: Delivery) -> Event | None:
    return Event.objects.filter(sender=EVENT_SENDER, source_ref=event_source_ref(row)).first()


def _sync(delivery: Delivery | int, row: Delivery) -> None:
    if isinstance(delivery, Delivery) and delivery is not row:
        for name in ("receipt_kind", "receipt_on", "receipt_source", "receipt_recorded_at"):
            setattr(delivery, name, getattr(row, name))
