"""The holder's errands in a real browser, on a desktop and a phone: every page, axe-core finds no violation,
screenshots under test-artifacts/portal/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from permis.accounts.models import Account, HolderLink
from permis.audit import services as audit
from permis.courses.models import CourseCentre, CourseSession
from permis.notices import confirmation, legal, preferences, services
from permis.notices.models import Channel, Delivery
from permis.registry.models import Holder, Notice
from tests.notices.document_helpers import licence_with

from .test_simulator import assert_no_axe_violation, assert_no_horizontal_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    ("courriers/", "Mes courriers", "notices"),
    ("courriers/{notice}/", "Lettre 48", "notice"),
    ("notifications/", "Mes notifications", "preferences"),
    ("notifications/confirmer/{confirm}/", "Confirmer votre adresse électronique", "preferences-confirm"),
    ("documents/", "Mes documents", "documents"),
    ("stages/?postcode=69003", "Stages de récupération de points", "courses"),
    ("partage/", "Partager mon droit à conduire", "share"),
    ("consultations/", "Consultations de mon dossier", "access-log"),
]


@pytest.fixture
def holder_session(live_server: Any) -> dict[str, Any]:
    """The holder's session, with a change of address waiting for its confirmation (the notifications page says
    so, and the link's page is visited)."""
    session = make_holder_session()
    holder = Holder.objects.get(account_links__user__username="camille")
    _row, session["confirm"] = confirmation.request(
        holder,
        sms=False,
        email="camille.nouvelle@example.fr",
        phone=None,
        accepted_text_version=preferences.current_version("electronic"),
        recorded_by=f"holder:{holder.pk}",
    )
    return session


def make_holder_session() -> dict[str, Any]:
    """A holder with a letter in the account, sessions near home, a consultation and a used share code; the
    session cookie of their signed-in account (also for the English pages, test_english_pages)."""
    lic = licence_with("48")
    Holder.objects.filter(pk=lic.holder_id).update(notice_channel="electronic", email="camille@example.fr")
    notice = Notice.objects.get(licence=lic, code="48")
    services.plan_deliveries(now=timezone.now())
    legal.make_available(Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT), timezone.now())
    centre = CourseCentre.objects.create(
        name="Stage Lyon Part-Dieu",
        approval_number="R2069001",
        address="1 rue de la Gare",
        postcode="69003",
        city="Lyon",
        departement="69",
        approved_on=dt.date(2020, 1, 1),
    )
    soon = timezone.localdate() + dt.timedelta(days=12)
    CourseSession.objects.create(
        centre=centre,
        first_day=soon,
        last_day=soon + dt.timedelta(days=1),
        place="Hôtel Ibis, Lyon 3e",
        price_cents=24950,
        seats=20,
        seats_taken=4,
    )
    holder = Holder.objects.get(pk=lic.holder_id)
    audit.log_access(
        actor="user:1",
        actor_label="Brigade de Villeurbanne",
        role="police",
        holder=holder,
        licence=lic,
        purpose="roadside_check",
        shown=["identité", "solde"],
        channel="back_office",
    )
    _share, code = audit.create_share(holder, 7, "Loueur")
    audit.check_share(code, requester_label="Loc'Auto", purpose="location")
    user = User.objects.create_user("camille", password="x" * 20)
    Account.objects.create(user=user)  # a holders' account: only those see a file
    HolderLink.objects.create(user=user, holder=holder, method="licence_form")
    client = Client()
    client.force_login(user)
    return {"notice": notice.pk, "sessionid": client.cookies["sessionid"].value}


def sign_in(page: Any, live_server: Any, session: dict[str, Any]) -> None:
    page.context.add_cookies([{"name": "sessionid", "value": session["sessionid"], "url": live_server.url}])


def visit_every_page(
    page: Any, live_server: Any, session: dict[str, Any], artifacts: Path, device: str
) -> None:
    (artifacts / "portal").mkdir(exist_ok=True)
    for path, heading, name in PAGES:
        page.goto(f"{live_server.url}/mon-espace/{path.format(**session)}")
        page.get_by_role("heading", level=1).filter(has_text=heading).wait_for()
        if device == "phone":
            assert_no_horizontal_scroll(page)
        assert_no_axe_violation(page)
        page.screenshot(path=str(artifacts / "portal" / f"demarches-{name}-{device}.png"), full_page=True)


def test_every_page_on_a_desktop(page: Any, live_server: Any, artifacts: Path, holder_session: dict) -> None:
    sign_in(page, live_server, holder_session)
    visit_every_page(page, live_server, holder_session, artifacts, "desktop")


def test_every_page_on_a_phone(phone: Any, live_server: Any, artifacts: Path, holder_session: dict) -> None:
    sign_in(phone, live_server, holder_session)
    visit_every_page(phone, live_server, holder_session, artifacts, "phone")


def test_a_holder_opts_in_creates_a_code_and_revokes_it(
    page: Any, live_server: Any, artifacts: Path, holder_session: dict
) -> None:
    sign_in(page, live_server, holder_session)
    page.goto(f"{live_server.url}/mon-espace/notifications/")
    page.get_by_role("button", name="Enregistrer mon choix").click()
    page.get_by_text("Cochez cette case pour enregistrer votre choix").first.wait_for()
    assert_no_axe_violation(page)
    page.locator("label[for=id_accept]").click()
    page.get_by_role("button", name="Enregistrer mon choix").click()
    page.get_by_text("Votre choix est enregistré").wait_for()
    assert_no_axe_violation(page)
    page.goto(f"{live_server.url}/mon-espace/partage/")
    page.get_by_label("Durée de validité du code").select_option("14")
    page.get_by_role("button", name="Créer le code").click()
    code = page.locator("#share-code").inner_text()
    assert len(code.replace("-", "")) == 10
    assert_no_axe_violation(page)
    page.screenshot(path=str(artifacts / "portal" / "demarches-share-created-desktop.png"), full_page=True)
    page.get_by_role("button", name=f"Révoquer le code « {code[-2:]} »").click()
    page.get_by_text("est révoqué").wait_for()
    assert audit.check_share(code, requester_label="Loc'Auto") is None
