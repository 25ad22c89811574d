"""Local accounts: sign up, verify the address, sign in, reset the password, TOTP, link the licence, lockout,
sessions that expire, log out everywhere."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from permis.accounts import totp
from permis.accounts.models import Account, AccountSession, HolderLink, RecoveryCode

pytestmark = pytest.mark.django_db

PASSWORD = "une phrase de passe solide"
EMAIL = "camille@example.fr"
NEUTRAL_LINK = "Ces informations ne permettent pas de rattacher un permis"
LOCKED = "Trop de tentatives ont échoué"


def link_in(message: Any) -> str:
    return re.search(r"https?://\S+", message.text()).group(0)


def signup(client: Client, email: str = EMAIL, password: str = PASSWORD) -> Any:
    return client.post(
        reverse("accounts:signup"), {"email": email, "password1": password, "password2": password}
    )


def verified_user(email: str = EMAIL, **account: Any) -> User:
    user = User.objects.create_user(username=email, email=email, password=PASSWORD)
    Account.objects.create(user=user, email_verified_at=timezone.now(), **account)
    return user


def login(client: Client, email: str = EMAIL, password: str = PASSWORD, address: str = "127.0.0.1") -> Any:
    return client.post(reverse("accounts:login"), {"email": email, "password": password}, REMOTE_ADDR=address)


def test_signup_sends_a_link_and_no_login_before_verification(client: Client, smtp_server) -> None:
    answer = signup(client)
    assert answer.status_code == 200 and "Vérifiez votre messagerie" in answer.content.decode()
    user = User.objects.get(username=EMAIL)
    assert not user.is_active and user.account.email_verified_at is None
    mail = smtp_server.wait_for(1)[0]
    assert mail.rcpt_tos == (EMAIL,)
    refused = login(client)
    assert refused.status_code == 400 and "pas encore vérifiée" in refused.content.decode()
    path = link_in(mail).replace("http://testserver", "")
    assert client.get(path)["Location"] == reverse("accounts:login")
    user.refresh_from_db()
    assert user.is_active and user.account.email_verified_at is not None
    assert login(client)["Location"] == reverse("accounts:home")


def test_the_link_carries_no_address_and_fails_for_another_one(client: Client, smtp_server) -> None:
    """The address is not in the link (server logs, browser history); a link made before the address changed
    verifies nothing."""
    signup(client)
    path = link_in(smtp_server.wait_for(1)[0]).replace("http://testserver", "")
    token = path.rstrip("/").rsplit("/", 1)[-1]
    assert EMAIL not in token and "camille" not in token
    User.objects.filter(username=EMAIL).update(email="autre@example.fr")
    assert client.get(path).status_code == 400
    assert not User.objects.get(username=EMAIL).is_active


def test_the_link_expires_after_24_hours(client: Client, smtp_server) -> None:
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), tick=False):
        signup(client)
    path = link_in(smtp_server.wait_for(1)[0]).replace("http://testserver", "")
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 1, tzinfo=dt.UTC), tick=False):
        page = client.get(path)
    assert page.status_code == 400 and "a expiré" in page.content.decode()
    assert not User.objects.get(username=EMAIL).is_active
    # a new link can be asked for; the answer is the same whether the address has an account or not
    client.post(reverse("accounts:resend"), {"email": EMAIL})
    client.post(reverse("accounts:resend"), {"email": "nobody@example.fr"})
    assert len(smtp_server.wait_for(2)) == 2
    assert client.get(link_in(smtp_server.messages[1]).replace("http://testserver", "")).status_code == 302
    assert client.get(path.replace("verification/", "verification/x")).status_code == 400


def test_passwords_follow_the_rules(client: Client) -> None:
    for weak, why in (
        ("court", "12 caractères"),
        ("123456789012345", "entièrement numérique"),
        ("qwertyuiop12", "trop courant"),
        ("camille@example.fr1", "trop semblable"),
    ):
        answer = signup(client, password=weak)
        assert answer.status_code == 400, weak
        assert why in answer.content.decode(), (weak, answer.content.decode()[:0])
    assert not User.objects.exists()


def test_signing_up_twice_says_nothing_new(client: Client, smtp_server) -> None:
    verified_user()
    answer = signup(client)
    assert "Vérifiez votre messagerie" in answer.content.decode()
    assert "existe déjà" in smtp_server.wait_for(1)[0].subject
    assert User.objects.count() == 1


def test_password_reset(client: Client, smtp_server) -> None:
    verified_user()
    client.post(reverse("accounts:password_reset"), {"email": EMAIL})
    path = link_in(smtp_server.wait_for(1)[0]).replace("http://testserver", "")
    form = client.get(path, follow=True)
    new = "un autre mot de passe tout neuf"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done["Location"] == reverse("accounts:password_reset_complete")
    assert login(client, password=new)["Location"] == reverse("accounts:home")


def test_an_agents_password_is_not_reset_from_the_holders_pages(client: Client, smtp_server) -> None:
    """The holders' reset page sends nothing to an agent's address, and a reset link made for an agent is
    refused as an invalid one: an agent's password is reset by an administrator, never by e-mail."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from tests.backoffice.helpers import agent

    officer = agent(login="alex.agent@interieur.gouv.fr")
    User.objects.filter(pk=officer.pk).update(email="alex.agent@interieur.gouv.fr")
    verified_user()
    answer = client.post(reverse("accounts:password_reset"), {"email": "alex.agent@interieur.gouv.fr"})
    assert answer.status_code == 302  # the same answer as for any address: the page tells nothing
    client.post(reverse("accounts:password_reset"), {"email": EMAIL})
    mails = smtp_server.wait_for(1)
    time.sleep(0.3)
    assert [mail.rcpt_tos for mail in smtp_server.messages] == [(EMAIL,)]
    link = reverse(
        "accounts:password_reset_confirm",
        args=[urlsafe_base64_encode(force_bytes(officer.pk)), default_token_generator.make_token(officer)],
    )
    page = client.get(link, follow=True)
    assert page.status_code == 200 and "new_password1" not in page.content.decode(), mails


def test_totp_setup_login_and_recovery_codes(client: Client) -> None:
    user = verified_user()
    client.force_login(user)
    page = client.get(reverse("accounts:totp_setup"))
    assert "<svg" in page.content.decode()
    secret = client.session["permis_totp_secret"]
    assert client.post(reverse("accounts:totp_setup"), {"code": "000000"}).status_code in {200, 400}
    shown = client.post(reverse("accounts:totp_setup"), {"code": totp.code_at(secret, totp.now_step())})
    codes = re.findall(r"<code>([0-9A-F]{5}-[0-9A-F]{5})</code>", shown.content.decode())
    assert len(codes) == 10
    assert RecoveryCode.objects.filter(user=user).count() == 10
    assert not RecoveryCode.objects.filter(code_hash__in=codes).exists()  # only hashes are kept
    client.logout()
    # the password alone is not enough any more
    assert login(client)["Location"] == reverse("accounts:totp_login")
    assert "_auth_user_id" not in client.session
    used = totp.now_step()  # the code used at setup cannot be replayed
    wrong = client.post(reverse("accounts:totp_login"), {"code": totp.code_at(secret, used)})
    assert wrong.status_code == 400
    with time_machine.travel(time.time() + 60):
        ok = client.post(reverse("accounts:totp_login"), {"code": totp.code_at(secret, totp.now_step())})
    assert ok["Location"] == reverse("accounts:home")
    client.logout()
    login(client)
    assert client.post(reverse("accounts:totp_login"), {"code": codes[0].lower()})["Location"] == reverse(
        "accounts:home"
    )
    client.logout()
    login(client)
    assert (
        client.post(reverse("accounts:totp_login"), {"code": codes[0]}).status_code == 400
    )  # used once only


def test_totp_codes_follow_rfc_6238() -> None:
    # RFC 6238, appendix B (SHA1, secret "12345678901234567890"), last 6 digits
    import base64

    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp.code_at(secret, 59 // 30) == "287082"
    assert totp.code_at(secret, 1111111109 // 30) == "081804"
    assert totp.matching_step(secret, "081804", at=1111111109) == 1111111109 // 30
    assert totp.matching_step(secret, "081804", last_step=1111111109 // 30, at=1111111109) is None
    assert totp.provisioning_uri(secret, "a@b.fr").startswith("otpauth://totp/permis%3Aa%40b.fr?secret=")


def test_lockout_per_account(client: Client) -> None:
    verified_user()
    for _n in range(5):
        assert login(client, password="wrong password!").status_code == 400
    locked = login(client)  # the right password, too late
    assert locked.status_code == 400 and LOCKED in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # another address is locked out of this account too; the lock lifts after 15 minutes
    assert LOCKED in login(client, address="10.0.0.2").content.decode()
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        assert login(client)["Location"] == reverse("accounts:home")


def test_lockout_per_address(client: Client, settings) -> None:
    settings.ACCOUNTS_THROTTLE = {"ADDRESS_LIMIT": 6}
    verified_user("someone@example.fr")
    for n in range(6):
        login(client, email=f"guess{n}@example.fr", password="wrong password!", address="10.9.9.9")
    assert LOCKED in login(client, email="someone@example.fr", address="10.9.9.9").content.decode()
    assert login(client, email="someone@example.fr", address="10.9.9.8").status_code == 302


def test_unknown_and_wrong_passwords_read_the_same(client: Client) -> None:
    verified_user()
    wrong = login(client, password="not the password").content.decode()
    unknown = login(client, email="nobody@example.fr").content.decode()
    message = "Adresse électronique ou mot de passe incorrect"
    assert message in wrong and message in unknown


@pytest.fixture
def linking(client: Client, camille) -> Any:
    """Camille signed in with a local account whose verified address is the one her file holds."""
    type(camille.holder).objects.filter(pk=camille.holder_id).update(email=EMAIL)
    camille.holder.refresh_from_db()
    user = verified_user()
    client.force_login(user)
    return camille


def link(client: Client, licence: Any, address: str = "127.0.0.1", **changes: str) -> Any:
    data = {
        "format": licence.format,
        "number": licence.number,
        "dossier_number": licence.dossier_number,
        "birth_date": licence.holder.birth_date.isoformat(),
        **changes,
    }
    return client.post(reverse("accounts:link"), data, REMOTE_ADDR=address)


def test_linking_needs_every_number_right(client: Client, linking: Any) -> None:
    page = client.get(reverse("accounts:link")).content.decode()
    assert 'role="img"' in page and "<desc" in page
    other = {"dossier_number": "990000000999"}
    answers = [
        link(client, linking, **other),
        link(client, linking, number="NOPE00001"),
        link(client, linking, birth_date="1980-01-01"),
        link(client, linking, format="cardboard"),
    ]
    bodies = {
        re.search(r'<div class="fr-alert fr-alert--error[^>]*>(.*?)</div>', a.content.decode(), re.S).group(1)
        for a in answers
    }
    assert (
        len(bodies) == 1 and NEUTRAL_LINK in bodies.pop()
    )  # never says which field, nor if a licence exists
    assert not HolderLink.objects.exists()
    ok = link(client, linking, number=linking.number.lower(), dossier_number=" 9900 0000 0101 ")
    assert ok["Location"] == reverse("accounts:home")
    assert HolderLink.objects.get().method == "licence_form"


def test_linking_locks_out_after_five_failures(client: Client, linking: Any) -> None:
    for _n in range(5):
        link(client, linking, dossier_number="990000000999")
    locked = link(client, linking)
    assert LOCKED in locked.content.decode() and not HolderLink.objects.exists()


def test_linking_locks_out_an_address(client: Client, linking: Any, settings) -> None:
    settings.ACCOUNTS_THROTTLE = {"ADDRESS_LIMIT": 3}
    for n in range(3):
        other = Client()
        other.force_login(verified_user(f"p{n}@example.fr"))
        link(other, linking, address="10.1.1.1", dossier_number="990000000999")
    assert LOCKED in link(client, linking, address="10.1.1.1").content.decode()
    assert link(client, linking, address="10.1.1.2").status_code == 302


def test_sessions_expire_after_30_minutes_without_a_request(client: Client) -> None:
    user = verified_user()
    login(client)
    assert client.get(reverse("accounts:security")).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=25)):
        assert client.get(reverse("accounts:security")).status_code == 200  # activity pushes the expiry
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=50)):
        assert client.get(reverse("accounts:security")).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=81)):
        answer = client.get(reverse("accounts:security"))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("accounts:login"))
    assert user.is_authenticated


def test_log_out_everywhere(client: Client) -> None:
    verified_user()
    other_device = Client()
    login(client)
    login(other_device, address="10.0.0.3")
    assert AccountSession.objects.count() == 2
    out = client.post(reverse("accounts:logout_everywhere"))
    assert out["Location"] == reverse("accounts:logged_out")
    assert AccountSession.objects.count() == 0
    assert other_device.get(reverse("accounts:security")).status_code == 302


def test_logout_is_a_post_and_the_header_says_who_is_in(client: Client) -> None:
    anonymous = client.get(reverse("portal:simulator")).content.decode()
    assert "Se connecter" in anonymous and "Mon espace" not in anonymous
    login(client) if verified_user() else None
    signed_in = client.get(reverse("portal:simulator")).content.decode()
    assert "Mon espace" in signed_in and "Se déconnecter" in signed_in
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert client.post(reverse("accounts:logout"))["Location"] == reverse("accounts:logged_out")
    assert AccountSession.objects.count() == 0


def test_holder_pages_send_to_the_accounts_login(client: Client) -> None:
    answer = client.get(reverse("accounts:home"))
    assert answer["Location"].startswith(reverse("accounts:login"))


def test_the_linked_home_goes_to_the_dashboard_or_says_linked(client: Client, linking: Any) -> None:
    link(client, linking)
    answer = client.get(reverse("accounts:home"))
    assert answer.status_code in {200, 302}
    if answer.status_code == 302:
        assert answer["Location"] != reverse("accounts:link")


def test_expired_failures_are_swept(client: Client) -> None:
    from permis.accounts.models import Failure

    login(client, email="a@example.fr", password="wrong password!", address="10.7.7.7")
    assert Failure.objects.count() == 2  # the account and the address
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=20)):
        login(client, email="b@example.fr", password="wrong password!", address="10.7.7.8")
    assert set(Failure.objects.values_list("key", flat=True)) == {
        "login:account:b@example.fr",
        "login:address:10.7.7.8",
    }


def test_the_pages_speak_english(client: Client) -> None:
    page = client.get("/en/compte/connexion/").content.decode()
    assert "Sign in to my space" in page and "With an email address and a password" in page
    verified_user()
    refused = client.post("/en/compte/connexion/", {"email": EMAIL, "password": "nope nope nope"})
    assert "Wrong email address or password" in refused.content.decode()


def test_the_code_must_follow_the_password_within_five_minutes(client: Client) -> None:
    verified_user(totp_secret=totp.new_secret(), totp_enabled=True)
    assert login(client)["Location"] == reverse("accounts:totp_login")
    with time_machine.travel(time.time() + 301):
        answer = client.get(reverse("accounts:totp_login"))
    assert answer["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in client.session


# -- the lockout's message on each page (issue 5's audit, L1 and L2) ---------------------------------------------
RESET_ADVICE = "Si vous avez oublié votre mot de passe, réinitialisez-le"


def locked_alert(answer: Any) -> str:
    assert answer.status_code == 400
    found = re.search(r'<div class="fr-alert fr-alert--error[^>]*>(.*?)</div>', answer.content.decode(), re.S)
    assert found and LOCKED in found.group(1), answer.content.decode()
    return found.group(1)


def test_the_sign_in_lockout_gives_the_minutes_left_and_the_reset(client: Client) -> None:
    verified_user()
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), tick=False):
        for _n in range(5):
            login(client, password="wrong password!")
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, 4, 30, tzinfo=dt.UTC), tick=False):
        alert = locked_alert(login(client))
    assert "réessayez dans 11 minutes" in alert and RESET_ADVICE in alert


def test_a_password_reset_lifts_the_sign_in_lockout(client: Client, smtp_server) -> None:
    """The audit's reproduction (L2): locked out, the holder follows the advice; the new password works at once."""
    verified_user()
    for _n in range(5):
        login(client, password="wrong password!")
    assert LOCKED in login(client).content.decode()
    client.post(reverse("accounts:password_reset"), {"email": EMAIL})
    path = link_in(smtp_server.wait_for(1)[0]).replace("http://testserver", "")
    form = client.get(path, follow=True)
    new = "un autre mot de passe tout neuf"
    client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert login(client, password=new)["Location"] == reverse("accounts:home")


def test_a_reset_does_not_lift_a_client_address_s_lockout(client: Client, settings, smtp_server) -> None:
    """Many accounts tried from one address: the lock is the address's, so the page does not offer the reset."""
    settings.ACCOUNTS_THROTTLE = {"ADDRESS_LIMIT": 6}
    verified_user()
    for n in range(6):
        login(client, email=f"guess{n}@example.fr", password="wrong password!", address="10.9.9.9")
    alert = locked_alert(login(client, address="10.9.9.9"))
    assert RESET_ADVICE not in alert and "mot de passe" not in alert


def test_the_second_factor_lockout_gives_no_password_advice(client: Client) -> None:
    verified_user(totp_secret=totp.new_secret(), totp_enabled=True)
    login(client)
    for _n in range(5):
        client.post(reverse("accounts:totp_login"), {"code": "000000"})
    alert = locked_alert(client.post(reverse("accounts:totp_login"), {"code": "000000"}))
    assert "mot de passe" not in alert and "codes de secours" in alert


def test_the_linking_lockout_gives_no_password_advice(client: Client, linking: Any) -> None:
    for _n in range(5):
        link(client, linking, dossier_number="990000000999")
    alert = locked_alert(link(client, linking))
    assert "mot de passe" not in alert and "numéros" in alert
    assert not HolderLink.objects.exists()
