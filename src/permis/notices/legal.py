"""The legal dates of a letter: when it counts as received (RULES.md §6 and §9).

Two channels carry a date that the law reads:

- the electronic notice (channel ``account``, Code de la route L223-3 al. 3 and R223-3-1): the letter is *made
  available* in the holder's personal account; it is *deemed notified on the date of first consultation*, or,
  when the holder never opens it, ``e_notice_deemed_after_days`` days after it was made available (a dated
  legal parameter, never a literal here: its value is uncertain, RULES.md §6). Opening it after that day moves
  nothing: the notice was already deemed received. The presumption rests on the email alert: when it fails for
  good before the letter was opened, the letter goes by post instead and the account no longer dates it
  (``services.fall_back_to_post``, ``legal_channel``);
- the registered letter (channel ``registered``, LRAR): the postal receipt, i.e. the day the holder signed the
  receipt or, when the letter was not collected, the day it was first presented (CE 17 Apr 2025 n° 492072).
  ``permis.notices.receipts`` records it.

Dates are legal days in the registry's time zone (Europe/Paris), like every date of the file
(``permis.registry.services.today``). A simple letter, an email and an SMS carry no legal date: the 48 is
information only (Cass. avis 30 Apr 2007), and the email or SMS only says that a letter is in the account.

``make_available`` is called by the delivery worker when it "sends" an ``account`` delivery, ``open_notice`` by
the portal when the holder opens the letter itself (its PDF; not the page that lists its deliveries), ``received_on`` by anything that needs the date a letter counts as
received (the portal, the deadlines that run from receipt, such as the 48N's four months).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from permis.registry.models import Notice
from permis.rules.parameters import parameter

from .models import Channel, Delivery

# The parameter that sets the delay (permis/rules/parameters/notices/e_notice_deemed_after_days.yaml).
DEEMED_AFTER = "notices.e_notice_deemed_after_days"

# The letters that go by registered post whatever the holder chose (the issue; R223-3 and R223-4 for the 48SI
# and the 48N; PRODUCT.md §5): their receipt is their notification (``legal_channel``).
REGISTERED_CODES = frozenset({"48N", "48SI"})
# The letters whose postal copy is a registered letter: those above, and the 48M. RULES.md, "Engine defaults for
# the uncertain points" (binding), option `letter_48m`: "sent as 48M (registered) instead of 48"; §6, the 48M's
# form: "Registered letter". Unlike the 48N and 48SI it follows the holder's choice, as the 48 it replaces: an
# electronic holder has it in the account (R223-3-1; PRODUCT.md §5 and the consent text name only the 48N and
# 48SI as posted whatever the choice). RULES.md leaves open whether with or without acknowledgement of receipt
# (§6, §14 item 5): it goes with one, the print queue's only registered form.
POSTAL_REGISTERED_CODES = REGISTERED_CODES | {"48M"}


class LegalError(Exception):
    """A change to a letter's legal dates that is refused; `problems` says which letter, which field and why."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def legal_day(at: dt.datetime) -> dt.date:
    """The legal day of an instant: its date in the registry's time zone (Europe/Paris)."""
    if timezone.is_naive(at):
        raise ValueError(f"{at.isoformat()} has no time zone: give an aware date-time")
    return timezone.localtime(at, timezone.get_default_timezone()).date()


def deemed_after_days(made_available_on: dt.date) -> int:
    """The legal delay after which an unopened electronic notice is deemed received, in force on that day."""
    days = parameter(DEEMED_AFTER).at(made_available_on)
    if days is None:
        raise LegalError(
            [
                f"made_available_at: electronic notice did not exist on {made_available_on.isoformat()} "
                f"(R223-3-1, in force from 2016-10-31); the letter must go by post"
            ]
        )
    return int(days)


def _label(delivery: Delivery) -> str:
    return f"delivery {delivery.pk} ({delivery.channel})"


def make_available(delivery: Delivery, at: dt.datetime) -> None:
    """Put the letter in the holder's account at `at`: the start of the R223-3-1 delay.

    Sets ``made_available_at`` and ``deemed_received_on`` (the legal day of `at` plus the delay in force that
    day). Idempotent: when the letter was already made available, nothing changes (the first date stands, even
    if a worker retries later). Refuses a delivery on another channel than ``account``.
    """
    if delivery.channel != Channel.ACCOUNT:
        raise LegalError(
            [
                f"{_label(delivery)}: channel: only a letter in the account (channel 'account') is made available"
            ]
        )
    if Delivery.objects.filter(pk=delivery.pk, made_available_at__isnull=False).exists():
        _reload(delivery)
        return
    day = legal_day(at)
    deemed = day + dt.timedelta(days=deemed_after_days(day))
    # A conditional update: two workers making the same letter available cannot both set the dates.
    Delivery.objects.filter(pk=delivery.pk, made_available_at__isnull=True).update(
        made_available_at=at, deemed_received_on=deemed
    )
    _reload(delivery)


def open_notice(delivery: Delivery, at: dt.datetime) -> None:
    """The holder opened the letter in the account at `at` (R223-3-1: notified on the first consultation).

    Records ``first_opened_at`` the first time only; ``deemed_received_on`` becomes the legal day of that first
    opening when it is earlier than the day the delay gives (opening after that day moves nothing). Refuses a
    delivery that is not in the account, not yet made available, or an opening before it was made available.
    """
    if delivery.channel != Channel.ACCOUNT:
        raise LegalError(
            [
                f"{_label(delivery)}: channel: only a letter in the account (channel 'account') can be opened there"
            ]
        )
    with transaction.atomic():
        row = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if row.made_available_at is None:
            raise LegalError(
                [
                    f"{_label(delivery)}: made_available_at: the letter is not in the account yet, it cannot be opened"
                ]
            )
        if row.first_opened_at is None:
            if at < row.made_available_at:
                raise LegalError(
                    [
                        f"{_label(delivery)}: first_opened_at: {at.isoformat()} is before the letter was made "
                        f"available ({row.made_available_at.isoformat()})"
                    ]
                )
            day = legal_day(at)
            changes = {"first_opened_at": at}
            if row.deemed_received_on is None or day < row.deemed_received_on:
                changes["deemed_received_on"] = day
            Delivery.objects.filter(pk=row.pk, first_opened_at__isnull=True).update(**changes)
    _reload(delivery)


def received_on(item: Delivery | Notice) -> dt.date | None:
    """The legal day a letter counts as received, or None while it is not known (or has no legal date).

    For a delivery: the deemed date of an ``account`` delivery, the postal receipt's date of a ``registered``
    one, None for the other channels. For a notice (the letter, whatever its channels): the date of the delivery
    on its ``legal_channel``.
    """
    if isinstance(item, Delivery):
        if item.channel == Channel.ACCOUNT:
            return item.deemed_received_on
        if item.channel == Channel.REGISTERED:
            return item.receipt_on
        return None
    by_channel = {delivery.channel: delivery for delivery in Delivery.objects.filter(notice=item)}
    channel = legal_channel(item.code, by_channel)
    delivery = by_channel.get(channel) if channel else None
    return received_on(delivery) if delivery is not None else None


def legal_channel(code: str, channels: Iterable[str]) -> str:
    """The channel whose date is a letter's notification, among the `channels` of its deliveries; "" for none.

    - A 48N or 48SI: the registered letter, even before it is sent and even when the holder also has the letter
      in the account (R223-3, R223-4).
    - Another letter that went by post: its registered letter (a 48M: its receipt is the day it reached the
      holder), or none for a simple letter (information only, Cass. avis 30 Apr 2007). That is a holder who chose
      the post, or an electronic holder whose email alert failed for good before the letter was opened: the
      letter then went by post as if the holder had chosen it (``services.fall_back_to_post``), and the R223-3-1
      presumption, which rests on the alert, no longer dates it.
    - Otherwise its electronic notice (R223-3-1).
    """
    channels = set(channels)
    if code in REGISTERED_CODES:
        return Channel.REGISTERED
    if Channel.REGISTERED in channels:
        return Channel.REGISTERED
    if Channel.POST in channels:
        return ""
    if Channel.ACCOUNT in channels:
        return Channel.ACCOUNT
    return ""


def _reload(delivery: Delivery) -> None:
    delivery.refresh_from_db(
        fields=["made_available_at", "first_opened_at", "deemed_received_on", "receipt_kind", "receipt_on"]
    )
