"""The agents' sign-in: a password, then a second factor that every agent must have (permis.backoffice.sign_in);
its enrolment at the first sign-in, its throttle, and its reset by an administrator (`permis agent reset-2fa`)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from permis.accounts import second_factor, totp
from permis.accounts.models import Account, AccountSession, Failure, RecoveryCode
from permis.backoffice import enrolment
from permis.backoffice.models import AgentProfile

from .helpers import PASSWORD, agent, client_for, enrol, enrolment_code, next_code

pytestmark = pytest.mark.django_db

LOGIN, CODE, ENROL = (
    "/gestion/connexion/",
    "/gestion/connexion/code/",
    "/gestion/connexion/double-authentification/",
)
HOME = "/gestion/"
ADDRESS = "203.0.113.7"
PENDING_KEY = "permis_agent_sign_in"  # the session's key between the password and the code


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def password(client: Client, login: str, secret: str = PASSWORD, address: str = ADDRESS):
    return client.post(LOGIN, {"username": login, "password": secret, "next": HOME}, REMOTE_ADDR=address)


def type_code(client: Client, code: str, address: str = ADDRESS):
    return client.post(CODE, {"code": code}, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session and client.get("/gestion/dossiers/").status_code == 200


def profile(user: User) -> AgentProfile:
    return AgentProfile.objects.get(user=user)


# -- an enrolled agent: the password, then the code -------------------------------------------------------------
def test_the_password_alone_does_not_sign_in_the_code_does() -> None:
    user = agent(login="camille")
    enrol(user)
    client = Client()
    response = password(client, "camille")
    assert response.status_code == 302 and response["Location"] == CODE
    assert "_auth_user_id" not in client.session
    assert client.get(HOME)["Location"].startswith(LOGIN)  # not signed in
    page = client.get(CODE).content.decode()
    assert "Validation en deux étapes" in page
    # The field a phone fills from the app's notification, with the digits keyboard; its label above it.
    assert re.search(r'<label class="fr-label" for="id_code">\s*Code à 6 chiffres', page)
    field = re.search(r'<input[^>]*name="code"[^>]*>', page).group(0)
    assert (
        'autocomplete="one-time-code"' in field and 'inputmode="numeric"' in field and 'id="id_code"' in field
    )
    response = type_code(client, next_code(user))
    assert response.status_code == 302 and response["Location"] == HOME
    assert signed_in(client)
    assert PENDING_KEY not in client.session


def test_a_wrong_code_is_refused_with_an_error_on_the_field_and_counted() -> None:
    user = agent(login="camille")
    secret = enrol(user)
    client = Client()
    password(client, "camille")
    wrong = totp.code_at(secret, totp.now_step() + 5)
    response = type_code(client, wrong)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Ce code n’est pas valable" in page
    assert re.search(r'<input[^>]*aria-describedby="id_code_error"', page)
    assert 'id="id_code_error"' in page
    assert page.count("<title>Erreur : ") == 1
    assert "_auth_user_id" not in client.session
    assert set(Failure.objects.values_list("key", flat=True)) == {
        "agent_login:account:camille",
        f"agent_login:address:{ADDRESS}",
    }


def test_a_malformed_code_says_what_is_expected_and_is_not_counted() -> None:
    user = agent(login="camille")
    enrol(user)
    client = Client()
    password(client, "camille")
    for typed, message in (("12a456", "Le code comporte 6 chiffres"), ("", "Saisissez le code à 6 chiffres")):
        response = type_code(client, typed)
        assert response.status_code == 400 and message in response.content.decode()
    assert not Failure.objects.exists()
    # Spaces, as some applications show the code ("123 456"), are fine.
    code = next_code(user)
    assert type_code(client, f"{code[:3]} {code[3:]}")["Location"] == HOME


def test_a_code_is_accepted_once_its_replay_is_refused() -> None:
    user = agent(login="camille")
    secret = enrol(user)
    with time_machine.travel(timezone.now(), tick=False):
        code = totp.code_at(secret, totp.now_step())
        first = Client()
        password(first, "camille")
        assert type_code(first, code)["Location"] == HOME
        second = Client()  # the same code, seen over the agent's shoulder, in another browser
        password(second, "camille")
        response = type_code(second, code)
        assert response.status_code == 400 and "_auth_user_id" not in second.session
        # Nor a code of an earlier step, still within the window of ±1 step.
        assert type_code(second, totp.code_at(secret, totp.now_step() - 1)).status_code == 400
        # The next step's code is fine (the clock of the phone may be ahead).
        assert type_code(second, totp.code_at(secret, totp.now_step() + 1))["Location"] == HOME
        assert profile(user).totp_last_step == totp.now_step() + 1


def test_wrong_codes_and_wrong_passwords_share_the_throttle_and_a_right_password_clears_nothing() -> None:
    user = agent(login="camille")
    secret = enrol(user)
    wrong = totp.code_at(secret, totp.now_step() + 7)
    client = Client()
    for _ in range(2):
        assert password(client, "camille", "not the password").status_code == 400
    for _ in range(3):
        # Each time the right password again: it gives no fresh tries at the code.
        assert password(client, "camille")["Location"] == CODE
        assert type_code(client, wrong).status_code == 400
    # 5 failures: even the right password is refused, and the right code of a session already past it.
    response = password(client, "camille")
    assert response.status_code == 400
    assert "Trop de tentatives de connexion ont échoué" in response.content.decode()
    response = type_code(client, next_code(user))
    assert response.status_code == 400 and "Trop de tentatives" in response.content.decode()
    assert "_auth_user_id" not in client.session
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        client = Client()
        assert password(client, "camille")["Location"] == CODE
        assert type_code(client, next_code(user))["Location"] == HOME
        assert not Failure.objects.filter(key="agent_login:account:camille").exists()


def test_a_session_past_the_password_is_locked_out_of_the_code_too(settings) -> None:
    settings.ACCOUNTS_THROTTLE = {"LIMIT": 3}
    user = agent(login="camille")
    secret = enrol(user)
    client = Client()
    assert password(client, "camille")["Location"] == CODE
    for _ in range(3):
        type_code(client, totp.code_at(secret, totp.now_step() + 9))
    response = type_code(client, next_code(user))
    assert response.status_code == 400
    assert "Trop de tentatives de connexion ont échoué" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_code_must_follow_the_password_within_five_minutes() -> None:
    user = agent(login="camille")
    enrol(user)
    client = Client()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        password(client, "camille")
    with time_machine.travel(start + dt.timedelta(minutes=6), tick=False):
        response = type_code(client, next_code(user))
        assert response.status_code == 302 and response["Location"] == LOGIN
        assert "_auth_user_id" not in client.session
        page = client.get(LOGIN).content.decode()
        assert "Identifiez-vous de nouveau : la saisie du code a expiré." in page


def test_the_code_page_without_a_password_sends_to_the_login_page() -> None:
    for url in (CODE, ENROL):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"] == LOGIN
    # Signed in already: the login page sends on, without "sign in again".
    client = client_for(agent(login="camille"))
    response = client.get(CODE, follow=True)
    assert response.redirect_chain[0] == (LOGIN, 302)
    assert "Identifiez-vous de nouveau" not in response.content.decode()


def test_an_agent_disabled_or_whose_password_changed_between_the_steps_is_not_signed_in() -> None:
    user = agent(login="camille")
    enrol(user)
    client = Client()
    password(client, "camille")
    user.set_password("un tout autre mot de passe")
    user.save()
    assert type_code(client, next_code(user))["Location"] == LOGIN
    other = agent(login="dominique")
    enrol(other)
    client = Client()
    password(client, "dominique")
    User.objects.filter(pk=other.pk).update(is_active=False)
    assert type_code(client, next_code(other))["Location"] == LOGIN
    assert "_auth_user_id" not in client.session


def test_a_recovery_code_signs_in_once() -> None:
    user = agent(login="camille")
    enrol(user)
    client = Client()
    password(client, "camille")
    codes = second_factor.issue_recovery_codes(user)
    response = client.post(CODE, {"recovery": codes[0].lower()}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302 and response["Location"] == HOME
    page = client.get(HOME, follow=True).content.decode()
    assert "codes de secours restants : 9" in page
    again = Client()
    password(again, "camille")
    response = again.post(CODE, {"recovery": codes[0]}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Ce code de secours n’est pas valable ou a déjà servi" in page
    assert re.search(r'<input[^>]*aria-describedby="id_recovery_error"', page)
    assert Failure.objects.filter(key="agent_login:account:camille").count() == 1


# -- who may sign in here -------------------------------------------------------------------------------------------
def test_a_holders_account_or_a_user_without_an_agents_profile_cannot_use_the_agents_sign_in() -> None:
    holder = User.objects.create_user("titulaire@example.org", password=PASSWORD)
    Account.objects.create(user=holder, email_verified_at=timezone.now())
    User.objects.create_user("nobody", password=PASSWORD)
    both = agent(login="both")  # an agent's profile on a holders' account: refused too
    Account.objects.create(user=both)
    for login in ("titulaire@example.org", "nobody", "both"):
        client = Client()
        response = password(client, login)
        assert response.status_code == 400, login
        assert "Saisissez un nom d’utilisateur et un mot de passe valides" in response.content.decode()
        assert PENDING_KEY not in client.session
        assert client.get(CODE)["Location"] == LOGIN
    assert Failure.objects.filter(key="agent_login:account:nobody").count() == 1


# -- enrolment at the first sign-in ---------------------------------------------------------------------------------
def test_an_agent_without_a_second_factor_enrols_then_is_signed_in_and_sees_recovery_codes_once() -> None:
    user = agent(login="camille")
    handed = enrolment_code(user)
    client = Client()
    response = password(client, "camille")
    assert response.status_code == 302 and response["Location"] == ENROL
    assert "_auth_user_id" not in client.session
    assert client.get(CODE)["Location"] == ENROL  # no code to ask yet
    page = client.get(ENROL).content.decode()
    assert "Activer la validation en deux étapes" in page
    assert "<svg" in page and "Code QR à scanner avec votre application" in page
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    assert client.get(ENROL).content.decode().count(secret[:4]) >= 1  # the same secret while enrolling
    # A wrong code: the error on the field, nothing saved, nothing counted.
    response = client.post(
        ENROL, {"enrolment_code": handed, "code": totp.code_at(secret, totp.now_step() + 5)}
    )
    assert response.status_code == 400
    assert re.search(r'<input[^>]*aria-describedby="id_code_error"', response.content.decode())
    assert not profile(user).totp_enabled and "_auth_user_id" not in client.session
    # Typed in lower case with spaces: the same code.
    typed = handed.lower().replace("-", " ")
    response = client.post(ENROL, {"enrolment_code": typed, "code": totp.code_at(secret, totp.now_step())})
    assert response.status_code == 200
    page = response.content.decode()
    codes = re.findall(r"<li><code>([0-9A-F]{5}-[0-9A-F]{5})</code></li>", page)
    assert len(codes) == 10 and f'href="{HOME}"' in page
    saved = profile(user)
    assert saved.totp_enabled and saved.totp_secret == secret and saved.totp_last_step == totp.now_step()
    assert RecoveryCode.objects.filter(user=user).count() == 10
    assert (saved.enrolment_code_hash, saved.enrolment_code_expires) == ("", None)  # used up
    assert signed_in(client)
    # Next time: the code, no new secret.
    client = Client()
    assert password(client, "camille")["Location"] == CODE
    assert client.get(ENROL)["Location"] == CODE


def test_a_password_cannot_replace_a_second_factor_set_up_meanwhile() -> None:
    user = agent(login="camille")
    client = Client()
    password(client, "camille")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', client.get(ENROL).content.decode()).group(1)
    handed = enrolment_code(user)
    mine = enrol(user)  # the agent set it up in another window meanwhile
    response = client.post(
        ENROL, {"enrolment_code": handed, "code": totp.code_at(secret.replace(" ", ""), totp.now_step())}
    )
    assert response.status_code == 302 and response["Location"] == CODE
    assert profile(user).totp_secret == mine and "_auth_user_id" not in client.session


def test_the_password_alone_does_not_let_anyone_choose_an_agents_second_factor(caplog) -> None:
    """Whoever learnt the password of an agent who has not enrolled yet cannot enrol their own application: the
    enrolment code is missing, wrong, expired or already used, and a wrong one counts like a wrong password."""
    user = agent(login="camille")
    client = Client()
    password(client, "camille")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', client.get(ENROL).content.decode()).group(1)
    good = totp.code_at(secret.replace(" ", ""), totp.now_step())
    # No code issued (an agent created before the codes existed): nothing works until one is.
    with caplog.at_level(logging.WARNING, logger="permis.backoffice"):
        response = client.post(ENROL, {"enrolment_code": "ABCD-EFGH-JKMN", "code": good})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Ce code d’activation n’est pas valable ou a expiré" in page
    assert re.search(r'<input[^>]*aria-describedby="id_enrolment_code_error"', page)
    assert "enrolment refused" in caplog.text
    # Missing: the form says what to type.
    response = client.post(ENROL, {"code": good})
    assert response.status_code == 400 and "Saisissez le code d’activation" in response.content.decode()
    # A wrong code counts against the throttle: a failure for the login and one for the address.
    assert Failure.objects.count() == 2
    handed = enrolment_code(user)
    with time_machine.travel(timezone.now() + dt.timedelta(days=7, minutes=1), tick=False):
        assert not enrolment.valid(profile(user), handed)  # expired after 7 days
    assert not profile(user).totp_enabled and "_auth_user_id" not in client.session
    # Another code issued since: the former one no longer works.
    newer = enrolment_code(user)
    response = client.post(ENROL, {"enrolment_code": handed, "code": good})
    assert response.status_code == 400 and not profile(user).totp_enabled
    response = client.post(ENROL, {"enrolment_code": newer, "code": good})
    assert response.status_code == 200 and profile(user).totp_enabled
    assert not enrolment.valid(profile(user), newer)  # used up
    # Like the password, the code never shows in an error report.
    from django.views.debug import SafeExceptionReporterFilter

    shown = SafeExceptionReporterFilter().get_post_parameters(response.wsgi_request)
    assert newer not in str(shown) and set(shown) == {"enrolment_code", "code"}


def test_too_many_wrong_enrolment_codes_lock_the_login() -> None:
    user = agent(login="camille")
    enrolment_code(user)
    client = Client()
    password(client, "camille")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', client.get(ENROL).content.decode()).group(1)
    good = totp.code_at(secret.replace(" ", ""), totp.now_step())
    for _n in range(5):
        client.post(ENROL, {"enrolment_code": "WRONG-CODE-XXXX", "code": good}, REMOTE_ADDR=ADDRESS)
    handed = enrolment_code(user)
    response = client.post(ENROL, {"enrolment_code": handed, "code": good}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 400 and "Connexion impossible" in response.content.decode()
    assert not profile(user).totp_enabled


# -- the reset ---------------------------------------------------------------------------------------------------
def run(*args: str) -> str:
    out = io.StringIO()
    call_command("agent", *args, stdout=out)
    return out.getvalue()


def test_an_administrator_resets_a_lost_second_factor_and_the_agent_enrols_again(caplog) -> None:
    user = agent(login="camille@prefecture.fr")
    enrol(user)
    second_factor.issue_recovery_codes(user)
    client = Client()
    password(client, "camille@prefecture.fr")
    type_code(client, next_code(user))
    assert signed_in(client) and AccountSession.objects.filter(user=user).exists()
    assert "2fa" in run("list") and "no 2fa" not in run("list")
    with pytest.raises(CommandError, match="already has a second factor"):
        run("enrolment-code", "camille@prefecture.fr")
    with caplog.at_level(logging.INFO, logger="permis.backoffice"):
        out = run("reset-2fa", "Camille@Prefecture.fr")
    assert "second factor removed, 10 recovery code(s) deleted, 1 session(s) ended" in out
    handed = re.search(r"enrolment code for camille@prefecture.fr: ([A-Z0-9-]{14}) \(single use", out).group(
        1
    )
    assert "no 2fa, enrolment code until" in run("list")
    saved = profile(user)
    assert (saved.totp_enabled, saved.totp_secret, saved.totp_last_step) == (False, "", 0)
    assert not RecoveryCode.objects.filter(user=user).exists()
    # Written to the logs, with who ran it.
    (record,) = [r for r in caplog.records if "reset-2fa" in r.getMessage()]
    assert record.levelno == logging.WARNING and "camille@prefecture.fr" in record.getMessage()
    assert "by system user" in record.getMessage()
    # The open session is over; the next sign-in enrols again.
    assert client.get(HOME)["Location"].startswith(LOGIN)
    client = Client()
    assert password(client, "camille@prefecture.fr")["Location"] == ENROL
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', client.get(ENROL).content.decode()).group(1)
    response = client.post(
        ENROL, {"enrolment_code": handed, "code": totp.code_at(secret.replace(" ", ""), totp.now_step())}
    )
    assert response.status_code == 200 and profile(user).totp_enabled
    # A new code on request, e.g. the first one expired: it replaces it, and is logged.
    other = agent(login="dominique@prefecture.fr")
    with caplog.at_level(logging.WARNING, logger="permis.backoffice"):
        out = run("enrolment-code", "dominique@prefecture.fr")
    assert "enrolment code issued" in caplog.text
    code = re.search(r"enrolment code for dominique@prefecture.fr: ([A-Z0-9-]{14})", out).group(1)
    assert enrolment.valid(profile(other), code)
    with pytest.raises(CommandError, match="no agent"):
        run("enrolment-code", "personne")


def test_the_reset_of_someone_who_is_no_agent_is_refused() -> None:
    holder = User.objects.create_user("titulaire@example.org", password=PASSWORD)
    Account.objects.create(user=holder, totp_secret=totp.new_secret(), totp_enabled=True)
    with pytest.raises(CommandError, match="no agent"):
        run("reset-2fa", "titulaire@example.org")
    assert Account.objects.get(user=holder).totp_enabled  # a holder's factor is theirs to manage
    with pytest.raises(CommandError, match="no agent"):
        run("reset-2fa", "personne")


@pytest.mark.parametrize(
    ("role", "first_page"),
    [
        ("agent", "/gestion/dossiers/"),
        ("supervisor", "/gestion/tableau-de-bord/"),
        ("auditor", "/gestion/journal/"),
    ],
)
def test_without_a_next_page_each_role_lands_on_its_own_first_page(role: str, first_page: str) -> None:
    """The letters' page is the agents' and supervisors' only: an auditor landed on a 403 after signing in."""
    user = agent(role, login=f"first-{role}")
    enrol(user)
    client = Client()
    client.post(LOGIN, {"username": f"first-{role}", "password": PASSWORD}, REMOTE_ADDR=ADDRESS)
    response = type_code(client, next_code(user))
    assert response.status_code == 302
    landing = client.get(response["Location"], follow=True)
    assert landing.status_code == 200 and landing.redirect_chain[-1][0] == first_page, landing.redirect_chain


def test_an_agents_page_offers_the_back_office_and_its_sign_out_not_the_holders_space() -> None:
    user = agent(login="header-agent")
    client = Client()
    client.force_login(user)
    page = client.get("/gestion/dossiers/").content.decode()
    header = page.split('<div class="fr-header__tools">', 1)[1].split("</header>", 1)[0]
    assert "Espace de gestion" in header and "/gestion/deconnexion/" in header
    assert "Mon espace" not in header and "/compte/deconnexion/" not in header
