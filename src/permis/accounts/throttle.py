"""Throttling and lockout of login, second factor and licence linking, per account and per client address.

After ``LIMIT`` failures within ``WINDOW`` for one account (or ``ADDRESS_LIMIT`` from one address, higher because
several people may share an address), further attempts are refused for the rest of the window, whether the
password or numbers are right or not, with a message that gives the minutes left (``wait``) and never tells
whether the account exists. A password reset clears the account's sign-in count (``succeed``). Counting uses
rows of the database (``Failure``), shared by every server process, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from .models import Failure

LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW = dt.timedelta(minutes=15)


def _limits() -> tuple[int, int, dt.timedelta]:
    config = getattr(settings, "ACCOUNTS_THROTTLE", {})
    return (
        config.get("LIMIT", LIMIT),
        config.get("ADDRESS_LIMIT", ADDRESS_LIMIT),
        dt.timedelta(minutes=config.get("WINDOW_MINUTES", WINDOW.total_seconds() / 60)),
    )


def client_address(request: HttpRequest) -> str:
    """The client's address as the server sees it (a reverse proxy must pass it as REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def keys(action: str, request: HttpRequest, account: str) -> list[tuple[str, int]]:
    limit, address_limit, _ = _limits()
    found = [(f"{action}:address:{client_address(request)}", address_limit)]
    if account:
        found.append((f"{action}:account:{account.strip().lower()}", limit))
    return found


def locked(action: str, request: HttpRequest, account: str = "") -> bool:
    """Whether this action is locked for this account or this address."""
    _, _, window = _limits()
    since = timezone.now() - window
    return any(
        Failure.objects.filter(key=key, at__gte=since).count() >= limit
        for key, limit in keys(action, request, account)
    )


def _wait(key: str, limit: int, now: dt.datetime, window: dt.timedelta) -> int:
    """Seconds before `key` has fewer than `limit` failures within the window (0 when it has fewer now)."""
    if limit <= 0:
        return 0
    newest = list(
        Failure.objects.filter(key=key, at__gte=now - window)
        .order_by("-at")
        .values_list("at", flat=True)[:limit]
    )
    if len(newest) < limit:
        return 0
    # Free again when the oldest of the `limit` newest failures leaves the window.
    return max(1, math.ceil((newest[-1] + window - now).total_seconds()))


def address_wait(action: str, request: HttpRequest, limit: int) -> int:
    """Seconds before this client address may try `action` again after `limit` failures within the window, or 0
    when it may now (or `limit` is 0). For an action counted by address only, with its own limit."""
    _, _, window = _limits()
    return _wait(f"{action}:address:{client_address(request)}", limit, timezone.now(), window)


def address_locked(action: str, request: HttpRequest) -> bool:
    """Whether this client address is locked out of ``action`` (whichever account it tries)."""
    _, address_limit, _ = _limits()
    return address_wait(action, request, address_limit) > 0


def wait(action: str, request: HttpRequest, account: str = "") -> int:
    """Seconds before this action is unlocked for this account and this address, or 0 when it is not locked:
    what a refusal tells the user ("réessayez dans … minutes")."""
    _, _, window = _limits()
    now = timezone.now()
    return max(_wait(key, limit, now, window) for key, limit in keys(action, request, account))


def fail(action: str, request: HttpRequest, account: str = "") -> None:
    _, _, window = _limits()
    now = timezone.now()
    pairs = keys(action, request, account)
    Failure.objects.filter(at__lt=now - window).delete()  # every expired row, whoever it was about
    Failure.objects.bulk_create(Failure(key=key, at=now) for key, _ in pairs)


def succeed(action: str, request: HttpRequest, account: str = "") -> None:
    """A success clears the account's count (not the address's: one good password must not reset a spray)."""
    if account:
        Failure.objects.filter(key=f"{action}:account:{account.strip().lower()}").delete()
