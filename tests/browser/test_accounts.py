"""Getting in, in a real browser: FranceConnect (the development provider, over HTTP on loopback) with automatic
linking; a local account created, verified through the email aiosmtpd catches, linked with a wrong then the
right dossier number; the lockout. Desktop and phone; axe-core finds no violation; screenshots saved."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from permis.accounts.fcdev import FcDevServer
from permis.accounts.identities import NOBODY
from permis.accounts.models import HolderLink
from tests.accounts.conftest import identity_for, point_relying_party_at
from tests.notices.servers import SmtpServer
from tests.registry import factories

from .test_simulator import assert_no_axe_violation, assert_no_horizontal_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "une phrase de passe solide"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def camille() -> Any:
    return factories.licence(
        holder=factories.holder(
            birth_name="MARTIN",
            given_names="Camille Anne",
            birth_date=dt.date(1979, 4, 12),
            email="camille@example.fr",  # a local account links the file only with the file's address
        ),
        number="CAM0000000001",
        dossier_number="990000000101",
    )


@pytest.fixture
def fc(settings: Any, camille: Any) -> Iterator[FcDevServer]:
    """The development FranceConnect on a free loopback port, offering Camille and someone with no file."""
    identities = [identity_for(camille.holder), NOBODY]
    with FcDevServer(identities) as server:
        point_relying_party_at(settings, server)
        yield server


@pytest.fixture
def mailbox(settings: Any) -> Iterator[SmtpServer]:
    """aiosmtpd on a free loopback port (tests/notices/servers.py), Django's email settings pointed at it."""
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        yield server


@pytest.fixture(params=["desktop", "phone"])
def screen(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("page" if request.param == "desktop" else "phone")


def shot(page: Any, artifacts: Path, name: str) -> None:
    width = page.viewport_size["width"]
    page.screenshot(
        path=str(artifacts / f"accounts-{name}-{'phone' if width < 500 else 'desktop'}.png"), full_page=True
    )


def check(page: Any, artifacts: Path, name: str) -> None:
    assert_no_horizontal_scroll(page)
    assert_no_axe_violation(page)
    shot(page, artifacts, name)


def open_login(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/compte/connexion/")
    page.get_by_role("heading", level=1, name="Se connecter à mon espace").wait_for()


def choose_identity(page: Any, name: str, artifacts: Path | None = None) -> None:
    page.locator("#franceconnect-button").click()
    page.get_by_role("heading", level=1, name="Choisir une identité").wait_for()
    if artifacts is not None:
        check(page, artifacts, "franceconnect-provider")
    page.get_by_label(name).check()
    page.get_by_role("button", name="Se connecter avec cette identité").click()


def test_franceconnect_signs_in_and_links_the_file(
    screen: Any, live_server: Any, artifacts: Path, fc: FcDevServer, camille: Any
) -> None:
    open_login(screen, live_server)
    check(screen, artifacts, "login")
    choose_identity(screen, "Camille Anne MARTIN", artifacts)
    screen.wait_for_url(re.compile(r"/mon-espace/"))
    assert HolderLink.objects.get().holder == camille.holder
    # log out: FranceConnect's session ends too, and the browser comes back to the logged-out page
    if screen.viewport_size["width"] < 500:
        screen.goto(f"{live_server.url}/compte/securite/")
        screen.get_by_role("button", name="Se déconnecter partout").click()
    else:
        screen.locator(".fr-header__tools").get_by_role("button", name="Se déconnecter").click()
    screen.get_by_role("heading", level=1, name="Vous êtes déconnecté").wait_for()
    assert "state=" in screen.url
    check(screen, artifacts, "logged-out")


def test_franceconnect_without_a_matching_file_asks_for_the_numbers(
    phone: Any, live_server: Any, artifacts: Path, fc: FcDevServer, camille: Any
) -> None:
    open_login(phone, live_server)
    choose_identity(phone, "Aurore Marie PERSONNE")
    phone.get_by_role("heading", level=1, name="Rattacher mon permis à mon compte").wait_for()
    phone.get_by_text("ne correspond à aucun permis du fichier").wait_for()
    check(phone, artifacts, "link-franceconnect-no-match")
    assert not HolderLink.objects.exists()


def test_a_local_account_is_created_verified_and_linked(
    screen: Any, live_server: Any, artifacts: Path, camille: Any, mailbox: Any
) -> None:
    page = screen
    open_login(page, live_server)
    page.get_by_role("link", name="Créer un compte").click()
    page.get_by_role("heading", level=1, name="Créer un compte").wait_for()
    check(page, artifacts, "signup")
    page.get_by_role("textbox", name="Adresse électronique").fill("camille@example.fr")
    page.locator("#id_password1").fill("court")
    page.get_by_label("Confirmation du mot de passe").fill("court")
    page.get_by_role("button", name="Créer mon compte").click()
    page.get_by_text("au moins 12 caractères", exact=False).first.wait_for()
    check(page, artifacts, "signup-errors")
    page.locator("#id_password1").fill(PASSWORD)
    page.get_by_label("Confirmation du mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Créer mon compte").click()
    page.get_by_role("heading", level=1, name="Vérifiez votre messagerie").wait_for()
    check(page, artifacts, "signup-done")

    mail = mailbox.wait_for(1)[0]
    assert mail.rcpt_tos == ("camille@example.fr",)
    link = re.search(r"https?://\S+/compte/verification/\S+", mail.text()).group(0)
    page.goto(link)
    page.get_by_text("Votre adresse électronique est vérifiée").wait_for()
    page.get_by_role("textbox", name="Adresse électronique").fill("camille@example.fr")
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()

    page.get_by_role("heading", level=1, name="Rattacher mon permis à mon compte").wait_for()
    assert page.get_by_role("img", name="Permis au format carte").is_visible()
    check(page, artifacts, "link")
    page.get_by_label("Format carte de crédit").check()
    page.get_by_role("textbox", name="Numéro de permis").fill(camille.number)
    page.get_by_role("textbox", name="Numéro de dossier (NEPH)").fill("990000000999")
    page.get_by_label("Votre date de naissance").fill("1979-04-12")
    page.get_by_role("button", name="Rattacher mon permis").click()
    page.get_by_text("Ces informations ne permettent pas de rattacher un permis").wait_for()
    check(page, artifacts, "link-refused")
    page.get_by_role("textbox", name="Numéro de dossier (NEPH)").fill(camille.dossier_number)
    page.get_by_role("button", name="Rattacher mon permis").click()
    page.wait_for_url(re.compile(r"/mon-espace/"))
    assert HolderLink.objects.get().method == "licence_form"
    page.get_by_role("status").get_by_text("Votre permis est rattaché à votre compte.").wait_for()
    check(page, artifacts, "linked")
    told = mailbox.wait_for(2)[1]  # the holder is told at the file's address
    assert told.rcpt_tos == ("camille@example.fr",) and "rattaché" in told.text()


def test_five_wrong_passwords_lock_the_account(
    screen: Any, live_server: Any, artifacts: Path, camille: Any
) -> None:
    from django.contrib.auth.models import User
    from django.utils import timezone

    from permis.accounts.models import Account

    user = User.objects.create_user("lea@example.fr", "lea@example.fr", PASSWORD)
    Account.objects.create(user=user, email_verified_at=timezone.now())
    open_login(screen, live_server)
    for _n in range(5):
        screen.get_by_role("textbox", name="Adresse électronique").fill("lea@example.fr")
        screen.get_by_label("Mot de passe", exact=True).fill("pas le bon mot de passe")
        screen.get_by_role("button", name="Se connecter", exact=True).click()
        screen.get_by_text("Adresse électronique ou mot de passe incorrect").wait_for()
    screen.get_by_role("textbox", name="Adresse électronique").fill("lea@example.fr")
    screen.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    screen.get_by_role("button", name="Se connecter", exact=True).click()
    screen.get_by_text("Trop de tentatives ont échoué").wait_for()
    check(screen, artifacts, "lockout")


def test_two_step_verification_and_password_reset_pages(
    page: Any, live_server: Any, artifacts: Path, mailbox: SmtpServer
) -> None:
    from django.contrib.auth.models import User
    from django.utils import timezone

    from permis.accounts import totp
    from permis.accounts.models import Account

    user = User.objects.create_user("ines@example.fr", "ines@example.fr", PASSWORD)
    Account.objects.create(user=user, email_verified_at=timezone.now())
    open_login(page, live_server)
    page.get_by_role("textbox", name="Adresse électronique").fill("ines@example.fr")
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    page.get_by_role("heading", level=1, name="Rattacher mon permis à mon compte").wait_for()
    page.goto(f"{live_server.url}/compte/securite/")
    check(page, artifacts, "security")
    page.get_by_role("link", name="Activer la validation en deux étapes").click()
    assert page.get_by_role("img", name="Code QR à scanner avec votre application").is_visible()
    check(page, artifacts, "totp-setup")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code à usage unique").fill(totp.code_at(secret, totp.now_step()))
    page.get_by_role("button", name="Activer").click()
    page.get_by_role("heading", level=1, name="Vos codes de secours").wait_for()
    assert page.locator("#recovery-codes li").count() == 10
    check(page, artifacts, "recovery-codes")
    recovery = page.locator("#recovery-codes li").first.inner_text()

    # signing in again asks for the second factor; a recovery code works once
    page.locator(".fr-header__tools").get_by_role("button", name="Se déconnecter").click()
    open_login(page, live_server)
    page.get_by_role("textbox", name="Adresse électronique").fill("ines@example.fr")
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    page.get_by_role("heading", level=1, name="Validation en deux étapes").wait_for()
    check(page, artifacts, "totp-login")
    page.get_by_label("Code à usage unique").fill(recovery)
    page.get_by_role("button", name="Valider").click()
    page.get_by_role("heading", level=1, name="Rattacher mon permis à mon compte").wait_for()

    # password reset, by the link the email brings
    page.locator(".fr-header__tools").get_by_role("button", name="Se déconnecter").click()
    page.goto(f"{live_server.url}/compte/mot-de-passe/")
    check(page, artifacts, "password-reset")
    page.get_by_role("textbox", name="Adresse électronique").fill("ines@example.fr")
    page.get_by_role("button", name="Recevoir un lien").click()
    page.get_by_role("heading", level=1, name="Vérifiez votre messagerie").wait_for()
    link = re.search(r"https?://\S+/compte/mot-de-passe/\S+", mailbox.wait_for(1)[0].text()).group(0)
    page.goto(link)
    page.get_by_role("heading", level=1, name="Nouveau mot de passe").wait_for()
    check(page, artifacts, "password-new")
    page.get_by_label("Nouveau mot de passe").fill("un tout nouveau mot de passe")
    page.get_by_label("Confirmation du mot de passe").fill("un tout nouveau mot de passe")
    page.get_by_role("button", name="Enregistrer").click()
    page.get_by_role("heading", level=1, name="Mot de passe enregistré").wait_for()
    check(page, artifacts, "password-saved")


def test_the_connected_applications_are_listed_and_signed_out(
    screen: Any, live_server: Any, artifacts: Path, camille: Any
) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    from permis.accounts import app_sessions
    from permis.accounts.models import Account, AppSession

    page = screen
    user = User.objects.create_user("camille", email="camille@example.fr")
    Account.objects.create(user=user, franceconnect_sub="sub-camille")
    HolderLink.objects.create(user=user, holder=camille.holder, method="franceconnect")
    row, _token = app_sessions.open_session(user.pk, camille.holder, "iPhone de Camille", {"nonce": "1"})
    app_sessions.open_session(user.pk, camille.holder, "Tablette du salon", {"nonce": "2"})
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/compte/securite/")
    table = page.get_by_role("table", name="Applications connectées à votre compte")
    assert table.get_by_role("rowheader", name="iPhone de Camille").is_visible()
    check(page, artifacts, "security-applications")
    page.get_by_role("button", name="Déconnecter iPhone de Camille").click()
    page.get_by_text("L’application « iPhone de Camille » est déconnectée.").wait_for()
    assert AppSession.objects.get(pk=row.pk).revoked_at is not None
    assert page.get_by_role("button", name="Déconnecter Tablette du salon").is_visible()
    check(page, artifacts, "security-applications-signed-out")
