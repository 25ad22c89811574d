"""A person checks a document on /verifier/ in a real browser, on a desktop and on a phone; axe finds nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from permis.notices import signing
from permis.notices.documents import render_attestation
from tests.notices.document_helpers import licence_with

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}


def assert_no_axe_violation(page: Any) -> None:
    results = Axe().run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, results.generate_report()


def assert_no_horizontal_scroll(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


@pytest.fixture
def attestation() -> bytes:
    # Issued today, so that it is in date whatever day the test runs.
    return render_attestation(licence_with("48"), timezone.localdate())


def open_verifier(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/verifier/")
    page.get_by_role("heading", level=1, name="Vérifier un document").wait_for()


def test_a_person_uploads_an_attestation_and_reads_that_it_is_genuine(
    page: Any, live_server: Any, artifacts: Path, attestation: bytes
) -> None:
    open_verifier(page, live_server)
    assert_no_axe_violation(page)
    page.get_by_label("Ou le fichier PDF du document").set_input_files(
        files=[{"name": "attestation.pdf", "mimeType": "application/pdf", "buffer": attestation}]
    )
    page.get_by_role("button", name="Vérifier", exact=True).click()
    page.wait_for_load_state("load")
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-outcome") == "valid"
    assert "Document authentique" in verdict.inner_text()
    facts = page.get_by_role("table", name="Ce que le document atteste").inner_text()
    assert "Attestation des droits à conduire" in facts and "Catégorie B" in facts
    assert "point" not in facts.lower()
    assert_no_axe_violation(page)
    page.screenshot(path=str(artifacts / "verifier-valid-desktop.png"), full_page=True)


def test_on_a_phone_a_changed_qr_text_is_caught_and_an_empty_form_explained(
    phone: Any, live_server: Any, artifacts: Path, attestation: bytes
) -> None:
    open_verifier(phone, live_server)
    assert_no_horizontal_scroll(phone)
    phone.get_by_role("button", name="Vérifier", exact=True).click()
    phone.wait_for_load_state("load")
    assert "Collez le texte du code QR" in phone.locator("#erreurs").inner_text()
    assert_no_axe_violation(phone)
    text = signing.pdf_qr_text(attestation)
    head, key, payload, sig = text.split(".")
    changed = f"{head}.{key}.{payload[:10]}{'A' if payload[10] != 'A' else 'B'}{payload[11:]}.{sig}"
    phone.get_by_label("Texte du code QR").fill(changed)
    phone.get_by_role("button", name="Vérifier", exact=True).click()
    phone.wait_for_load_state("load")
    assert phone.locator("#verdict").get_attribute("data-outcome") == "tampered"
    assert_no_horizontal_scroll(phone)
    assert_no_axe_violation(phone)
    phone.screenshot(path=str(artifacts / "verifier-tampered-phone.png"), full_page=True)
