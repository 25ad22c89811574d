"""`permis verify-document FILE_OR_QR_TEXT [--on DATE] [--offline] [--json]`: check a signed document.

Exit status: 0 valid, 1 not valid (expired, revoked, tampered, unsigned, unknown key), 2 unreadable input.

A check that consulted the file (not ``--offline``) is written to the holder's access log, like the public page's
(``permis.notices.documents.access.log_check``): the system user running the command, and the check as the reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from permis.audit.models import Channel, Role
from permis.notices import signing
from permis.notices.documents.access import log_check

MAX_FILE = 20 * 1024 * 1024


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date written YYYY-MM-DD") from None


class Command(BaseCommand):
    help = (
        "Check a document of the service: a PDF file, or the text of its QR code (PERMIS1.…), or - for standard "
        "input. Prints the verdict and the facts. Exit 0 valid, 1 not valid (a PDF without this service's "
        "signature included), 2 unreadable input."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("document", help="a PDF file, a file holding a QR text, a QR text, or -")
        parser.add_argument("--on", type=iso_date, help="the day of the check (default: today)")
        parser.add_argument(
            "--offline", action="store_true", help="check the signature only, without asking the registry"
        )
        parser.add_argument("--json", action="store_true", help="print the verdict as JSON")

    def handle(self, *args, document: str, on: dt.date | None, offline: bool, json: bool, **options) -> None:
        with translation.override(settings.LANGUAGE_CODE):
            self.report(document, on, offline, json)

    def report(self, document: str, on: dt.date | None, offline: bool, json: bool) -> None:
        verdict = self.verdict_of(document, on, not offline)
        login = _login()
        log_check(
            verdict,
            channel=Channel.COMMAND,
            actor=f"cli:{login}",
            actor_label=f"Opérateur du service des permis de conduire ({login}), commande « permis verify-document »",
            role=Role.SYSTEM,
        )
        if json:
            self.stdout.write(_dumps(verdict))
        else:
            self.stdout.write(f"{verdict.outcome.value}: {verdict.title}")
            self.stdout.write(str(verdict.message))
            if verdict.detail:
                self.stdout.write(f"detail: {verdict.detail}")
            if verdict.key_id:
                self.stdout.write(f"key: {verdict.key_id}")
            self.stdout.write(f"registry checked: {'yes' if verdict.registry_checked else 'no'}")
            for label, value in verdict.facts:
                self.stdout.write(f"  {label}: {value}")
        if not verdict.valid:
            sys.exit(1)

    def verdict_of(self, document: str, on: dt.date | None, lookup: bool) -> signing.Verdict:
        text = document.strip()
        if not text:
            raise CommandError("document: empty; give a PDF file, a QR text (PERMIS1.…) or -", returncode=2)
        if text == "-":
            data = sys.stdin.buffer.read(MAX_FILE + 1)
        elif text.startswith(signing.PREFIX + "."):
            return signing.verify(text, on=on, registry_lookup=lookup)
        else:
            path = Path(document)
            if not path.is_file():
                raise CommandError(
                    f"document: {document[:80]!r} is neither a file nor a QR text starting with "
                    f"{signing.PREFIX}.",
                    returncode=2,
                )
            if path.stat().st_size > MAX_FILE:
                raise CommandError(f"{path}: larger than {MAX_FILE // (1024 * 1024)} MB", returncode=2)
            try:
                data = path.read_bytes()
            except OSError as error:
                raise CommandError(f"{path}: cannot be read ({error.strerror})", returncode=2) from None
        if len(data) > MAX_FILE:
            raise CommandError(f"document: larger than {MAX_FILE // (1024 * 1024)} MB", returncode=2)
        if data.startswith(b"%PDF-"):
            return signing.verify_pdf(data, on=on, registry_lookup=lookup)
        try:
            qr = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            qr = ""
        if qr.startswith(signing.PREFIX + "."):
            return signing.verify(qr, on=on, registry_lookup=lookup)
        raise CommandError(
            "document: neither a PDF (it does not start with %PDF-) nor a QR text (PERMIS1.…)", returncode=2
        )


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name for this process (a container without a passwd entry)
        return "system"


def _dumps(verdict: signing.Verdict) -> str:
    return json.dumps(
        {
            "outcome": verdict.outcome.value,
            "title": verdict.title,
            "message": str(verdict.message),
            "detail": verdict.detail,
            "key_id": verdict.key_id,
            "registry_checked": verdict.registry_checked,
            "payload": verdict.payload,
            "facts": [[label, value] for label, value in verdict.facts],
        },
        ensure_ascii=False,
        indent=2,
    )
