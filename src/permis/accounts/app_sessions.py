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

A provider token is itself a key to the file for its few minutes, and it can be left behind: the website's own
sign-in token goes in the provider's logout address, so in a shared computer's history. Three limits keep one from
outliving what the holder ended or from multiplying:

- ending all the sessions (``revoke_all``: "log out everywhere", a new password) records when on the account
  (``Account.sessions_reset_at``); a provider token issued then or before (its ``iat``, in whole seconds, not
  after that moment) is refused at every endpoint of the holder's API (``issued_before_reset``): the holder signs
  in again;
- one provider token opens one session: a keyed hash of its claims is kept with the session, unique
  (``provider_token_hash``). The claims, not the token's text: a token's base64 can be written in several ways
  that decode to the same signed claims (and an ECDSA signature has two forms), each accepted by the check;
- an account has at most ``MAX_ACTIVE`` (10) sessions that work: opening one more ends the least recently used.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from permis.registry.models import Holder

from .models import Account, AppSession

logger = logging.getLogger(__name__)
PREFIX = "pas_"
TOUCH_SECONDS = 60  # last_used_at is moved on at most this often
MAX_ACTIVE = 10  # the sessions of one account that work at once: one more ends the least recently used


class AlreadyOpened(Exception):
    """The provider token was already used to open a session (this one, or one since ended)."""


def is_app_token(token: str) -> bool:
    return token.startswith(PREFIX)


def _keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 under a key derived from SECRET_KEY for this purpose (Django's ``salted_hmac``)."""
    return salted_hmac(f"permis.accounts.{purpose}:", value, algorithm="sha256").hexdigest()


def token_hash(token: str) -> str:
    return _keyed_hash("app-session", token)


def provider_token_hash(claims: dict[str, Any]) -> str:
    """The keyed hash of a provider token's verified claims, written one way (sorted keys, no spaces)."""
    return _keyed_hash("app-session-opener", json.dumps(claims, sort_keys=True, separators=(",", ":")))


def issued_before_reset(account: Account, claims: dict[str, Any]) -> bool:
    """Whether the provider token was issued before the account's sessions were last ended, or in that second
    (``iat`` counts whole seconds: a token of the same second may be the older one)."""
    reset = account.sessions_reset_at
    return reset is not None and int(claims["iat"]) <= reset.timestamp()


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


def open_session(user_id: int, holder: Holder, device: str, claims: dict[str, Any]) -> tuple[AppSession, str]:
    """A new session of the account on `holder`'s file, opened with the provider token whose verified claims are
    `claims`: the row, and its token (to show once, never stored). AlreadyOpened when that token opened one
    before. Past ``MAX_ACTIVE`` sessions that work, the least recently used end."""
    token = PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    try:
        with transaction.atomic():
            # One opening at a time per account, so that two at once cannot both stay under the cap.
            list(Account.objects.select_for_update().filter(user_id=user_id).values_list("pk", flat=True))
            older = _usable(AppSession.objects.filter(user_id=user_id), now).order_by("-last_used_at", "-pk")
            ended = list(older.values_list("pk", flat=True)[MAX_ACTIVE - 1 :])
            if ended:
                AppSession.objects.filter(pk__in=ended).update(revoked_at=now)
            row = AppSession.objects.create(
                user_id=user_id,
                holder=holder,
                device=device,
                token_hash=token_hash(token),
                provider_token_hash=provider_token_hash(claims),
                created_at=now,
                last_used_at=now,
                expires_at=now + dt.timedelta(days=settings.API_APP_SESSION_MAX_DAYS),
            )
    except IntegrityError:  # provider_token_hash is unique (token_hash, 256 random bits, does not repeat)
        raise AlreadyOpened from None
    if ended:
        logger.info(
            "account %s: application session(s) %s ended, the least recently used past %s",
            user_id,
            ", ".join(map(str, ended)),
            MAX_ACTIVE,
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
    """End every session of the account, and refuse from now on the provider tokens issued until now
    (``Account.sessions_reset_at``); returns how many sessions were not revoked yet."""
    now = timezone.now()
    Account.objects.filter(user_id=user_id).update(sessions_reset_at=now)  # an agent has none: nothing to do
    return AppSession.objects.filter(user_id=user_id, revoked_at__isnull=True).update(revoked_at=now)
