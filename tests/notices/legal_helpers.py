"""Builders for the tests of the legal dates, preferences and receipts: licences with real letters due."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from permis.notices.models import Delivery
from permis.registry import services
from permis.registry.models import Notice
from tests.registry.factories import licence, offence


def paris(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    """An instant in the registry's time zone (Europe/Paris)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=timezone.get_default_timezone())


def delivery(notice: Notice, channel: str, **fields) -> Delivery:
    values = {"next_attempt_at": timezone.now(), "address": "account" if channel == "account" else "x"}
    values.update(fields)
    return Delivery.objects.create(notice=notice, channel=channel, **values)


def notice(code: str = "48", **fields):
    """A notice row of a fresh licence (for the tests that need only its code)."""
    lic = fields.pop("licence", None) or licence()
    return Notice.objects.create(
        licence=lic,
        code=code,
        cause=fields.pop("cause", "e1"),
        due_on=fields.pop("due_on", dt.date(2025, 1, 6)),
    )


def zero_balance_licence():
    """A licence whose balance reached 0 on 2024-04-01 (two délits of 6 points): a real 48SI is due."""
    lic = licence(obtained_on=dt.date(2010, 3, 1), on=dt.date(2024, 1, 1))
    for ref, committed, final in (("Z-1", "2024-01-10", "2024-02-01"), ("Z-2", "2024-03-10", "2024-04-01")):
        services.record_event(
            lic,
            "offence",
            offence(committed, final, 6, "D"),
            source="feed",
            sender="TJ",
            source_ref=ref,
            on=dt.date(2024, 4, 2),
        )
    return lic, Notice.objects.get(licence=lic, code="48SI")
