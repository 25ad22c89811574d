"""The partner API's keys: one per partner system, with its sender code and its scopes (internal rows, no
page shows them: their labels are not translated).

A key is shown once, when it is created (`permis apikey create`); only its prefix (to find it) and the SHA-256
of the whole key (to check it) are stored. Keys are long random strings, so a plain SHA-256 is enough: there is
nothing to guess that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import models
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


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyManager(models.Manager["ApiKey"]):
    def issue(self, *, name: str, sender: str = "", scopes: list[str]) -> tuple[ApiKey, str]:
        """A new key: the row, and the key itself (shown once, never stored)."""
        prefix = secrets.token_hex(6)
        key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        row = self.create(
            name=name, sender=sender, scopes=sorted(set(scopes)), prefix=prefix, secret_hash=_digest(key)
        )
        return row, key

    def authenticate(self, key: str) -> ApiKey | None:
        """The active key matching `key`, or None."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        row = self.filter(prefix=parts[1], revoked_at__isnull=True).first()
        if row is None or not hmac.compare_digest(row.secret_hash, _digest(key)):
            return None
        return row


class ApiKey(models.Model):
    name = models.CharField("partenaire", max_length=100)
    sender = models.CharField("code émetteur", max_length=50, blank=True)
    scopes = models.JSONField("périmètres", default=list)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyManager()

    class Meta:
        verbose_name = "clé d'API"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
