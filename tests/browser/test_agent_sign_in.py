"""An agent's first sign-in in a real browser: the password, the enrolment of the second factor (QR code, key,
a code), the recovery codes; then a later sign-in with the code. axe-core finds no violation on any step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from permis.accounts import totp
from tests.backoffice.helpers import PASSWORD, agent, enrolment_code, next_code

from .test_backoffice import no_axe_violation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def password(page: Any, live_server: Any, login: str) -> None:
    page.goto(f"{live_server.url}/gestion/dossiers/")
    page.get_by_role("heading", level=1, name="Connexion des agents").wait_for()
    page.get_by_label("Identifiant", exact=True).fill(login)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


def test_an_agent_sets_up_the_second_factor_then_signs_in_with_a_code(
    page: Any, live_server: Any, artifacts: Path
) -> None:
    folder = artifacts / "backoffice"
    folder.mkdir(parents=True, exist_ok=True)
    user = agent(login="camille")
    handed = enrolment_code(user)
    password(page, live_server, "camille")
    page.get_by_role("heading", level=1, name="Activer la validation en deux étapes").wait_for()
    assert page.locator(".permis-qr svg").is_visible()
    no_axe_violation(page)
    page.screenshot(path=str(folder / "sign-in-enrol.png"), full_page=True)
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code d’activation").fill(handed)
    field = page.get_by_label("Code à 6 chiffres")
    assert field.get_attribute("autocomplete") == "one-time-code"
    assert field.get_attribute("inputmode") == "numeric"
    # A wrong code: the message under the field, which names it for screen readers.
    field.fill(totp.code_at(secret, totp.now_step() + 5))
    page.get_by_role("button", name="Activer et me connecter").click()
    page.get_by_text("Ce code n’est pas valable").wait_for()
    assert page.get_by_label("Code à 6 chiffres").get_attribute("aria-describedby") == "id_code_error"
    no_axe_violation(page)
    page.get_by_label("Code à 6 chiffres").fill(totp.code_at(secret, totp.now_step()))
    page.get_by_role("button", name="Activer et me connecter").click()
    page.get_by_role("heading", level=1, name="Vos codes de secours").wait_for()
    assert page.locator("#recovery-codes li").count() == 10
    no_axe_violation(page)
    page.get_by_role("link", name="J’ai noté mes codes : continuer").click()
    page.get_by_role("heading", level=1, name="Rechercher un dossier").wait_for()

    page.locator(".fr-header__tools").get_by_role("button", name="Se déconnecter").click()
    page.get_by_role("heading", level=1, name="Connexion des agents").wait_for()
    password(page, live_server, "camille")
    page.get_by_role("heading", level=1, name="Validation en deux étapes").wait_for()
    no_axe_violation(page)
    page.screenshot(path=str(folder / "sign-in-code.png"), full_page=True)
    page.get_by_label("Code à 6 chiffres").fill(next_code(user))
    page.get_by_role("button", name="Valider", exact=True).click()
    page.get_by_role("heading", level=1, name="Rechercher un dossier").wait_for()
