"""Who read a holder's file, and the codes a holder gives to let a third party check their licence.

``AccessLog`` is append-only and hash-chained, in a fixed number of chains (``settings.AUDIT_CHAINS``, 16 by
default): an entry goes to the chain ``holder_id % AUDIT_CHAINS``, is numbered by ``seq`` within it and linked to
the chain's previous entry; each chain's last link is kept in its ``ChainHead`` row. Only
``permis.audit.services.log_access`` writes it (the model refuses updates and deletes through the ORM);
``permis.audit.services.verify_chain`` (run by ``permis verify``) finds a row changed, deleted, inserted or moved
behind its back, chain by chain. Why several chains rather than one: an append holds its chain's head locked
until its commit has been flushed to disk (about 4 ms here), so one chain caps the log at some 250 appends a
second whatever the number of workers; with several, reads of different holders' files commit side by side
(docs/audit.md, "Why a fixed number of chains").
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from permis.registry.models import Holder, Licence


class Role(models.TextChoices):
    """Who reads the file, which sets what they may see (Code de la route, L225-4, L225-5, L223-7)."""

    AGENT = "agent", _("Agent de préfecture")
    SUPERVISOR = "supervisor", _("Responsable de service")
    POLICE = "police", _("Police ou gendarmerie")
    COURSE_CENTRE = "course_centre", _("Centre de stage agréé")
    THIRD_PARTY = "third_party", _("Tiers muni d'un code de partage")
    PARTNER = "partner", _("Organisme partenaire")
    AUDITOR = "auditor", _("Auditeur")
    SYSTEM = "system", _("Système")
    # An account linked to the file: from then on it reads the whole file (permis.accounts.linking).
    ACCOUNT_LINK = "account_link", _("Rattachement d'un compte")


class Purpose(models.TextChoices):
    """Why the file was opened; stated before it is opened, kept with the entry."""

    LICENCE_MANAGEMENT = "licence_management", _("Instruction du dossier du permis")
    HOLDER_REQUEST = "holder_request", _("Demande du titulaire")
    CORRECTION = "correction", _("Rectification d'une information")
    ROADSIDE_CHECK = "roadside_check", _("Contrôle routier")
    JUDICIAL_INQUIRY = "judicial_inquiry", _("Enquête judiciaire")
    COURSE_ELIGIBILITY = "course_eligibility", _("Vérification de l'éligibilité à un stage")
    COURSE_ATTENDANCE = "course_attendance", _("Déclaration de présence à un stage")
    DRIVING_RIGHTS_CHECK = "driving_rights_check", _("Vérification du droit de conduire")
    AUDIT = "audit", _("Contrôle du journal des consultations")
    DOCUMENT_CHECK = (
        "document_check",
        _("Vérification d'un document émis par le service (lettre, attestation, relevé)"),
    )
    OTHER = "other", _("Autre motif (précisé)")


class Channel(models.TextChoices):
    BACK_OFFICE = "back_office", _("Espace de gestion")
    API = "api", _("Interface de programmation (API)")
    SHARE_CODE = "share_code", _("Code de partage")
    PORTAL = "portal", _("Espace personnel en ligne")
    # `permis document` run by the service's operators (permis.notices.documents.access).
    COMMAND = "command", _("Commande du service (ligne de commande)")
    # The public page /verifier/ and `permis verify-document` (permis.notices.documents.access).
    VERIFIER = "verifier", _("Page publique de vérification des documents")


class _AppendOnlyQuerySet(models.QuerySet):
    """Bulk updates and deletes are refused: the log is never rewritten, not even by an administrator's shell."""

    def update(self, **kwargs):  # type: ignore[override]
        raise PermissionError("the access log is append-only: rows are never updated")

    def delete(self):  # type: ignore[override]
        raise PermissionError("the access log is append-only: rows are never deleted")


class AccessLog(models.Model):
    """One read of a holder's file by someone other than the holder: who, as what, when, why, what was shown."""

    chain = models.PositiveSmallIntegerField(
        _("chaîne"), default=0, help_text="holder_id % AUDIT_CHAINS when the entry was written"
    )
    seq = models.PositiveBigIntegerField(_("numéro d'ordre"), help_text="position in its chain: 1, 2, 3…")
    at = models.DateTimeField(_("date et heure"))
    actor = models.CharField(
        _("auteur (identifiant)"),
        max_length=64,
        db_index=True,
        help_text="user:<id>, key:<API key prefix>, share:<share code id> or system",
    )
    actor_label = models.CharField(_("auteur"), max_length=200)
    role = models.CharField(_("qualité"), max_length=16, choices=Role.choices)
    holder = models.ForeignKey(
        Holder, on_delete=models.PROTECT, related_name="access_log", verbose_name=_("titulaire")
    )
    licence = models.ForeignKey(
        Licence,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="access_log",
        verbose_name=_("permis"),
    )
    purpose = models.CharField(_("motif"), max_length=24, choices=Purpose.choices)
    purpose_detail = models.CharField(_("motif (précisions)"), max_length=300, blank=True)
    shown = models.JSONField(_("informations consultées"), default=list)
    channel = models.CharField(_("canal"), max_length=12, choices=Channel.choices)
    request_id = models.CharField(_("identifiant de la requête"), max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = _AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("consultation du dossier")
        verbose_name_plural = _("consultations du dossier")
        ordering = ["chain", "seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="accesslog_chain_seq")]
        indexes = [models.Index(fields=["holder", "-at"], name="accesslog_holder_at")]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.at:%Y-%m-%d %H:%M} {self.actor_label} ({self.role}) → {self.holder_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionError(
                f"access log chain {self.chain}, entry #{self.seq}: the log is append-only, rows are never updated"
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[override]
        raise PermissionError(
            f"access log chain {self.chain}, entry #{self.seq}: the log is append-only, rows are never deleted"
        )


class ChainHead(models.Model):
    """The last link of one of the access log's chains (one row per chain, made by its first append): the lock
    that chain's appends take, and the witness that lets ``verify_chain`` see its last rows deleted."""

    chain = models.PositiveSmallIntegerField(_("chaîne"), unique=True, default=0)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("tête de chaîne du journal")

    def __str__(self) -> str:
        return f"access log head of chain {self.chain}: #{self.seq} {self.hash[:12]}"


class ShareCode(models.Model):
    """A code the holder gives a third party (an employer, a renter) to check their licence's existence,
    categories and validity, never its points (L225-5, L223-7). Only a keyed hash of the code is stored."""

    holder = models.ForeignKey(
        Holder, on_delete=models.PROTECT, related_name="share_codes", verbose_name=_("titulaire")
    )
    code_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(
        _("fin du code"), max_length=4, help_text="the last 2 characters, so the holder can tell codes apart"
    )
    label = models.CharField(_("libellé"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("créé le"))
    expires_at = models.DateTimeField(_("expire le"))
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True)

    class Meta:
        verbose_name = _("code de partage")
        verbose_name_plural = _("codes de partage")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"share {self.pk} of holder {self.holder_id} (…{self.hint})"

    @property
    def actor(self) -> str:
        """How the access log names this code as the reader."""
        return f"share:{self.pk}"
