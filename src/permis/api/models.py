"""The partner API's keys: one per partner system, with its sender code and its scopes (internal rows, no
page shows them: their labels are not translated).

A key is shown once, when it is created (`permis apikey create`); only its prefix (to find it) and the SHA-256
of the whole key (to check it) are stored. Keys are long random strings, so a plain SHA-256 is enough: there is
nothing to guess that a slow hash would protect.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.db import models, transaction
from django.utils import timezone


class Scope(models.TextChoices):
    FEED = "feed", "Flux des infractions (ANTAI, juridictions)"
    POST = "post", "Avis de réception des lettres recommandées (partenaire postal)"
    # A course-centre key carries the centre's approval number as its `sender`: the centre declares sessions
    # and attendance for itself only (permis.api.courses).
    COURSE_CENTRE = "course_centre", "Centre de stage agréé (sessions, éligibilité, présences)"
    POLICE = "police", "Police et gendarmerie (contrôle du permis)"
    POLICE_BALANCE = "police_balance", "Police et gendarmerie : solde de points (L225-4)"
    THIRD_PARTY = "third_party", "Tiers (code de partage, attestation des droits à conduire)"


KEY_PREFIX = "permis"


def key_digest(key: str) -> str:
    """What is stored of a key: its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str | None:
    """The prefix that finds a key's row ("permis_<prefix>_<secret>"), or None when `key` is not of that form."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    return parts[1]


class ApiKeyManager(models.Manager["ApiKey"]):
    def issue(self, *, name: str, sender: str = "", scopes: list[str]) -> tuple[ApiKey, str]:
        """A new key: the row, and the key itself (shown once, never stored)."""
        prefix = secrets.token_hex(6)
        key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        row = self.create(
            name=name, sender=sender, scopes=sorted(set(scopes)), prefix=prefix, secret_hash=key_digest(key)
        )
        return row, key

    def authenticate(self, key: str) -> ApiKey | None:
        """The active key matching `key`, or None."""
        prefix = key_prefix(key)
        if prefix is None:
            return None
        row = self.filter(prefix=prefix, revoked_at__isnull=True).first()
        if row is None or not hmac.compare_digest(row.secret_hash, key_digest(key)):
            return None
        if row.expires_at is not None and row.expires_at <= timezone.now():
            return None  # replaced by a rotation whose grace period is over
        return row


class ApiKey(models.Model):
    name = models.CharField("partenaire", max_length=100)
    sender = models.CharField("code émetteur", max_length=50, blank=True)
    scopes = models.JSONField("périmètres", default=list)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Set by a rotation (`permis apikey rotate`): the old key works until then, its replacement from the start.
    expires_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    objects = ApiKeyManager()

    class Meta:
        verbose_name = "clé d'API"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])

    @transaction.atomic
    def rotate(self, grace: dt.timedelta) -> tuple[ApiKey, str]:
        """A new key with this key's name, sender and scopes; this one keeps working for `grace`, then is refused.

        Rotating a key already rotated shortens nothing it should not: the old key's end is the earlier of its
        current end and now + grace.
        """
        if self.revoked_at is not None:
            raise ValueError(f"key {self.prefix} is revoked: create a new one instead")
        row, key = ApiKey.objects.issue(name=self.name, sender=self.sender, scopes=list(self.scopes))
        end = timezone.now() + grace
        self.expires_at = min(end, self.expires_at) if self.expires_at else end
        self.replaced_by = row
        self.save(update_fields=["expires_at", "replaced_by"])
        return row, key


class ApiRateWindow(models.Model):
    """How many calls a key made in one minute (permis.api.ratelimit): one row per key per minute, counted by
    one INSERT ... ON CONFLICT DO UPDATE ... RETURNING; rows older than the previous minute are deleted when
    the key opens a new minute. On PostgreSQL the table is UNLOGGED (a counter need not survive a crash)."""

    # No foreign-key constraint: an UNLOGGED table may not reference a logged one.
    key = models.ForeignKey(ApiKey, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    minute = models.BigIntegerField()  # minutes since the epoch
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "minute"], name="api_rate_window_key_minute")]

    def __str__(self) -> str:
        return f"key {self.key_id}, minute {self.minute}: {self.count} calls"
