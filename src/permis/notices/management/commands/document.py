"""`permis document letter NOTICE_ID|attestation LICENCE_NUMBER|rii LICENCE_NUMBER --out FILE [--on DATE]`.

Writes a signed PDF, for agents at the counter and for demonstrations.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from permis.notices.documents import render_attestation, render_letter, render_rii
from permis.registry.models import Licence, Notice


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date written YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "Write a signed PDF: a letter (by Notice id), an attestation or an RII (by licence number)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("kind", choices=["letter", "attestation", "rii"])
        parser.add_argument("reference", help="the Notice id for a letter, the licence number otherwise")
        parser.add_argument("--out", required=True, type=Path, help="the PDF file to write")
        parser.add_argument("--on", type=iso_date, help="attestation and RII: the day (default: today)")

    def handle(self, *args, kind: str, reference: str, out: Path, on: dt.date | None, **options) -> None:
        start = time.perf_counter()
        if kind == "letter":
            if not reference.isdigit():
                raise CommandError(f"letter: {reference!r} is not a Notice id (a whole number)", returncode=2)
            notice = Notice.objects.select_related("licence").filter(pk=int(reference)).first()
            if notice is None:
                raise CommandError(f"letter: no Notice with id {reference}", returncode=2)
            pdf, what = (
                render_letter(notice),
                f"letter {notice.code} of {notice.due_on} for {notice.licence.number}",
            )
        else:
            licence = Licence.objects.filter(number=reference).first()
            if licence is None:
                raise CommandError(f"{kind}: no licence numbered {reference!r}", returncode=2)
            day = on or timezone.localdate()
            if day > timezone.localdate():
                raise CommandError(
                    f"--on: {day.isoformat()} is after today: a document states what the file holds",
                    returncode=2,
                )
            if day < licence.obtained_on:
                raise CommandError(
                    f"--on: {day.isoformat()} is before the licence was obtained ({licence.obtained_on.isoformat()})",
                    returncode=2,
                )
            render = render_attestation if kind == "attestation" else render_rii
            pdf, what = render(licence, day), f"{kind} of {licence.number} on {day}"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(pdf)
        except OSError as error:
            raise CommandError(f"--out: {out} cannot be written ({error.strerror})", returncode=2) from None
        self.stdout.write(
            f"{out}: {what}, {len(pdf):,} bytes, signed, in {time.perf_counter() - start:.2f} s"
        )
