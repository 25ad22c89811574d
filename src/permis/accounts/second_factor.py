"""The TOTP second factor of holders' accounts and of agents alike: checking a code, recovery codes, enrolment.

The factor lives on a ``SecondFactor`` row (a holder's ``Account``, an agent's ``AgentProfile``): the secret,
whether it is confirmed, and the last 30-second step a code was accepted for. A code is accepted for the current
step and one step either side (``permis.accounts.totp``), and only for a step later than the last accepted one:
the row's step moves on with a conditional update, so of two requests carrying the same code only the first
passes, on SQLite and PostgreSQL alike. Recovery codes belong to the user (``RecoveryCode``): ten single-use
codes, shown once, of which only a keyed hash is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import segno
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from . import totp
from .models import RecoveryCode, SecondFactor

RECOVERY_CODES = 10


def recovery_hash(code: str) -> str:
    """Recovery codes are long random strings: a keyed fast hash protects them (a slow one is for passwords)."""
    plain = "".join(code.split()).upper().replace("-", "")
    return hmac.new(settings.SECRET_KEY.encode(), plain.encode(), hashlib.sha256).hexdigest()


def check_code(row: SecondFactor, code: str) -> bool:
    """Whether `code` is the row's code now (±1 step), for a step not used before; that step is then used."""
    manager = type(row)._default_manager
    stored = manager.filter(pk=row.pk, totp_enabled=True).values("totp_secret", "totp_last_step").first()
    if stored is None or not stored["totp_secret"]:
        return False
    step = totp.matching_step(stored["totp_secret"], code, stored["totp_last_step"])
    if step is None:
        return False
    used = manager.filter(pk=row.pk, totp_enabled=True, totp_last_step__lt=step).update(totp_last_step=step)
    if used:
        row.totp_last_step = step
    return used == 1


def use_recovery_code(user: Any, code: str) -> bool:
    """Whether `code` is one of the user's unused recovery codes; it is then used."""
    used = RecoveryCode.objects.filter(user=user, code_hash=recovery_hash(code), used_at__isnull=True).update(
        used_at=timezone.now()
    )
    return used == 1


def recovery_codes_left(user: Any) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def issue_recovery_codes(user: Any) -> list[str]:
    """New recovery codes for the user, replacing any former ones; answers them in clear, to be shown once.
    Call it in the transaction that enables the factor."""
    codes = [
        "-".join(secrets.token_hex(5).upper()[i : i + 5] for i in (0, 5)) for _n in range(RECOVERY_CODES)
    ]
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=recovery_hash(code)) for code in codes)
    return codes


def enable(row: SecondFactor, secret: str, step: int) -> bool:
    """Confirm the factor with `secret`, whose code of `step` was just typed; False if the row already has a
    confirmed factor (never replaced this way: a reset removes it first)."""
    done = (
        type(row)
        ._default_manager.filter(pk=row.pk, totp_enabled=False)
        .update(totp_secret=secret, totp_enabled=True, totp_last_step=step)
    )
    if done:
        row.totp_secret, row.totp_enabled, row.totp_last_step = secret, True, step
    return done == 1


def remove(row: SecondFactor, user: Any) -> int:
    """Remove the factor and the user's recovery codes (a lost phone); answers how many codes were deleted."""
    type(row)._default_manager.filter(pk=row.pk).update(totp_secret="", totp_enabled=False, totp_last_step=0)
    row.totp_secret, row.totp_enabled, row.totp_last_step = "", False, 0
    deleted, _kinds = RecoveryCode.objects.filter(user=user).delete()
    return deleted


def setup_display(secret: str, account: str) -> dict[str, str]:
    """What an enrolment page shows: the QR code of the ``otpauth://`` URI (inline SVG) and the secret in groups
    of four characters, for those who type it."""
    uri = totp.provisioning_uri(secret, account)
    qr = segno.make(uri, error="m").svg_inline(scale=5, title=_("Code QR à scanner avec votre application"))
    return {"qr": qr, "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))}
