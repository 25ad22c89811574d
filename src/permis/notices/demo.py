"""The demo's past letters as letters that really went out: their delivery rows, written in bulk by ``permis demo``.

The demo loads a history of several years in one go (``permis.registry.services.population``); the letters the
law made due before the load day are written as the worker would have left them, so that the holder's pages,
the back office and ``permis notices plan`` / ``send`` see what a file in service holds:

- a letter is made on its due day (the registry wrote it with the event that made it due, at noon in Paris) and
  dated that day (``documents.facts.letter_issued``); it is handed to the printer the same afternoon;
- on the channel of a holder by post (every demo holder; ``services.channels_for``): a simple letter, or a
  registered one with acknowledgement of receipt for a 48N, 48SI or 48M (``legal.POSTAL_REGISTERED_CODES``);
- a registered letter's postal receipt comes back ``RECEIPT_AFTER`` after it was sent (signed for), reported by
  the postal partner; a 48SI's only when the licence's history holds its notification (an
  ``invalidation_notified`` event after it was sent): that event is then the receipt's, exactly as
  ``receipts.record_postal_receipt`` writes it (``receipt_event``). A 48SI without one is sent and not yet
  received: an agent records its receipt in the back office, which invalidates the licence;
- the notices due on the load day are left ``pending``, without deliveries: the worker plans and sends them.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from .legal import POSTAL_REGISTERED_CODES
from .models import Channel, DeliveryStatus, ReceiptKind
from .receipts import EVENT_SENDER, event_source_ref

PARIS = zoneinfo.ZoneInfo("Europe/Paris")

# Who reports the demo's postal receipts (the partner API's form of ``receipts.record_postal_receipt``'s source).
RECEIPT_SOURCE = "api:La Poste"
# A registered letter is signed for this long after it was handed to the post.
RECEIPT_AFTER = dt.timedelta(days=2)
MADE_AT = dt.time(12)  # a letter is made with its event, at noon (population._recorded_at)
SENT_AT = dt.time(14)  # and handed to the printer the same afternoon
WORKER = "demo"

DELIVERY_FIELDS = (
    "id",
    "notice",
    "channel",
    "status",
    "address",
    "language",
    "attempts",
    "next_attempt_at",
    "claimed_by",
    "claimed_at",
    "last_error",
    "template",
    "subject",
    "body",
    "document_sha256",
    "document_path",
    "provider_ref",
    "created_at",
    "sent_at",
    "receipt_kind",
    "receipt_on",
    "receipt_source",
    "receipt_recorded_at",
)


def at(day: dt.date, time: dt.time, now: dt.datetime) -> dt.datetime:
    """`time` on `day` in Paris, never after `now`."""
    return min(dt.datetime.combine(day, time, tzinfo=PARIS), now)


def channel_of(code: str) -> str:
    """The channel of a letter with this code for a holder by post (``services.channels_for``)."""
    return Channel.REGISTERED if code in POSTAL_REGISTERED_CODES else Channel.POST


def usual_receipt(code: str, due_on: dt.date, today: dt.date) -> dt.date | None:
    """The day a registered letter other than a 48SI is signed for, or None (a simple letter, or not yet back)."""
    if channel_of(code) != Channel.REGISTERED:
        return None
    day = due_on + RECEIPT_AFTER
    return day if day <= today else None


def delivery_row(
    delivery_id: int,
    notice_id: int,
    code: str,
    due_on: dt.date,
    address: str,
    receipt_on: dt.date | None,
    now: dt.datetime,
) -> tuple[Any, ...]:
    """The row (in DELIVERY_FIELDS' order) of a letter due on `due_on`, sent that day, received on `receipt_on`."""
    channel = channel_of(code)
    made, sent = at(due_on, MADE_AT, now), at(due_on, SENT_AT, now)
    received = receipt_on is not None
    return (
        delivery_id,
        notice_id,
        channel,
        DeliveryStatus.DELIVERED.value,
        address,
        "fr",
        1,
        made,
        WORKER,
        sent,
        "",
        f"letter/{code}.fr",
        "",
        "",
        "",
        "",
        f"permis-{delivery_id}-{channel}",  # services.delivery_reference
        made,
        sent,
        ReceiptKind.RECEIVED.value if received else "",
        receipt_on,
        RECEIPT_SOURCE if received else "",
        at(receipt_on, MADE_AT, now) if received else None,
    )


def receipt_event(delivery_id: int) -> dict[str, str]:
    """The columns of the ``invalidation_notified`` event a 48SI's receipt writes (``receipts.record_postal_receipt``,
    reported by a partner)."""
    return {
        "source": "system",
        "sender": EVENT_SENDER,
        "source_ref": event_source_ref(delivery_id),
        "recorded_by": RECEIPT_SOURCE,
        "reason": f"avis de réception de la lettre 48SI ({ReceiptKind.RECEIVED.value}), envoi {delivery_id}",
    }
