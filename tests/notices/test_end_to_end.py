"""The issue's end-to-end paths: from an offence in the feed to the letter in the holder's hands, with its date.

Every step goes through the real doors and services: the feed's HTTP API, the registry's engine, the planner and
the workers of ``permis.notices.services``, the PDF renderer, the print queue on disk, a real SMTP server on
loopback (aiosmtpd), the postal partner's receipts API. Time is frozen with time-machine on dates of 2026.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pypdf
import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from permis.api.models import ApiKey
from permis.notices import services
from permis.notices.channels.post import PrintQueue
from permis.notices.legal import open_notice, received_on
from permis.notices.models import Delivery, DeliveryStatus
from permis.notices.preferences import set_preferences
from permis.registry import services as registry
from permis.registry.models import Licence, Notice, NoticeStatus, Projection
from permis.rules import Timeline
from permis.rules.parameters import parameter
from tests.registry.factories import holder, licence

pytestmark = pytest.mark.django_db

PARIS = timezone.get_default_timezone()
SENT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=PARIS)
ADDRESS = {"address": "12 rue des Lilas", "postal_code": "69003", "city": "LYON"}


@pytest.fixture
def print_queue(settings, tmp_path: Path) -> PrintQueue:
    settings.PRINT_QUEUE_DIR = tmp_path / "print"
    return PrintQueue()


@pytest.fixture
def feed_key() -> str:
    return ApiKey.objects.issue(name="ANTAI", sender="ANTAI", scopes=["feed"])[1]


@pytest.fixture
def post_key() -> str:
    return ApiKey.objects.issue(name="La Poste", scopes=["post"])[1]


def a_licence(number: str, *, electronic: bool = False, phone: str | None = None, **fields) -> Licence:
    person = holder(birth_name=fields.pop("birth_name", "MARTIN"), email="", **ADDRESS, **fields)
    lic = licence(holder=person, number=number, on=dt.date(2026, 1, 1))
    if electronic:
        set_preferences(
            person,
            electronic=True,
            sms=phone is not None,
            email=f"{number.lower()}@example.fr",
            phone=phone,
            accepted_text_version="electronic@1",
            recorded_by=f"holder:{person.pk}",
        )
    return lic


def send_offences(key: str, *records: dict) -> dict:
    response = Client().post(
        "/api/v1/feed/offences",
        json.dumps({"records": list(records)}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rejected"] == 0, body
    return body


def offence(ref: str, number: str, points: int = 3, cls: str = "C4", **fields) -> dict:
    return {
        "sender_ref": ref,
        "licence_number": number,
        "points": points,
        "class": cls,
        "committed_on": "2026-01-10",
        "final_on": "2026-02-20",
        **fields,
    }


def pdf_text(path: str | Path) -> str:
    return "\n".join(
        page.extract_text() for page in pypdf.PdfReader(io.BytesIO(Path(path).read_bytes())).pages
    )


def deliver(now: dt.datetime) -> services.SendSummary:
    return services.deliver_due(worker="e2e", batch=50, now=now)


def test_an_offence_makes_a_48_by_post_for_one_holder_and_an_electronic_notice_for_another(
    feed_key: str, smtp_server, print_queue: PrintQueue
) -> None:
    with time_machine.travel(SENT - dt.timedelta(hours=1), tick=True):
        by_post = a_licence("E2EPOST0001", given_names="Alice")
        online = a_licence("E2EMAIL0001", electronic=True, given_names="Bruno", birth_name="DURAND")
        send_offences(feed_key, offence("E2E-1", by_post.number), offence("E2E-2", online.number))
        planned = services.plan_deliveries(now=SENT)
        assert planned.notices == 2
        summary = deliver(SENT)
    assert summary.count(DeliveryStatus.DELIVERED) == 3, summary.as_dict()

    # The holder by post: a letter 48 in the print queue, whose text says 48 and the points.
    letter_48 = Notice.objects.get(licence=by_post, code="48")
    (post,) = Delivery.objects.filter(notice=letter_48)
    assert (post.channel, post.status) == ("post", DeliveryStatus.DELIVERED)
    assert Path(post.document_path).parent == print_queue.root / "2026-03-02"
    text = pdf_text(post.document_path)
    for expected in ("Lettre 48", "Points retirés : 3", "Nouveau solde : 9", "Alice MARTIN", "69003 LYON"):
        assert expected in text, expected
    (line,) = print_queue.manifest(dt.date(2026, 3, 2))
    assert (line.reference, line.code, line.registered) == (post.provider_ref, "48", False)
    assert received_on(post) is None  # a simple letter: information only, no legal date

    # The holder who opted in: the letter in the account and an email saying so, received by the SMTP server.
    letter_online = Notice.objects.get(licence=online, code="48")
    rows = {row.channel: row for row in Delivery.objects.filter(notice=letter_online)}
    assert set(rows) == {"account", "email"}
    assert {row.status for row in rows.values()} == {DeliveryStatus.DELIVERED}
    (message,) = smtp_server.wait_for(1)
    assert message.rcpt_tos == ("e2email0001@example.fr",)
    assert message.message["X-Permis-Reference"] == services.delivery_reference(rows["email"])
    assert rows["email"].subject == message.subject
    assert not print_queue.manifest(dt.date(2026, 3, 2))[1:]  # nothing posted for the second holder

    # Deemed received after the legal delay when not opened; opening it later moves nothing.
    delay = parameter("notices.e_notice_deemed_after_days").at(dt.date(2026, 3, 2))
    deemed = dt.date(2026, 3, 2) + dt.timedelta(days=delay)
    account = rows["account"]
    assert account.made_available_at == SENT
    assert received_on(account) == received_on(letter_online) == deemed
    open_notice(account, SENT + dt.timedelta(days=delay + 3))
    assert received_on(letter_online) == deemed
    assert Notice.objects.get(pk=letter_online.pk).status == NoticeStatus.DELIVERED


def test_an_electronic_notice_with_sms_opened_early_is_received_the_day_it_is_opened(
    feed_key: str, smtp_server, sms_stub, print_queue: PrintQueue
) -> None:
    with time_machine.travel(SENT - dt.timedelta(hours=1), tick=True):
        online = a_licence("E2EMAIL0002", electronic=True, phone="06 12 34 56 78")
        send_offences(feed_key, offence("E2E-3", online.number))
        services.plan_deliveries(now=SENT)
        deliver(SENT)
    notice = Notice.objects.get(licence=online, code="48")
    assert sorted(Delivery.objects.filter(notice=notice).values_list("channel", "status")) == [
        ("account", "delivered"),
        ("email", "delivered"),
        ("sms", "delivered"),
    ]
    (sms,) = sms_stub.sent
    assert sms["to"] == "+33612345678"
    assert len(smtp_server.messages) == 1
    account = Delivery.objects.get(notice=notice, channel="account")
    open_notice(account, dt.datetime(2026, 3, 4, 20, 15, tzinfo=PARIS))
    assert received_on(notice) == dt.date(2026, 3, 4)


def test_a_48si_goes_by_registered_post_and_its_receipt_invalidates_the_licence(
    feed_key: str, post_key: str, print_queue: PrintQueue
) -> None:
    with time_machine.travel(SENT - dt.timedelta(hours=1), tick=True):
        lic = a_licence("E2ESI000001")
        send_offences(
            feed_key,
            offence("E2E-SI-1", lic.number, 6, "D", committed_on="2025-11-03", final_on="2026-01-15"),
            offence("E2E-SI-2", lic.number, 6, "D", committed_on="2026-01-10", final_on="2026-02-20"),
        )
        assert Projection.objects.get(licence=lic).status == "zero_balance"
        services.plan_deliveries(now=SENT)
        deliver(SENT)
    letter_48si = Notice.objects.get(licence=lic, code="48SI")
    (registered,) = Delivery.objects.filter(notice=letter_48si)
    assert (registered.channel, registered.status) == ("registered", DeliveryStatus.DELIVERED)
    text = pdf_text(registered.document_path)
    assert "Lettre 48SI" in text and "Nouveau solde : 0" in text
    line = next(e for e in print_queue.manifest(dt.date(2026, 3, 2)) if e.code == "48SI")
    assert line.registered and line.reference == registered.provider_ref

    # The postal partner reports it presented and not collected on 5 March, naming the printed reference.
    with time_machine.travel(dt.datetime(2026, 3, 9, 10, tzinfo=PARIS), tick=True):
        response = Client().post(
            "/api/v1/post/receipts",
            json.dumps(
                {
                    "receipts": [
                        {"delivery": registered.provider_ref, "kind": "not_collected", "on": "2026-03-05"}
                    ]
                }
            ),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {post_key}",
        )
    assert response.status_code == 200, response.content
    assert response.json()["receipts"] == [
        {"index": 0, "delivery": registered.pk, "outcome": "recorded", "errors": []}
    ]
    assert received_on(letter_48si) == dt.date(2026, 3, 5)
    assert Projection.objects.get(licence=lic).status == "invalidated"
    timeline = Timeline(registry.history_of(lic))
    assert timeline.at(dt.date(2026, 3, 4)).status == "zero_balance"
    assert timeline.at(dt.date(2026, 3, 5)).status == "invalidated"


def test_an_smtp_server_that_refuses_for_a_while_gets_retries_and_exactly_one_email(
    feed_key: str, smtp_server, print_queue: PrintQueue
) -> None:
    with time_machine.travel(SENT - dt.timedelta(hours=1), tick=True):
        online = a_licence("E2EMAIL0003", electronic=True)
        send_offences(feed_key, offence("E2E-4", online.number))
        services.plan_deliveries(now=SENT)
    email = Delivery.objects.get(notice__licence=online, channel="email")
    smtp_server.refuse_next(3, code=451)
    now = SENT
    for _ in range(10):
        deliver(now)
        email.refresh_from_db()
        if email.status == DeliveryStatus.DELIVERED:
            break
        assert email.status == DeliveryStatus.TEMPORARY_FAILURE and "451" in email.last_error
        assert deliver(now).total == 0  # not due again before its backoff
        now = email.next_attempt_at
    assert (email.status, email.attempts) == (DeliveryStatus.DELIVERED, 4)
    for later in (now, now + dt.timedelta(days=1)):
        assert deliver(later).total == 0
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0].rcpt_tos == ("e2email0003@example.fr",)
