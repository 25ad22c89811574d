"""A password must not contain the e-mail address's local part nor the holder's names (issue 5's audit, G3:
``hugo.dubois2026`` was accepted for ``hugo.dubois@demo.permis.test``), through the sign-up and the reset forms."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from permis.accounts.models import Account, HolderLink
from permis.accounts.passwords import PersonalDataValidator, fold
from permis.registry.models import Holder

pytestmark = pytest.mark.django_db

HUGO = "hugo.dubois@demo.permis.test"
HAS_EMAIL = "Ce mot de passe contient une partie de votre adresse électronique"
HAS_NAME = "Ce mot de passe contient votre nom ou l’un de vos prénoms"


def signup(client: Client, email: str, password: str) -> Any:
    return client.post(
        reverse("accounts:signup"), {"email": email, "password1": password, "password2": password}
    )


def field_error(answer: Any, field: str) -> str:
    found = re.search(rf'id="id_{field}_error"[^>]*>(.*?)</p>', answer.content.decode(), re.S)
    return found.group(1) if found else ""


@pytest.mark.parametrize(
    "password",
    [
        "hugo.dubois2026",
        "Hugo-Dubois 2026!",
        "DUBOIS et les autres",
        "mon HUGO à moi, en 2026",
        "h.u.g.o vroum vroum",
    ],
)
def test_sign_up_refuses_the_address_s_local_part_however_written(client: Client, password: str) -> None:
    answer = signup(client, HUGO, password)
    assert answer.status_code == 400
    assert HAS_EMAIL in field_error(answer, "password1")
    assert not User.objects.exists()


def test_sign_up_still_takes_a_password_of_other_words(client: Client) -> None:
    answer = signup(client, HUGO, "trois chevaux sur la route")
    assert answer.status_code == 200 and User.objects.filter(username=HUGO).exists()


def reset_page(client: Client, user: User) -> str:
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    path = reverse(
        "accounts:password_reset_confirm",
        args=[urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)],
    )
    return client.get(path, follow=True).redirect_chain[-1][0]


def linked_account(camille: Any, email: str = "c.m@example.fr") -> User:
    user = User.objects.create_user(username=email, email=email, password="une phrase de passe solide")
    Account.objects.create(user=user, email_verified_at=timezone.now())
    HolderLink.objects.create(user=user, holder=camille.holder, method="licence_form")
    return user


@pytest.mark.parametrize(
    "password", ["toujours martin au volant", "Camille conduit prudemment", "ANNE-et-les-autres-2026"]
)
def test_the_reset_refuses_the_linked_holder_s_names(client: Client, camille: Any, password: str) -> None:
    user = linked_account(camille)
    page = reset_page(client, user)
    answer = client.post(page, {"new_password1": password, "new_password2": password})
    assert answer.status_code == 400
    assert HAS_NAME in field_error(answer, "new_password2")
    user.refresh_from_db()
    assert user.check_password("une phrase de passe solide")


def test_the_reset_folds_accents_and_takes_other_words(client: Client, camille: Any) -> None:
    Holder.objects.filter(pk=camille.holder_id).update(birth_name="LEFÈVRE", used_name="Dupont-Aignan")
    user = linked_account(camille)
    page = reset_page(client, user)
    for password in ("lefevre sur la route", "aignan sur la route"):
        answer = client.post(page, {"new_password1": password, "new_password2": password})
        assert answer.status_code == 400 and HAS_NAME in field_error(answer, "new_password2"), password
    fine = "trois chevaux sur la route"
    assert client.post(page, {"new_password1": fine, "new_password2": fine}).status_code == 302
    user.refresh_from_db()
    assert user.check_password(fine)


def test_the_validator_folds_both_sides() -> None:
    assert fold("Jean-Pierre O’Hara, né à Orléans") == "jeanpierreoharaneaorleans"
    validator = PersonalDataValidator()
    someone = User(username="eloise.li@example.fr", email="eloise.li@example.fr", first_name="Éloïse")
    for password in ("ÉLOÏSE au volant", "e-l-o-i-s-e au volant"):
        with pytest.raises(ValidationError):
            validator.validate(password, someone)
    validator.validate("linéaire et calme", someone)  # "li" is too short to count
    validator.validate("anything at all", None)
    assert "ni votre nom" in validator.get_help_text()
