"""`permis receipt DELIVERY --kind received|not_collected --on YYYY-MM-DD`: an agent records a postal receipt.

The same service as the postal partner's API (``permis.notices.receipts.record_postal_receipt``): recorded once,
a contradicting receipt refused, and for a 48SI the licence invalidated from that day. For the receipts that come
back on paper to a préfecture, or when the partner's report is missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass

from django.core.management.base import BaseCommand, CommandError

from permis.notices.models import ReceiptKind
from permis.notices.receipts import ReceiptError, find_registered, record_postal_receipt


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Record the postal receipt of a registered letter (received, or presented and not collected)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "delivery", help="the registered letter: its delivery id or its printed reference"
        )
        parser.add_argument("--kind", required=True, choices=ReceiptKind.values, help="what the receipt says")
        parser.add_argument(
            "--on", required=True, type=_date, help="the day received, or first presented (YYYY-MM-DD)"
        )
        parser.add_argument("--by", default="", help="the agent's login (default: the system user's)")

    def handle(self, *args, delivery: str, kind: str, on: dt.date, by: str, **options) -> None:
        letter = find_registered(delivery)
        if letter is None:
            raise CommandError(f"delivery: no registered letter {delivery!r}", returncode=2)
        source = f"agent:{by or getpass.getuser()}"
        try:
            outcome = record_postal_receipt(letter, kind=kind, on=on, source=source)
        except ReceiptError as error:
            raise CommandError("; ".join(error.problems), returncode=2) from None
        code = letter.notice.code
        if outcome.duplicate:
            self.stdout.write(f"delivery {letter.pk} (letter {code}): this receipt was already recorded")
            return
        self.stdout.write(
            f"delivery {letter.pk} (letter {code}): {kind} on {on.isoformat()} recorded by {source}"
        )
        if outcome.event is not None:
            self.stdout.write(
                f"licence {letter.notice.licence_id}: invalidation notified on {on.isoformat()} "
                f"(event {outcome.event.seq})"
            )
