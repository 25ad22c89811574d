"""An agent signs in and reads the delivery figures in a real browser; axe-core finds no violation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.models import Permission, User

from permis.backoffice.models import AgentProfile
from permis.notices import services
from permis.registry.models import Notice
from tests.backoffice.helpers import enrol, next_code
from tests.notices.test_delivery import due, person

from .test_simulator import AXE_OPTIONS, assert_no_horizontal_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def assert_no_axe_violation(page: Any) -> None:
    results = Axe().run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, results.generate_report()


@pytest.fixture
def agent_with_failures() -> User:
    user = User.objects.create_user("agent", password=PASSWORD)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="notices", codename__in=["view_delivery", "change_delivery"]
        )
    )
    # An agent of the 75, where the holders live: the failed letters listed are those of the agent's départements.
    AgentProfile.objects.create(user=user, role="agent", departements=["75"])
    enrol(user)  # its second factor: sign_in types the code its application would show
    due(person("post", address=""), "48")
    due(person("electronic"), "48")
    due(person("post"), "48SI")
    Notice.objects.update(due_on=dt.date(2020, 1, 1))
    services.plan_deliveries()
    return user


def sign_in(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/gestion/notifications/")
    page.get_by_role("heading", level=1, name="Connexion des agents").wait_for()
    assert_no_axe_violation(page)
    page.get_by_label("Identifiant", exact=True).fill("agent")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("heading", level=1, name="Validation en deux étapes").wait_for()
    assert_no_axe_violation(page)
    page.get_by_label("Code à 6 chiffres").fill(next_code(User.objects.get(username="agent")))
    page.get_by_role("button", name="Valider", exact=True).click()
    page.get_by_role("heading", level=1, name="Envoi des lettres").wait_for()


def test_an_agent_reads_the_figures_and_retries_a_failed_delivery(
    page: Any, live_server: Any, artifacts: Path, agent_with_failures: User
) -> None:
    sign_in(page, live_server)
    assert page.locator("#figure-failed").inner_text() == "1"
    assert page.get_by_role("img", name="Nombre d’envois par canal").is_visible()
    page.get_by_text("Les données du graphique sous forme de tableau").click()
    assert_no_axe_violation(page)
    page.screenshot(path=str(artifacts / "notices-agent-desktop.png"), full_page=True)
    page.get_by_role("button", name="Relancer").click()
    page.get_by_text("non relancé").wait_for()  # the address is still missing: said, not hidden
    assert_no_axe_violation(page)


def test_the_same_on_a_phone(
    phone: Any, live_server: Any, artifacts: Path, agent_with_failures: User
) -> None:
    sign_in(phone, live_server)
    assert_no_horizontal_scroll(phone)
    assert_no_axe_violation(phone)
    phone.screenshot(path=str(artifacts / "notices-agent-phone.png"), full_page=True)
