"""`permis keys generate [--id ID]`: a new Ed25519 key for signing documents (docs/documents.md)."""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from permis.notices import signing


class Command(BaseCommand):
    help = "generate: print a new PERMIS_SIGNING_KEY and the public key line to add to PERMIS_VERIFY_KEYS."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        generate = sub.add_parser("generate", help="a new key pair")
        generate.add_argument("--id", dest="key_id", default="", help="the key id (default: k<YYYYMMDD>)")

    def handle(self, *args, action: str, key_id: str = "", **options) -> None:
        try:
            private, public = signing.generate_key(key_id)
        except ValueError as error:
            raise CommandError(f"--id: {error}", returncode=2) from None
        self.stdout.write(f"PERMIS_SIGNING_KEY={private}")
        self.stdout.write(f"PERMIS_VERIFY_KEYS={public}")
        self.stderr.write(
            "Keep PERMIS_SIGNING_KEY secret. On a rotation, keep every old public key in PERMIS_VERIFY_KEYS "
            "(comma-separated) so that the documents they signed still verify."
        )
