"""Electronic notice at an address not yet proven waits for the address's confirmation (permis.notices.confirmation):
nothing changes until the holder, signed in, follows the link mailed to that address and confirms."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from permis.accounts.models import Account, HolderLink
from permis.notices import preferences
from permis.notices.confirmation import token_digest
from permis.notices.models import AddressConfirmation, NoticePreference
from permis.registry.models import Holder, Licence
from tests.notices.document_helpers import licence_with

pytestmark = pytest.mark.django_db

NEW = "camille.nouvelle@example.fr"


def sign_in(client: Client, holder: Holder, email: str, *, franceconnect: bool = False) -> User:
    """A local account whose address is verified (it cannot sign in before), or a FranceConnect account, whose
    address is the identity provider's (marked verified at creation, ``permis.accounts.oidc``)."""
    user = User.objects.create_user(f"user-{holder.pk}-{email}", email=email, password="x" * 20)
    Account.objects.create(
        user=user,
        email_verified_at=timezone.now(),
        franceconnect_sub=f"sub-{holder.pk}" if franceconnect else None,
    )
    HolderLink.objects.create(user=user, holder=holder, method="licence_form")
    client.force_login(user)
    return user


@pytest.fixture
def camille(client: Client) -> Licence:
    """A holder by post, signed in with a local account at another address than the one she will give."""
    lic = licence_with("48")
    sign_in(client, lic.holder, "camille@example.fr")
    return lic


def choose(client: Client, prefix: str = "", **changes: str) -> object:
    data = {"channel": "electronic", "email": NEW, "phone": "", "accept": "on", **changes}
    return client.post(prefix + reverse("demarches:preferences"), data)


def mailed_link() -> str:
    assert len(mail.outbox) == 1
    found = re.search(r"https?://\S+/notifications/confirmer/\S+/", mail.outbox[0].body)
    assert found, mail.outbox[0].body
    return urlsplit(found.group(0)).path


def holder_of(lic: Licence) -> Holder:
    return Holder.objects.get(pk=lic.holder_id)


def test_an_unproven_address_changes_nothing_until_the_holder_confirms_it(
    client: Client, camille: Licence
) -> None:
    response = choose(client, sms="on", phone="06 12 34 56 78")
    assert response.status_code == 302
    holder = holder_of(camille)
    assert holder.notice_channel == "post" and holder.email != NEW and not holder.sms_alerts
    assert not NoticePreference.objects.exists()
    # One email, to the address to confirm, with the link; the token is not stored, only its digest.
    assert mail.outbox[0].to == [NEW]
    link = mailed_link()
    token = link.rstrip("/").rsplit("/", 1)[1]
    row = AddressConfirmation.objects.get(holder=holder)
    assert row.token_digest == token_digest(token) and token not in row.token_digest
    assert row.status == "pending"
    assert abs(row.expires_at - row.created_at - dt.timedelta(days=3)) < dt.timedelta(seconds=1)
    page = client.get(response["Location"]).content.decode()
    assert "Un courriel vient d’être envoyé à camille.nouvelle@example.fr" in page
    assert "vos lettres continuent d’arriver par la poste" in page
    assert "Adresse électronique à confirmer" in page and "Lettres : par la poste." in page
    # The link shows the choice and a button; following it changes nothing by itself.
    shown = client.get(link)
    assert shown.status_code == 200
    assert NEW in shown.content.decode() and "Confirmer mon adresse et mon choix" in shown.content.decode()
    assert holder_of(camille).notice_channel == "post"
    # Confirmed: the choice exactly as asked, with the text accepted when asked.
    done = client.post(link)
    assert done.status_code == 302 and done["Location"] == reverse("demarches:preferences")
    holder = holder_of(camille)
    assert (holder.notice_channel, holder.email, holder.sms_alerts, holder.phone) == (
        "electronic",
        NEW,
        True,
        "+33612345678",
    )
    recorded = NoticePreference.objects.get(holder=holder)
    assert recorded.text_version == "electronic@2" and recorded.recorded_by == f"holder:{holder.pk}"
    assert recorded.accepted_text == row.accepted_text == preferences.consent_text("electronic@2", "fr")
    row.refresh_from_db()
    assert row.status == "confirmed" and row.preference == recorded
    assert "Votre adresse est confirmée" in client.get(done["Location"]).content.decode()


def test_a_used_link_answers_410(client: Client, camille: Licence) -> None:
    choose(client)
    link = mailed_link()
    assert client.post(link).status_code == 302
    again = client.post(link)
    assert again.status_code == 410 and "Ce lien a déjà servi" in again.content.decode()
    assert client.get(link).status_code == 410
    assert NoticePreference.objects.count() == 1


def test_an_expired_link_answers_410_and_changes_nothing(client: Client, camille: Licence) -> None:
    choose(client)
    link = mailed_link()
    # Three days later (the session itself would not last that long: the link's age is what is tested).
    later = timezone.now() + dt.timedelta(days=3, minutes=1)
    with time_machine.travel(later):
        client.force_login(User.objects.get(email="camille@example.fr"))
        response = client.post(link)
        assert response.status_code == 410 and "Ce lien a expiré" in response.content.decode()
        page = client.get(reverse("demarches:preferences")).content.decode()
        assert "Adresse électronique à confirmer" not in page  # no longer waiting
    assert holder_of(camille).notice_channel == "post" and not NoticePreference.objects.exists()


def test_another_holders_session_cannot_follow_the_link(client: Client, camille: Licence) -> None:
    choose(client)
    link = mailed_link()
    stranger = Client()
    sign_in(stranger, licence_with("48").holder, NEW)  # even one whose own account has that very address
    for response in (stranger.get(link), stranger.post(link)):
        assert response.status_code == 400 and "Ce lien n’est pas valide" in response.content.decode()
    assert not NoticePreference.objects.exists() and holder_of(camille).notice_channel == "post"
    assert Client().get(link)["Location"].startswith(reverse("accounts:login"))  # signed out: sign in first
    assert client.post(link).status_code == 302  # still good for the holder who asked
    assert holder_of(camille).notice_channel == "electronic"


def test_an_unknown_link_answers_400(client: Client, camille: Licence) -> None:
    response = client.get(reverse("demarches:preferences_confirm", args=["pas-un-jeton"]))
    assert response.status_code == 400 and "Ce lien n’est pas valide" in response.content.decode()


def test_a_newer_choice_replaces_the_pending_one(client: Client, camille: Licence) -> None:
    choose(client, email="camille.erreur@example.fr")
    first = mailed_link()
    mail.outbox.clear()
    choose(client)
    second = mailed_link()
    response = client.post(first)
    assert response.status_code == 410 and "Ce lien a été remplacé" in response.content.decode()
    assert client.post(second).status_code == 302
    assert holder_of(camille).email == NEW


def test_opting_out_needs_no_confirmation_and_ends_the_pending_request(
    client: Client, camille: Licence
) -> None:
    choose(client)
    link = mailed_link()
    mail.outbox.clear()
    assert choose(client, channel="post").status_code == 302
    assert not mail.outbox and NoticePreference.objects.get().text_version == "post@1"
    assert client.post(link).status_code == 410  # its link cannot switch the holder back later
    assert holder_of(camille).notice_channel == "post"


def test_the_verified_address_of_the_local_account_is_used_at_once(client: Client, camille: Licence) -> None:
    response = choose(client, email="Camille@Example.fr")
    assert response.status_code == 302 and not mail.outbox
    assert holder_of(camille).notice_channel == "electronic"
    assert (
        "vos prochaines lettres arriveront dans votre espace personnel"
        in client.get(reverse("demarches:preferences")).content.decode()
    )


def test_the_franceconnect_address_is_not_proven(client: Client) -> None:
    lic = licence_with("48")
    sign_in(client, lic.holder, NEW, franceconnect=True)
    assert choose(client).status_code == 302
    assert mail.outbox[0].to == [NEW] and holder_of(lic).notice_channel == "post"


def test_an_address_confirmed_before_is_used_at_once(client: Client, camille: Licence) -> None:
    choose(client)
    client.post(mailed_link())
    choose(client, channel="post")
    mail.outbox.clear()
    assert choose(client).status_code == 302 and not mail.outbox
    assert holder_of(camille).notice_channel == "electronic"


def test_an_electronic_holder_changing_address_keeps_the_current_one_until_confirmed(client: Client) -> None:
    lic = licence_with("48")
    Holder.objects.filter(pk=lic.holder_id).update(notice_channel="electronic", email="ancienne@example.fr")
    sign_in(client, lic.holder, "camille@example.fr")
    # The same address, SMS added: no new destination, nothing to confirm.
    assert choose(client, email="ancienne@example.fr", sms="on", phone="0612345678").status_code == 302
    assert not mail.outbox and holder_of(lic).sms_alerts
    response = choose(client)
    assert mail.outbox[0].to == [NEW]
    holder = holder_of(lic)
    assert (holder.notice_channel, holder.email) == ("electronic", "ancienne@example.fr")
    page = client.get(response["Location"]).content.decode()
    assert "rien ne change : vos lettres arrivent dans votre espace personnel" in page


def test_the_text_and_language_accepted_are_kept_with_the_request(client: Client, camille: Licence) -> None:
    try:
        choose(client, prefix="/en")
        link = mailed_link()
        assert link.startswith("/en/")
    finally:
        translation.activate("fr")
    row = AddressConfirmation.objects.get()
    assert (row.text_version, row.language) == ("electronic@2", "en")
    assert client.post(link.removeprefix("/en")).status_code == 302  # confirmed from the French page
    recorded = NoticePreference.objects.get()
    assert recorded.accepted_text == preferences.consent_text("electronic@2", "en")


def test_a_text_that_reads_differently_now_is_not_recorded_as_accepted(
    client: Client, camille: Licence
) -> None:
    """The legal delay the text names changed since the request: the holder must read the text again."""
    choose(client)
    AddressConfirmation.objects.update(accepted_text="Le texte tel qu’il se lisait alors.")
    response = client.post(mailed_link())
    assert response.status_code == 410 and not NoticePreference.objects.exists()


def test_an_invalid_choice_sends_no_email(client: Client, camille: Licence) -> None:
    response = choose(client, email="pas-une-adresse")
    assert response.status_code == 400 and not mail.outbox and not AddressConfirmation.objects.exists()


def test_no_mail_server_answers_503_and_changes_nothing(
    client: Client, camille: Licence, monkeypatch
) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr("permis.portal.demarches.views.send_mail", down)
    response = choose(client)
    assert response.status_code == 503
    assert (
        "Le courriel de confirmation n’a pas pu être envoyé : rien n’a changé." in response.content.decode()
    )
    holder = holder_of(camille)
    assert holder.notice_channel == "post" and holder.email != NEW and not NoticePreference.objects.exists()
    assert "Adresse électronique à confirmer" not in response.content.decode()  # nothing left pending
    assert not AddressConfirmation.objects.filter(holder=holder, status="pending").exists()


def test_a_mail_failure_leaves_the_earlier_link_working(
    client: Client, camille: Licence, monkeypatch
) -> None:
    """The page says "nothing has changed": the link already in the holder's mailbox must still confirm."""
    assert choose(client).status_code == 302
    first = mailed_link()

    def down(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr("permis.portal.demarches.views.send_mail", down)
    assert choose(client, email="autre.adresse@example.fr").status_code == 503
    assert client.get(first).status_code == 200
    assert client.post(first).status_code == 302
    assert holder_of(camille).email == NEW and holder_of(camille).notice_channel == "electronic"
