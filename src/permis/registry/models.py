"""The national file (SNPC): holders, licences, the append-only history, and what the engine derives from it.

Only ``permis.registry.services`` writes these rows. The history (``Event``) is the truth and is never updated
or deleted; ``Movement``, ``Notice`` and ``Projection`` are derived from it by the rules engine and can always be
recomputed (``permis verify`` checks they match).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Sex(models.TextChoices):
    FEMALE = "female", _("Féminin")
    MALE = "male", _("Masculin")


class NoticeChannel(models.TextChoices):
    POST = "post", _("Courrier postal")
    ELECTRONIC = "electronic", _("Notification électronique")


class Holder(models.Model):
    """A licence holder, identified as FranceConnect identifies a person (the identity pivot)."""

    birth_name = models.CharField(_("nom de naissance"), max_length=100)
    used_name = models.CharField(_("nom d'usage"), max_length=100, blank=True)
    given_names = models.CharField(_("prénoms"), max_length=200)
    birth_date = models.DateField(_("date de naissance"))
    birth_place = models.CharField(_("lieu de naissance (code COG)"), max_length=5, blank=True)
    birth_country = models.CharField(_("pays de naissance (code COG)"), max_length=5, default="99100")
    sex = models.CharField(_("sexe"), max_length=6, choices=Sex.choices)
    address = models.CharField(_("adresse"), max_length=200, blank=True)
    postal_code = models.CharField(_("code postal"), max_length=5, blank=True)
    city = models.CharField(_("commune"), max_length=100, blank=True)
    email = models.EmailField(_("adresse électronique"), blank=True)
    phone = models.CharField(_("téléphone"), max_length=20, blank=True)
    notice_channel = models.CharField(
        _("mode de notification"), max_length=10, choices=NoticeChannel.choices, default=NoticeChannel.POST
    )
    sms_alerts = models.BooleanField(_("alertes par SMS"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("titulaire")
        indexes = [models.Index(fields=["birth_name", "birth_date"], name="holder_identity")]

    def __str__(self) -> str:
        return f"{self.birth_name.upper()} {self.given_names}"


class LicenceFormat(models.TextChoices):
    CARD = "card", _("Format carte de crédit")
    CARDBOARD = "cardboard", _("Format cartonné (trois volets, rose)")


class Route(models.TextChoices):
    TRADITIONAL = "traditional", _("Formation traditionnelle")
    AAC = "aac", _("Apprentissage anticipé de la conduite")


class Status(models.TextChoices):
    VALID = "valid", _("Valide")
    ZERO_BALANCE = "zero_balance", _("Solde nul")
    INVALIDATED = "invalidated", _("Invalidé")
    ANNULLED = "annulled", _("Annulé")


# A holder's current licence is the most recent one: every reader of "the holder's licence" orders by this.
CURRENT_LICENCE_FIRST = ("-obtained_on", "-pk")


class Licence(models.Model):
    """A holder's licence file: the dossier (NEPH, kept for life) and the card currently issued."""

    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="licences")
    number = models.CharField(_("numéro de permis"), max_length=19, unique=True)
    dossier_number = models.CharField(_("numéro de dossier (NEPH)"), max_length=19, unique=True)
    format = models.CharField(
        _("format"), max_length=10, choices=LicenceFormat.choices, default=LicenceFormat.CARD
    )
    obtained_on = models.DateField(_("date d'obtention"))
    route = models.CharField(
        _("voie d'accès"), max_length=12, choices=Route.choices, default=Route.TRADITIONAL
    )
    complementary_training_on = models.DateField(_("formation complémentaire"), null=True, blank=True)
    regained = models.BooleanField(_("obtenu de nouveau après invalidation ou annulation"), default=False)
    departement = models.CharField(_("département"), max_length=3, blank=True)
    # Letters dated before this day were dealt with before the licence entered this system: they are history,
    # not notices to send.
    notices_from = models.DateField(_("lettres gérées à partir du"))
    # The seal of the licence's numbers, its holder's identity, its fields the engine reads and its categories
    # (``services.core.identity_seal``), written by the services that write them: `permis verify` finds a change
    # made to them behind the services' back.
    seal = models.CharField(max_length=64, default="", db_default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("permis")

    def __str__(self) -> str:
        return self.number


class Category(models.Model):
    """A category held (AM to DE), with its dates and restrictions."""

    class Code(models.TextChoices):
        AM = "AM"
        A1 = "A1"
        A2 = "A2"
        A = "A"
        B1 = "B1"
        B = "B"
        BE = "BE"
        C1 = "C1"
        C1E = "C1E"
        C = "C"
        CE = "CE"
        D1 = "D1"
        D1E = "D1E"
        D = "D"
        DE = "DE"

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="categories")
    code = models.CharField(_("catégorie"), max_length=3, choices=Code.choices)
    obtained_on = models.DateField(_("date d'obtention"))
    expires_on = models.DateField(_("fin de validité"), null=True, blank=True)
    restrictions = models.CharField(_("mentions additionnelles ou restrictives"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("catégorie")
        constraints = [models.UniqueConstraint(fields=["licence", "code"], name="category_once_per_licence")]

    def __str__(self) -> str:
        return f"{self.code} ({self.licence_id})"


class Source(models.TextChoices):
    FEED = "feed", _("Flux des infractions (ANTAI, juridictions)")
    AGENT = "agent", _("Agent de préfecture")
    COURSE_CENTRE = "course_centre", _("Centre de stage agréé")
    SYSTEM = "system", _("Système")


class EventKind(models.TextChoices):
    OFFENCE = "offence", _("Infraction")
    OFFENCE_CANCELLED = "offence_cancelled", _("Infraction annulée")
    COURSE = "course", _("Stage de sensibilisation")
    INVALIDATION_NOTIFIED = "invalidation_notified", _("Lettre 48SI notifiée")
    LICENCE_SURRENDERED = "licence_surrendered", _("Permis remis")
    ANNULMENT = "annulment", _("Annulation judiciaire")
    SUSPENSION = "suspension", _("Suspension")
    NEW_LICENCE = "new_licence", _("Nouveau permis")
    CORRECTION = "correction", _("Correction")


class Event(models.Model):
    """One legal event of a licence's history. Append-only, hash-chained per licence.

    ``data`` is the event as the engine's contract (ENGINE-IO.md) writes it, without ``kind`` and ``id``: the
    engine id of an event is ``e<seq>``. A correction points at the event it corrects and carries, in ``data``,
    ``{"event": {...}}`` (the corrected event) or ``{"event": null}`` (the event is void).
    """

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    data = models.JSONField()
    source = models.CharField(max_length=16, choices=Source.choices)
    sender = models.CharField(max_length=50, blank=True)
    # NULL, not "": the (sender, source_ref) uniqueness only binds the events that carry a reference.
    source_ref = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=150, blank=True)
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections"
    )
    reason = models.TextField(blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("événement")
        constraints = [
            models.UniqueConstraint(fields=["licence", "seq"], name="event_seq_per_licence"),
            models.UniqueConstraint(
                fields=["sender", "source_ref"],
                condition=Q(source_ref__isnull=False),
                name="event_sender_ref",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.licence_id}/e{self.seq} {self.kind}"

    @property
    def engine_id(self) -> str:
        return f"e{self.seq}"


class Movement(models.Model):
    """A change of balance or cap derived by the engine, at its position in the licence's timeline."""

    licence = models.ForeignKey(Licence, on_delete=models.CASCADE, related_name="movements")
    position = models.PositiveIntegerField()
    on = models.DateField()
    kind = models.CharField(max_length=24)
    change = models.SmallIntegerField()
    balance = models.SmallIntegerField()
    raw_balance = models.SmallIntegerField()
    cap = models.SmallIntegerField()
    cause = models.CharField(max_length=24, blank=True)
    basis = models.CharField(max_length=200)

    class Meta:
        verbose_name = _("mouvement")
        ordering = ["licence", "position"]
        constraints = [models.UniqueConstraint(fields=["licence", "position"], name="movement_position")]

    def __str__(self) -> str:
        return f"{self.licence_id}#{self.position} {self.kind} {self.change:+d}"


class NoticeStatus(models.TextChoices):
    PENDING = "pending", _("À envoyer")
    SENDING = "sending", _("Envoi en cours")
    DELIVERED = "delivered", _("Remise")
    TEMPORARY_FAILURE = "temporary_failure", _("Échec temporaire")
    FAILED = "failed", _("Échec")


class Notice(models.Model):
    """A letter the law makes due (48, 48M, 48N, 48SI, 46, 47), ready to be delivered."""

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="notices")
    code = models.CharField(max_length=4)
    cause = models.CharField(max_length=24, blank=True)
    due_on = models.DateField()
    status = models.CharField(max_length=20, choices=NoticeStatus.choices, default=NoticeStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("lettre")
        constraints = [
            models.UniqueConstraint(fields=["licence", "code", "cause", "due_on"], name="notice_once"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.due_on} ({self.licence_id})"


class Projection(models.Model):
    """The engine's answer for a licence as of a date: a cache, never the truth."""

    licence = models.OneToOneField(
        Licence, on_delete=models.CASCADE, primary_key=True, related_name="projection"
    )
    balance = models.SmallIntegerField()
    raw_balance = models.SmallIntegerField()
    cap = models.SmallIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices)
    suspended = models.BooleanField(default=False)
    probation_end = models.DateField(null=True, blank=True)
    next_change_on = models.DateField(null=True, blank=True, db_index=True)
    as_of = models.DateField()
    events_count = models.PositiveIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("situation")

    def __str__(self) -> str:
        return f"{self.licence_id}: {self.balance}/{self.cap} {self.status}"


class FeedRecord(models.Model):
    """Every record a sender submitted, accepted or not, with its errors: the feed's receipt."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", _("Accepté")
        DUPLICATE = "duplicate", _("Déjà reçu")
        REJECTED = "rejected", _("Rejeté")

    sender = models.CharField(max_length=50)
    source_ref = models.CharField(max_length=100, blank=True)
    batch = models.CharField(max_length=100, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True)
    payload = models.JSONField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    errors = models.JSONField(default=list)
    event = models.ForeignKey(Event, on_delete=models.PROTECT, null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("enregistrement reçu")
        indexes = [models.Index(fields=["sender", "source_ref"], name="feedrecord_ref")]

    def __str__(self) -> str:
        return f"{self.sender}/{self.source_ref} {self.outcome}"
