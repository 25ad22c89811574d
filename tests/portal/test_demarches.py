"""The holder's errands under /mon-espace/: letters, notifications, documents, courses, share codes, access log.

Every page reads the signed-in holder's file only; another holder's ids are a 404 that reveals nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from permis.accounts.models import HolderLink
from permis.notices import legal, services
from permis.notices.models import Channel, Delivery, NoticePreference
from permis.registry.models import Holder, Licence, Notice
from tests.notices.document_helpers import licence_with

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 4, 2, 9, 0, tzinfo=dt.UTC)


def sign_in(client: Client, holder: Holder, username: str = "camille") -> User:
    user = User.objects.create_user(username, email=f"{username}@example.fr", password="x" * 20)
    HolderLink.objects.create(user=user, holder=holder, method="licence_form")
    client.force_login(user)
    return user


def electronic(lic: Licence, email: str = "camille@example.fr") -> Licence:
    Holder.objects.filter(pk=lic.holder_id).update(notice_channel="electronic", email=email)
    lic.holder.refresh_from_db()
    return lic


def delivered_in_account(lic: Licence) -> Notice:
    """The licence's 48, planned for the account and made available there."""
    notice = Notice.objects.get(licence=lic, code="48")
    services.plan_deliveries(now=NOW)
    legal.make_available(Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT), NOW)
    return notice


def pdf_text(pdf: bytes) -> str:
    result = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(result.stdout.decode().split())


@pytest.fixture
def camille(client: Client) -> Licence:
    lic = electronic(licence_with("48"))
    sign_in(client, lic.holder)
    return lic


@pytest.fixture
def other() -> Licence:
    """Another holder, with a letter of their own."""
    lic = electronic(licence_with("48"), email="other@example.fr")
    Holder.objects.filter(pk=lic.holder_id).update(birth_name="DURAND", given_names="Dominique")
    return lic


# -- access ----------------------------------------------------------------------------------------------------
PAGES = ["demarches:notices", "demarches:preferences", "demarches:documents"]


def test_every_view_is_declared_for_holders() -> None:
    from permis.portal.demarches import urls

    for pattern in urls.urlpatterns:
        assert getattr(pattern.callback, "permis_access", None) == "holder", pattern.name


# -- letters ---------------------------------------------------------------------------------------------------
def test_the_letters_page_lists_the_holders_letters_with_their_legal_dates(
    client: Client, camille: Licence, other: Licence
) -> None:
    notice = delivered_in_account(camille)
    delivered_in_account(other)
    response = client.get(reverse("demarches:notices"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Lettre 48" in html and "Information sur un retrait de points" in html
    assert reverse("demarches:notice", args=[notice.pk]) in html
    assert "Espace personnel (notification électronique)" in html and "Courriel" in html
    assert "2 avril 2024" in html  # made available
    assert "pas encore ouverte" in html
    other_notice = Notice.objects.get(licence=other, code="48")
    assert reverse("demarches:notice", args=[other_notice.pk]) not in html
    assert other.number not in html


def test_opening_a_letter_records_the_first_opening_once(client: Client, camille: Licence) -> None:
    notice = delivered_in_account(camille)
    account = Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT)
    assert account.first_opened_at is None and account.deemed_received_on is not None
    with time_machine.travel(NOW + dt.timedelta(days=1, hours=3), tick=False):  # before the deemed date
        client.logout()
        client.force_login(User.objects.get(username="camille"))  # a session of that day
        response = client.get(reverse("demarches:notice", args=[notice.pk]))
    assert response.status_code == 200
    account.refresh_from_db()
    first = account.first_opened_at
    assert first is not None
    assert first == NOW + dt.timedelta(days=1, hours=3)
    assert account.deemed_received_on == dt.date(2024, 4, 3)  # notified on the first consultation
    html = response.content.decode()
    assert "Première consultation" in html and "pas encore ouverte" not in html
    client.get(reverse("demarches:notice", args=[notice.pk]))
    client.get(reverse("demarches:notice_pdf", args=[notice.pk]))
    account.refresh_from_db()
    assert account.first_opened_at == first


def test_the_pdf_is_the_holders_letter(client: Client, camille: Licence) -> None:
    notice = delivered_in_account(camille)
    response = client.get(reverse("demarches:notice_pdf", args=[notice.pk]) + "?download=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    assert re.fullmatch(
        r'attachment; filename="lettre-48-2024-03-20-\d+\.pdf"', response["Content-Disposition"]
    )
    text = pdf_text(response.content)
    assert "Lettre 48" in text and camille.number in text and "DUPONT" in text
    inline = client.get(reverse("demarches:notice_pdf", args=[notice.pk]))
    assert inline["Content-Disposition"].startswith("inline;")
    # Serving the PDF is an opening too.
    assert Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT).first_opened_at is not None


def test_another_holders_letter_is_a_404_and_is_not_opened(
    client: Client, camille: Licence, other: Licence
) -> None:
    delivered_in_account(camille)
    theirs = Notice.objects.get(licence=other, code="48")
    legal.make_available(Delivery.objects.get(notice=theirs, channel=Channel.ACCOUNT), NOW)
    for name in ("demarches:notice", "demarches:notice_pdf"):
        response = client.get(reverse(name, args=[theirs.pk]))
        assert response.status_code == 404
        assert other.number.encode() not in response.content and b"DURAND" not in response.content
    missing = client.get(reverse("demarches:notice", args=[theirs.pk + 1000]))
    assert missing.status_code == 404 and missing.content == response.content  # same answer: nothing revealed
    assert Delivery.objects.get(notice=theirs, channel=Channel.ACCOUNT).first_opened_at is None


def test_a_letter_by_post_has_no_legal_date_but_can_be_read(client: Client) -> None:
    lic = licence_with("48")
    sign_in(client, lic.holder)
    notice = Notice.objects.get(licence=lic, code="48")
    services.plan_deliveries(now=NOW)
    html = client.get(reverse("demarches:notice", args=[notice.pk])).content.decode()
    assert "Lettre simple" in html and "aucune : lettre simple d’information" in html


# -- preferences -----------------------------------------------------------------------------------------------
def post_preferences(client: Client, **changes: str) -> object:
    data = {"channel": "electronic", "email": "camille@example.fr", "phone": "", "accept": "on", **changes}
    data = {key: value for key, value in data.items() if value is not None}
    return client.post(reverse("demarches:preferences"), data)


def test_the_preferences_page_shows_the_choice_the_text_and_its_consequences(client: Client) -> None:
    lic = licence_with("48")
    sign_in(client, lic.holder)
    response = client.get(reverse("demarches:preferences"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Lettres : par la poste." in html
    assert "Conditions de la notification électronique" in html and "(electronic@1)" in html
    assert "Renonciation à la notification électronique" in html
    assert "courent à partir de cette date" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "Vous n’avez encore fait aucun choix en ligne" in html


def test_opting_in_is_stored_with_the_text_and_shown_in_the_history(client: Client) -> None:
    lic = licence_with("48")
    sign_in(client, lic.holder)
    response = post_preferences(client, sms="on", phone="06 12 34 56 78")
    assert response.status_code == 302 and response["Location"] == reverse("demarches:preferences")
    holder = Holder.objects.get(pk=lic.holder_id)
    assert (holder.notice_channel, holder.sms_alerts, holder.phone) == ("electronic", True, "+33612345678")
    row = NoticePreference.objects.get(holder=holder)
    assert row.text_version == "electronic@1" and row.recorded_by == f"holder:{holder.pk}"
    assert "Conditions de la notification électronique" in row.accepted_text
    page = client.get(response["Location"]).content.decode()
    assert "vos prochaines lettres arriveront dans votre espace personnel" in page
    assert "Vous, dans votre espace personnel" in page and "electronic@1" in page
    # Back to the post: a second row, the first kept.
    assert post_preferences(client, channel="post").status_code == 302
    assert list(NoticePreference.objects.filter(holder=holder).values_list("text_version", flat=True)) == [
        "electronic@1",
        "post@1",
    ]
    assert Holder.objects.get(pk=holder.pk).notice_channel == "post"


def test_preferences_errors_are_on_their_fields_and_nothing_is_stored(client: Client) -> None:
    lic = licence_with("48")
    Holder.objects.filter(pk=lic.holder_id).update(email="")
    sign_in(client, lic.holder)
    response = post_preferences(client, email="", sms="on", phone="", accept=None)
    assert response.status_code == 200
    form = response.context["form"]
    assert "accept" in form.errors  # the checkbox is required before anything else
    response = post_preferences(client, email="", sms="on", phone="01 23 45 67 89")
    form = response.context["form"]
    assert "adresse électronique" in " ".join(form.errors["email"])
    assert "mobile" in " ".join(form.errors["phone"])
    assert "Votre choix n’a pas été enregistré" in response.content.decode()
    assert not NoticePreference.objects.exists()
    assert Holder.objects.get(pk=lic.holder_id).notice_channel == "post"


def test_preferences_need_the_csrf_token(camille: Licence) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get(username="camille"))
    response = strict.post(reverse("demarches:preferences"), {"channel": "post", "accept": "on"})
    assert response.status_code == 403
    assert not NoticePreference.objects.exists()


# -- documents -------------------------------------------------------------------------------------------------
def test_the_documents_page_explains_each_document_and_how_to_verify_it(
    client: Client, camille: Licence
) -> None:
    html = client.get(reverse("demarches:documents")).content.decode()
    assert "Attestation de droits à conduire" in html and "Relevé d’information intégral" in html
    assert "L223-7" in html and reverse("verifier:verify") in html
    assert reverse("demarches:attestation_pdf", args=[camille.pk]) in html


def test_the_documents_are_the_holders(client: Client, camille: Licence, other: Licence) -> None:
    attestation = client.get(reverse("demarches:attestation_pdf", args=[camille.pk]))
    assert attestation.status_code == 200 and attestation["Cache-Control"] == "private, no-store"
    assert attestation["Content-Disposition"].startswith(
        f'attachment; filename="attestation-droits-a-conduire-{camille.number}-'
    )
    text = pdf_text(attestation.content)
    assert "Attestation" in text and camille.number in text and "Nouveau solde" not in text
    rii = client.get(reverse("demarches:rii_pdf", args=[camille.pk]))
    assert rii.status_code == 200 and camille.number in pdf_text(rii.content)
    for name in ("demarches:attestation_pdf", "demarches:rii_pdf"):
        response = client.get(reverse(name, args=[other.pk]))
        assert response.status_code == 404 and other.number.encode() not in response.content
