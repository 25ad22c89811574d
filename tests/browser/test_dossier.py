"""The holder's own pages in a real browser, on a desktop and a phone: axe-core finds no violation on any of them.

Screenshots of every page go to test-artifacts/portal/.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from permis.accounts.models import Account, HolderLink
from permis.registry import services
from permis.registry.models import FeedRecord
from tests.registry.factories import holder as make_holder
from tests.registry.factories import licence as make_licence
from tests.registry.factories import offence

from .test_simulator import AXE_OPTIONS, assert_no_horizontal_scroll

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.portal.dossier_urls"),
]

PAGES = [
    ("/mon-espace/", "Mon solde de points", "dashboard"),
    ("/mon-espace/historique/", "Historique de mon solde", "history"),
    ("/mon-espace/previsions/", "Prévisions : les points à venir", "forecast"),
    ("/mon-espace/simulateur/", "Simuler une infraction ou un stage", "simulator"),
    ("/mon-espace/permis-numerique/", "Mon permis numérique", "digital-licence"),
]


def assert_no_axe_violation(page: Any) -> None:
    results = Axe().run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, results.generate_report()


@pytest.fixture
def signed_in_cookie() -> dict[str, str]:
    """A holder with a probationary licence and two offences, signed in: the session cookie."""
    cache.clear()
    today = timezone.localdate()
    lic = make_licence(
        today - dt.timedelta(days=700), on=today - dt.timedelta(days=690), holder=make_holder()
    )
    first = today - dt.timedelta(days=400)
    outcome = services.record_event(
        lic,
        "offence",
        offence(first.isoformat(), (first + dt.timedelta(days=20)).isoformat(), 2, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="B-1",
        on=first + dt.timedelta(days=21),
    )
    FeedRecord.objects.create(
        sender="ANTAI",
        source_ref="B-1",
        payload={"place": "Dijon (21231)"},
        outcome="accepted",
        event=outcome.event,
    )
    second = today - dt.timedelta(days=60)
    services.record_event(
        lic,
        "offence",
        offence(second.isoformat(), (second + dt.timedelta(days=10)).isoformat(), 3, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="B-2",
        on=second + dt.timedelta(days=11),
    )
    services.refresh(lic, today)
    user = get_user_model().objects.create_user("camille", password=None)
    Account.objects.create(user=user)  # a holders' account: only those see a file
    HolderLink.objects.create(user=user, holder=lic.holder, method="licence_form")
    client = Client()
    client.force_login(user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}


def _visit_all(page: Any, live_server: Any, cookie: dict[str, str], artifacts: Path, device: str) -> None:
    page.context.add_cookies([{**cookie, "url": live_server.url}])
    folder = artifacts / "portal"
    folder.mkdir(parents=True, exist_ok=True)
    for path, heading, name in PAGES:
        page.goto(f"{live_server.url}{path}")
        page.get_by_role("heading", level=1, name=heading).wait_for()
        if device == "phone":
            assert_no_horizontal_scroll(page)
        assert_no_axe_violation(page)
        page.screenshot(path=str(folder / f"dossier-{name}-{device}.png"), full_page=True)


def test_every_page_on_a_desktop(page: Any, live_server: Any, artifacts: Path, signed_in_cookie: Any) -> None:
    _visit_all(page, live_server, signed_in_cookie, artifacts, "desktop")
    # The year filter works without JavaScript's help (a GET form).
    page.goto(f"{live_server.url}/mon-espace/historique/")
    year = str(timezone.localdate().year)
    page.get_by_label("Afficher l’année").select_option(year)
    page.get_by_role("button", name="Filtrer").click()
    page.wait_for_url(f"**annee={year}")
    assert_no_axe_violation(page)
    # A simulation: an offence paid today, and the comparison with today's forecast.
    page.goto(f"{live_server.url}/mon-espace/simulateur/")
    page.get_by_label("Nombre de points retirés").fill("2")
    page.get_by_label("Classe de l’infraction").select_option("C4")
    page.get_by_role("button", name="Simuler").click()
    page.get_by_role("heading", level=2, name="Résultat de la simulation").wait_for()
    assert page.get_by_role("img", name="Solde de points").count() >= 1
    assert_no_axe_violation(page)
    page.screenshot(path=str(artifacts / "portal" / "dossier-simulator-result-desktop.png"), full_page=True)


def test_every_page_on_a_phone(phone: Any, live_server: Any, artifacts: Path, signed_in_cookie: Any) -> None:
    _visit_all(phone, live_server, signed_in_cookie, artifacts, "phone")
    phone.goto(f"{live_server.url}/mon-espace/simulateur/")
    phone.get_by_label("Nombre de points retirés").fill("2")
    phone.get_by_label("Classe de l’infraction").select_option("C4")
    phone.get_by_role("button", name="Simuler").click()
    phone.get_by_role("heading", level=2, name="Résultat de la simulation").wait_for()
    assert_no_horizontal_scroll(phone)
    assert_no_axe_violation(phone)
    phone.screenshot(path=str(artifacts / "portal" / "dossier-simulator-result-phone.png"), full_page=True)
