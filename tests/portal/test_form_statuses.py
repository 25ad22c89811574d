"""Every form of the holder's pages answers an invalid submission the same way: 400, the same page with its errors
(the title starts with "Erreur :", the error summary at the top where the page has one).

The inventory below is data: every route of the accounts' pages (/compte/), the holder's space (/mon-espace/) and
the public simulator is either a form (with an invalid submission and what the page then says) or listed with why
it has no invalid submission answered by a page. A new route fails ``test_every_route_is_in_the_inventory`` until
it is listed here. (/verifier/ belongs to the letters' app, permis.notices: it answers 400 too, tested there.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from permis.accounts.models import Account, HolderLink
from permis.accounts.views import PENDING
from tests.portal.helpers import EXAMPLE_OFFENCE, simulator_data
from tests.registry import factories

pytestmark = pytest.mark.django_db

EMAIL = "camille@example.fr"
URLCONFS = (
    "permis.accounts.urls",
    "permis.portal.urls",
    "permis.portal.dossier.urls",
    "permis.portal.demarches.urls",
)


@pytest.fixture(autouse=True)
def _fast_and_fresh(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()


def holder_account(linked: bool = True) -> tuple[Client, User]:
    """A signed-in holders' account with a verified address, linked to a file with a licence (or not)."""
    user = User.objects.create_user(EMAIL, email=EMAIL, password="une phrase de passe solide")
    Account.objects.create(user=user, email_verified_at=timezone.now())
    if linked:
        lic = factories.licence(holder=factories.holder(email=EMAIL))
        HolderLink.objects.create(user=user, holder=lic.holder, method="licence_form")
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client, user


def anonymous() -> Client:
    return Client()


def signed_in() -> Client:
    return holder_account()[0]


def not_linked() -> Client:
    return holder_account(linked=False)[0]


def between_password_and_code() -> Client:
    """An account whose password was right, asked for its second factor's code."""
    _signed_in, user = holder_account()
    client = Client()
    session = client.session
    session[PENDING] = {"user": user.pk, "at": int(time.time()), "next": ""}
    session.save()
    return client


def reset_link_followed() -> tuple[Client, str]:
    """An account that followed its reset link: Django keeps the token in the session and shows the form at
    .../set-password/."""
    _signed_in, user = holder_account(linked=False)
    client = Client()
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    landing = client.get(
        reverse("accounts:password_reset_confirm", args=[uid, default_token_generator.make_token(user)])
    )
    assert landing.status_code == 302
    return client, landing["Location"]


@dataclass(frozen=True)
class Form:
    """How to submit a route's form with an invalid value, and a sentence the page must then show."""

    who: Callable[[], Any]
    data: dict[str, str]
    shows: str
    method: str = "post"
    url: str = ""  # when the form is not at the route's own address (the reset form after its link)
    summary: bool = False  # the page has an error summary at the top (id="erreurs")
    args: list[Any] = field(default_factory=list)


BAD_OFFENCE = {**EXAMPLE_OFFENCE, "final_on": "2024-06-01"}  # paid before it was committed

# Route -> its invalid submission.
FORMS: dict[str, Form] = {
    "accounts:login": Form(anonymous, {"email": "pas-une-adresse", "password": ""}, "Saisissez une adresse"),
    "accounts:totp_login": Form(between_password_and_code, {"code": ""}, "Ce champ est obligatoire"),
    "accounts:signup": Form(
        anonymous, {"email": EMAIL, "password1": "a", "password2": "b"}, "pas identiques"
    ),
    "accounts:resend": Form(anonymous, {"email": "pas-une-adresse"}, "Saisissez une adresse"),
    "accounts:link": Form(not_linked, {"number": "", "dossier_number": ""}, "Ce champ est obligatoire"),
    "accounts:totp_setup": Form(signed_in, {"code": ""}, "Ce champ est obligatoire"),
    "accounts:password_reset": Form(anonymous, {"email": "pas-une-adresse"}, "Saisissez une adresse"),
    "accounts:password_reset_confirm": Form(
        reset_link_followed,
        {"new_password1": "une phrase", "new_password2": "une autre"},
        "ne correspondent pas",
    ),
    "portal:simulator": Form(
        anonymous, simulator_data(offences=[BAD_OFFENCE]), "ne peut pas précéder", summary=True
    ),
    "dossier:simulator": Form(signed_in, {}, "Cochez « Ajouter une infraction »", summary=True),
    "demarches:preferences": Form(signed_in, {"channel": "electronic"}, "Votre choix n’a pas été enregistré"),
    "demarches:share": Form(signed_in, {"days": "31"}, "Sélectionnez un choix valide"),
    "demarches:courses": Form(signed_in, {"postcode": "69 00"}, "n’est pas un code postal", method="get"),
    "demarches:corrections": Form(
        signed_in, {"concerned": "autre", "message": ""}, "Décrivez ce qui est inexact.", summary=True
    ),
}

# Route -> why an invalid submission is not answered by the page with its errors (or there is no form).
OTHERS: dict[str, str] = {
    # Actions posted from another page, which they send back to (the expected flow).
    "accounts:totp_disable": "posted from the security page; a wrong code goes back there with a message (302)",
    "accounts:logout": "a button, no field",
    "accounts:logout_everywhere": "a button, no field",
    "accounts:app_session_revoke": "a button, no field; another account's application session is a 404",
    "demarches:share_revoke": "a button; another holder's code is a 404",
    # A filter whose unknown value is ignored: the page shows every year, no error to show.
    "dossier:history": "the year filter (a list of the years of the file): an unknown year shows them all",
    # Pages without a form of their own, links, redirects and documents.
    "accounts:fc_login": "sends to FranceConnect",
    "accounts:fc_callback": "FranceConnect's return",
    "accounts:fc_failed": "a page (400)",
    "accounts:verify": "the email's link: 400 when not valid, with the form of accounts:resend",
    "demarches:preferences_confirm": "the email's link: a button, no field; 400 or 410 when the link is not valid",
    "accounts:home": "a redirect",
    "accounts:security": "a page; its forms post to totp_setup, totp_disable, app_session_revoke and "
    "logout_everywhere",
    "accounts:logged_out": "a page",
    "accounts:password_reset_done": "a page",
    "accounts:password_reset_complete": "a page",
    "portal:home": "a redirect",
    "dossier:dashboard": "a page",
    "dossier:forecast": "a page",
    "dossier:forecast_ics": "a calendar file",
    "dossier:digital_licence": "a page",
    "demarches:notices": "a page",
    "demarches:notice": "a page",
    "demarches:notice_pdf": "a PDF",
    "demarches:documents": "a page",
    "demarches:attestation_pdf": "a PDF",
    "demarches:rii_pdf": "a PDF",
    "demarches:access_log": "a page",
    "demarches:correction": "a page (one of the holder's correction requests; another holder's is a 404)",
}


def route_names() -> set[str]:
    names = set()
    for name in URLCONFS:
        module = import_module(name)
        for pattern in module.urlpatterns:
            assert isinstance(pattern, URLPattern), f"{name}: an include, walk it here"
            names.add(f"{module.app_name}:{pattern.name}")
    return names


def test_every_route_is_in_the_inventory() -> None:
    assert not set(FORMS) & set(OTHERS)
    assert route_names() == set(FORMS) | set(OTHERS)


def submit(name: str, form: Form) -> Any:
    who = form.who()
    client, url = who if isinstance(who, tuple) else (who, form.url or reverse(name, args=form.args))
    return getattr(client, form.method)(url, form.data)


def test_each_form_answers_an_invalid_submission_with_400() -> None:
    """The list of each form's status, in one look: every one 400."""
    statuses = {}
    for name, form in FORMS.items():
        statuses[name] = submit(name, form).status_code
        User.objects.all().delete()  # the next form's account takes the same address
    assert statuses == dict.fromkeys(FORMS, 400)


@pytest.mark.parametrize("name", sorted(FORMS))
def test_an_invalid_submission_shows_the_same_page_with_its_errors(name: str) -> None:
    form = FORMS[name]
    response = submit(name, form)
    assert response.status_code == 400
    page = response.content.decode()
    assert "<title>Erreur : " in page
    assert form.shows in page, form.shows
    if form.summary:
        assert 'id="erreurs"' in page
