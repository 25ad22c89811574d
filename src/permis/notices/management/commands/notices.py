"""`permis notices plan|send|stats`: deliver the letters by hand, and the figures of their delivery.

- ``plan``: turn every pending letter into its deliveries (by the holder's current choice of channels);
- ``send``: claim and send every delivery that is due (the worker does both every minute);
- ``stats [--from D --to D] [--json]``: volumes by channel and status, failed deliveries, postage saved.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from permis.digits import ascii_digits
from permis.notices import services
from permis.notices.stats import delivery_stats
from permis.notices.tasks import worker_name
from permis.registry.progress import Progress


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (expected YYYY-MM-DD)") from None


MAX_COUNT = (
    100_000  # a batch or a limit beyond this is a typing mistake (and overflows the database's integers)
)


def positive(value: str) -> int:
    """A whole number from 1 to MAX_COUNT, in ASCII digits (str.isdigit also takes "²", which int() refuses)."""
    text = value.strip()
    number = int(text) if ascii_digits(text) and len(text) <= 7 else 0
    if not 1 <= number <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 to {MAX_COUNT:,}")
    return number


def counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in sorted(counter.items())) or "none"


class Command(BaseCommand):
    help = "Deliver the letters (plan, send) and show the delivery figures (stats)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        plan = sub.add_parser("plan", help="create the deliveries of every pending letter")
        plan.add_argument("--limit", type=positive, help="at most this many letters")
        plan.add_argument("--quiet", action="store_true", help="no progress bar")
        send = sub.add_parser("send", help="send every delivery that is due")
        send.add_argument("--batch", type=positive, default=500, help="deliveries claimed at a time (500)")
        send.add_argument("--channel", action="append", choices=[c.value for c in services.Channel])
        send.add_argument("--worker", default="", help="the name recorded on claimed rows (host:pid)")
        send.add_argument("--quiet", action="store_true", help="no progress bar")
        stats = sub.add_parser("stats", help="volumes by channel and status, failures, postage saved")
        stats.add_argument("--from", dest="start", type=iso_date, help="first day (YYYY-MM-DD), included")
        stats.add_argument("--to", dest="end", type=iso_date, help="last day (YYYY-MM-DD), included")
        stats.add_argument("--json", action="store_true", help="print the figures as JSON")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _plan(self, *, limit: int | None, quiet: bool, **options) -> None:
        total = services.plannable_count()
        progress = Progress(min(total, limit or total), "plan", self.stderr._out, enabled=not quiet)
        summary = services.plan_deliveries(limit=limit, progress=progress)
        progress.close()
        failed = f"; no usable address: {counts(summary.failed)}" if summary.failed else ""
        self.stdout.write(
            f"planned {summary.notices:,} letters: {sum(summary.deliveries.values()):,} deliveries "
            f"({counts(summary.deliveries)}){failed}, {summary.seconds:.1f} s"
        )

    def _send(self, *, batch: int, channel: list[str] | None, worker: str, quiet: bool, **options) -> None:
        progress = Progress(services.due_count(), "send", self.stderr._out, enabled=not quiet)
        summary = services.deliver_due(
            worker=worker or worker_name(), batch=batch, channels=channel, progress=progress
        )
        progress.close()
        lines = [f"sent {summary.total:,} deliveries in {summary.seconds:.1f} s"]
        for name, outcomes in summary.as_dict()["by_channel"].items():
            lines.append(f"  {name}: {counts(outcomes)}")
        self.stdout.write("\n".join(lines))

    def _stats(self, *, start: dt.date | None, end: dt.date | None, json: bool, **options) -> None:
        try:
            figures = delivery_stats(start, end)
        except ValueError as error:
            raise CommandError(str(error), returncode=2) from None
        if json:
            self.stdout.write(_json(figures.as_dict()))
            return
        period = f"{start.isoformat() if start else 'the start'} to {end.isoformat() if end else 'today'}"
        lines = [f"deliveries from {period}: {figures.total:,}"]
        for channel, statuses in figures.by_channel.items():
            if statuses:
                lines.append(f"  {channel}: {sum(statuses.values()):,} ({counts(statuses)})")
        lines += [
            f"failed deliveries: {figures.failed:,}",
            f"letters: {figures.letters:,}, not posted (electronic notice only): {figures.letters_not_posted:,}",
            f"postage saved: {figures.postage_saved_euros:,.2f} EUR "
            f"({figures.letters_not_posted:,} x {figures.unit_cost_cents / 100:.2f} EUR)",
        ]
        self.stdout.write("\n".join(lines))


def _json(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True)
