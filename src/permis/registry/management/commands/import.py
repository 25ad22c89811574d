"""`permis import offences FILE`: the infraction feed from a file (CSV or JSON Lines, docs/feed.md).

Exit 0 when the file was processed, even with rejected records (they are in the report and in FeedRecord);
exit 2 when the file itself cannot be read.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from permis.registry.progress import Progress
from permis.registry.services import today
from permis.registry.services.feed import (
    FeedFileError,
    RecordResult,
    check_sender,
    new_batch_name,
    parse_all,
    read_records,
    submit,
    summary,
    write_report,
)
from permis.registry.services.feed_bulk import Import


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


class Command(BaseCommand):
    help = "Import records into the national file. `permis import offences FILE`: the infraction feed."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        what = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
        offences = what.add_parser(
            "offences",
            help="definitive offences and cancellations (CSV or JSON Lines, columns in docs/feed.md)",
            description="Import definitive offences and their cancellations. Idempotent on (sender, sender_ref): "
            "a file sent twice is recorded once. Bad records are reported and never block the others.",
        )
        offences.add_argument("file", type=Path, help="the file (.csv or .jsonl)")
        offences.add_argument(
            "--sender", help="the sender of every record (a record naming another is rejected)"
        )
        offences.add_argument(
            "--report",
            type=Path,
            help="write one line per record (line, sender_ref, outcome, errors) there; "
            "CSV, or JSON Lines if the name ends in .jsonl",
        )
        offences.add_argument(
            "--format", choices=["csv", "jsonl"], help="the file's format (default: by its name)"
        )
        offences.add_argument(
            "--workers",
            type=positive,
            default=None,
            help="worker processes on PostgreSQL (default 2; always 1 on SQLite)",
        )
        offences.add_argument(
            "--chunk-size", type=positive, default=1000, help="records per transaction (1000)"
        )
        offences.add_argument(
            "--per-record", action="store_true", help="record one record per transaction (slow; for checks)"
        )
        offences.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, what: str, **options) -> None:
        if what == "offences":
            self.offences(**options)

    def offences(
        self,
        *,
        file: Path,
        sender: str | None,
        report: Path | None,
        format: str | None,
        workers: int | None,
        chunk_size: int,
        per_record: bool,
        quiet: bool,
        **options,
    ) -> None:
        started = time.perf_counter()
        on = today()
        batch = new_batch_name("file", file.name)
        if workers is None:
            workers = 2 if connection.vendor == "postgresql" else 1
        timings: dict[str, float] = {}
        if sender is not None:  # checked as a record's sender column
            try:
                sender = check_sender(sender)
            except ValueError as error:
                raise CommandError(f"--sender: {error}", returncode=2) from None
        # Before reading a line: a report that cannot be written stops the import at once.
        created = _check_report(report, file) if report is not None else False
        try:
            with Import(sender=sender or None, batch=batch, on=on) as run:
                # The records go to a staging table as they are read (the bulk path), or in memory
                # (--per-record).
                try:
                    records = list(read_records(file, format)) if per_record else None
                    total = len(records) if records is not None else run.load(read_records(file, format))
                except FeedFileError as error:
                    raise CommandError(str(error), returncode=2) from None
                read_seconds = time.perf_counter() - started
                progress = Progress(total, f"import {file.name}", self.stderr._out, enabled=not quiet)
                if records is not None:
                    items = parse_all(records, sender=sender or None, on=on)
                    results: Iterable[RecordResult] = submit(items, batch=batch, on=on, progress=progress)
                    counts = summary(results)
                else:
                    counts = run.record(
                        chunk_size=chunk_size, workers=workers, progress=progress, timings=timings
                    )
                    results = run.results()
                progress.close()
                if report is not None:
                    write_report(report, results)
        except BaseException:
            if created and report is not None:  # the empty file made to try the report: not left behind
                report.unlink(missing_ok=True)
            raise
        seconds = time.perf_counter() - started
        rate = total / seconds if seconds > 0 else 0.0
        phases = "".join(f", {name} {value:.1f} s" for name, value in timings.items())
        self.stdout.write(
            f"{file}: {total:,} records in {seconds:.1f} s ({rate:,.0f} records/s; reading "
            f"{read_seconds:.1f} s{phases}): {counts['accepted']:,} accepted, {counts['duplicate']:,} duplicates, "
            f"{counts['rejected']:,} rejected (batch {batch})"
        )
        if report is not None:
            self.stdout.write(f"report: {report}")
        elif counts["rejected"]:
            self.stdout.write(
                "the rejected records and their errors are in the FeedRecord table; use --report FILE"
            )


def _check_report(report: Path, file: Path) -> bool:
    """Refuse (exit 2) a report that cannot be written: a directory or another thing than a file, the file
    imported itself, a folder or file without write access. Returns whether the report file was created to try
    it (to be removed if the import stops before writing it)."""

    def refuse(problem: str) -> CommandError:
        return CommandError(f"--report {report}: {problem}", returncode=2)

    try:
        if report.is_dir():
            raise refuse("is a directory (name the report file)")
        if report.exists() and not report.is_file():
            raise refuse("is not a regular file")
        if report.exists() and file.exists() and os.path.samefile(report, file):
            raise refuse("is the file imported (the report would overwrite it)")
        report.parent.mkdir(parents=True, exist_ok=True)
        existed = report.exists()
        with report.open("ab"):  # neither truncated nor changed here: written once the records are
            pass
    except OSError as error:
        raise refuse(f"cannot be written ({error.strerror or error})") from None
    return not existed
