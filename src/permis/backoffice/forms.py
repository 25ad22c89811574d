"""The back office's forms: what an agent types, checked field by field before the registry checks the law.

Each form says which field is wrong and why; what the law refuses (a suspension ending before it starts, a date
the history cannot hold) comes back from the registry's services and is put back on the field it names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from permis.audit.models import Purpose
from permis.notices.models import ReceiptKind
from permis.portal.forms import EARLIEST, LATEST
from permis.portal.problems import in_words
from permis.registry.models import Category, Route
from permis.registry.services import today

from .access import normalise_departement, valid_departement

# What an agent may state when opening a file (the police's, the course centres' are for other doors).
AGENT_PURPOSES = [
    (Purpose.LICENCE_MANAGEMENT.value, Purpose.LICENCE_MANAGEMENT.label),
    (Purpose.HOLDER_REQUEST.value, Purpose.HOLDER_REQUEST.label),
    (Purpose.CORRECTION.value, Purpose.CORRECTION.label),
    (Purpose.OTHER.value, Purpose.OTHER.label),
]
# The years the rules engine knows (1900 to 2200): the registry refuses the others on the forms it checks; the
# forms the registry does not check (a course centre's approval) bound their dates with the same words.
DATE_BOUNDS = [
    MinValueValidator(EARLIEST, _("Indiquez une date à partir de 1900.")),
    MaxValueValidator(LATEST, _("Indiquez une date avant 2201.")),
]

# Where a refusal comes from, said before it on the form: the national file (the registry and the rules engine).
# The refusals that say it themselves (the back office's own, a course centre's approval) go without.
FROM_NATIONAL_FILE = _("Refusé par le fichier national : %(why)s")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def date_field(
    label: Any, *, required: bool = True, help_text: Any = "", bounded: bool = False
) -> forms.DateField:
    """A date; `bounded`: within the engine's years, for the dates the registry does not check itself."""
    return forms.DateField(
        label=label,
        required=required,
        help_text=help_text,
        widget=DateInput(),
        validators=DATE_BOUNDS if bounded else [],
    )


class DsfrForm(forms.Form):
    """DSFR classes on the widgets; a field in error points at its message (aria-describedby)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxInput):
                continue
            css = "fr-select" if isinstance(widget, forms.Select) else "fr-input"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()
        if "reason" in self.fields:  # the decision's reference comes last, after what is decided
            self.order_fields([name for name in self.fields if name != "reason"] + ["reason"])

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["aria-invalid"] = "true"
                widget.attrs["aria-describedby"] = f"{self[name].auto_id}_error"

    def add_problems(
        self, problems: list[str], fields: dict[str, str] | None = None, *, source: Any = FROM_NATIONAL_FILE
    ) -> None:
        """Put the problems ("field: why", "event.field: why") on the fields they name, each in the page's
        language when it is one of the usual ones (``permis.portal.problems``).

        `source` says where the refusal comes from ("…%(why)s"): the national file by default; None for a
        refusal that is not the national file's (the back office's own, a course centre's approval)."""
        fields = fields or {}
        for problem in problems:
            head, sep, why = problem.partition(": ")
            if not sep or " " in head:  # a sentence that names no field (its own ": " is part of it)
                head, why = "", problem
            name = head.removeprefix("event.").split(".")[0]
            name = fields.get(name, name)
            words = in_words(why or problem)
            message = source % {"why": words} if source is not None else words
            self.add_error(name if name in self.fields else None, message)


class PurposeForm(DsfrForm):
    purpose = forms.ChoiceField(
        label=_("Motif de la consultation"),
        choices=[("", _("Choisir un motif")), *AGENT_PURPOSES],
        help_text=_("Obligatoire : il est inscrit au journal des consultations que le titulaire peut lire."),
        error_messages={"required": _("Indiquez le motif de la consultation.")},
    )
    purpose_detail = forms.CharField(
        label=_("Précisions sur le motif"),
        required=False,
        max_length=300,
        help_text=_("Obligatoire pour « Autre motif » ; par exemple la référence du courrier du titulaire."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("purpose") == Purpose.OTHER and not (data.get("purpose_detail") or "").strip():
            self.add_error("purpose_detail", _("Précisez le motif : « Autre motif » ne suffit pas."))
        return data


class SearchForm(PurposeForm):
    licence_number = forms.CharField(label=_("Numéro de permis"), required=False, max_length=19)
    dossier_number = forms.CharField(label=_("Numéro de dossier (NEPH)"), required=False, max_length=19)
    birth_name = forms.CharField(label=_("Nom de naissance ou d’usage"), required=False, max_length=100)
    birth_date = date_field(_("Date de naissance"), required=False)

    field_order = (
        "licence_number",
        "dossier_number",
        "birth_name",
        "birth_date",
        "purpose",
        "purpose_detail",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("licence_number", "dossier_number", "birth_name"):
            data[name] = (data.get(name) or "").strip()
        data["licence_number"] = data["licence_number"].upper().replace(" ", "")
        data["dossier_number"] = data["dossier_number"].upper().replace(" ", "")
        by_identity = data["birth_name"] or data.get("birth_date")
        if by_identity and not (data["birth_name"] and data.get("birth_date")):
            missing = "birth_date" if data["birth_name"] else "birth_name"
            if missing not in self.errors:
                self.add_error(
                    missing, _("Une recherche par identité demande le nom et la date de naissance.")
                )
        if not (data["licence_number"] or data["dossier_number"] or by_identity) and not self.errors.get(
            "birth_date"
        ):
            raise forms.ValidationError(
                _("Indiquez un numéro de permis, un numéro de dossier, ou un nom avec une date de naissance.")
            )
        return data


class ReceiptForm(DsfrForm):
    delivery = forms.TypedChoiceField(label=_("Lettre 48SI recommandée"), coerce=int, choices=[])
    kind = forms.ChoiceField(
        label=_("Avis de réception"), choices=ReceiptKind.choices, widget=forms.RadioSelect
    )
    on = date_field(
        _("Date de l’avis de réception"),
        help_text=_(
            "Le jour de la signature, ou de la première présentation si la lettre n’a pas été retirée."
        ),
    )

    def __init__(self, *args: Any, deliveries: list[tuple[int, str]] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        self.fields["delivery"].choices = list(deliveries)


class ReasonMixin(forms.Form):
    reason = forms.CharField(
        label=_("Référence de la décision"),
        required=False,
        max_length=500,
        help_text=_("Par exemple : arrêté préfectoral n° 2026-123, jugement du tribunal de …"),
    )


class SurrenderForm(DsfrForm, ReasonMixin):
    on = date_field(_("Date de remise du permis"))


class SuspensionForm(DsfrForm, ReasonMixin):
    start = date_field(_("Suspendu à partir du"))
    end = date_field(_("Jusqu’au (inclus)"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", _("La fin de la suspension ne peut pas précéder son début."))
        return data


class AnnulmentForm(DsfrForm, ReasonMixin):
    on = date_field(_("Date à laquelle l’annulation est définitive"))
    ban_until = date_field(
        _("Interdiction de solliciter un nouveau permis jusqu’au"),
        required=False,
        help_text=_("Laisser vide si le jugement ne prononce pas d’interdiction."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("on") and data.get("ban_until") and data["ban_until"] < data["on"]:
            self.add_error("ban_until", _("L’interdiction ne peut pas finir avant l’annulation."))
        return data


class NewLicenceForm(DsfrForm, ReasonMixin):
    obtained_on = date_field(_("Date d’obtention du nouveau permis"))
    route = forms.ChoiceField(label=_("Voie d’accès"), choices=Route.choices, initial=Route.TRADITIONAL)


class CategoryForm(DsfrForm):
    code = forms.ChoiceField(label=_("Catégorie"), choices=Category.Code.choices)
    obtained_on = date_field(_("Date d’obtention de la catégorie"))
    expires_on = date_field(
        _("Fin de validité (contrôle médical)"),
        required=False,
        help_text=_("Laisser vide pour une catégorie sans limite de validité."),
    )
    restrictions = forms.CharField(
        label=_("Mentions additionnelles ou restrictives"), required=False, max_length=100
    )


class CorrectionForm(DsfrForm):
    """The corrected values of one event: one field per value of the event as it reads today."""

    void = forms.BooleanField(
        label=_("L’événement est nul (il ne compte plus du tout)"),
        required=False,
    )
    reason = forms.CharField(
        label=_("Motif de la correction"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text=_("Par exemple : demande du titulaire du 3 mars, avis de contravention joint."),
        error_messages={"required": _("Indiquez le motif de la correction.")},
    )

    def __init__(self, *args: Any, values: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.values = values
        self.keys: list[str] = []
        for key, value in flatten(values).items():
            name = f"value__{key.replace('.', '__')}"
            self.keys.append(key)
            self.fields[name] = forms.CharField(
                label=_("Valeur « %(key)s »") % {"key": key},
                initial="" if value is None else str(value),
                required=False,
                max_length=100,
            )
            self.fields[name].widget.attrs["class"] = "fr-input"
        self.order_fields([f"value__{k.replace('.', '__')}" for k in self.keys] + ["void", "reason"])

    def corrected(self) -> dict[str, Any]:
        """The corrected data, each value typed as the original was (a number stays a number)."""
        flat = flatten(self.values)
        out: dict[str, Any] = {}
        for key in self.keys:
            raw = (self.cleaned_data.get(f"value__{key.replace('.', '__')}") or "").strip()
            original = flat[key]
            value: Any = raw
            if raw == "":
                value = None
            elif isinstance(original, bool):
                value = raw.lower() in ("true", "1", "oui", "yes")
            elif isinstance(original, int):
                try:
                    value = int(raw)
                except ValueError:
                    self.add_error(f"value__{key.replace('.', '__')}", _("Un nombre entier est attendu."))
            _set(out, key, value)
        return _drop_none(out)

    def on_field(self, problem: str) -> str:
        """An engine's problem about a value ("speeding.retained_kmh: why") named by the field of that value
        ("value__speeding__retained_kmh: why"), or of the nearest value that contains it; any other problem
        ("reason: …", "__all__: …") as it came."""
        head, sep, why = problem.partition(": ")
        if not sep or " " in head:
            return problem
        parts = head.split(".")
        for size in range(len(parts), 0, -1):
            name = "value__" + "__".join(parts[:size])
            if name in self.fields:
                return f"{name}: {why}"
        return problem


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """An event's nested values as dotted keys: {"speeding": {"limit_kmh": 80}} -> {"speeding.limit_kmh": 80}."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _set(out: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        out = out.setdefault(part, {})
    out[last] = value


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (_drop_none(v) if isinstance(v, dict) else v) for k, v in data.items() if v is not None}


class ReviewForm(DsfrForm):
    decision = forms.ChoiceField(
        label=_("Décision"),
        choices=[("approve", _("Approuver la correction")), ("reject", _("Rejeter la demande"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choisissez d’approuver ou de rejeter la demande.")},
    )
    review_reason = forms.CharField(
        label=_("Motif de la décision"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Obligatoire pour un rejet."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("decision") == "reject" and not (data.get("review_reason") or "").strip():
            self.add_error("review_reason", _("Indiquez pourquoi la demande est rejetée."))
        return data


class CentreForm(DsfrForm):
    name = forms.CharField(label=_("Nom du centre"), max_length=200)
    approval_number = forms.CharField(label=_("Numéro d’agrément"), max_length=32)
    address = forms.CharField(label=_("Adresse"), max_length=200)
    postcode = forms.RegexField(
        label=_("Code postal"),
        regex=r"^[0-9]{5}$",  # ASCII digits: \d also takes "²" and "٣"
        error_messages={"invalid": _("Un code postal français a cinq chiffres.")},
    )
    city = forms.CharField(label=_("Commune"), max_length=100)
    departement = forms.CharField(
        label=_("Département"), max_length=3, help_text=_("Par exemple 69, 2A ou 974.")
    )
    approved_on = date_field(_("Agréé à partir du"), bounded=True)
    contact = forms.CharField(label=_("Contact"), required=False, max_length=200)

    def clean_departement(self) -> str:
        code = normalise_departement(self.cleaned_data["departement"])
        if not valid_departement(code):
            raise forms.ValidationError(_("« %(code)s » n’est pas un département.") % {"code": code})
        return code


class WithdrawForm(DsfrForm):
    """A withdrawal takes effect today or later, never before: a centre reports the attendance of a session it
    held while approved (``record_attendance`` asks ``approved(session.first_day)``), so a withdrawal dated in
    the past would take from the holders the sessions they already attended."""

    on = date_field(_("Agrément retiré à partir du"), bounded=True)

    def clean_on(self) -> dt.date:
        on = self.cleaned_data["on"]
        if on < today():
            raise forms.ValidationError(
                _("Un retrait prend effet aujourd’hui ou plus tard : les stages déjà tenus restent acquis.")
            )
        return on
