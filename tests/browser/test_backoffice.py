"""Agents in a real browser: a search with its purpose, a 48SI receipt that invalidates the licence, a correction
asked by one agent and approved by another; axe-core finds no violation on any back-office page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.models import User

from permis.audit import services as audit
from permis.backoffice.models import CorrectionRequest
from permis.courses.models import CourseCentre
from permis.registry import services as registry
from permis.registry.models import Holder, Licence
from tests.backoffice.helpers import PASSWORD, agent, enrol, file_in, next_code
from tests.notices.legal_helpers import delivery, paris, zero_balance_licence
from tests.registry.factories import offence

from .conftest import DESKTOP
from .test_simulator import AXE_OPTIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def no_axe_violation(page: Any) -> None:
    results = Axe().run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, results.generate_report()


def shots(artifacts: Path) -> Path:
    folder = artifacts / "backoffice"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page: Any, live_server: Any, login: str, path: str = "/gestion/dossiers/") -> None:
    """The password, then the code of the agent's application, computed from its secret (set up here if the
    agent has none yet: tests/browser/test_agent_sign_in.py goes through the enrolment page itself)."""
    user = User.objects.get(username=login)
    if not user.agent_profile.totp_enabled:
        enrol(user)
    page.goto(f"{live_server.url}{path}")
    page.get_by_role("heading", level=1, name="Connexion des agents").wait_for()
    page.get_by_label("Identifiant", exact=True).fill(login)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("heading", level=1, name="Validation en deux étapes").wait_for()
    page.get_by_label("Code à 6 chiffres").fill(next_code(user))
    page.get_by_role("button", name="Valider", exact=True).click()
    page.wait_for_url(f"**{path}")


def search_and_open(page: Any, lic: Licence, folder: Path | None = None) -> None:
    page.get_by_role("heading", level=1, name="Rechercher un dossier").wait_for()
    page.get_by_label("Numéro de permis").fill(lic.number)
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_text("Indiquez le motif de la consultation.").first.wait_for()  # no purpose, no search
    if folder:
        no_axe_violation(page)
        page.screenshot(path=str(folder / "search-purpose-missing.png"), full_page=True)
    page.locator("#id_purpose").select_option("holder_request")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("heading", level=2, name="Résultats").wait_for()
    if folder:
        no_axe_violation(page)
        page.screenshot(path=str(folder / "search-results.png"), full_page=True)
    page.get_by_role("link", name=str(lic.holder)).click()
    page.get_by_role("heading", level=1, name=f"Dossier du permis {lic.number}").wait_for()


def test_an_agent_searches_with_a_purpose_and_reads_the_file(
    page: Any, live_server: Any, artifacts: Path
) -> None:
    folder = shots(artifacts)
    lic = file_in("75011")
    registry.record_event(
        lic,
        "offence",
        offence("2024-01-10", "2024-02-01", 3, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="B1",
    )
    agent(login="camille")
    page.goto(f"{live_server.url}/gestion/dossiers/")
    page.get_by_role("heading", level=1, name="Connexion des agents").wait_for()
    no_axe_violation(page)
    sign_in(page, live_server, "camille")
    no_axe_violation(page)
    search_and_open(page, lic, folder)
    assert page.get_by_text("Motif : Demande du titulaire").is_visible()
    assert page.locator("#licence-balance").inner_text() == "9 points sur 12"
    no_axe_violation(page)
    page.screenshot(path=str(folder / "file.png"), full_page=True)
    # Each record form, and the purpose page of a file opened by its address.
    for kind in ("remise", "suspension", "annulation", "nouveau-permis", "categorie", "avis-48si"):
        page.goto(f"{live_server.url}/gestion/dossiers/{lic.pk}/enregistrer/{kind}/")
        page.get_by_role("button", name="Enregistrer").wait_for()
        no_axe_violation(page)
    page.get_by_role("button", name="Enregistrer").click()  # the 48SI form, empty
    page.get_by_role("heading", name="Le formulaire contient des erreurs").wait_for()
    no_axe_violation(page)
    page.get_by_role("button", name="Fermer le dossier").count()
    page.goto(f"{live_server.url}/gestion/dossiers/{lic.pk}/")
    page.get_by_role("button", name="Fermer le dossier").click()
    page.goto(f"{live_server.url}/gestion/dossiers/{lic.pk}/")
    page.get_by_role("heading", level=1, name="Motif de la consultation").wait_for()
    no_axe_violation(page)
    page.screenshot(path=str(folder / "purpose.png"), full_page=True)


def test_an_agent_records_a_48si_receipt_and_sees_the_licence_invalidated(
    page: Any, live_server: Any, artifacts: Path
) -> None:
    folder = shots(artifacts)
    lic, letter_48si = zero_balance_licence()
    Holder.objects.filter(pk=lic.holder_id).update(postal_code="75011", city="Paris")
    lic.refresh_from_db()
    letter = delivery(letter_48si, "registered", sent_at=paris(2024, 4, 3, 9))
    agent(login="camille")
    sign_in(page, live_server, "camille")
    search_and_open(page, lic)
    assert page.locator("#licence-status").inner_text() == "Solde nul"
    page.get_by_role("link", name="Avis de réception de la 48SI").click()
    page.get_by_label("Lettre 48SI recommandée").select_option(str(letter.pk))
    page.locator("label", has_text="Distribuée (avis de réception signé)").click()
    page.get_by_label("Date de l’avis de réception").fill("2024-04-01")
    page.get_by_role("button", name="Enregistrer").click()
    page.get_by_text("Cette date précède l’envoi de la lettre").first.wait_for()
    no_axe_violation(page)
    page.screenshot(path=str(folder / "receipt-error.png"), full_page=True)
    page.get_by_label("Date de l’avis de réception").fill("2024-04-05")
    page.get_by_role("button", name="Enregistrer").click()
    page.get_by_role("heading", level=1, name=f"Dossier du permis {lic.number}").wait_for()
    assert page.locator("#licence-status").inner_text() == "Invalidé"
    assert page.get_by_text("Lettre 48SI notifiée").first.is_visible()
    no_axe_violation(page)
    page.screenshot(path=str(folder / "receipt-invalidated.png"), full_page=True)


def test_a_correction_is_asked_by_one_agent_and_approved_by_another(
    browser: Any, page: Any, live_server: Any, artifacts: Path
) -> None:
    folder = shots(artifacts)
    lic = file_in("75011")
    registry.record_event(
        lic,
        "offence",
        offence("2024-01-10", "2024-02-01", 4, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="C1",
    )
    agent(login="camille")
    agent(login="dominique")
    sign_in(page, live_server, "camille")
    search_and_open(page, lic)
    page.get_by_role("link", name="Demander une correction de l’événement e1").click()
    page.get_by_role("heading", level=1, name="Correction de l’événement e1").wait_for()
    no_axe_violation(page)
    page.get_by_label("Valeur « points »").fill("2")
    page.get_by_role("button", name="Demander la correction").click()
    page.get_by_text("Indiquez le motif de la correction.").first.wait_for()
    no_axe_violation(page)
    page.screenshot(path=str(folder / "correction-error.png"), full_page=True)
    page.get_by_label("Motif de la correction").fill(
        "Demande du titulaire : avis de contravention à 2 points"
    )
    page.get_by_role("button", name="Demander la correction").click()
    page.get_by_text("un second agent doit l’examiner").wait_for()
    assert page.locator("#licence-balance").inner_text() == "8 points sur 12"  # unchanged until reviewed
    request = CorrectionRequest.objects.get()
    page.get_by_role("link", name="Corrections à examiner").click()
    page.get_by_role("link", name=f"Examiner la demande n° {request.pk}").click()
    assert page.locator("#own-request").is_visible()
    no_axe_violation(page)

    second = browser.new_context(locale="fr-FR", viewport=DESKTOP).new_page()
    try:
        sign_in(second, live_server, "dominique", "/gestion/corrections/")
        no_axe_violation(second)
        second.screenshot(path=str(folder / "corrections.png"), full_page=True)
        assert lic.number not in second.content()  # the list shows nothing of the file
        second.get_by_role("link", name=f"Examiner la demande n° {request.pk}").click()
        second.get_by_role("heading", level=1, name="Motif de la consultation").wait_for()  # theirs, first
        second.locator("#id_purpose").select_option("correction")
        second.get_by_role("button", name="Ouvrir le dossier").click()
        second.get_by_role("heading", level=1, name="Examiner une demande de correction").wait_for()
        no_axe_violation(second)
        second.screenshot(path=str(folder / "review.png"), full_page=True)
        second.locator("label", has_text="Approuver la correction").click()
        second.get_by_role("button", name="Enregistrer la décision").click()
        second.get_by_text("Correction approuvée").wait_for()
        assert second.get_by_text("Aucune demande de correction en attente.").is_visible()
        no_axe_violation(second)
    finally:
        second.context.close()
    page.goto(f"{live_server.url}/gestion/dossiers/{lic.pk}/")
    assert page.locator("#licence-balance").inner_text() == "10 points sur 12"
    assert page.get_by_text("corrigé par e2").is_visible()
    no_axe_violation(page)
    page.screenshot(path=str(folder / "file-corrected.png"), full_page=True)


def test_the_auditor_reads_the_access_log(page: Any, live_server: Any, artifacts: Path) -> None:
    folder = shots(artifacts)
    lic = file_in("75011")
    for n, role in enumerate(("agent", "police", "third_party")):
        audit.log_access(
            actor=f"user:{n}",
            actor_label=f"Lecteur n° {n}",
            role=role,
            holder=lic.holder,
            licence=lic,
            purpose="licence_management",
            shown=["identité"],
            channel="back_office",
        )
    agent("auditor", (), login="claude")
    sign_in(page, live_server, "claude", "/gestion/journal/")
    page.get_by_role("heading", level=1, name="Journal des consultations").wait_for()
    assert page.get_by_role(
        "table", name="Entrées du journal, de la plus récente à la plus ancienne"
    ).is_visible()
    no_axe_violation(page)
    page.screenshot(path=str(folder / "journal.png"), full_page=True)
    page.get_by_label("Consultations à partir du").fill("2026-03-02")
    page.get_by_label("Consultations jusqu’au (inclus)").fill("2026-03-01")
    page.get_by_role("button", name="Filtrer").click()
    page.get_by_text("La date de fin ne peut pas précéder la date de début.").first.wait_for()
    no_axe_violation(page)
    page.get_by_role("link", name="Effacer les filtres").click()
    page.get_by_label("Numéro de permis").fill(lic.number)
    page.get_by_label("Qualité", exact=True).select_option("police")
    page.get_by_role("button", name="Filtrer").click()
    page.get_by_role(
        "table", name="Entrées du journal retenues par les filtres, de la plus récente à la plus ancienne"
    ).wait_for()
    assert page.get_by_text("Lecteur n° 1").is_visible() and page.get_by_text("Lecteur n° 0").count() == 0
    no_axe_violation(page)
    page.screenshot(path=str(folder / "journal-filtered.png"), full_page=True)


def test_supervisor_pages_and_course_centres(page: Any, live_server: Any, artifacts: Path) -> None:
    folder = shots(artifacts)
    agent("supervisor", (), login="sacha")
    sign_in(page, live_server, "sacha", "/gestion/tableau-de-bord/")
    page.get_by_role("heading", level=1, name="Tableau de bord").wait_for()
    no_axe_violation(page)
    page.screenshot(path=str(folder / "dashboard.png"), full_page=True)
    page.get_by_role("link", name="Rapports d’intégrité").first.click()
    page.get_by_role("heading", level=1, name="Rapports d’intégrité").wait_for()
    no_axe_violation(page)
    page.get_by_role("link", name="Centres de stage agréés").click()
    page.get_by_role("heading", level=1, name="Centres de stage agréés").wait_for()
    no_axe_violation(page)
    page.get_by_role("button", name="Agréer le centre").click()
    page.get_by_role("heading", name="Le formulaire contient des erreurs").wait_for()
    no_axe_violation(page)
    page.get_by_label("Nom du centre").fill("Prévention routière Lyon")
    page.get_by_label("Numéro d’agrément").fill("R-69-0001")
    page.get_by_label("Adresse", exact=True).fill("3 rue de la Paix")
    page.get_by_label("Code postal").fill("69003")
    page.get_by_label("Commune").fill("Lyon")
    page.locator("#id_departement").fill("69")
    page.get_by_label("Agréé à partir du").fill("2024-01-01")
    page.get_by_role("button", name="Agréer le centre").click()
    page.get_by_text("Centre « Prévention routière Lyon » agréé.").wait_for()
    no_axe_violation(page)
    page.screenshot(path=str(folder / "centres.png"), full_page=True)
    page.get_by_role("link", name="Retirer l’agrément de Prévention routière Lyon").click()
    page.get_by_role("heading", level=1, name="Retirer un agrément").wait_for()
    no_axe_violation(page)
    page.get_by_role("button", name="Retirer l’agrément").click()
    page.get_by_text("Agrément du centre « Prévention routière Lyon » retiré.").wait_for()
    assert CourseCentre.objects.get().withdrawn_on is not None
