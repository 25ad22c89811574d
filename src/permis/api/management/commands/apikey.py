"""`permis apikey create|list|revoke`: the partner API's keys. A new key is printed once and never again."""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from permis.api.models import ApiKey, Scope


class Command(BaseCommand):
    help = "Create, list or revoke the partner API's keys."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        action = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        create = action.add_parser("create", help="create a key and print it (once)")
        create.add_argument("--name", required=True, help="the partner, e.g. ANTAI")
        create.add_argument(
            "--sender",
            default="",
            help="the sender code its records carry (feed scope); the approval number of the centre (course_centre scope)",
        )
        create.add_argument(
            "--scope",
            action="append",
            required=True,
            choices=Scope.values,
            help="a scope of the key (repeat for several)",
        )
        action.add_parser("list", help="list the keys (never the keys themselves)")
        revoke = action.add_parser("revoke", help="revoke a key by its prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _create(self, *, name: str, sender: str, scope: list[str], **options) -> None:
        if Scope.FEED in scope and not sender:
            raise CommandError("a key with the feed scope needs --sender (the sender code of its records)")
        if Scope.COURSE_CENTRE in scope:
            from permis.courses.models import CourseCentre

            if not CourseCentre.objects.filter(approval_number=sender).exists():
                raise CommandError(
                    "a key with the course_centre scope needs --sender: the approval number of an approved "
                    f"centre (no centre {sender!r})"
                )
        if len(sender) > 50:
            raise CommandError("--sender: at most 50 characters")
        row, key = ApiKey.objects.issue(name=name, sender=sender, scopes=scope)
        self.stderr.write(
            f"key {row.prefix} for {row.name} (sender {row.sender or '-'}, scopes {', '.join(row.scopes)}); "
            "it is shown once, keep it now:"
        )
        self.stdout.write(key)

    def _list(self, **options) -> None:
        for row in ApiKey.objects.order_by("created_at"):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            self.stdout.write(
                f"{row.prefix}  {row.name}  sender={row.sender or '-'}  scopes={','.join(row.scopes)}  "
                f"created {row.created_at:%Y-%m-%d}  {state}"
            )

    def _revoke(self, *, prefix: str, **options) -> None:
        updated = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if not updated:
            raise CommandError(f"no active key with prefix {prefix!r}")
        self.stdout.write(f"key {prefix} revoked")
