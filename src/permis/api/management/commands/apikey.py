"""`permis apikey create|list|rotate|revoke`: the partner API's keys. A new key is printed once and never again.

`rotate PREFIX` issues a new key with the same partner, sender and scopes and lets the old one work for a grace
period (`--grace-hours`, 24 by default), so the partner can switch without an outage; then the old key is
refused. `revoke` refuses a key at once.
"""

from __future__ import annotations

import argparse
import datetime as dt

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
        rotate = action.add_parser(
            "rotate",
            help="issue a new key with the same partner, sender and scopes; the old one expires later",
        )
        rotate.add_argument("prefix")
        rotate.add_argument(
            "--grace-hours",
            type=float,
            default=24.0,
            help="how long the old key keeps working (hours, default 24; 0: refused from now)",
        )
        revoke = action.add_parser("revoke", help="revoke a key by its prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _create(self, *, name: str, sender: str, scope: list[str], **options) -> None:
        name = name.strip()
        if not name or len(name) > 100 or not name.isprintable():
            raise CommandError(
                "--name: the partner's name, 1 to 100 printable characters (e.g. ANTAI)", returncode=2
            )
        if Scope.FEED in scope and not sender:
            raise CommandError(
                "a key with the feed scope needs --sender (the sender code of its records)", returncode=2
            )
        if Scope.COURSE_CENTRE in scope:
            from permis.courses.models import CourseCentre

            if not CourseCentre.objects.filter(approval_number=sender).exists():
                raise CommandError(
                    "a key with the course_centre scope needs --sender: the approval number of an approved "
                    f"centre (no centre {sender!r})",
                    returncode=2,
                )
        if len(sender) > 50:
            raise CommandError("--sender: at most 50 characters", returncode=2)
        row, key = ApiKey.objects.issue(name=name, sender=sender, scopes=scope)
        self.stderr.write(
            f"key {row.prefix} for {row.name} (sender {row.sender or '-'}, scopes {', '.join(row.scopes)}); "
            "it is shown once, keep it now:"
        )
        self.stdout.write(key)

    def _list(self, **options) -> None:
        for row in ApiKey.objects.order_by("created_at"):
            if row.revoked_at:
                state = f"revoked {row.revoked_at:%Y-%m-%d}"
            elif row.expires_at and row.expires_at <= timezone.now():
                state = f"expired {row.expires_at:%Y-%m-%d %H:%M}"
            elif row.expires_at:
                state = f"active until {row.expires_at:%Y-%m-%d %H:%M} (rotated)"
            else:
                state = "active"
            self.stdout.write(
                f"{row.prefix}  {row.name}  sender={row.sender or '-'}  scopes={','.join(row.scopes)}  "
                f"created {row.created_at:%Y-%m-%d}  {state}"
            )

    def _rotate(self, *, prefix: str, grace_hours: float, **options) -> None:
        if grace_hours < 0:
            raise CommandError("--grace-hours: a number of hours, 0 or more", returncode=2)
        row = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
        if row is None or (row.expires_at and row.expires_at <= timezone.now()):
            raise CommandError(f"no active key with prefix {prefix!r} (permis apikey list)", returncode=2)
        new, key = row.rotate(dt.timedelta(hours=grace_hours))
        self.stderr.write(
            f"key {new.prefix} replaces {row.prefix} for {new.name} (sender {new.sender or '-'}, scopes "
            f"{', '.join(new.scopes)}); {row.prefix} works until {row.expires_at:%Y-%m-%d %H:%M %Z}. "
            "The new key is shown once, keep it now:"
        )
        self.stdout.write(key)

    def _revoke(self, *, prefix: str, **options) -> None:
        updated = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if not updated:
            raise CommandError(f"no active key with prefix {prefix!r}", returncode=2)
        self.stdout.write(f"key {prefix} revoked")
