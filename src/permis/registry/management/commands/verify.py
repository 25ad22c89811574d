"""`permis verify [--all] [--licence NUMBER ...] [--jobs N]`: check the file against its own history."""

from __future__ import annotations

import argparse
import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from permis.audit import services as audit
from permis.backoffice.services import record_integrity_run
from permis.registry.models import Licence
from permis.registry.progress import Progress
from permis.registry.services import integrity


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
        "Re-evaluate licences from their events and compare with the stored movements, letters and "
        "projections, and check every hash chain (the licences' histories and the access log). Lists each "
        "discrepancy; exits 1 if there is one."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--all", action="store_true", help="every licence (the default)")
        parser.add_argument(
            "--licence", action="append", default=[], metavar="NUMBER", help="only this licence (repeatable)"
        )
        parser.add_argument(
            "--jobs",
            type=positive,
            default=min(2, os.cpu_count() or 1),
            help="processes sharing the work (default: 2, or 1 on a single core)",
        )
        parser.add_argument(
            "--chunk", type=positive, default=integrity.CHUNK, help="licence ids per range read at once"
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, all: bool, licence: list[str], jobs: int, chunk: int, quiet: bool, **options):
        if all and licence:
            raise CommandError("--all and --licence exclude each other", returncode=2)
        ids = None
        if licence:
            found = dict(Licence.objects.filter(number__in=licence).values_list("number", "id"))
            unknown = [n for n in licence if n not in found]
            if unknown:
                raise CommandError(f"no licence numbered {', '.join(unknown)}", returncode=2)
            ids = sorted(found.values())
        total = len(ids) if ids is not None else integrity.licence_count()
        progress = Progress(total, "verify", self.stderr._out, enabled=not quiet)
        start = time.perf_counter()
        started_at = timezone.now()
        count = 0
        found: list[str] = []  # kept for the supervisors' integrity reports (permis.backoffice)

        def show(item: integrity.Discrepancy | str) -> None:
            nonlocal count
            count += 1
            if len(found) < 50:
                found.append(str(item))
            if progress.tty and progress.enabled:
                self.stderr.write("")
            self.stdout.write(str(item))

        # The count shown is also the count checked against: fewer licences verified is a discrepancy.
        report = integrity.verify(
            licence_ids=ids,
            jobs=jobs,
            chunk=chunk,
            progress=progress,
            on_discrepancy=show,
            counted=total if ids is None else None,
        )
        progress.close()
        # The access log (permis.audit): its chains group holders by id, not by licence, so it is checked whole
        # with the whole file, not with --licence.
        access_log = ""
        if ids is None:
            for problem in audit.verify_chain():
                show(problem)
            access_log = f", {audit.entry_count():,} access log entries"
        seconds = time.perf_counter() - start
        rate = report.events / seconds if seconds else 0.0
        summary = (
            f"verified {report.licences:,} licences, {report.events:,} events, {report.movements:,} movements"
            f"{access_log} in {seconds:.1f} s ({rate:,.0f} events/s, {jobs} job{'s' if jobs > 1 else ''}): "
        )
        record_integrity_run(
            started_at=started_at,
            seconds=seconds,
            scope="all" if ids is None else ", ".join(licence)[:200],
            licences=report.licences,
            events=report.events,
            access_log_entries=audit.entry_count() if ids is None else None,
            discrepancies=count,
            details=found,
        )
        if count:
            self.stderr.write(summary + f"{count:,} discrepanc{'ies' if count > 1 else 'y'}")
            raise SystemExit(1)
        self.stdout.write(summary + "no discrepancy")
