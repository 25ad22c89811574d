"""Which date notifies a letter, said the same way by the code and by every text the holder gets (RULES.md §6).

- A 48N or 48SI is notified by its registered letter's receipt (``legal.legal_channel``), even for a holder who
  chose electronic notice: the email, the letter and the portal say so, not "first opening or 15 days".
- An electronic notice rests on the email alert: when the alert fails for good before the letter was opened, the
  letter goes by post as if the holder had chosen the post, and the account no longer dates it.
"""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from permis.notices import legal, services
from permis.notices.documents import render_letter
from permis.notices.models import Channel, Delivery, DeliveryStatus
from permis.registry.models import Holder, Notice, NoticeStatus
from tests.notices.document_helpers import licence_with, record
from tests.notices.test_delivery import NOW, deliver, due, person
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db


def text_of(pdf: bytes) -> str:
    result = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True, timeout=60)
    return " ".join(result.stdout.decode().split())


# -- the letter's own paragraph on its notification -------------------------------------------------------------
@pytest.mark.parametrize("code", ["48N", "48SI"])
def test_a_48n_or_48si_says_its_delays_run_from_the_registered_letter_even_for_an_electronic_holder(
    code: str,
) -> None:
    lic = licence_with(code)
    Holder.objects.filter(pk=lic.holder_id).update(notice_channel="electronic", email="c@example.fr")
    notice = Notice.objects.filter(licence=lic, code=code).latest("due_on")
    text = text_of(render_letter(notice))
    assert (
        "notifiée par lettre recommandée avec avis de réception : ces délais courent à compter de sa" in text
    )
    assert "même si vous la consultez aussi dans votre espace personnel" in text
    assert "Si cette lettre vous est notifiée par voie électronique" not in text
    assert "réputée reçue" not in text


def test_a_48m_is_dated_by_its_registered_receipt_by_post_and_by_the_electronic_notice_online() -> None:
    lic = licence_with("48M")
    notice = Notice.objects.get(licence=lic, code="48M")
    by_post = text_of(render_letter(notice))  # a holder by post: registered (POSTAL_REGISTERED_CODES)
    assert "LETTRE RECOMMANDÉE AVEC AVIS DE RÉCEPTION" in by_post.upper()
    assert (
        "notifiée par lettre recommandée avec avis de réception : ces délais courent à compter de sa"
        in by_post
    )
    assert "Si cette lettre vous est notifiée par voie électronique" not in by_post
    Holder.objects.filter(pk=lic.holder_id).update(notice_channel="electronic", email="c@example.fr")
    online = text_of(render_letter(notice))
    assert "Si cette lettre vous est notifiée par voie électronique, ces délais courent" in online
    assert "notifiée par lettre recommandée" not in online


# -- the email alert fails for good -------------------------------------------------------------------------------
def failed_for_good(smtp_server, code: str = "48", **fields) -> Notice:
    """A letter for an electronic holder, made available, whose email is refused for good (550)."""
    notice = due(person("electronic", email="c@example.fr", **fields), code)
    services.plan_deliveries(now=NOW)
    smtp_server.refuse_next(1, code=550)
    services.deliver_due(worker="w1", batch=50, now=NOW, channels=["account", "email"])
    assert Delivery.objects.get(notice=notice, channel=Channel.EMAIL).status == DeliveryStatus.FAILED
    return notice


def test_a_letter_whose_email_alert_failed_goes_by_post_and_is_no_longer_deemed_received(smtp_server) -> None:
    notice = failed_for_good(smtp_server)
    account = Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT)
    assert account.made_available_at is not None and account.deemed_received_on is None
    post = Delivery.objects.get(notice=notice, channel=Channel.POST)
    assert (post.status, post.address) == (
        DeliveryStatus.PENDING,
        "Camille MARTIN, 12 rue des Lilas, 75011 PARIS",
    )
    assert legal.legal_channel("48", ["account", "email", "post"]) == ""
    assert legal.received_on(notice) is None  # a simple letter by post: information, no legal date
    deliver(NOW + dt.timedelta(minutes=1))
    assert Delivery.objects.get(pk=post.pk).status == DeliveryStatus.DELIVERED
    # Opening it later in the account changes nothing: the letter went by post.
    legal.open_notice(account, NOW + dt.timedelta(days=20))
    assert legal.received_on(Notice.objects.get(pk=notice.pk)) is None
    # The letter follows its postal delivery; the failed email stays in its history (test_post_fallback.py).
    assert Notice.objects.get(pk=notice.pk).status == NoticeStatus.DELIVERED


def test_a_48m_whose_email_alert_failed_goes_registered_and_its_receipt_counts(smtp_server) -> None:
    notice = failed_for_good(smtp_server, "48M")
    registered = Delivery.objects.get(notice=notice, channel=Channel.REGISTERED)
    assert registered.status == DeliveryStatus.PENDING
    assert not Delivery.objects.filter(notice=notice, channel=Channel.POST).exists()
    Delivery.objects.filter(pk=registered.pk).update(receipt_kind="received", receipt_on=dt.date(2026, 3, 5))
    assert legal.received_on(notice) == dt.date(2026, 3, 5)


def test_a_letter_already_opened_when_its_email_fails_stays_notified_by_that_opening(smtp_server) -> None:
    notice = due(person("electronic", email="c@example.fr"), "48")
    services.plan_deliveries(now=NOW)
    services.deliver_due(worker="w1", batch=50, now=NOW, channels=["account"])
    account = Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT)
    legal.open_notice(account, NOW + dt.timedelta(minutes=5))
    smtp_server.refuse_next(1, code=550)
    services.deliver_due(worker="w1", batch=50, now=NOW + dt.timedelta(minutes=10), channels=["email"])
    assert Delivery.objects.get(notice=notice, channel=Channel.EMAIL).status == DeliveryStatus.FAILED
    assert not Delivery.objects.filter(notice=notice, channel__in=["post", "registered"]).exists()
    assert legal.received_on(notice) == dt.date(2026, 3, 2)


def test_a_48si_whose_email_failed_gets_no_second_postal_letter(smtp_server) -> None:
    notice = failed_for_good(smtp_server, "48SI")
    assert sorted(Delivery.objects.filter(notice=notice).values_list("channel", flat=True)) == [
        "account",
        "email",
        "registered",
    ]


def test_an_electronic_holder_without_an_email_address_gets_the_letter_by_post_at_once() -> None:
    notice = due(person("electronic", email=""), "48")
    summary = services.plan_deliveries(now=NOW)
    assert summary.deliveries["post"] == 1
    assert Delivery.objects.get(notice=notice, channel=Channel.POST).status == DeliveryStatus.PENDING


def test_a_temporary_email_failure_sends_nothing_by_post(smtp_server) -> None:
    notice = due(person("electronic", email="c@example.fr"), "48")
    services.plan_deliveries(now=NOW)
    smtp_server.refuse_next(1, code=451)
    deliver()
    assert (
        Delivery.objects.get(notice=notice, channel=Channel.EMAIL).status == DeliveryStatus.TEMPORARY_FAILURE
    )
    assert not Delivery.objects.filter(notice=notice, channel=Channel.POST).exists()
    assert Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT).deemed_received_on is not None


# -- a withdrawal on a balance already nul ----------------------------------------------------------------------
def test_a_withdrawal_on_a_nul_balance_gets_a_48_that_says_so_not_a_second_48si() -> None:
    lic = licence_with("48SI")  # 12 - 6 - 6 = 0 on 2024-05-20, the 48SI not yet notified
    record(lic, "offence", offence("2024-05-25", "2024-06-20", 2), "2024-06-21")
    codes = list(Notice.objects.filter(licence=lic).order_by("due_on").values_list("code", "due_on"))
    assert codes[-1] == ("48", dt.date(2024, 6, 20))
    assert [code for code, _ in codes].count("48SI") == 1
    text = text_of(render_letter(Notice.objects.get(licence=lic, code="48", due_on=dt.date(2024, 6, 20))))
    assert "Le solde de points de votre permis était déjà nul avant ce retrait" in text
    assert "vous n’avez aucune démarche à faire" not in text
    assert "Nouveau solde : 0 point" in text
