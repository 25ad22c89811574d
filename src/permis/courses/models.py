"""Approved course centres, the sessions they run and who attended (Code de la route, L223-6, R223-5 to R223-8).

The points of a course are not written here: attending is recorded as a ``course`` event of the licence through
``permis.registry.services.record_event`` and the engine credits the points the day after the last day.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from permis.registry.models import Event, Licence


class CourseCentre(models.Model):
    """A centre approved by the préfet to run the "stage de sensibilisation à la sécurité routière"."""

    name = models.CharField(_("nom"), max_length=200)
    approval_number = models.CharField(_("numéro d'agrément"), max_length=32, unique=True)
    address = models.CharField(_("adresse"), max_length=200)
    postcode = models.CharField(_("code postal"), max_length=5)
    city = models.CharField(_("commune"), max_length=100)
    departement = models.CharField(_("département"), max_length=3, db_index=True)
    approved_on = models.DateField(_("agréé le"))
    withdrawn_on = models.DateField(_("agrément retiré le"), null=True, blank=True)
    contact = models.CharField(_("contact"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("centre de stage agréé")
        verbose_name_plural = _("centres de stage agréés")
        ordering = ["departement", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.approval_number})"

    def approved(self, on: dt.date) -> bool:
        """Approved on `on`: from the approval day, up to the day before a withdrawal."""
        return self.approved_on <= on and (self.withdrawn_on is None or on < self.withdrawn_on)


class CourseSession(models.Model):
    """One course: two consecutive days (R223-5) at a place, for a price, with a number of seats."""

    centre = models.ForeignKey(
        CourseCentre, on_delete=models.PROTECT, related_name="sessions", verbose_name=_("centre")
    )
    first_day = models.DateField(_("premier jour"))
    last_day = models.DateField(_("second jour"))
    place = models.CharField(_("lieu"), max_length=200)
    price_cents = models.PositiveIntegerField(_("prix (centimes d'euro)"))
    seats = models.PositiveSmallIntegerField(_("places"))
    seats_taken = models.PositiveSmallIntegerField(_("places prises"), default=0)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)

    class Meta:
        verbose_name = _("session de stage")
        verbose_name_plural = _("sessions de stage")
        ordering = ["first_day", "id"]
        indexes = [models.Index(fields=["first_day"], name="coursesession_first_day")]
        constraints = [
            # Two consecutive days (R223-5): checked exactly by the services; the database keeps the order.
            models.CheckConstraint(condition=Q(last_day__gt=F("first_day")), name="course_session_two_days"),
            models.CheckConstraint(condition=Q(seats_taken__lte=F("seats")), name="course_session_seats"),
        ]

    def __str__(self) -> str:
        return f"{self.centre.name}, {self.first_day:%d/%m/%Y}–{self.last_day:%d/%m/%Y}"

    @property
    def seats_left(self) -> int:
        return max(0, self.seats - self.seats_taken)


class Attendance(models.Model):
    """A licence holder registered on a session, and whether they attended both days in full."""

    class Status(models.TextChoices):
        REGISTERED = "registered", _("Inscrit")
        ATTENDED = "attended", _("Présent les deux jours")
        ABSENT = "absent", _("Absent ou présence incomplète")

    session = models.ForeignKey(
        CourseSession, on_delete=models.PROTECT, related_name="attendances", verbose_name=_("session")
    )
    licence = models.ForeignKey(
        Licence, on_delete=models.PROTECT, related_name="course_attendances", verbose_name=_("permis")
    )
    status = models.CharField(_("statut"), max_length=10, choices=Status.choices, default=Status.REGISTERED)
    recorded_at = models.DateTimeField(_("enregistré le"))
    # The licence's ``course`` event written when attendance was submitted: the engine credits from it.
    event = models.ForeignKey(Event, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("participation à un stage")
        verbose_name_plural = _("participations à un stage")
        constraints = [
            models.UniqueConstraint(fields=["session", "licence"], name="attendance_once_per_session")
        ]

    def __str__(self) -> str:
        return f"{self.licence_id} @ {self.session_id}: {self.status}"
