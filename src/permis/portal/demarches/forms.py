"""The holder's forms: the choice of how letters arrive, share codes, the postcode to look for a course."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from permis.courses.services import postcode_exists

CHANNEL_CHOICES = [
    ("post", _("Par la poste (lettre simple, ou recommandée quand la loi l’exige)")),
    (
        "electronic",
        _("Dans mon espace personnel (notification électronique), avec un courriel à chaque lettre"),
    ),
]

# Which field of the form carries each field PreferenceError names (its problems are "field: reason").
PREFERENCE_FIELDS = {
    "electronic": "channel",
    "sms": "sms",
    "email": "email",
    "phone": "phone",
    "accepted_text_version": "accept",
}


class PreferencesForm(forms.Form):
    """The channels the holder asks for; the rules (email for the electronic notice, SMS with it) are
    ``permis.notices.preferences.set_preferences``'s, reported on the fields it names."""

    channel = forms.ChoiceField(
        label=_("Comment voulez-vous recevoir les lettres sur vos points ?"),
        choices=CHANNEL_CHOICES,
        widget=forms.RadioSelect,
    )
    email = forms.CharField(
        label=_("Adresse électronique"),
        help_text=_("Obligatoire pour la notification électronique : un courriel signale chaque lettre."),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "class": "fr-input"}),
    )
    sms = forms.BooleanField(
        label=_("Recevoir aussi une alerte par SMS à chaque lettre"),
        help_text=_("Avec la notification électronique seulement."),
        required=False,
    )
    phone = forms.CharField(
        label=_("Téléphone mobile"),
        help_text=_("Pour les alertes par SMS. Format attendu : 06 12 34 56 78."),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "class": "fr-input"}),
    )
    accept = forms.BooleanField(
        label=_("J’ai lu le texte qui correspond à mon choix et je l’accepte."),
        required=True,
        error_messages={
            "required": _("Cochez cette case pour enregistrer votre choix : elle vaut acceptation du texte.")
        },
    )

    def add_problems(self, by_field: dict[str, list[str]]) -> None:
        """Put set_preferences' reasons on the fields they are about (the others above the form)."""
        for name, reasons in by_field.items():
            field = PREFERENCE_FIELDS.get(name)
            for reason in reasons:
                self.add_error(field, reason)


class PostcodeForm(forms.Form):
    postcode = forms.CharField(
        label=_("Code postal"),
        help_text=_("Les sessions les plus proches sont affichées en premier. Exemple : 69003."),
        max_length=5,
        min_length=5,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "postal-code", "class": "fr-input"}
        ),
    )

    def clean_postcode(self) -> str:
        value = self.cleaned_data["postcode"].strip()
        if not re.fullmatch(r"[0-9]{5}", value):
            raise forms.ValidationError(
                _("« %(value)s » n’est pas un code postal : cinq chiffres."), params={"value": value}
            )
        if not postcode_exists(value):
            raise forms.ValidationError(
                _(
                    "« %(value)s » n’est pas un code postal français : aucun département ne commence par %(start)s."
                ),
                params={"value": value, "start": value[:2]},
            )
        return value


SHARE_DAYS = [1, 3, 7, 14, 30]  # at most 30 (permis.audit.services.MAX_SHARE_DAYS)


class ShareForm(forms.Form):
    days = forms.TypedChoiceField(
        label=_("Durée de validité du code"),
        help_text=_("30 jours au plus. Vous pouvez le révoquer à tout moment."),
        coerce=int,
        choices=[],
        initial=7,
        widget=forms.Select(attrs={"class": "fr-select"}),
    )
    label = forms.CharField(
        label=_("Pour qui ? (facultatif)"),
        help_text=_(
            "Un nom pour vous y retrouver, par exemple « Loueur de voitures ». Il n’est montré qu’à vous."
        ),
        required=False,
        max_length=80,
        widget=forms.TextInput(attrs={"class": "fr-input"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from django.utils.translation import ngettext

        self.fields["days"].choices = [
            (days, ngettext("%(days)d jour", "%(days)d jours", days) % {"days": days}) for days in SHARE_DAYS
        ]
