"""The pages of an error (403, 404, 500) are the site's, in French (English under /en/), and say what to do; the
API keeps answering JSON (review of the back office, finding 4)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory, override_settings
from django.utils import translation

from permis.config import errors
from tests.backoffice.helpers import agent, client_for, file_in

pytestmark = pytest.mark.django_db


def h1s(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<h1[^>]*>(.*?)</h1>", html, re.S)]


def page(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert 'class="fr-skiplinks"' in html and 'href="#content"' in html and 'id="content"' in html
    assert 'id="footer"' in html
    return html


@override_settings(DEBUG=False)
def test_a_file_outside_the_agents_departements_says_so_in_french() -> None:
    lic = file_in("67000")
    response = client_for(agent(departements=("75", "92"))).get(f"/gestion/dossiers/{lic.pk}/")
    assert response.status_code == 403
    html = page(response)
    assert '<html lang="fr"' in html
    assert h1s(html) == ["Vous n’avez pas accès à cette page"]
    assert "Ce dossier ne relève pas de vos départements." in html
    assert "Vos départements : 75, 92." in html
    assert 'href="/gestion/">Retour à l’espace de gestion</a>' in html
    assert "this file is not one of your" not in html  # the view's message is for the logs
    assert "403 Forbidden" not in html


@override_settings(DEBUG=False)
def test_a_centre_outside_the_agents_departements_says_so() -> None:
    from permis.courses.models import CourseCentre

    centre = CourseCentre.objects.create(
        name="Centre test",
        approval_number="R1301300010",
        address="1 rue X",
        postcode="13001",
        city="Marseille",
        departement="13",
        approved_on="2020-01-01",
    )
    response = client_for(agent(departements=("75",))).get(f"/gestion/centres/{centre.pk}/retrait/")
    assert response.status_code == 403
    assert "Ce centre de stage ne relève pas de vos départements." in page(response)


@override_settings(DEBUG=False)
def test_a_page_of_another_role_and_a_holder_in_the_back_office() -> None:
    response = client_for(agent()).get("/gestion/tableau-de-bord/")
    assert response.status_code == 403
    html = page(response)
    assert "Votre rôle ne donne pas accès à cette page." in html
    assert "Vos départements" not in html
    holder = client_for(User.objects.create_user("holder", password="x"))
    html = page(holder.get("/gestion/dossiers/"))
    assert "Cette page est réservée aux agents de l’administration." in html
    assert 'href="/">Retour à l’accueil</a>' in html


@override_settings(DEBUG=False)
def test_an_unknown_file_and_an_unknown_address_are_a_french_404() -> None:
    response = client_for(agent()).get("/gestion/dossiers/999999/")
    assert response.status_code == 404
    html = page(response)
    assert h1s(html) == ["Page introuvable"]
    assert "The requested resource was not found" not in html
    assert 'href="/gestion/">Retour à l’espace de gestion</a>' in html

    html = page(Client().get("/cette-page-n-existe-pas/"))
    assert h1s(html) == ["Page introuvable"]
    assert 'href="/">Retour à l’accueil</a>' in html

    holder = client_for(User.objects.create_user("holder", password="x"))
    response = holder.get("/mon-espace/inconnu/")
    assert response.status_code == 404
    assert 'href="/compte/">Retour à mon espace</a>' in page(response)


@override_settings(DEBUG=False)
def test_the_english_pages_are_in_english_under_en() -> None:
    lic = file_in("67000")
    html = page(client_for(agent()).get(f"/en/gestion/dossiers/{lic.pk}/"))
    assert '<html lang="en"' in html
    assert 'href="/en/gestion/"' in html
    html = page(Client().get("/en/nowhere/"))
    assert '<html lang="en"' in html
    assert 'href="/en/"' in html


@override_settings(DEBUG=False)
def test_english_wording_once_translated() -> None:
    """Needs the English of the new strings in src/permis/locale/en (see the report of this change)."""
    html = page(Client().get("/en/nowhere/"))
    assert h1s(html) == ["Page not found"]


@override_settings(DEBUG=False, ROOT_URLCONF="tests.config.error_urls")
def test_a_server_error_is_the_sites_500_page() -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    html = page(response)
    assert '<html lang="fr"' in html
    assert h1s(html) == ["Erreur inattendue"]
    assert "Réessayez dans quelques minutes." in html
    assert 'href="/">Retour à l’accueil</a>' in html
    english = client.get("/en/boom/")
    assert english.status_code == 500
    assert '<html lang="en"' in english.content.decode()


@pytest.mark.django_db(transaction=False)
def test_the_500_page_needs_no_database_nor_request(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/boom/")
    with translation.override("fr"), django_assert_num_queries(0):
        response = errors.server_error(request)
    assert response.status_code == 500
    assert h1s(response.content.decode()) == ["Erreur inattendue"]


@override_settings(DEBUG=False, ROOT_URLCONF="tests.config.error_urls")
def test_the_api_keeps_answering_json() -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}
    response = client.get("/api/v2/anything")
    assert response.status_code == 404
    assert response.json() == {"error": "no such endpoint: /api/v2/anything"}
    response = client.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    request = RequestFactory().get("/api/v1/police/licences/X")
    response = errors.permission_denied(request, None)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")


def test_every_refusal_of_the_agents_pages_has_its_words() -> None:
    """A view's refusal message is the key of its French reason: a message changed or added without its words
    would show no reason on the page."""
    from pathlib import Path

    package = Path(errors.__file__).resolve().parents[1]
    raised = set()
    for source in package.rglob("*.py"):
        raised |= set(re.findall(r'PermissionDenied\("([^"]+)"\)', source.read_text(encoding="utf-8")))
    assert raised == set(errors.DENIALS) | {errors.OTHER_ROLE}


def test_a_form_refused_by_the_csrf_protection_says_what_to_do() -> None:
    """A form posted without its token (a page left open too long, cookies blocked): the site's page, nothing
    recorded; the API answers JSON."""
    client = Client(enforce_csrf_checks=True)
    response = client.post("/compte/connexion/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    html = page(response)
    assert h1s(html) == ["Ce formulaire n’a pas pu être envoyé"]
    assert "Rien n’a été enregistré." in html and "cookies" in html
    factory = RequestFactory()
    api = errors.csrf_failure(factory.post("/api/v1/nothing"), reason="CSRF cookie not set.")
    assert api.status_code == 403 and api["Content-Type"] == "application/json"
