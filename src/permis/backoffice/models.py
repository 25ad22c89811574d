"""Who the agents are (their role and départements), the corrections they ask for and review, and the
integrity reports of ``permis verify`` that supervisors read.

A correction is never written to the file by the agent who asks for it: ``CorrectionRequest`` holds the request
(the event to correct, the corrected values, the reason) until a second, different agent approves it, and only
then does ``permis.registry.services.record_event`` append the ``correction`` event (ARCHITECTURE.md, rule 5).
A holder asks for one from the personal space (``HolderCorrectionRequest``); an agent of the file's département
either starts a correction from it (the ``CorrectionRequest`` then names it, and its decision answers the holder)
or refuses it with a reason the holder reads.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from permis.accounts.models import SecondFactor
from permis.registry.models import Event, Holder, Licence


class AgentRole(models.TextChoices):
    AGENT = "agent", _("Agent de préfecture")
    SUPERVISOR = "supervisor", _("Responsable de service")
    AUDITOR = "auditor", _("Auditeur")


class AgentProfile(SecondFactor):
    """An agent's role and the départements whose files they may open (a supervisor sees every file), and their
    second factor (``SecondFactor``'s fields), required to sign in (``permis.backoffice.sign_in``)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    role = models.CharField(_("rôle"), max_length=12, choices=AgentRole.choices, default=AgentRole.AGENT)
    # Codes as the postcode gives them: "75", "2A", "971".
    departements = models.JSONField(_("départements"), default=list, blank=True)
    service = models.CharField(_("service"), max_length=200, blank=True)
    # The single-use code that, with the password, lets the agent set up their second factor the first time
    # (``permis.backoffice.enrolment``): its keyed hash and until when it is valid; empty once used.
    enrolment_code_hash = models.CharField(max_length=64, blank=True)
    enrolment_code_expires = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("profil d'agent")
        verbose_name_plural = _("profils d'agents")

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.role}: {', '.join(self.departements) or '-'})"

    @property
    def label(self) -> str:
        """How the holder reads this agent in their access log."""
        name = self.user.get_full_name() or self.user.get_username()
        role = AgentRole(self.role).label
        where = f", {self.service}" if self.service else ""
        return f"{name} ({role}{where})"


class CorrectionStatus(models.TextChoices):
    PENDING = "pending", _("À examiner")
    APPROVED = "approved", _("Approuvée")
    REJECTED = "rejected", _("Rejetée")


class HolderRequestStatus(models.TextChoices):
    PENDING = "pending", _("En attente de traitement")
    IN_PROGRESS = "in_progress", _("Correction en cours de validation")
    ACCEPTED = "accepted", _("Acceptée")
    REFUSED = "refused", _("Refusée")


class HolderCorrectionRequest(models.Model):
    """A holder's request for a correction of their file, sent from the personal space: what it is about (an
    event of the history, or something else) and, in the holder's words, what is wrong.

    It changes nothing in the file. An agent of the file's département starts a correction from it (a
    ``CorrectionRequest`` naming it: ``in_progress``; approved by a second agent: ``accepted``; rejected: back
    to ``pending``), or refuses it with ``answer``, which the holder reads in their space.
    """

    reference = models.CharField(_("référence"), max_length=12, unique=True)
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="correction_requests")
    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="holder_correction_requests")
    # The event the holder pointed at; null: "autre" (a movement without an event, the licence's details...).
    target = models.ForeignKey(
        Event,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="holder_correction_requests",
        verbose_name=_("événement"),
    )
    # What the holder chose, as the holder read it then (the event's label, or "Autre").
    subject = models.CharField(_("élément concerné"), max_length=200)
    message = models.TextField(_("ce qui est inexact"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("compte du titulaire"),
    )
    requested_at = models.DateTimeField(_("reçue le"), auto_now_add=True)
    status = models.CharField(
        _("état"), max_length=12, choices=HolderRequestStatus.choices, default=HolderRequestStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("traitée par"),
    )
    decided_at = models.DateTimeField(_("traitée le"), null=True, blank=True)
    # Why it was refused, written for the holder (they read it in their space).
    answer = models.TextField(_("réponse au titulaire"), blank=True)

    class Meta:
        verbose_name = _("demande de correction du titulaire")
        verbose_name_plural = _("demandes de correction des titulaires")
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["status", "requested_at"], name="holder_request_status")]

    def __str__(self) -> str:
        return f"{self.reference} of {self.licence_id}: {self.status}"


class CorrectionRequest(models.Model):
    """A correction of one event of a licence's history, asked by one agent and decided by another."""

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="correction_requests")
    target = models.ForeignKey(
        Event, on_delete=models.PROTECT, related_name="correction_requests", verbose_name=_("événement")
    )
    # The corrected event as the engine reads it ({"kind": ..., "data": {...}}), or null: the event is void.
    replacement = models.JSONField(_("valeurs corrigées"), null=True, blank=True)
    reason = models.TextField(_("motif"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("demandée par")
    )
    requested_at = models.DateTimeField(_("demandée le"), auto_now_add=True)
    status = models.CharField(
        _("état"), max_length=10, choices=CorrectionStatus.choices, default=CorrectionStatus.PENDING
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("examinée par"),
    )
    reviewed_at = models.DateTimeField(_("examinée le"), null=True, blank=True)
    review_reason = models.TextField(_("motif de la décision"), blank=True)
    event = models.ForeignKey(
        Event, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("correction")
    )
    # The holder's request this correction answers, when it came from the holder (its origin).
    holder_request = models.ForeignKey(
        HolderCorrectionRequest,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrections",
        verbose_name=_("demande du titulaire"),
    )

    class Meta:
        verbose_name = _("demande de correction")
        verbose_name_plural = _("demandes de correction")
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["status", "requested_at"], name="correction_status")]

    def __str__(self) -> str:
        return f"correction {self.pk} of {self.licence_id}/e{self.target.seq}: {self.status}"


class IntegrityReport(models.Model):
    """One run of ``permis verify``: what it checked, how long it took, and the discrepancies it found."""

    started_at = models.DateTimeField(_("lancée le"))
    seconds = models.FloatField(_("durée (secondes)"))
    scope = models.CharField(_("périmètre"), max_length=200)
    licences = models.PositiveIntegerField(_("permis vérifiés"))
    events = models.PositiveBigIntegerField(_("événements vérifiés"))
    access_log_entries = models.PositiveBigIntegerField(_("consultations vérifiées"), null=True, blank=True)
    discrepancies = models.PositiveIntegerField(_("anomalies"))
    # The first discrepancies, one sentence each (the command's output has them all).
    details = models.JSONField(_("détail"), default=list, blank=True)

    class Meta:
        verbose_name = _("rapport d'intégrité")
        verbose_name_plural = _("rapports d'intégrité")
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"verify {self.started_at:%Y-%m-%d %H:%M}: {self.discrepancies} discrepancies"


class CategoryChange(models.Model):
    """Who added or changed a licence's category, and what it was before: categories move no points, so no
    event records them; this row keeps the agent's identity with each change (append-only)."""

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="category_changes")
    code = models.CharField(_("catégorie"), max_length=3)
    before = models.JSONField(_("avant"), null=True, blank=True)
    after = models.JSONField(_("après"))
    recorded_by = models.CharField(_("enregistrée par"), max_length=150)
    recorded_at = models.DateTimeField(_("enregistrée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("modification de catégorie")
        verbose_name_plural = _("modifications de catégorie")
        ordering = ["-recorded_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.licence_id} {self.code} by {self.recorded_by}"
