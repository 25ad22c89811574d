"""The holder's space and the account pages in English (/en/), in a real browser, on a desktop and a phone, as
the French ones are checked: axe-core finds no violation, no page scrolls sideways, screenshots under
test-artifacts/. Also the digital licence renewing its code in place (no reload) with the browser's clock run on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from permis.accounts.models import Account

from .test_demarches import make_holder_session, sign_in
from .test_simulator import assert_no_axe_violation, assert_no_horizontal_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def holder_session(live_server: Any) -> dict[str, Any]:
    return make_holder_session()


SPACE_PAGES = [
    ("", "My points balance", "dashboard"),
    ("historique/", "History of my balance", "history"),
    ("previsions/", "Forecast: the points to come", "forecast"),
    ("simulateur/", "Simulate an offence or a course", "simulator"),
    ("permis-numerique/", "My digital licence", "digital-licence"),
    ("courriers/", "My letters", "notices"),
    ("courriers/{notice}/", "Letter 48", "notice"),
    ("notifications/", "My notifications", "preferences"),
    ("documents/", "My documents", "documents"),
    ("stages/?postcode=69003", "Points recovery courses", "courses"),
    ("partage/", "Share my right to drive", "share"),
    ("consultations/", "Who consulted my file", "access-log"),
]
# The account pages anyone sees, then those of a signed-in account without a licence linked yet.
ACCOUNT_PAGES = [
    ("connexion/", "login"),
    ("inscription/", "signup"),
    ("verification/renvoyer/", "resend"),
    ("mot-de-passe/", "password-reset"),
]
ACCOUNT_PAGES_SIGNED_IN = [
    ("rattachement/", "link"),
    ("securite/", "security"),
    ("securite/double-authentification/", "totp-setup"),
]


def _check(page: Any, device: str, shot: Path) -> None:
    assert page.evaluate("document.documentElement.lang") == "en"
    if device == "phone":
        assert_no_horizontal_scroll(page)
    assert_no_axe_violation(page)
    page.screenshot(path=str(shot), full_page=True)


def _space(page: Any, live_server: Any, session: dict, artifacts: Path, device: str) -> None:
    sign_in(page, live_server, session)
    (artifacts / "portal").mkdir(exist_ok=True)
    for path, heading, name in SPACE_PAGES:
        page.goto(f"{live_server.url}/en/mon-espace/{path.format(**session)}")
        page.get_by_role("heading", level=1).filter(has_text=heading).wait_for()
        _check(page, device, artifacts / "portal" / f"en-{name}-{device}.png")


def test_the_english_space_on_a_desktop(
    page: Any, live_server: Any, artifacts: Path, holder_session: dict
) -> None:
    _space(page, live_server, holder_session, artifacts, "desktop")


def test_the_english_space_on_a_phone(
    phone: Any, live_server: Any, artifacts: Path, holder_session: dict
) -> None:
    _space(phone, live_server, holder_session, artifacts, "phone")


def _accounts(page: Any, live_server: Any, artifacts: Path, device: str) -> None:
    for path, name in ACCOUNT_PAGES:
        page.goto(f"{live_server.url}/en/compte/{path}")
        page.get_by_role("heading", level=1).wait_for()
        _check(page, device, artifacts / f"accounts-en-{name}-{device}.png")
    user = User.objects.create_user("ines@example.fr", "ines@example.fr", "une phrase de passe solide")
    Account.objects.create(user=user, email_verified_at=timezone.now())
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    for path, name in ACCOUNT_PAGES_SIGNED_IN:
        page.goto(f"{live_server.url}/en/compte/{path}")
        page.get_by_role("heading", level=1).wait_for()
        _check(page, device, artifacts / f"accounts-en-{name}-{device}.png")


def test_the_english_account_pages_on_a_desktop(page: Any, live_server: Any, artifacts: Path) -> None:
    _accounts(page, live_server, artifacts, "desktop")


def test_the_english_account_pages_on_a_phone(phone: Any, live_server: Any, artifacts: Path) -> None:
    _accounts(phone, live_server, artifacts, "phone")


def test_the_digital_licence_renews_its_code_in_place_and_keeps_the_focus(
    page: Any, live_server: Any, holder_session: dict
) -> None:
    """9.5 minutes later the QR, its validity and its text are new, the page was not reloaded, the focus is
    where the person left it, and the polite live region says the code was renewed."""
    sign_in(page, live_server, holder_session)
    page.clock.install()
    page.goto(f"{live_server.url}/mon-espace/permis-numerique/")
    page.get_by_role("heading", level=1, name="Mon permis numérique").wait_for()
    before = page.locator("#qr-text").text_content()
    page.evaluate("window.permisNotReloaded = true")
    page.locator("#qr-refresh").focus()
    time.sleep(1.1)  # the server's clock is the real one: the new code's expiry is a second later at least
    page.clock.fast_forward(570_000)
    page.locator("#qr-status").filter(has_text="Le code QR a été renouvelé.").wait_for(state="attached")
    assert page.evaluate("window.permisNotReloaded") is True
    assert page.evaluate("document.activeElement.id") == "qr-refresh"
    assert page.locator("#qr-text").text_content() != before
    assert page.locator("#qr-status").get_attribute("aria-live") == "polite"
    assert "Valable jusqu’à" in (page.locator("#qr-status").text_content() or "")
