"""The delivery figures that `permis notices stats` prints and /gestion/notifications/ shows.

Volumes count deliveries by channel and status, over the deliveries planned in a period (their ``created_at``,
legal days in Paris, both ends included). The postage saved counts the letters that went to an electronic
holder only, i.e. letters of the period with deliveries but none by post or registered post, times
``settings.POSTAGE_UNIT_COST_CENTS`` (what one simple letter costs to post). A 48N or 48SI to an electronic
holder still goes by registered post, so it saves nothing and is not counted.

The volumes are the deliveries' history: a failed email alert whose letter went by post instead stays a failed
email there. The failures agents act on (the ``failed`` figure, ``failed_deliveries``) leave it out: the letter
reached the holder by post (``services.replaced_by_post``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q

from permis.registry.models import Holder, Notice

from .models import Channel, Delivery, DeliveryStatus
from .services import replaced_by_post

POSTAL = (Channel.POST, Channel.REGISTERED)


@dataclass(frozen=True)
class Stats:
    start: dt.date | None
    end: dt.date | None
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)  # channel -> status -> count
    letters: int = 0  # notices with at least one delivery in the period
    letters_not_posted: int = 0
    unit_cost_cents: int = 0
    replaced_by_post: int = 0  # failed email alerts whose letter went by post instead (counted in by_channel)

    @property
    def total(self) -> int:
        return sum(sum(statuses.values()) for statuses in self.by_channel.values())

    @property
    def failed(self) -> int:
        """The failed deliveries still to act on: not the email alerts a postal letter replaced."""
        failed = sum(statuses.get(DeliveryStatus.FAILED, 0) for statuses in self.by_channel.values())
        return failed - self.replaced_by_post

    @property
    def postage_saved_cents(self) -> int:
        return self.letters_not_posted * self.unit_cost_cents

    @property
    def postage_saved_euros(self) -> float:
        return self.postage_saved_cents / 100

    def channel_total(self, channel: str) -> int:
        return sum(self.by_channel.get(channel, {}).values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "deliveries": self.total,
            "by_channel": self.by_channel,
            "failed": self.failed,
            "replaced_by_post": self.replaced_by_post,
            "letters": self.letters,
            "letters_not_posted": self.letters_not_posted,
            "postage_unit_cost_cents": self.unit_cost_cents,
            "postage_saved_euros": round(self.postage_saved_euros, 2),
        }


def _period(queryset, start: dt.date | None, end: dt.date | None, prefix: str = ""):
    if start:
        queryset = queryset.filter(**{f"{prefix}created_at__date__gte": start})
    if end:
        queryset = queryset.filter(**{f"{prefix}created_at__date__lte": end})
    return queryset


def delivery_stats(start: dt.date | None = None, end: dt.date | None = None) -> Stats:
    if start and end and start > end:
        raise ValueError(f"--from {start.isoformat()} is after --to {end.isoformat()}")
    by_channel: dict[str, dict[str, int]] = {channel: {} for channel in Channel.values}
    deliveries = _period(Delivery.objects.all(), start, end)
    for row in deliveries.values("channel", "status").annotate(n=Count("pk")):
        by_channel.setdefault(row["channel"], {})[row["status"]] = row["n"]
    planned = _period(Delivery.objects.filter(notice=OuterRef("pk")), start, end)
    posted = Delivery.objects.filter(notice=OuterRef("pk"), channel__in=POSTAL)
    letters = Notice.objects.filter(Exists(planned))
    return Stats(
        start=start,
        end=end,
        by_channel=by_channel,
        letters=letters.count(),
        letters_not_posted=letters.filter(~Exists(posted)).count(),
        unit_cost_cents=settings.POSTAGE_UNIT_COST_CENTS,
        replaced_by_post=deliveries.filter(replaced_by_post()).count(),
    )


def failed_deliveries(holders: Q, limit: int = 200):
    """The deliveries that ended failed, newest first, with what agents need to act on them: only those of the
    holders `holders` selects (an agent's départements, ``permis.backoffice.access.holders_visible_to``), and
    not the email alerts whose letter went by post instead (nothing to act on: ``replaced_by_post``)."""
    return (
        Delivery.objects.filter(
            status=DeliveryStatus.FAILED, notice__licence__holder__in=Holder.objects.filter(holders)
        )
        .exclude(replaced_by_post())
        .select_related("notice__licence")
        .order_by("-pk")[:limit]
    )
