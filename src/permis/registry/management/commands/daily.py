"""`permis daily [--date YYYY-MM-DD]`: apply every change due on or before the date (default: today, Paris)."""

from __future__ import annotations

import argparse
import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from permis.registry.progress import Progress
from permis.registry.services import today
from permis.registry.services.daily import BATCH_SIZE, DEFAULT_JOBS, due_count, run_daily


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (expected YYYY-MM-DD)") from None


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


class Command(BaseCommand):
    help = (
        "Apply every change due on or before a date (restorations, probation increments and end) to exactly "
        "the licences concerned. Idempotent and resumable: run it again after a crash, or once to catch up "
        "several days."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--date", type=iso_date, help="the day to run (YYYY-MM-DD; default: today in Paris)"
        )
        parser.add_argument(
            "--batch-size", type=positive, default=BATCH_SIZE, help=f"licences per transaction ({BATCH_SIZE})"
        )
        parser.add_argument(
            "--jobs",
            type=positive,
            default=DEFAULT_JOBS,
            help=f"processes sharing the batches (default: {DEFAULT_JOBS})",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, date: dt.date | None, batch_size: int, jobs: int, quiet: bool, **options) -> None:
        on = date or today()
        if on > today():
            raise CommandError(
                f"--date: {on.isoformat()} is after today ({today().isoformat()}): the daily run applies what has "
                "fallen due; a later day would write restorations and letters ahead of time",
                returncode=2,
            )
        progress = Progress(due_count(on), f"daily run {on.isoformat()}", self.stderr._out, enabled=not quiet)
        summary = run_daily(on, batch_size=batch_size, jobs=jobs, progress=progress)
        progress.close()
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(summary.kinds.items()))
        self.stdout.write(
            f"daily run of {on.isoformat()}: {summary.licences:,} licences, {summary.changes:,} changes"
            f"{f' ({kinds})' if kinds else ''}, {summary.letters:,} letters, {summary.seconds:.1f} s"
        )
        if summary.failed:
            # The others are up to date; these stay due (the next run tries them again) until their history is
            # repaired: `permis verify --licence NUMBER` says what is wrong with it.
            for number, problems in summary.failed:
                self.stderr.write(f"licence {number}: left as it was: {'; '.join(problems)}")
            raise CommandError(
                f"{len(summary.failed):,} licence(s) could not be brought up to date (listed above); "
                "every other licence was",
                returncode=1,
            )
