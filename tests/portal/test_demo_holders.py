"""The named demo holders' pages tell the stories the README lists: their letters went out, with their dates."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from permis.notices.documents.facts import add_months
from permis.notices.legal import received_on
from permis.notices.models import Delivery
from permis.portal.dates import long_date
from permis.registry.models import FeedRecord, Licence, Notice
from permis.registry.services import today
from tests.portal.test_demarches import pdf_text, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo() -> None:
    call_command("demo", "--licences", "8", "--quiet", stdout=io.StringIO())


def signed_in(client: Client, number: str) -> Licence:
    licence = Licence.objects.select_related("holder").get(number=number)
    sign_in(client, licence.holder, username=number.lower())
    return licence


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.usefixtures("demo")
def test_every_named_holders_letters_say_how_they_were_sent(client: Client) -> None:
    for number in [f"DEMO{serial:08d}" for serial in range(1, 9)]:
        licence = signed_in(client, number)
        page = text(client.get(reverse("demarches:notices")).content.decode())
        assert "en préparation" not in page, number
        for notice in Notice.objects.filter(licence=licence):
            html = text(client.get(reverse("demarches:notice", args=[notice.pk])).content.decode())
            assert "La lettre est en préparation" not in html, (number, notice.code)
            assert f"Lettre datée du {long_date(notice.due_on)}" in html
            assert "Confiée à l’imprimeur pour envoi par la poste" in html, (number, notice.code)
        client.logout()


@pytest.mark.usefixtures("demo")
def test_ines_sees_her_48n_received_and_the_day_her_course_is_due(client: Client) -> None:
    licence = signed_in(client, "DEMO00000003")
    notice = Notice.objects.get(licence=licence, code="48N")
    receipt = received_on(notice)
    assert receipt is not None
    html = text(client.get(reverse("demarches:notice", args=[notice.pk])).content.decode())
    assert "Lettre recommandée avec avis de réception" in html
    assert f"{long_date(receipt)} — Distribuée (avis de réception signé)" in html
    assert "pas encore connue" not in html
    dashboard = text(client.get(reverse("dossier:dashboard")).content.decode())
    assert (
        f"avant le {long_date(add_months(receipt, 4))} (4 mois après la réception de la lettre 48N)"
        in dashboard
    )


@pytest.mark.usefixtures("demo")
def test_leas_48si_is_sent_and_not_yet_received(client: Client) -> None:
    licence = signed_in(client, "DEMO00000005")
    notice = Notice.objects.get(licence=licence, code="48SI")
    html = text(client.get(reverse("demarches:notice", args=[notice.pk])).content.decode())
    assert "Lettre recommandée avec avis de réception" in html
    assert "pas encore reçu" in html and "pas encore connue" in html


@pytest.mark.usefixtures("demo")
def test_karims_48si_shows_the_day_it_was_received(client: Client) -> None:
    licence = signed_in(client, "DEMO00000006")
    notice = Notice.objects.get(licence=licence, code="48SI")
    receipt = Delivery.objects.get(notice=notice).receipt_on
    html = client.get(reverse("demarches:notice", args=[notice.pk])).content.decode()
    assert f"<strong>{long_date(receipt)}</strong>" in html


@pytest.mark.usefixtures("demo")
def test_the_history_names_the_commune_of_each_offence(client: Client) -> None:
    signed_in(client, "DEMO00000004")  # Hugo: Lyon, Beaune, Paris
    html = text(client.get(reverse("dossier:history")).content.decode())
    for place in ("lieu : Lyon (69123)", "lieu : Beaune (21054)", "lieu : Paris (75056)"):
        assert place in html


@pytest.mark.usefixtures("demo")
def test_a_commune_the_table_does_not_know_is_shown_as_a_code(client: Client) -> None:
    licence = signed_in(client, "DEMO00000008")
    record = FeedRecord.objects.get(event__licence=licence)
    record.payload = {**record.payload, "place": "01053"}
    record.save(update_fields=["payload"])
    html = text(client.get(reverse("dossier:history")).content.decode())
    assert "lieu : commune 01053" in html


@pytest.mark.usefixtures("demo")
def test_a_demo_letter_is_dated_in_its_pdf_as_on_its_page(client: Client) -> None:
    licence = signed_in(client, "DEMO00000008")  # Thomas: a 48 five months ago
    notice = Notice.objects.get(licence=licence, code="48")
    assert notice.due_on < today()
    pdf = client.get(reverse("demarches:notice_pdf", args=[notice.pk])).content
    assert re.search(rf"Date\s+{long_date(notice.due_on)}", pdf_text(pdf))
