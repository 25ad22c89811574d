"""The holder's letter pages say what each delivery did, which date the law reads, in French typography."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from permis.notices import services
from permis.notices.models import Channel, Delivery, DeliveryStatus
from permis.registry.models import Holder, Notice
from tests.notices.document_helpers import licence_with
from tests.portal.test_demarches import electronic, sign_in

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 6, 1, 9, 0, tzinfo=dt.UTC)


def page(client: Client, notice: Notice) -> str:
    response = client.get(reverse("demarches:notice", args=[notice.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_registered_letter_handed_to_the_printer_is_not_said_delivered(client: Client) -> None:
    lic = licence_with("48SI")
    sign_in(client, lic.holder)
    notice = Notice.objects.get(licence=lic, code="48SI")
    services.plan_deliveries(now=NOW)
    Delivery.objects.filter(notice=notice).update(status=DeliveryStatus.DELIVERED, sent_at=NOW)
    html = page(client, notice)
    assert "Confiée à l’imprimeur pour envoi par la poste" in html
    assert "Remise" not in html and "Envoyée le" not in html


def test_a_48si_shows_only_its_registered_receipt_as_a_date_and_no_doubled_parentheses(
    client: Client,
) -> None:
    lic = electronic(licence_with("48SI"))
    sign_in(client, lic.holder)
    notice = Notice.objects.get(licence=lic, code="48SI")
    services.plan_deliveries(now=NOW)
    services.deliver_due(worker="w", now=NOW, channels=["account"])
    Delivery.objects.filter(notice=notice, channel=Channel.REGISTERED).update(
        status=DeliveryStatus.DELIVERED, sent_at=NOW, receipt_kind="received", receipt_on=dt.date(2024, 6, 3)
    )
    html = page(client, notice)
    assert "Réputée reçue le" not in html  # the account's presumption does not date a 48SI
    assert "3 juin 2024 — Distribuée (avis de réception signé)" in html
    assert "((" not in html and "))" not in html
    assert "<strong>3 juin 2024</strong>" in html
    assert "vaut notification" not in html  # opening it here notifies nothing: the receipt does


def test_the_first_of_the_month_is_written_1er_on_the_letter_pages(client: Client) -> None:
    lic = electronic(licence_with("48"))
    sign_in(client, lic.holder)
    notice = Notice.objects.create(licence=lic, code="48", cause="x", due_on=dt.date(2024, 12, 1))
    for url in (reverse("demarches:notices"), reverse("demarches:notice", args=[notice.pk])):
        html = client.get(url).content.decode()
        assert "1er décembre 2024" in html, url
        assert " 1 décembre 2024" not in html, url


def test_a_letter_sent_by_post_after_its_email_alert_failed_says_so(client: Client) -> None:
    lic = electronic(licence_with("48"))
    Holder.objects.filter(pk=lic.holder_id).update(email="")  # no address: the email fails at planning
    sign_in(client, lic.holder)
    notice = Notice.objects.get(licence=lic, code="48")
    services.plan_deliveries(now=timezone.now())
    html = page(client, notice)
    assert "n’a pas pu vous être remis : la lettre vous a donc été envoyée par la poste" in html
    assert "aucune : lettre simple d’information" in html
    assert "Réputée reçue le" not in html


def test_the_preferences_page_dates_the_48n_and_48si_from_their_registered_letter(client: Client) -> None:
    lic = licence_with("48")
    sign_in(client, lic.holder)
    html = client.get(reverse("demarches:preferences")).content.decode()
    assert "4 mois" not in html  # the 48N's delay never runs from the electronic notice
    assert "c’est la date de réception de la lettre recommandée" in html
    assert "elle vous est envoyée par la poste, comme si vous aviez choisi la poste" in html
