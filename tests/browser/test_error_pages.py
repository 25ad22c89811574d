"""The pages of an error (403, 404, 500) in a real browser: one h1 each, and no axe-core violation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.backoffice.helpers import agent, file_in

from .test_backoffice import no_axe_violation, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_404_page_in_french_and_english(page: Any, live_server: Any) -> None:
    response = page.goto(f"{live_server.url}/cette-page-n-existe-pas/")
    assert response.status == 404
    page.get_by_role("heading", level=1, name="Page introuvable").wait_for()
    assert page.locator("h1").count() == 1
    assert page.locator("html").get_attribute("lang") == "fr"
    no_axe_violation(page)
    page.get_by_role("link", name="Retour à l’accueil").click()
    page.get_by_role("heading", level=1, name="Simulateur du solde de points").wait_for()

    response = page.goto(f"{live_server.url}/en/nowhere/")
    assert response.status == 404
    assert page.locator("html").get_attribute("lang") == "en"
    no_axe_violation(page)


def test_the_403_page_of_a_file_outside_the_departements(page: Any, live_server: Any) -> None:
    lic = file_in("67000")
    agent(login="camille", departements=("75",))
    sign_in(page, live_server, "camille")
    response = page.goto(f"{live_server.url}/gestion/dossiers/{lic.pk}/")
    assert response.status == 403
    page.get_by_role("heading", level=1, name="Vous n’avez pas accès à cette page").wait_for()
    assert page.locator("h1").count() == 1
    page.get_by_text("Ce dossier ne relève pas de vos départements.").wait_for()
    no_axe_violation(page)
    page.get_by_role("link", name="Retour à l’espace de gestion").click()
    page.get_by_role("heading", level=1, name="Rechercher un dossier").wait_for()


def test_the_500_page(page: Any, live_server: Any, settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.config.error_urls"
    response = page.goto(f"{live_server.url}/boom/")
    assert response.status == 500
    page.get_by_role("heading", level=1, name="Erreur inattendue").wait_for()
    assert page.locator("h1").count() == 1
    no_axe_violation(page)
