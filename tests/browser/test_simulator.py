"""A person uses the simulator in a real browser, on a desktop and on a phone; axe-core finds no violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

pytestmark = pytest.mark.browser

AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}


def open_simulator(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/simulateur/")
    page.get_by_role("heading", level=1, name="Simulateur du solde de points").wait_for()


def fill_engine_io_example(page: Any) -> None:
    """ENGINE-IO.md's example, typed the way a person would, through the labels."""
    page.get_by_label("Date d’obtention du permis").fill("2024-04-01")
    page.get_by_label("Apprentissage traditionnel").check()
    offence = page.get_by_role("group", name="Infraction 1")
    offence.get_by_label("Date de l’infraction").fill("2024-07-01")
    offence.get_by_label("Date à laquelle l’infraction est devenue définitive").fill("2024-07-10")
    offence.get_by_label("Nombre de points retirés").fill("3")
    offence.get_by_label("Classe de l’infraction").select_option("C4")
    course = page.get_by_role("group", name="Stage 1")
    course.get_by_label("Premier jour du stage").fill("2024-10-14")
    course.get_by_label("Dernier jour du stage").fill("2024-10-15")
    course.get_by_label("Type de stage").select_option("mandatory")
    page.get_by_label("Date du calcul", exact=False).first.fill("2024-10-16")


def calculate(page: Any) -> None:
    page.get_by_role("button", name="Calculer le solde").last.click()
    page.wait_for_load_state("load")


def assert_no_axe_violation(page: Any) -> None:
    results = Axe().run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, results.generate_report()


def assert_no_horizontal_scroll(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def test_a_person_reads_six_points_for_the_engine_io_example(
    page: Any, live_server: Any, artifacts: Path
) -> None:
    open_simulator(page, live_server)
    fill_engine_io_example(page)
    calculate(page)
    assert page.locator("#balance").inner_text() == "6"
    assert "sur 6 au maximum" in page.locator(".permis-balance").inner_text()
    # Keyboard and screen-reader users land on the answer.
    assert page.evaluate("document.activeElement.id") == "resultat-title"
    assert page.get_by_role("img", name="Solde de points et maximum au fil du temps").is_visible()
    page.screenshot(path=str(artifacts / "simulator-result-desktop.png"), full_page=True)


def test_the_same_on_a_phone(phone: Any, live_server: Any, artifacts: Path) -> None:
    open_simulator(phone, live_server)
    assert_no_horizontal_scroll(phone)
    fill_engine_io_example(phone)
    calculate(phone)
    assert phone.locator("#balance").inner_text() == "6"
    assert phone.locator("#balance").is_visible()
    assert_no_horizontal_scroll(phone)
    phone.screenshot(path=str(artifacts / "simulator-result-phone.png"), full_page=True)


def test_enter_in_a_field_calculates_rather_than_adding_a_row(page: Any, live_server: Any) -> None:
    open_simulator(page, live_server)
    fill_engine_io_example(page)
    page.get_by_label("Date du calcul", exact=False).first.press("Enter")
    page.locator("#balance").wait_for()
    assert page.locator("#balance").inner_text() == "6"
    assert page.get_by_role("group", name="Infraction 2").count() == 0


def test_adding_a_row_works_and_puts_the_focus_in_it(page: Any, live_server: Any) -> None:
    open_simulator(page, live_server)
    page.get_by_role("group", name="Infraction 1").get_by_label("Date de l’infraction").fill("2024-07-01")
    page.get_by_role("button", name="Ajouter une infraction").click()
    page.get_by_role("group", name="Infraction 2").wait_for()
    assert (
        page.get_by_role("group", name="Infraction 1").get_by_label("Date de l’infraction").input_value()
        == "2024-07-01"
    )
    focused = page.evaluate("document.activeElement.id")
    assert focused == "id_offences-1-committed_on"


def test_the_empty_page_has_no_accessibility_violation(page: Any, live_server: Any, artifacts: Path) -> None:
    open_simulator(page, live_server)
    assert_no_axe_violation(page)
    page.screenshot(path=str(artifacts / "simulator-empty-desktop.png"), full_page=True)


def test_the_result_page_has_no_accessibility_violation(page: Any, live_server: Any) -> None:
    open_simulator(page, live_server)
    fill_engine_io_example(page)
    calculate(page)
    page.locator("#balance").wait_for()
    assert_no_axe_violation(page)


def test_the_error_page_has_no_accessibility_violation(page: Any, live_server: Any, artifacts: Path) -> None:
    open_simulator(page, live_server)
    fill_engine_io_example(page)
    # A code the form accepts but the engine's barème does not know: the engine's problem comes back to the field.
    offence = page.get_by_role("group", name="Infraction 1")
    offence.get_by_label("Nombre de points retirés").fill("")
    offence.get_by_label("Classe de l’infraction").select_option("")
    offence.get_by_label("Code NATINF").fill("99999")
    calculate(page)
    summary = page.locator("#erreurs")
    summary.wait_for()
    assert page.evaluate("document.activeElement.id") == "erreurs"
    assert (
        "Infraction 1 – Code NATINF : Le code NATINF 99999 n’est pas dans le barème" in summary.inner_text()
    )
    assert offence.get_by_label("Code NATINF").get_attribute("aria-invalid") == "true"
    summary.get_by_role("link").first.click()
    assert page.url.endswith("#id_offences-0-natinf")
    assert_no_axe_violation(page)
    page.screenshot(path=str(artifacts / "simulator-error-desktop.png"), full_page=True)


def test_the_phone_pages_have_no_accessibility_violation(phone: Any, live_server: Any) -> None:
    open_simulator(phone, live_server)
    assert_no_axe_violation(phone)
    fill_engine_io_example(phone)
    calculate(phone)
    phone.locator("#balance").wait_for()
    assert_no_axe_violation(phone)
