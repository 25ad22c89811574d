"""The delivery of the letters the law makes due, and the holder's choice of how to receive them.

A ``registry.Notice`` says *that* a letter is due (48, 48M, 48N, 48SI, 46, 47). Each of its ``Delivery`` rows says
*how* it reaches the holder: a postal letter, a registered letter, the personal account (electronic notice), an
email saying it is there, an SMS. Deliveries are jobs (ARCHITECTURE.md, rule 6): a status, attempts, the last
error, claimed atomically by workers, retried with backoff, never sent twice. What was sent is kept exactly as
sent (subject, body, template version, the PDF's fingerprint).

Two deliveries carry legal dates:
- the electronic notice (``account``): made available on, first opened on, deemed received on (R223-3-1: first
  consultation, or ``e_notice_deemed_after_days`` after being made available);
- the registered letter (``registered``): the postal receipt (received, or first presented and not collected),
  recorded when the postal partner reports it. For a 48SI that date is the invalidation's (RULES.md §9).

``NoticePreference`` is the append-only record of the holder opting in and out of electronic notice and SMS,
with the exact text accepted.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from permis.registry.models import Holder, Notice


class Channel(models.TextChoices):
    POST = "post", _("Lettre simple")
    REGISTERED = "registered", _("Lettre recommandée avec avis de réception")
    ACCOUNT = "account", _("Espace personnel (notification électronique)")
    EMAIL = "email", _("Courriel")
    SMS = "sms", _("SMS")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("À envoyer")
    SENDING = "sending", _("Envoi en cours")
    DELIVERED = "delivered", _("Remise")
    TEMPORARY_FAILURE = "temporary_failure", _("Échec temporaire")
    FAILED = "failed", _("Échec")


class ReceiptKind(models.TextChoices):
    RECEIVED = "received", _("Distribuée (avis de réception signé)")
    NOT_COLLECTED = "not_collected", _("Présentée et non réclamée")


class Delivery(models.Model):
    """One letter on one channel: a job with a status, and what was sent, exactly."""

    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="deliveries")
    channel = models.CharField(_("canal"), max_length=12, choices=Channel.choices)
    status = models.CharField(
        _("état"), max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    # Where it went: an email address, a phone number in E.164, a postal address on one line, or the account.
    address = models.CharField(_("destinataire"), max_length=300, blank=True)
    language = models.CharField(_("langue"), max_length=2, default="fr")

    # The job.
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    next_attempt_at = models.DateTimeField(_("prochaine tentative"))
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(_("dernière erreur"), blank=True)

    # What was sent, exactly as sent.
    template = models.CharField(_("modèle et version"), max_length=60, blank=True)
    subject = models.CharField(_("objet"), max_length=200, blank=True)
    body = models.TextField(_("texte envoyé"), blank=True)
    document_sha256 = models.CharField(_("empreinte du PDF"), max_length=64, blank=True)
    document_path = models.CharField(_("fichier du PDF"), max_length=300, blank=True)
    provider_ref = models.CharField(_("référence du prestataire"), max_length=100, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(_("envoyée le"), null=True, blank=True)

    # Electronic notice (channel "account"): the legal dates of R223-3-1.
    made_available_at = models.DateTimeField(_("mise à disposition le"), null=True, blank=True)
    first_opened_at = models.DateTimeField(_("première consultation le"), null=True, blank=True)
    deemed_received_on = models.DateField(_("réputée reçue le"), null=True, blank=True)

    # Registered letter (channel "registered"): the postal receipt.
    receipt_kind = models.CharField(
        _("avis de réception"), max_length=16, choices=ReceiptKind.choices, blank=True
    )
    receipt_on = models.DateField(_("date de l'avis de réception"), null=True, blank=True)
    receipt_source = models.CharField(_("avis transmis par"), max_length=100, blank=True)
    receipt_recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("envoi")
        constraints = [
            models.UniqueConstraint(fields=["notice", "channel"], name="delivery_once_per_channel"),
            models.CheckConstraint(
                condition=Q(receipt_on__isnull=True) | Q(channel="registered"), name="receipt_only_registered"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["channel", "status"], name="delivery_channel_status"),
        ]

    def __str__(self) -> str:
        return f"{self.notice_id} {self.channel} {self.status}"


class NoticePreference(models.Model):
    """The holder's choice of channels, recorded each time it changes, with the text the holder accepted."""

    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="notice_preferences")
    electronic = models.BooleanField(_("notification électronique"))
    sms = models.BooleanField(_("alertes par SMS"))
    email = models.EmailField(_("adresse électronique"), blank=True)
    phone = models.CharField(_("téléphone"), max_length=20, blank=True)
    accepted_text = models.TextField(_("texte accepté"), blank=True)
    text_version = models.CharField(_("version du texte"), max_length=20, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.CharField(_("enregistré par"), max_length=100)

    class Meta:
        verbose_name = _("choix de notification")
        indexes = [models.Index(fields=["holder", "recorded_at"], name="preference_history")]

    def __str__(self) -> str:
        return f"{self.holder_id} electronic={self.electronic} sms={self.sms}"


class ConfirmationStatus(models.TextChoices):
    PENDING = "pending", _("En attente de confirmation")
    CONFIRMED = "confirmed", _("Confirmée")
    REPLACED = "replaced", _("Remplacée par un choix plus récent")


class AddressConfirmation(models.Model):
    """A choice of electronic notice waiting for the holder to confirm the email address it names
    (``permis.notices.confirmation``): the choice as asked, the text accepted, and a digest of the link's token.

    The token itself is only in the email: a copy of the database cannot confirm anything. A row is pending until
    its link is followed (confirmed, then ``preference`` is the choice recorded) or a newer choice replaces it;
    past ``expires_at`` its link is refused. Rows are kept: a confirmed address is proven for later choices.
    """

    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="address_confirmations")
    email = models.EmailField(_("adresse électronique"))
    sms = models.BooleanField(_("alertes par SMS"))
    phone = models.CharField(_("téléphone"), max_length=20, blank=True)
    text_version = models.CharField(_("version du texte"), max_length=20)
    language = models.CharField(_("langue du texte"), max_length=2)
    accepted_text = models.TextField(_("texte accepté"))
    recorded_by = models.CharField(_("demandé par"), max_length=100)
    token_digest = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        _("état"), max_length=10, choices=ConfirmationStatus.choices, default=ConfirmationStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("lien valable jusqu’au"))
    closed_at = models.DateTimeField(null=True, blank=True)
    preference = models.OneToOneField(
        NoticePreference, on_delete=models.PROTECT, null=True, blank=True, related_name="confirmation"
    )

    class Meta:
        verbose_name = _("confirmation d’adresse")
        indexes = [models.Index(fields=["holder", "status"], name="confirmation_holder_status")]

    def __str__(self) -> str:
        return f"{self.holder_id} {self.status}"
