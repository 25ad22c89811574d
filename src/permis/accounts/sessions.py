"""Every session an account opens is recorded, so that "log out everywhere" ends them all, whatever the
session backend (the session rows cannot be searched by user: their data is encoded); the account's mobile
application sessions (``permis.accounts.app_sessions``) end with them."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from . import app_sessions
from .models import AccountSession


def record(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    """user_logged_in: remember this session's key (login has already given it a new one)."""
    key = getattr(request, "session", None) and request.session.session_key
    if key:
        AccountSession.objects.get_or_create(session_key=key, defaults={"user": user})


def forget(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    """user_logged_out: the session is flushed; its record goes too."""
    key = getattr(request, "session", None) and request.session.session_key
    if key:
        AccountSession.objects.filter(session_key=key).delete()


def end_all(user: User) -> int:
    """End every session of this account, its applications' too; returns how many were open."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(AccountSession.objects.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    AccountSession.objects.filter(user=user).delete()
    return len(keys) + app_sessions.revoke_all(user.pk)
