"""The link between a person's account (Django's user) and the holder's file in the national file.

An account sees exactly one holder's file, the one it is linked to, and nothing else. The link is made either
automatically, when FranceConnect's identity pivot matches exactly one holder, or by the holder typing the
numbers printed on the licence (``method``). A link is never moved to another holder: unlinking deletes it and
a new one is made.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from permis.registry.models import Holder


class LinkMethod(models.TextChoices):
    FRANCECONNECT = "franceconnect", _("FranceConnect (identité vérifiée)")
    LICENCE_FORM = "licence_form", _("Numéros du permis saisis par le titulaire")


class HolderLink(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="holder_link"
    )
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="account_links")
    method = models.CharField(_("rattachement"), max_length=16, choices=LinkMethod.choices)
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("rattachement d'un compte à un permis")

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.holder_id} ({self.method})"


class SecondFactor(models.Model):
    """A TOTP second factor (``permis.accounts.totp``), as a holder's ``Account`` and an agent's ``AgentProfile``
    keep it; ``permis.accounts.second_factor`` checks its codes. The secret is stored as is: it must be read to
    check a code (the database's protection is the protection; docs/accounts.md says so)."""

    totp_secret = models.CharField(max_length=64, blank=True)
    totp_enabled = models.BooleanField(default=False)
    totp_last_step = models.BigIntegerField(default=0)  # a code is accepted once: replay of a seen code fails

    class Meta:
        abstract = True


class Account(SecondFactor):
    """What a holder's account adds to Django's user: FranceConnect's subject, the verified email, TOTP.

    Local accounts sign in with their email (the user's ``username`` and ``email``) once it is verified
    (``email_verified_at``; until then the user is inactive). FranceConnect accounts carry FranceConnect's
    pairwise subject. The optional second factor's fields come from ``SecondFactor``.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account")
    franceconnect_sub = models.CharField(max_length=255, unique=True, null=True, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # When all the account's sessions were last ended ("log out everywhere", a new password): a provider token
    # issued before it no longer opens the file at the holder's API (``permis.accounts.app_sessions``).
    sessions_reset_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("compte d'usager")

    def __str__(self) -> str:
        return f"account of {self.user_id}"


class RecoveryCode(models.Model):
    """A single-use code that replaces the TOTP code when the phone is lost; only its hash is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_hash = models.CharField(max_length=64, unique=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class AccountSession(models.Model):
    """The sessions an account opened, so that "log out everywhere" can end every one of them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"session of {self.user_id}"


class AppSession(models.Model):
    """A mobile application kept signed in (``permis.accounts.app_sessions``): opened with a token the identity
    provider signed for this service, then used in its place at the holder's API until signed out, revoked, idle
    too long or past its absolute end. Only a keyed hash of its token is kept. It lives with the account's other
    sessions: "log out everywhere" and a new password end it as they end the browsers' sessions."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="app_sessions")
    # The file the account was linked to when the session opened: the session works only while it still is.
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="+")
    device = models.CharField(_("appareil"), max_length=80)
    token_hash = models.CharField(max_length=64, unique=True)
    # A keyed hash of the claims of the provider token that opened it: one provider token opens one session. Null
    # (not "", which is unique too) for the sessions opened before it was kept.
    provider_token_hash = models.CharField(max_length=64, unique=True, null=True)  # noqa: DJ001
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField()  # moved on at most once a minute (no write per call)
    expires_at = (
        models.DateTimeField()
    )  # the absolute end, fixed at the opening; the idle end follows last use
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("session d'application")

    def __str__(self) -> str:
        return f"app session {self.pk} of {self.user_id}"

    @property
    def ends_at(self) -> dt.datetime:
        """When it ends unless used again: the idle limit after its last use, or its absolute end if sooner."""
        idle = dt.timedelta(days=settings.API_APP_SESSION_IDLE_DAYS)
        return min(self.last_used_at + idle, self.expires_at)


class Failure(models.Model):
    """One failed attempt (login, second factor, licence linking), counted for throttling.

    ``key`` is "<action>:account:<email or user id>" or "<action>:address:<client address>"; rows older than the
    lockout window are swept away as new failures arrive, so the table holds only the last window's failures.
    """

    key = models.CharField(max_length=300)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["key", "at"], name="accounts_failure_key_at"),
            models.Index(fields=["at"], name="accounts_failure_at"),  # the sweep of expired rows
        ]

    def __str__(self) -> str:
        return f"{self.key} at {self.at}"
