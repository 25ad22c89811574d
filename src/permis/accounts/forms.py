"""The forms of the accounts' pages (DSFR classes through the portal's mixin)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _

from permis.portal.forms import DsfrFormMixin, date_field
from permis.registry.models import LicenceFormat


class LoginForm(DsfrFormMixin, forms.Form):
    email = forms.EmailField(
        label=_("Adresse électronique"),
        help_text=_("Format attendu : nom@domaine.fr"),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Mot de passe"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class SignupForm(DsfrFormMixin, forms.Form):
    email = forms.EmailField(
        label=_("Adresse électronique"),
        help_text=_("Un lien de vérification y sera envoyé. Format attendu : nom@domaine.fr"),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autocapitalize": "none"}),
    )
    password1 = forms.CharField(
        label=_("Mot de passe"),
        strip=False,
        help_text=_(
            "Au moins 12 caractères, pas seulement des chiffres, ni un mot de passe courant, ni vos nom et "
            "prénoms, ni ce qui précède « @ » dans votre adresse."
        ),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Confirmation du mot de passe"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        one, two = data.get("password1"), data.get("password2")
        if one and two and one != two:
            self.add_error("password2", _("Les deux mots de passe ne sont pas identiques."))
        elif one and data.get("email"):
            probe = User(username=data["email"], email=data["email"])
            try:
                password_validation.validate_password(one, probe)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class ResendForm(DsfrFormMixin, forms.Form):
    email = forms.EmailField(
        label=_("Adresse électronique"),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autocapitalize": "none"}),
    )


class CodeForm(DsfrFormMixin, forms.Form):
    code = forms.CharField(
        label=_("Code à usage unique"),
        help_text=_("Les 6 chiffres affichés par votre application, ou l’un de vos codes de secours."),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "none"}
        ),
    )


class LinkForm(DsfrFormMixin, forms.Form):
    format = forms.ChoiceField(
        label=_("Format de votre permis"),
        choices=LicenceFormat.choices,
        widget=forms.RadioSelect,
        initial=LicenceFormat.CARD,
    )
    number = forms.CharField(
        label=_("Numéro de permis"),
        help_text=_("Carte : rubrique 5, au recto. Permis cartonné : le numéro sous la photo."),
        max_length=19,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    dossier_number = forms.CharField(
        label=_("Numéro de dossier (NEPH)"),
        help_text=_("12 chiffres. Carte : au verso, en bas. Permis cartonné : en haut du volet intérieur."),
        max_length=19,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}),
    )
    birth_date = date_field(_("Votre date de naissance"))

    @staticmethod
    def _plain(value: str) -> str:
        return "".join(value.split()).upper()

    def clean_number(self) -> str:
        return self._plain(self.cleaned_data["number"])

    def clean_dossier_number(self) -> str:
        return self._plain(self.cleaned_data["dossier_number"])
