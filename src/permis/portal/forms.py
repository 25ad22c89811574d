"""The simulator's forms: the licence, the dates to evaluate, and one formset per kind of event.

The forms check what a person can get wrong while typing (a missing date, a last day before the first day, two
ways of naming the same offence). Everything the law says about the history is left to the rules engine, whose
input errors are put back on the fields by permis.portal.simulation.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from permis.portal.dates import long_date
from permis.rules.parameters import parameter

ROUTE_CHOICES = [
    ("traditional", _("Apprentissage traditionnel")),
    ("aac", _("Apprentissage anticipé de la conduite (conduite accompagnée)")),
]

OFFENCE_CLASS_CHOICES = [
    ("", _("Choisir une classe")),
    ("C1", _("Contravention de 1re classe")),
    ("C2", _("Contravention de 2e classe")),
    ("C3", _("Contravention de 3e classe")),
    ("C4", _("Contravention de 4e classe")),
    ("C5", _("Contravention de 5e classe")),
    ("D", _("Délit")),
]

COURSE_TYPE_CHOICES = [
    ("voluntary", _("Stage volontaire")),
    ("mandatory", _("Stage obligatoire (lettre 48N, permis probatoire)")),
    ("judicial", _("Stage imposé par un juge ou le procureur")),
]


class DateInput(forms.DateInput):
    """The browser's own date picker, in the person's own date format; the value travels as YYYY-MM-DD (a
    browser without a date picker shows a text field, where jj/mm/aaaa works too)."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


# The rules engine knows dates from 1900 to 2200; the form says so in words before the engine has to.
EARLIEST, LATEST = date(1900, 1, 1), date(2200, 12, 31)


def date_field(label: str, *, required: bool = True, help_text: str = "") -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        help_text=help_text,
        widget=DateInput(),
        validators=[
            MinValueValidator(EARLIEST, _("Indiquez une date à partir de 1900.")),
            MaxValueValidator(LATEST, _("Indiquez une date avant 2201.")),
        ],
    )


class DsfrBoundField(forms.BoundField):
    """Points the input at its error message, which DSFR shows under it.

    The hint is inside the label (DSFR's markup), so it is already part of the accessible name and is not
    repeated in aria-describedby.
    """

    @property
    def aria_describedby(self) -> str:
        if self.auto_id and not self.is_hidden and self.errors:
            return f"{self.auto_id}_error"
        return ""


class DsfrFormMixin:
    """Adds the DSFR classes to the widgets, so the templates only lay fields out."""

    bound_field_class = DsfrBoundField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # type: ignore[attr-defined]
            widget = field.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxInput):
                continue
            css = "fr-select" if isinstance(widget, forms.Select) else "fr-input"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


class LicenceForm(DsfrFormMixin, forms.Form):
    obtained_on = date_field(_("Date d’obtention du permis"))
    route = forms.ChoiceField(
        label=_("Formation"),
        choices=ROUTE_CHOICES,
        initial="traditional",
        widget=forms.RadioSelect,
    )
    complementary_training_on = date_field(
        _("Date de la formation complémentaire (facultatif)"),
        required=False,
        help_text=_("Formation suivie pendant la période probatoire, qui la raccourcit."),
    )
    regained = forms.BooleanField(
        label=_("Ce permis a été obtenu de nouveau après une invalidation ou une annulation"),
        required=False,
    )
    invalidation_notified_on = date_field(
        _("Date de réception de la lettre 48SI (facultatif)"),
        required=False,
        help_text=_("La lettre recommandée qui annonce l’invalidation du permis pour solde nul."),
    )
    on = date_field(_("Date du calcul"))
    also_on = date_field(
        _("Autre date à comparer (facultatif)"),
        required=False,
        help_text=_("Par exemple une date à venir, pour voir le solde prévu."),
    )

    def __init__(self, *args: Any, today: date | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["on"].initial = today or timezone.localdate()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        obtained_on = data.get("obtained_on")
        if obtained_on:
            for name in ("on", "also_on"):
                if data.get(name) and data[name] < obtained_on:
                    self.add_error(name, _("Cette date précède l’obtention du permis."))
        return data


class OffenceForm(DsfrFormMixin, forms.Form):
    committed_on = date_field(_("Date de l’infraction"))
    final_on = date_field(
        _("Date à laquelle l’infraction est devenue définitive"),
        help_text=_(
            "Paiement de l’amende, émission du titre de l’amende majorée, exécution de la composition "
            "pénale ou condamnation définitive."
        ),
    )
    decided_on = date_field(
        _("Date de la décision de retrait (facultatif)"),
        required=False,
        help_text=_("La date de la décision du ministère, si vous la connaissez."),
    )
    points = forms.IntegerField(
        label=_("Nombre de points retirés"), required=False, min_value=0, max_value=12
    )
    offence_class = forms.ChoiceField(
        label=_("Classe de l’infraction"), required=False, choices=OFFENCE_CLASS_CHOICES
    )
    limit_kmh = forms.IntegerField(
        label=_("Vitesse maximale autorisée (km/h)"), required=False, min_value=1, max_value=200
    )
    retained_kmh = forms.IntegerField(
        label=_("Vitesse retenue (km/h)"),
        required=False,
        min_value=1,
        max_value=500,
        help_text=_(
            "La vitesse retenue après déduction de la marge du radar, lue sur l’avis de contravention."
        ),
    )
    natinf = forms.CharField(
        label=_("Code NATINF"),
        required=False,
        max_length=6,
        validators=[RegexValidator(r"^[0-9]{1,6}$", _("Un code NATINF ne contient que des chiffres."))],
        help_text=_("Le numéro de nature d’infraction, lu sur l’avis de contravention."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        committed_on, final_on = data.get("committed_on"), data.get("final_on")
        if committed_on and final_on and final_on < committed_on:
            self.add_error("final_on", _("Cette date ne peut pas précéder la date de l’infraction."))
        decided_on = data.get("decided_on")
        if decided_on and final_on and decided_on < final_on:
            self.add_error(
                "decided_on",
                _(
                    "La décision de retrait ne peut pas précéder la date à laquelle l’infraction est devenue définitive."
                ),
            )

        ways = {
            "points": data.get("points") is not None or bool(data.get("offence_class")),
            "speeding": data.get("limit_kmh") is not None or data.get("retained_kmh") is not None,
            "natinf": bool(data.get("natinf")),
        }
        chosen = [way for way, given in ways.items() if given]
        if any(
            self.has_error(name)
            for name in ("points", "offence_class", "limit_kmh", "retained_kmh", "natinf")
        ):
            return data
        if not chosen:
            self.add_error(
                "points",
                _(
                    "Indiquez le nombre de points et la classe, ou les deux vitesses d’un excès de vitesse, "
                    "ou le code NATINF."
                ),
            )
        elif len(chosen) > 1:
            self.add_error(
                None,
                _(
                    "Remplissez une seule des trois façons de décrire l’infraction : points et classe, "
                    "excès de vitesse ou code NATINF."
                ),
            )
        elif chosen == ["points"]:
            if data.get("points") is None:
                self.add_error("points", _("Indiquez le nombre de points retirés."))
            if not data.get("offence_class"):
                self.add_error("offence_class", _("Choisissez la classe de l’infraction."))
        elif chosen == ["speeding"]:
            limit, retained = data.get("limit_kmh"), data.get("retained_kmh")
            if limit is None:
                self.add_error("limit_kmh", _("Indiquez la vitesse maximale autorisée."))
            if retained is None:
                self.add_error("retained_kmh", _("Indiquez la vitesse retenue."))
            if limit is not None and retained is not None and retained <= limit:
                self.add_error(
                    "retained_kmh", _("La vitesse retenue doit dépasser la vitesse maximale autorisée.")
                )
        return data

    def to_event(self, event_id: str) -> dict[str, Any]:
        """This row as an event of ENGINE-IO.md's input."""
        data = self.cleaned_data
        event: dict[str, Any] = {
            "kind": "offence",
            "id": event_id,
            "committed_on": data["committed_on"].isoformat(),
            "final_on": data["final_on"].isoformat(),
        }
        if data.get("decided_on"):
            event["decided_on"] = data["decided_on"].isoformat()
        if data.get("natinf"):
            event["natinf"] = data["natinf"]
        elif data.get("limit_kmh") is not None:
            event["speeding"] = {"limit_kmh": data["limit_kmh"], "retained_kmh": data["retained_kmh"]}
        else:
            event["points"] = data["points"]
            event["class"] = data["offence_class"]
        return event


class CourseForm(DsfrFormMixin, forms.Form):
    first_day = date_field(_("Premier jour du stage"))
    last_day = date_field(_("Dernier jour du stage"))
    course_type = forms.ChoiceField(
        label=_("Type de stage"), choices=COURSE_TYPE_CHOICES, initial="voluntary"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first_day, last_day = data.get("first_day"), data.get("last_day")
        if first_day and last_day and last_day < first_day:
            self.add_error("last_day", _("Le dernier jour ne peut pas précéder le premier jour."))
        elif first_day and last_day:
            self._check_length(first_day, last_day)
        return data

    def _check_length(self, first_day: date, last_day: date) -> None:
        """A course lasts its legal number of consecutive days (R223-5: two), whatever its type: a course of
        another length is not one the law knows, and the engine would credit it all the same. A first day
        before the points licence (1 July 1992) is the engine's error to give."""
        length = parameter("course.days")
        if first_day < length.change_dates()[0]:
            return
        days = length.at(first_day)
        if (last_day - first_day).days + 1 != days:
            self.add_error(
                "last_day",
                _(
                    "Un stage de sensibilisation dure %(days)s jours consécutifs (article R223-5 du code de la "
                    "route) : pour un stage commencé le %(first)s, le dernier jour est le %(last)s."
                )
                % {
                    "days": days,
                    "first": long_date(first_day),
                    "last": long_date(first_day + timedelta(days=days - 1)),
                },
            )

    def to_event(self, event_id: str) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "kind": "course",
            "id": event_id,
            "first_day": data["first_day"].isoformat(),
            "last_day": data["last_day"].isoformat(),
            "type": data["course_type"],
        }


class RowFormSet(forms.BaseFormSet):
    """Rows that a person adds with a button and drops with a checkbox; blank rows are ignored."""

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = _("Ne pas compter cette ligne")

    def kept_forms(self) -> list[forms.Form]:
        """The rows to simulate: filled in and not marked for deletion, in the order shown."""
        return [
            form
            for form in self.forms
            if form.has_changed() and not (self.can_delete and self._should_delete_form(form))
        ]


MAX_ROWS = 40

OffenceFormSet = forms.formset_factory(
    OffenceForm,
    formset=RowFormSet,
    extra=1,
    can_delete=True,
    max_num=MAX_ROWS,
    absolute_max=MAX_ROWS,
    validate_max=True,
)
CourseFormSet = forms.formset_factory(
    CourseForm,
    formset=RowFormSet,
    extra=1,
    can_delete=True,
    max_num=MAX_ROWS,
    absolute_max=MAX_ROWS,
    validate_max=True,
)
