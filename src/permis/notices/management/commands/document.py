"""`permis document letter NOTICE_ID|attestation LICENCE_NUMBER|rii LICENCE_NUMBER --out FILE [--on DATE]
[--by LOGIN] [--purpose PURPOSE [--detail TEXT]]`.

Writes a signed PDF, for agents at the counter and for demonstrations. Printing a document reads the holder's
file, so it is written to the file's access log like the back office's RII (``permis.notices.documents.access``):
who (``--by``, by default the system user running the command) and why (``--purpose``, one of the access log's
purposes; by default the command itself is the reason given). The entry is written with the file, in one
transaction: a document that cannot be written leaves no entry.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from permis.audit.models import Purpose
from permis.digits import ascii_id
from permis.notices.documents import render_attestation, render_letter, render_rii
from permis.notices.documents.access import log_printed
from permis.registry.models import Licence, Notice

# A Notice id: ASCII digits (str.isdigit also takes "²", which int() refuses), within the database's bigint.


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
        parser.add_argument(
            "--by", default="", help="who prints it, for the access log (default: the system user's login)"
        )
        parser.add_argument(
            "--purpose",
            choices=Purpose.values,
            default="",
            help="why the file is read, for the access log (default: the command itself is the reason given)",
        )
        parser.add_argument(
            "--detail", default="", help="the purpose in words (required with --purpose other)"
        )

    def handle(
        self,
        *args,
        kind: str,
        reference: str,
        out: Path,
        on: dt.date | None,
        by: str,
        purpose: str,
        detail: str,
        **options,
    ) -> None:
        start = time.perf_counter()
        if purpose == Purpose.OTHER and not detail.strip():
            raise CommandError(
                "--detail: say why the file is read (required with --purpose other)", returncode=2
            )
        by = by.strip() or _login()
        if kind == "letter":
            if not ascii_id(reference) or int(reference) == 0:
                raise CommandError(
                    f"letter: {reference!r} is not a Notice id (a whole number written in digits 0-9)",
                    returncode=2,
                )
            notice = Notice.objects.select_related("licence").filter(pk=int(reference)).first()
            if notice is None:
                raise CommandError(f"letter: no Notice with id {reference}", returncode=2)
            licence = notice.licence
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
        with transaction.atomic():
            # The entry first, the file then: if the file cannot be written the entry is rolled back.
            log_printed(kind, licence, by=by, purpose=purpose, detail=detail)
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(pdf)
            except OSError as error:
                raise CommandError(
                    f"--out: {out} cannot be written ({error.strerror})", returncode=2
                ) from None
        self.stdout.write(
            f"{out}: {what}, {len(pdf):,} bytes, signed, in {time.perf_counter() - start:.2f} s"
        )


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name for this process (a container without a passwd entry)
        return "system"
