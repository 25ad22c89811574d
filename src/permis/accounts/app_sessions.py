"""A mobile application kept signed in: the holder's application sessions (``AppSession``).

The holder's API takes a token the identity provider signed for this service (``permis.api.holder``); FranceConnect's
live a few minutes. With one, the application opens a session (``POST /api/v1/holder/sessions``) and receives a
token of its own, ``pas_`` and 43 random characters, shown once: only its keyed hash is kept (a long random token
needs no slow hash; the key, derived from ``SECRET_KEY``, makes a copy of the table useless to forge one). The
prefix tells the API which check to run, without trying both.

A session's token opens the file while all of this holds, checked in the one query that finds it: not revoked,
not past its absolute end (``expires_at``: ``API_APP_SESSION_MAX_DAYS`` after it opened), used within
``API_APP_SESSION_IDLE_DAYS``, its user active, and its account still linked to the file it opened on. A use moves
``last_used_at`` on at most once a minute, by a conditional update: a call that finds it recent writes nothing.

Sessions end with the account's other sessions (``permis.accounts.sessions.end_all``: "log out everywhere"), with a
new password (``PasswordResetConfirmView``), and one by one: from the application (``DELETE .../sessions/current``)
or from the account's security page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone

from permis.registry.models import Holder

from .models import AppSession

PREFIX = "pas_"
TOUCH_SECONDS = 60  # last_used_at is moved on at most this often


def is_app_token(token: str) -> bool:
    return token.startswith(PREFIX)


def token_hash(token: str) -> str:
    key = hashlib.sha256(b"permis.accounts.app-session:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _usable(rows: QuerySet[AppSession], now: dt.datetime) -> QuerySet[AppSession]:
    """The sessions that still open their file at `now`."""
    return rows.filter(
        revoked_at__isnull=True,
        expires_at__gt=now,
        last_used_at__gt=now - dt.timedelta(days=settings.API_APP_SESSION_IDLE_DAYS),
        user__is_active=True,
        user__account__isnull=False,
        user__holder_link__holder_id=F("holder_id"),
    )


def open_session(user_id: int, holder: Holder, device: str) -> tuple[AppSession, str]:
    """A new session of the account on `holder`'s file: the row, and its token (to show once, never stored)."""
    token = PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    row = AppSession.objects.create(
        user_id=user_id,
        holder=holder,
        device=device,
        token_hash=token_hash(token),
        created_at=now,
        last_used_at=now,
        expires_at=now + dt.timedelta(days=settings.API_APP_SESSION_MAX_DAYS),
    )
    return row, token


def authenticate(token: str) -> AppSession | None:
    """The usable session whose token this is (with its holder), its use recorded; None otherwise."""
    now = timezone.now()
    row = (
        _usable(AppSession.objects.select_related("holder"), now).filter(token_hash=token_hash(token)).first()
    )
    if row is None:
        return None
    if row.last_used_at <= now - dt.timedelta(seconds=TOUCH_SECONDS):
        AppSession.objects.filter(pk=row.pk, last_used_at=row.last_used_at).update(last_used_at=now)
        row.last_used_at = now
    return row


def active(user_id: int) -> QuerySet[AppSession]:
    """The account's sessions that still work, the latest used first."""
    return _usable(AppSession.objects.filter(user_id=user_id), timezone.now()).order_by(
        "-last_used_at", "-pk"
    )


def revoke(user_id: int, session_id: int) -> AppSession | None:
    """End the account's session `session_id` (again: nothing changes); None when the account has no such
    session (another account's answers the same)."""
    row = AppSession.objects.filter(user_id=user_id, pk=session_id).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = timezone.now()
        AppSession.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=row.revoked_at)
    return row


def revoke_all(user_id: int) -> int:
    """End every session of the account; returns how many were not revoked yet."""
    return AppSession.objects.filter(user_id=user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
