"""The holder's errands under /mon-espace/: letters, notifications, documents, courses, share codes, access log.

Every page reads the signed-in holder's file only; another holder's ids are a 404 that reveals nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from permis.accounts.models import Account, HolderLink
from permis.audit import services as audit
from permis.audit.models import ShareCode
from permis.courses.models import CourseCentre, CourseSession
from permis.notices import legal, services
from permis.notices.models import Channel, Delivery, NoticePreference
from permis.portal.dates import long_date
from permis.registry import services as registry
from permis.registry.models import Holder, Licence, Notice
from tests.notices.document_helpers import licence_with, record
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 4, 2, 9, 0, tzinfo=dt.UTC)


def sign_in(client: Client, holder: Holder, username: str = "camille") -> User:
    user = User.objects.create_user(username, email=f"{username}@example.fr", password="x" * 20)
    # A holders' account (only those see a file), local: it signs in once its address is verified.
    Account.objects.create(user=user, email_verified_at=timezone.now())
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
PAGES = [
    "demarches:notices",
    "demarches:preferences",
    "demarches:documents",
    "demarches:courses",
    "demarches:share",
    "demarches:access_log",
]


@pytest.mark.parametrize("name", PAGES)
def test_an_anonymous_visitor_is_sent_to_the_login_page(client: Client, name: str) -> None:
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "next=" in response["Location"]


def test_every_view_is_declared_for_holders() -> None:
    from permis.portal.demarches import urls

    for pattern in urls.urlpatterns:
        assert getattr(pattern.callback, "permis_access", None) == "holder", pattern.name


def test_head_is_answered_like_get(client: Client, camille: Licence) -> None:
    """Monitors and link checkers use HEAD: the same status as GET (M3). A HEAD is not the holder opening a
    letter: it records no first opening (R223-3-1)."""
    for name in PAGES:
        assert client.head(reverse(name)).status_code == client.get(reverse(name)).status_code == 200, name
    notice = delivered_in_account(camille)
    for url in (
        reverse("demarches:notice", args=[notice.pk]),
        reverse("demarches:notice_pdf", args=[notice.pk]),
    ):
        assert client.head(url).status_code == 200, url
    assert Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT).first_opened_at is None
    assert client.put(reverse("demarches:notices")).status_code == 405


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
    notice = Notice.objects.get(licence=camille, code="48")
    services.plan_deliveries(now=NOW)
    account = Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT)
    legal.make_available(account, timezone.now() - dt.timedelta(hours=2))  # within the legal delay
    assert account.first_opened_at is None and account.deemed_received_on > timezone.localdate()
    response = client.get(reverse("demarches:notice_pdf", args=[notice.pk]))
    assert response.status_code == 200
    account.refresh_from_db()
    first = account.first_opened_at
    assert first is not None
    assert account.deemed_received_on == legal.legal_day(first)  # notified on the first consultation
    html = client.get(reverse("demarches:notice", args=[notice.pk])).content.decode()
    assert "Première consultation" in html and "pas encore ouverte" not in html
    assert "vaut notification" not in html  # already notified: nothing to warn about
    client.get(reverse("demarches:notice", args=[notice.pk]))
    client.get(reverse("demarches:notice_pdf", args=[notice.pk]))
    account.refresh_from_db()
    assert account.first_opened_at == first


def test_a_letter_that_cannot_be_produced_is_not_opened(
    client: Client, camille: Licence, monkeypatch
) -> None:
    """R223-3-1 runs the time limits to appeal from the first consultation: a PDF that failed was not one."""
    notice = Notice.objects.get(licence=camille, code="48")
    services.plan_deliveries(now=NOW)
    account = Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT)
    legal.make_available(account, timezone.now() - dt.timedelta(hours=2))

    def broken(*args, **kwargs):
        raise OSError("no fonts")

    monkeypatch.setattr("permis.portal.demarches.views.render_letter", broken)
    client.raise_request_exception = False
    assert client.get(reverse("demarches:notice_pdf", args=[notice.pk])).status_code == 500
    account.refresh_from_db()
    assert account.first_opened_at is None and account.deemed_received_on > timezone.localdate()


def test_the_letters_page_is_not_the_letter_and_its_visit_notifies_nothing(
    client: Client, camille: Licence
) -> None:
    """R223-3-1: the decision is notified when the holder first consults it. The page of a letter shows its title
    and its deliveries, not the letter: only the letter itself (its PDF) counts, and the page says so first."""
    notice = Notice.objects.get(licence=camille, code="48")
    services.plan_deliveries(now=NOW)
    account = Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT)
    legal.make_available(account, timezone.now() - dt.timedelta(hours=2))
    deemed = Delivery.objects.get(pk=account.pk).deemed_received_on
    html = client.get(reverse("demarches:notice", args=[notice.pk])).content.decode()
    account.refresh_from_db()
    assert (account.first_opened_at, account.deemed_received_on) == (None, deemed)
    assert "Ouvrir ou télécharger la lettre vaut notification" in html
    assert "pas encore ouverte" in html
    client.get(reverse("demarches:notices"))
    account.refresh_from_db()
    assert account.first_opened_at is None


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


def main_of(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    return html[html.index("<main") : html.index("</main>")]


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
    # Same answer: nothing revealed. The 404 page's header differs (the address in its language link, a fresh
    # CSRF token in its sign-out form): its content does not.
    assert missing.status_code == 404 and main_of(missing) == main_of(response)
    assert Delivery.objects.get(notice=theirs, channel=Channel.ACCOUNT).first_opened_at is None


def test_a_letter_by_post_has_no_legal_date_but_can_be_read(client: Client) -> None:
    lic = licence_with("48")
    sign_in(client, lic.holder)
    notice = Notice.objects.get(licence=lic, code="48")
    services.plan_deliveries(now=NOW)
    html = client.get(reverse("demarches:notice", args=[notice.pk])).content.decode()
    assert "Lettre simple" in html and "aucune : lettre simple d’information" in html


def letter_item(html: str, code: str) -> str:
    """The part of a letters page about the letter `code` (the whole page when it is the letter's own page)."""
    parts = html.split('<li class="fr-mb-4w">')
    if len(parts) == 1:
        return html
    (item,) = [part.split("</li>")[0] for part in parts[1:] if f"Lettre {code} " in part]
    return item


def test_a_48si_shows_the_notification_the_file_records_not_a_simple_letter(client: Client) -> None:
    """RULES.md §6: the 48SI is a registered letter whose receipt is the legal date. An agent's recorded
    notification (no delivery row yet, as for the demo letters) is that date."""
    lic = licence_with("48SI")
    registry.record_event(
        lic,
        "invalidation_notified",
        {"on": "2024-06-05"},
        source="agent",
        recorded_by="agent:test",
        sender="TEST",
        source_ref="48SI-1",
        on=dt.date(2024, 6, 6),
    )
    sign_in(client, lic.holder)
    notice = Notice.objects.get(licence=lic, code="48SI")
    assert not notice.deliveries.exists()
    for url in (reverse("demarches:notices"), reverse("demarches:notice", args=[notice.pk])):
        html = letter_item(client.get(url).content.decode(), "48SI")
        assert "<strong>5 juin 2024</strong>" in html, url
        assert "lettre simple" not in html.lower(), url
    html = client.get(reverse("demarches:notice", args=[notice.pk])).content.decode()
    assert "lettre recommandée avec avis de réception" in html


@pytest.mark.parametrize("code", ["48SI", "48N"])
def test_a_registered_letter_not_yet_notified_has_its_date_to_come(client: Client, code: str) -> None:
    lic = licence_with(code)
    sign_in(client, lic.holder)
    notice = Notice.objects.get(licence=lic, code=code)
    for url in (reverse("demarches:notices"), reverse("demarches:notice", args=[notice.pk])):
        html = letter_item(client.get(url).content.decode(), code)
        assert "pas encore connue" in html, url
        assert "lettre simple" not in html.lower(), url


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
    assert "Conditions de la notification électronique" in html and "(version 2)" in html
    assert "(electronic@2)" not in html  # the text's file name is the record's, not the holder's to read
    assert "Renonciation à la notification électronique" in html
    assert "courent à partir de cette date" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "Aucun choix n’a encore été enregistré en ligne" in html


def test_opting_in_is_stored_with_the_text_and_shown_in_the_history(client: Client) -> None:
    lic = licence_with("48")
    sign_in(client, lic.holder)
    response = post_preferences(client, sms="on", phone="06 12 34 56 78")
    assert response.status_code == 302 and response["Location"] == reverse("demarches:preferences")
    holder = Holder.objects.get(pk=lic.holder_id)
    assert (holder.notice_channel, holder.sms_alerts, holder.phone) == ("electronic", True, "+33612345678")
    row = NoticePreference.objects.get(holder=holder)
    assert row.text_version == "electronic@2" and row.recorded_by == f"holder:{holder.pk}"
    assert "Conditions de la notification électronique" in row.accepted_text
    page = client.get(response["Location"]).content.decode()
    assert "vos prochaines lettres arriveront dans votre espace personnel" in page
    assert "Vous, dans votre espace personnel" in page and "<td>version 2</td>" in page
    # Back to the post: a second row, the first kept.
    assert post_preferences(client, channel="post").status_code == 302
    assert list(NoticePreference.objects.filter(holder=holder).values_list("text_version", flat=True)) == [
        "electronic@2",
        "post@1",
    ]
    assert Holder.objects.get(pk=holder.pk).notice_channel == "post"


def test_preferences_errors_are_on_their_fields_and_nothing_is_stored(client: Client) -> None:
    lic = licence_with("48")
    Holder.objects.filter(pk=lic.holder_id).update(email="")
    sign_in(client, lic.holder)
    response = post_preferences(client, email="", sms="on", phone="", accept=None)
    assert response.status_code == 400
    form = response.context["form"]
    assert "accept" in form.errors  # the checkbox is required before anything else
    response = post_preferences(client, email="", sms="on", phone="01 23 45 67 89")
    assert response.status_code == 400
    form = response.context["form"]
    assert "adresse électronique" in " ".join(form.errors["email"])
    assert "mobile" in " ".join(form.errors["phone"])
    assert "Votre choix n’a pas été enregistré" in response.content.decode()
    assert not NoticePreference.objects.exists()
    assert Holder.objects.get(pk=lic.holder_id).notice_channel == "post"


def test_preferences_errors_come_all_at_once_the_box_with_the_email_and_the_phone(client: Client) -> None:
    """Without the consent box, the missing email and the landline number are told too, in the same answer."""
    lic = licence_with("48")
    Holder.objects.filter(pk=lic.holder_id).update(email="")
    sign_in(client, lic.holder)
    response = post_preferences(client, email="", sms="on", phone="01 23 45 67 89", accept=None)
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) == {"accept", "email", "phone"}
    assert "adresse électronique" in " ".join(form.errors["email"])
    assert "mobile" in " ".join(form.errors["phone"])
    html = response.content.decode()
    assert html.count('<li><a href="#id_') == 3  # the summary links each field
    assert not NoticePreference.objects.exists()
    assert Holder.objects.get(pk=lic.holder_id).notice_channel == "post"
    # Without the box, a choice the service accepts is still not recorded.
    again = post_preferences(client, email="camille@example.fr", accept=None)
    assert again.status_code == 400 and set(again.context["form"].errors) == {"accept"}
    assert not NoticePreference.objects.exists()
    assert Holder.objects.get(pk=lic.holder_id).email == ""


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


# -- courses ---------------------------------------------------------------------------------------------------
def centre(name: str, postcode: str, departement: str, number: str) -> CourseCentre:
    return CourseCentre.objects.create(
        name=name,
        approval_number=number,
        address="1 rue de la Gare",
        postcode=postcode,
        city="Ville",
        departement=departement,
        approved_on=dt.date(2020, 1, 1),
    )


def session(where: CourseCentre, first_day: dt.date, price: int = 23000, seats: int = 20, taken: int = 0):
    return CourseSession.objects.create(
        centre=where,
        first_day=first_day,
        last_day=first_day + dt.timedelta(days=1),
        place=f"Salle {where.name}",
        price_cents=price,
        seats=seats,
        seats_taken=taken,
    )


def test_the_courses_page_says_when_a_course_counts_and_lists_sessions_of_the_departement_first(
    client: Client, camille: Licence
) -> None:
    soon = timezone.localdate() + dt.timedelta(days=10)
    lyon = centre("Stage Lyon", "69003", "69", "R2069001")
    paris = centre("Stage Paris", "75011", "75", "R2075001")
    session(paris, soon)
    session(lyon, soon + dt.timedelta(days=7), price=24950, seats=20, taken=5)
    session(lyon, soon, seats=10, taken=10)  # full: left out
    response = client.get(reverse("demarches:courses"), {"postcode": "69007"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Oui, dès aujourd’hui." in html  # 9 points out of 12, no course in the last year
    assert html.index("Stage Lyon") < html.index("Stage Paris")
    assert "1 session dans le département 69." in html
    assert "249,50 €" in html and "230 €" in html and "R2069001" in html
    assert "249,50 € — 15 places restantes" in html
    assert "Salle Stage Lyon" in html
    # Without a postcode, the holder's own (69003) is used.
    assert "Stage Lyon" in client.get(reverse("demarches:courses")).content.decode()


def test_the_courses_page_lists_the_nearest_sessions_first_and_says_how_far(
    client: Client, camille: Licence
) -> None:
    soon = timezone.localdate() + dt.timedelta(days=10)
    session(centre("Stage Marseille", "13001", "13", "R2013001"), soon)
    session(centre("Stage Paris", "75011", "75", "R2075001"), soon + dt.timedelta(days=30))
    session(centre("Stage Évry", "91000", "91", "R2091001"), soon + dt.timedelta(days=60))
    html = client.get(reverse("demarches:courses"), {"postcode": "91080"}).content.decode()
    assert html.index("Stage Évry") < html.index("Stage Paris") < html.index("Stage Marseille")
    assert "Salle Stage Évry — dans votre département" in html
    assert "Salle Stage Paris — à environ 25 km" in html  # 26.5 km between the préfectures, to 5 km
    assert "Salle Stage Marseille — à environ 630 km" in html  # 634 km, to 10 km
    assert "Du plus proche au plus lointain." in html
    # From Guadeloupe, thousands are grouped as French writes them, with a no-break space.
    html = client.get(reverse("demarches:courses"), {"postcode": "97110"}).content.decode()
    assert "Aucune session dans le département 971." in html
    assert "Salle Stage Paris — à environ 6\xa0790 km" in html


def test_a_course_within_the_year_counts_from_a_date(client: Client) -> None:
    on = timezone.localdate()
    lic = licence_with("48")  # 9 points
    course_day = on - dt.timedelta(days=60)
    registry.record_event(
        lic,
        "course",
        {
            "first_day": course_day.isoformat(),
            "last_day": (course_day + dt.timedelta(days=1)).isoformat(),
            "type": "voluntary",
        },
        source="course_centre",
        on=course_day + dt.timedelta(days=5),
    )
    committed, final = on - dt.timedelta(days=30), on - dt.timedelta(days=20)
    record(
        lic,
        "offence",
        offence(committed.isoformat(), final.isoformat(), 3),
        (final + dt.timedelta(days=1)).isoformat(),
    )
    sign_in(client, lic.holder)
    html = client.get(reverse("demarches:courses")).content.decode()
    assert "Pas encore : un stage commencé à partir du" in html
    # The day is written as the pages write dates, in the reason too: never 03/12/2026 (March 12 in English).
    from_day = course_day + dt.timedelta(days=2)
    from_day = from_day.replace(year=from_day.year + 1)
    assert f"un stage commencé à partir du {long_date(from_day)} comptera." in html
    assert from_day.strftime("%d/%m/%Y") not in html
    english = client.get("/en" + reverse("demarches:courses")).content.decode()
    assert from_day.strftime("%d/%m/%Y") not in english


def test_a_wrong_postcode_is_said_on_the_field(client: Client, camille: Licence) -> None:
    response = client.get(reverse("demarches:courses"), {"postcode": "69 00"})
    assert response.status_code == 400
    assert "n’est pas un code postal" in " ".join(response.context["form"].errors["postcode"])


# -- share codes -----------------------------------------------------------------------------------------------
def test_a_holder_creates_a_code_sees_it_used_and_revokes_it(client: Client, camille: Licence) -> None:
    response = client.post(reverse("demarches:share"), {"days": "7", "label": "Loueur"})
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    code = response.context["created"]["code"]
    html = response.content.decode()
    assert code in html and "Notez-le maintenant" in html
    share = ShareCode.objects.get(holder=camille.holder)
    assert share.label == "Loueur" and code not in share.code_hash
    assert dt.timedelta(days=6, hours=23) < share.expires_at - share.created_at <= dt.timedelta(days=7)
    # A third party uses it: the use shows on the page, the code itself never again.
    assert audit.check_share(code, requester_label="Loc'Auto", purpose="location") is not None
    html = client.get(reverse("demarches:share")).content.decode()
    assert code not in html
    assert f"« {share.hint} »" in html and "Utilisé 1 fois." in html and "Loc&#x27;Auto" in html
    until = timezone.localtime(share.expires_at)
    assert f"valable jusqu’au {long_date(until.date())} à {until:%H:%M}." in html
    # Revoked: POST only, then the code no longer works.
    assert client.get(reverse("demarches:share_revoke", args=[share.pk])).status_code == 405
    response = client.post(reverse("demarches:share_revoke", args=[share.pk]))
    assert response.status_code == 302
    assert ShareCode.objects.get(pk=share.pk).revoked_at is not None
    assert audit.check_share(code, requester_label="Loc'Auto") is None
    assert "Révoqué" in client.get(reverse("demarches:share")).content.decode()
    english = client.get(
        "/en" + reverse("demarches:share")
    ).content.decode()  # last: it leaves English active
    assert f" at {until:%H:%M}" in english and f" à {until:%H:%M}" not in english


def test_a_code_lasts_thirty_days_at_most(client: Client, camille: Licence) -> None:
    response = client.post(reverse("demarches:share"), {"days": "31"})
    assert response.status_code == 400 and "days" in response.context["form"].errors
    assert not ShareCode.objects.exists()


def test_another_holders_code_cannot_be_revoked_or_seen(
    client: Client, camille: Licence, other: Licence
) -> None:
    theirs, _code = audit.create_share(other.holder, 7, "Employeur de Dominique")
    response = client.post(reverse("demarches:share_revoke", args=[theirs.pk]))
    assert response.status_code == 404 and b"Dominique" not in response.content
    missing = client.post(reverse("demarches:share_revoke", args=[theirs.pk + 1000]))
    assert missing.status_code == 404 and main_of(missing) == main_of(response)  # the same 404 page
    assert ShareCode.objects.get(pk=theirs.pk).revoked_at is None
    assert "Employeur de Dominique" not in client.get(reverse("demarches:share")).content.decode()


def test_sharing_needs_the_csrf_token(camille: Licence) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get(username="camille"))
    assert strict.post(reverse("demarches:share"), {"days": "7"}).status_code == 403
    assert not ShareCode.objects.exists()


# -- access log ------------------------------------------------------------------------------------------------
def consulted(
    lic: Licence, label: str, role: str = "police", purpose: str = "roadside_check", **extra
) -> None:
    audit.log_access(
        actor="user:1",
        actor_label=label,
        role=role,
        holder=lic.holder,
        licence=lic,
        purpose=purpose,
        shown=["identité", "solde"],
        channel="back_office",
        **extra,
    )


def test_the_access_log_says_who_when_and_why_in_plain_words(
    client: Client, camille: Licence, other: Licence
) -> None:
    consulted(camille, "Brigade de Villeurbanne")
    consulted(camille, "Agent Martin, préfecture du Rhône", "agent", "other", purpose_detail="courrier reçu")
    consulted(other, "Gendarmerie de Dominique")
    html = client.get(reverse("demarches:access_log")).content.decode()
    assert (
        "Brigade de Villeurbanne" in html and "Police ou gendarmerie" in html and "Contrôle routier" in html
    )
    assert "Agent de préfecture" in html and "Autre motif (précisé) : courrier reçu" in html
    assert "identité, solde de points" in html
    assert html.index("Agent Martin") < html.index("Brigade de Villeurbanne")  # newest first
    assert "Gendarmerie de Dominique" not in html


def test_the_access_log_is_paginated(client: Client, camille: Licence) -> None:
    for n in range(30):
        consulted(camille, f"Agent n°{n:02d}")
    first = client.get(reverse("demarches:access_log")).content.decode()
    second = client.get(reverse("demarches:access_log"), {"page": "2"}).content.decode()
    assert "Agent n°29" in first and "Agent n°04" not in first and "Page suivante" in first
    assert "Agent n°04" in second and "Agent n°00" in second and "Agent n°29" not in second


def test_the_pages_are_in_english_under_en(client: Client, camille: Licence) -> None:
    from django.utils import translation

    try:
        html = client.get("/en/mon-espace/notifications/").content.decode()
        assert "My notifications" in html and "What electronic notice changes" in html
        assert "Conditions" in html or "electronic notice" in html  # the consent text in English
        assert "Share my right to drive" in client.get("/en/mon-espace/partage/").content.decode()
        assert "Who consulted my file" in client.get("/en/mon-espace/consultations/").content.decode()
    finally:
        translation.activate("fr")


def test_the_english_access_log_says_the_services_own_labels_in_english_and_marks_the_rest_french(
    client: Client, camille: Licence
) -> None:
    """The stored labels are French (the log is never rewritten): the service's own are said in English on
    /en/, a name typed by someone else stays as written, marked lang="fr" for screen readers (WCAG 3.1.2)."""
    from django.utils import translation

    audit.log_access(
        actor="user:9",
        actor_label="Compte FranceConnect de Thomas ROUX (rattaché automatiquement, identité vérifiée)",
        role="account_link",
        holder=camille.holder,
        licence=camille,
        purpose="holder_request",
        shown=["dossier complet"],
        channel="portal",
    )
    audit.log_access(
        actor="key:ab12",
        actor_label="Centre Stage Lyon (agrément R2069001)",
        role="course_centre",
        holder=camille.holder,
        licence=camille,
        purpose="course_eligibility",
        shown=["éligibilité au stage"],
        channel="api",
    )
    consulted(camille, "Brigade de Villeurbanne", purpose_detail="accident rue Garibaldi")
    try:
        html = client.get("/en/mon-espace/consultations/").content.decode()
    finally:
        translation.activate("fr")
    assert "Compte FranceConnect" not in html and "rattaché automatiquement" not in html
    assert "FranceConnect account of Thomas ROUX (linked automatically, identity verified)" in html
    assert "Centre Stage Lyon (approval no. R2069001)" in html and "éligibilité au stage" not in html
    assert "eligibility for a course" in html
    assert '<span lang="fr">Brigade de Villeurbanne</span>' in html
    assert '<span lang="fr">accident rue Garibaldi</span>' in html
    assert "Why: " in html and "Why : " not in html
    french = client.get(reverse("demarches:access_log")).content.decode()
    assert "Compte FranceConnect de Thomas ROUX (rattaché automatiquement, identité vérifiée)" in french
    assert 'lang="fr"' not in french.split("<main", 1)[1]  # the page's own language needs no mark


def test_the_english_notifications_page_has_no_french_consequence_and_its_legal_texts_in_english(
    client: Client, camille: Licence, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.utils import translation

    from permis.notices import preferences

    try:
        html = client.get("/en/mon-espace/notifications/").content.decode()
        for french in (
            "Les délais de recours courent",
            "Si le courriel qui vous prévient",
            "restent envoyées en recommandé",
            "Conditions de la notification électronique",
        ):
            assert french not in html
        assert 'class="permis-consent" lang' not in html  # both texts exist in English
        # A version published in French only is shown in French, marked so, and accepted as such.
        real = preferences.consent_text

        def french_only(version: str, language: str = "fr", on=None) -> str:
            if version.startswith("electronic") and language != "fr":
                raise preferences.PreferenceError([f"accepted_text_version: {version!r} not in {language!r}"])
            return real(version, language, on)

        monkeypatch.setattr(preferences, "consent_text", french_only)
        html = client.get("/en/mon-espace/notifications/").content.decode()
        assert '<div class="permis-consent" lang="fr">' in html
        assert "Conditions de la notification électronique" in html
    finally:
        translation.activate("fr")


def test_a_postcode_of_no_departement_is_said_on_the_field_and_none_found_reads_right(
    client: Client, camille: Licence
) -> None:
    for wrong in ("00000", "96100", "99999", "97900"):
        response = client.get(reverse("demarches:courses"), {"postcode": wrong})
        assert response.status_code == 400
        errors = " ".join(response.context["form"].errors["postcode"])
        assert f"« {wrong} » n’est pas un code postal français" in errors, (wrong, errors)
        assert 'id="courses-results"' not in response.content.decode()  # no search made
    response = client.get(reverse("demarches:courses"), {"postcode": "97411"})  # La Réunion: no session there
    html = response.content.decode()
    assert "Aucune session dans le département 974." in html and "0 session" not in html
