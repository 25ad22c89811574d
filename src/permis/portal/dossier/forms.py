"""Forms of the holder's pages: the history's year filter and the simulator on the holder's own file.

The simulator reuses the public simulator's offence and course forms (same fields, same checks, same words); the
NATINF becomes a list of the barème's offences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from permis.portal.forms import CourseForm, DsfrFormMixin, OffenceForm
from permis.portal.labels import rules_language
from permis.rules.bareme import offence_types


class YearForm(forms.Form):
    annee = forms.TypedChoiceField(label=_("Année"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, years: Sequence[int] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["annee"].choices = [("", _("Toutes les années"))] + [(y, str(y)) for y in years]
        self.fields["annee"].widget.attrs["class"] = "fr-select"


def natinf_choices() -> list[tuple[str, str]]:
    """The barème's NATINF codes with their labels in the page's language, in the order of the labels."""
    english = rules_language() == "en"
    labels = {code: kind.label_en if english else kind.label for code, kind in offence_types().items()}
    return [("", _("— Choisir dans le barème —"))] + [
        (code, f"{code} – {labels[code]}") for code in sorted(labels, key=lambda c: labels[c])
    ]


class HolderOffenceForm(OffenceForm):
    """The public simulator's offence, with the NATINF chosen from the barème."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        natinf = self.fields["natinf"]
        self.fields["natinf"] = forms.ChoiceField(
            label=natinf.label, required=False, choices=natinf_choices(), help_text=natinf.help_text
        )
        self.fields["natinf"].widget.attrs["class"] = "fr-select"
        self.fields["final_on"].label = _(
            "Date du paiement de l’amende (date à laquelle l’infraction devient définitive)"
        )


class ChoiceForm(DsfrFormMixin, forms.Form):
    with_offence = forms.BooleanField(label=_("Ajouter une infraction"), required=False)
    with_course = forms.BooleanField(label=_("Ajouter un stage de sensibilisation"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("with_offence") and not data.get("with_course"):
            raise forms.ValidationError(
                _("Cochez « Ajouter une infraction », « Ajouter un stage », ou les deux.")
            )
        return data


def _typed(data: Mapping[str, Any], form: forms.Form) -> dict[str, Any]:
    """What was typed in a form's fields, by field name (for showing it again unchecked)."""
    return {name: data[form.add_prefix(name)] for name in form.fields if form.add_prefix(name) in data}


class SimulatorForm:
    """Three forms validated together: what to add, the offence, the course (only the chosen ones count)."""

    def __init__(self, data: Mapping[str, Any] | None, *, today: date) -> None:
        initial_offence = {"committed_on": today, "final_on": today}
        initial_course = {"first_day": today, "last_day": today, "course_type": "voluntary"}
        self.choice = ChoiceForm(data, prefix="what", initial={"with_offence": True})
        self.offence = HolderOffenceForm(data, prefix="offence", initial=initial_offence)
        self.course = CourseForm(data, prefix="course", initial=initial_course)
        self.is_bound = data is not None
        if data is not None:
            # A part not chosen is shown as typed but not checked: its fields must not read as errors (screen
            # readers announce aria-invalid) next to a result that did not use them. With neither part chosen,
            # the one error is the choice's (which part to fill), not every required field of both.
            chosen = self.choice.cleaned_data if self.choice.is_valid() else {}
            if not chosen.get("with_offence"):
                self.offence = HolderOffenceForm(
                    None, prefix="offence", initial={**initial_offence, **_typed(data, self.offence)}
                )
            if not chosen.get("with_course"):
                self.course = CourseForm(
                    None, prefix="course", initial={**initial_course, **_typed(data, self.course)}
                )

    def is_valid(self) -> bool:
        if not self.choice.is_valid():
            return False
        valid = True
        if self.choice.cleaned_data["with_offence"]:
            valid = self.offence.is_valid() and valid
        if self.choice.cleaned_data["with_course"]:
            valid = self.course.is_valid() and valid
        return valid

    def events(self) -> list[dict[str, Any]]:
        out = []
        if self.choice.cleaned_data.get("with_offence"):
            out.append(self.offence.to_event("sim-offence"))
        if self.choice.cleaned_data.get("with_course"):
            out.append(self.course.to_event("sim-course"))
        return out

    def errors(self) -> list[tuple[str, str, str]]:
        """(field id, label, message) of each error, for the summary at the top of the page."""
        if not self.is_bound:
            return []
        items = []
        forms_in_use = [self.choice]
        if getattr(self.choice, "cleaned_data", {}).get("with_offence"):
            forms_in_use.append(self.offence)
        if getattr(self.choice, "cleaned_data", {}).get("with_course"):
            forms_in_use.append(self.course)
        for form in forms_in_use:
            for name, messages in form.errors.items():
                if name == "__all__":
                    anchor, label = f"{form.prefix}-fields", ""
                else:
                    anchor, label = form[name].auto_id, str(form.fields[name].label)
                items.extend((anchor, label, str(message)) for message in messages)
        return items
