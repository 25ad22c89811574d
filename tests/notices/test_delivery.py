"""Delivering letters: planning by the holder's choice, claiming, sending, retrying, failing, rolling up."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from pathlib import Path

import pytest
from django.db import connection

from permis.notices import services
from permis.notices.models import Delivery, DeliveryStatus
from permis.registry import services as registry
from permis.registry.models import Notice, NoticeStatus
from tests.registry.factories import holder, licence, offence

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ADDRESS = {"address": "12 rue des Lilas", "postal_code": "75011", "city": "PARIS"}


def person(channel: str = "post", **fields):
    values = {**ADDRESS, "notice_channel": channel, **fields}
    return licence(holder=holder(**values))


def due(lic, code: str = "48", cause: str = "e1", due_on: dt.date = dt.date(2026, 3, 1)) -> Notice:
    return Notice.objects.create(licence=lic, code=code, cause=cause, due_on=due_on)


def channels(notice: Notice) -> list[str]:
    return sorted(Delivery.objects.filter(notice=notice).values_list("channel", flat=True))


def deliver(now: dt.datetime = NOW, worker: str = "w1") -> services.SendSummary:
    return services.deliver_due(worker=worker, batch=50, now=now)


# -- planning ------------------------------------------------------------------------------------------------
def test_a_holder_by_post_gets_a_letter_and_a_registered_one_for_a_48n_or_48si() -> None:
    lic = person("post")
    letter, n, si = due(lic, "48"), due(lic, "48N", "e2"), due(lic, "48SI", "e3")
    summary = services.plan_deliveries(now=NOW)
    assert summary.notices == 3
    assert channels(letter) == ["post"]
    assert channels(n) == ["registered"]  # instead of the simple letter, not both
    assert channels(si) == ["registered"]
    assert set(Notice.objects.values_list("status", flat=True)) == {NoticeStatus.SENDING}
    post = Delivery.objects.get(notice=letter)
    assert post.address == "Camille MARTIN, 12 rue des Lilas, 75011 PARIS"
    assert (post.status, post.next_attempt_at) == (DeliveryStatus.PENDING, NOW)


def test_an_electronic_holder_gets_the_account_an_email_an_sms_if_asked_and_registered_for_a_48si() -> None:
    lic = person("electronic", sms_alerts=True, phone="06 12 34 56 78", email="c@example.fr")
    letter, si = due(lic, "48"), due(lic, "48SI", "e2")
    quiet = person("electronic", sms_alerts=False, phone="0612345678")
    other = due(quiet, "48")
    services.plan_deliveries(now=NOW)
    assert channels(letter) == ["account", "email", "sms"]
    assert channels(si) == ["account", "email", "registered", "sms"]
    assert channels(other) == ["account", "email"]
    assert Delivery.objects.get(notice=letter, channel="sms").address == "+33612345678"
    assert Delivery.objects.get(notice=letter, channel="email").address == "c@example.fr"


def test_planning_twice_plans_once_and_skips_letters_not_yet_due() -> None:
    lic = person("electronic")
    due(lic, "48")
    later = due(lic, "48", "e2", due_on=dt.date(2026, 3, 10))
    first = services.plan_deliveries(now=NOW)
    second = services.plan_deliveries(now=NOW)
    assert (first.notices, sum(first.deliveries.values())) == (1, 2)
    assert second.notices == 0
    assert Delivery.objects.count() == 2
    assert not Delivery.objects.filter(notice=later).exists()
    assert Notice.objects.get(pk=later.pk).status == NoticeStatus.PENDING


def test_planning_respects_the_limit() -> None:
    lic = person("post")
    for n in range(5):
        due(lic, "48", f"e{n}")
    assert services.plan_deliveries(limit=3, now=NOW).notices == 3
    assert services.plan_deliveries(now=NOW).notices == 2


def test_a_holder_without_an_address_gets_a_failed_delivery_that_agents_see() -> None:
    lic = person("post", address="", postal_code="")
    notice = due(lic, "48")
    summary = services.plan_deliveries(now=NOW)
    row = Delivery.objects.get(notice=notice)
    assert row.status == DeliveryStatus.FAILED
    assert "adresse postale incomplète (adresse, code postal manquant)" in row.last_error
    assert summary.failed == {"post": 1}
    assert Notice.objects.get(pk=notice.pk).status == NoticeStatus.FAILED


def test_an_electronic_holder_without_an_email_still_has_the_letter_in_the_account() -> None:
    lic = person("electronic", email="")
    notice = due(lic, "48")
    services.plan_deliveries(now=NOW)
    email = Delivery.objects.get(notice=notice, channel="email")
    assert email.status == DeliveryStatus.FAILED and "aucune adresse électronique" in email.last_error
    deliver()
    assert Delivery.objects.get(notice=notice, channel="account").status == DeliveryStatus.DELIVERED
    # No alert: the letter went by post instead, and the notice follows that letter (test_post_fallback.py).
    assert Delivery.objects.get(notice=notice, channel="post").status == DeliveryStatus.DELIVERED
    assert Notice.objects.get(pk=notice.pk).status == NoticeStatus.DELIVERED


# -- claiming ------------------------------------------------------------------------------------------------
def planned(count: int, channel: str = "electronic") -> list[Notice]:
    lic = person(channel)
    notices = [due(lic, "48", f"e{n}") for n in range(count)]
    services.plan_deliveries(now=NOW)
    return notices


def test_two_claims_never_get_the_same_row_and_count_an_attempt() -> None:
    planned(5)  # 10 deliveries
    first = services.claim(worker="a", limit=6, now=NOW)
    second = services.claim(worker="b", limit=6, now=NOW)
    assert len(first) == 6 and len(second) == 4
    assert not {row.pk for row in first} & {row.pk for row in second}
    assert services.claim(worker="c", limit=6, now=NOW) == []
    row = Delivery.objects.get(pk=first[0].pk)
    assert (row.status, row.claimed_by, row.attempts, row.claimed_at) == ("sending", "a", 1, NOW)


def test_claim_can_be_limited_to_channels_and_waits_for_the_next_attempt() -> None:
    planned(2)
    rows = services.claim(worker="a", limit=10, channels=["email"], now=NOW)
    assert {row.channel for row in rows} == {"email"} and len(rows) == 2
    assert services.claim(worker="a", limit=10, now=NOW - dt.timedelta(seconds=1)) == []


def test_a_row_left_sending_is_claimed_again_after_the_lease_and_the_late_worker_cannot_overwrite_it(
    smtp_server,
) -> None:
    planned(1)
    late = services.claim(worker="dead", limit=10, channels=["email"], now=NOW)
    assert services.claim(worker="b", limit=10, now=NOW + dt.timedelta(minutes=5), channels=["email"]) == []
    again = services.claim(worker="b", limit=10, now=NOW + services.LEASE + dt.timedelta(seconds=1))
    [email] = [row for row in again if row.channel == "email"]
    assert (email.pk, email.attempts) == (late[0].pk, 2)
    services.send_claimed(again, now=NOW + services.LEASE)
    assert len(smtp_server.wait_for(1)) == 1
    # The worker that lost its lease comes back: its outcome is not written over the newer one.
    late[0].status = DeliveryStatus.SENDING
    services._write([late[0]])
    row = Delivery.objects.get(pk=late[0].pk)
    assert (row.status, row.claimed_by) == (DeliveryStatus.DELIVERED, "b")


def test_a_row_that_kept_dying_while_sending_ends_failed() -> None:
    planned(1)
    Delivery.objects.update(status="sending", claimed_at=NOW, attempts=services.MAX_ATTEMPTS)
    # Neither is claimed again; the email alert having failed, the letter goes by post (fall_back_to_post).
    claimed = services.claim(worker="a", limit=10, now=NOW + services.LEASE * 2)
    assert [row.channel for row in claimed] == ["post"]
    for row in Delivery.objects.exclude(channel="post"):
        assert row.status == DeliveryStatus.FAILED and "interrompu" in row.last_error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_concurrent_claimers_never_share_a_row() -> None:
    planned(200)  # 400 deliveries
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(name: str) -> None:
        try:
            barrier.wait()
            got: list[int] = []
            while batch := services.claim(worker=name, limit=7, now=NOW):
                got += [row.pk for row in batch]
            results[name] = got
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    every = [pk for got in results.values() for pk in got]
    assert len(every) == len(set(every)) == 400
    assert sum(1 for got in results.values() if got) >= 2  # they really ran side by side
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_two_planners_at_once_write_each_delivery_once() -> None:
    lic = person("electronic")
    for n in range(300):
        due(lic, "48", f"e{n}")
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work() -> None:
        try:
            barrier.wait()
            services.plan_deliveries(now=NOW)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert Delivery.objects.count() == 600
    assert set(Notice.objects.values_list("status", flat=True)) == {NoticeStatus.SENDING}


# -- sending -------------------------------------------------------------------------------------------------
def test_an_electronic_letter_is_made_available_and_announced_by_one_email(smtp_server) -> None:
    lic = person("electronic", email="camille@example.fr")
    notice = due(lic, "48SI")
    Delivery.objects.filter(notice=notice)  # nothing yet
    services.plan_deliveries(now=NOW)
    Delivery.objects.filter(notice=notice, channel="registered").update(status="delivered")  # tested apart
    summary = deliver()
    assert summary.outcomes == {("account", "delivered"): 1, ("email", "delivered"): 1}
    [received] = smtp_server.wait_for(1)
    account = Delivery.objects.get(notice=notice, channel="account")
    assert account.made_available_at == NOW
    assert account.deemed_received_on == dt.date(2026, 3, 17)
    email = Delivery.objects.get(notice=notice, channel="email")
    assert (email.status, email.sent_at, email.template) == ("delivered", NOW, "email/letter@2.fr")
    assert email.subject == received.subject
    assert email.body.strip() == received.text().replace("\r\n", "\n").strip()
    assert email.provider_ref.startswith("<") and email.provider_ref in received.message["Message-ID"]
    # Not a secure channel: neither the letter's kind nor any figure about points.
    assert "48SI" not in email.body and "48SI" not in email.subject and "retrait" not in email.body
    assert "ne contient ni votre solde de points ni le contenu du courrier" in email.body
    assert "http://127.0.0.1:8000/mon-espace/courriers/" in email.body
    assert Notice.objects.get(pk=notice.pk).status == NoticeStatus.DELIVERED


def test_a_refusing_smtp_server_leads_to_retries_with_backoff_and_exactly_one_email(smtp_server) -> None:
    planned(1)
    smtp_server.refuse_next(2, code=451)
    first = deliver()
    assert first.outcomes[("email", "temporary_failure")] == 1
    row = Delivery.objects.get(channel="email")
    assert row.status == DeliveryStatus.TEMPORARY_FAILURE and "451" in row.last_error
    wait = row.next_attempt_at - NOW
    assert dt.timedelta(seconds=47) <= wait <= dt.timedelta(seconds=73)  # 1 min, give or take 20%
    assert Notice.objects.get().status == NoticeStatus.TEMPORARY_FAILURE
    assert deliver(NOW + dt.timedelta(seconds=30)).total == 0  # not yet
    deliver(NOW + dt.timedelta(minutes=2))  # refused again: now about 5 min later
    row.refresh_from_db()
    assert row.attempts == 2 and dt.timedelta(minutes=4) <= row.next_attempt_at - NOW - dt.timedelta(
        minutes=2
    )
    third = deliver(NOW + dt.timedelta(minutes=10))
    assert third.outcomes == {("email", "delivered"): 1}
    assert len(smtp_server.wait_for(1)) == 1
    assert deliver(NOW + dt.timedelta(days=1)).total == 0
    assert len(smtp_server.messages) == 1 and smtp_server.refused == 2
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, "")
    assert Notice.objects.get().status == NoticeStatus.DELIVERED


def test_a_permanent_refusal_fails_at_once_and_the_letter_goes_by_post(smtp_server) -> None:
    planned(1)
    smtp_server.refuse_next(1, code=550)
    deliver()
    row = Delivery.objects.get(channel="email")
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 1)
    assert "550" in row.last_error
    assert Delivery.objects.get(channel="post").status == DeliveryStatus.DELIVERED
    assert Notice.objects.get().status == NoticeStatus.DELIVERED  # it follows the postal letter


def test_emails_go_over_several_connections_each_once_and_a_refusal_stays_on_its_own_row(
    smtp_server, settings
) -> None:
    settings.EMAIL_CONNECTIONS = 3
    holders = [person("electronic", email=f"titulaire{n}@example.fr") for n in range(10)]
    for lic in holders:
        due(lic)
    services.plan_deliveries(now=NOW)
    smtp_server.refuse_next(1, code=550)  # whichever message reaches the server first
    summary = deliver()
    assert summary.outcomes[("email", "delivered")] == 9
    assert summary.outcomes[("email", "failed")] == 1
    received = smtp_server.wait_for(9)
    rows = Delivery.objects.filter(channel="email")
    delivered = {row.address: row for row in rows if row.status == DeliveryStatus.DELIVERED}
    # Every accepted email arrived once, to its holder, under the Message-ID kept on its own row.
    assert sorted(message.rcpt_tos[0] for message in received) == sorted(delivered)
    for message in received:
        row = delivered[message.rcpt_tos[0]]
        assert row.provider_ref == message.message["Message-ID"]
        assert row.body.strip() == message.text().replace("\r\n", "\n").strip()
    [refused] = [row for row in rows if row.status == DeliveryStatus.FAILED]
    assert "550" in refused.last_error and refused.provider_ref == "" and refused.body == ""
    assert deliver(NOW + dt.timedelta(days=1)).total == 0
    assert smtp_server.count == 9


def test_an_unreachable_smtp_server_is_a_temporary_failure(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    planned(3)
    summary = deliver()
    assert summary.outcomes[("email", "temporary_failure")] == 3
    assert "ConnectionRefusedError" in Delivery.objects.filter(channel="email").first().last_error


def test_a_delivery_that_keeps_failing_ends_failed_after_the_last_attempt(smtp_server) -> None:
    planned(1)
    smtp_server.refuse_next(100, code=421)
    at = NOW
    for _ in range(services.MAX_ATTEMPTS):
        deliver(at)
        at += dt.timedelta(hours=15)
    row = Delivery.objects.get(channel="email")
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, services.MAX_ATTEMPTS)
    assert f"abandon après {services.MAX_ATTEMPTS} tentatives" in row.last_error
    assert deliver(at + dt.timedelta(days=10)).total == 0
    assert Delivery.objects.get(channel="post").status == DeliveryStatus.DELIVERED  # sent by post instead
    assert Notice.objects.get().status == NoticeStatus.DELIVERED
    assert smtp_server.messages == []


def test_an_agent_puts_a_failed_delivery_back_and_it_goes(smtp_server) -> None:
    lic = person("electronic", email="")
    # A 48SI goes registered from the start: its failed email is not replaced by post (retry refuses that).
    notice = due(lic, "48SI")
    services.plan_deliveries(now=NOW)
    deliver()
    row = Delivery.objects.get(channel="email")
    with pytest.raises(ValueError, match="aucune adresse électronique"):
        services.retry(row, by="agent", now=NOW)
    lic.holder.email = "new@example.fr"
    lic.holder.save()
    services.retry(row, by="agent", now=NOW)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.address) == ("pending", 0, "new@example.fr")
    assert Notice.objects.get(pk=notice.pk).status == NoticeStatus.SENDING
    deliver(NOW + dt.timedelta(minutes=1))
    assert smtp_server.wait_for(1)[0].message["To"] == "new@example.fr"
    assert Notice.objects.get(pk=notice.pk).status == NoticeStatus.DELIVERED
    with pytest.raises(ValueError, match="seul un envoi en échec"):
        services.retry(row, by="agent")


def test_an_sms_goes_through_the_provider_and_is_retried_when_it_is_down(sms_stub) -> None:
    lic = person("electronic", sms_alerts=True, phone="0612345678")
    due(lic)
    services.plan_deliveries(now=NOW)
    sms_stub.fail_next(1, status=503)
    services.deliver_due(worker="w", now=NOW, channels=["sms"])
    row = Delivery.objects.get(channel="sms")
    assert row.status == DeliveryStatus.TEMPORARY_FAILURE
    services.deliver_due(worker="w", now=NOW + dt.timedelta(minutes=2), channels=["sms"])
    row.refresh_from_db()
    assert row.status == DeliveryStatus.DELIVERED and row.provider_ref
    assert len(sms_stub.sent) == 1
    assert sms_stub.sent[0]["to"] == "+33612345678" if "to" in sms_stub.sent[0] else True
    assert row.template == "sms/letter@1.fr" and row.body.startswith("Permis de conduire")


def test_a_letter_by_post_is_rendered_signed_and_put_in_the_print_queue(settings, tmp_path: Path) -> None:
    settings.PRINT_QUEUE_DIR = tmp_path
    lic = licence(holder=holder(**ADDRESS), on=dt.date(2024, 1, 1))
    registry.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-20", 3),
        source="feed",
        sender="ANTAI",
        source_ref="P-1",
        on=dt.date(2024, 3, 21),
    )
    notice = Notice.objects.get(licence=lic, code="48")
    services.plan_deliveries(now=NOW)
    deliver()
    row = Delivery.objects.get(notice=notice)
    assert row.status == DeliveryStatus.DELIVERED, row.last_error
    pdf = Path(row.document_path).read_bytes()
    assert pdf.startswith(b"%PDF-") and hashlib.sha256(pdf).hexdigest() == row.document_sha256
    assert Path(row.document_path).parent == tmp_path / "2026-03-02"
    assert row.template == "letter/48.fr"
    assert "75011 PARIS" in (tmp_path / "2026-03-02" / "manifest.csv").read_text()
    assert Notice.objects.get(pk=notice.pk).status == NoticeStatus.DELIVERED


def test_the_notice_waits_for_all_its_deliveries(smtp_server) -> None:
    notices = planned(1)
    services.deliver_due(worker="w", now=NOW, channels=["account"])
    assert Notice.objects.get(pk=notices[0].pk).status == NoticeStatus.SENDING
    services.deliver_due(worker="w", now=NOW, channels=["email"])
    assert Notice.objects.get(pk=notices[0].pk).status == NoticeStatus.DELIVERED


def test_a_delivered_row_is_never_claimed_again(smtp_server) -> None:
    planned(3)
    deliver()
    assert Delivery.objects.filter(status="delivered").count() == 6
    Delivery.objects.update(claimed_at=NOW - dt.timedelta(days=1))
    assert services.claim(worker="x", limit=100, now=NOW + dt.timedelta(days=30)) == []
    assert len(smtp_server.messages) == 3


def test_backoff_grows_and_stays_within_its_jitter() -> None:
    for attempt, base in ((1, 60), (2, 300), (3, 1800), (4, 7200), (5, 43200), (7, 43200)):
        for _ in range(20):
            seconds = services.backoff(attempt).total_seconds()
            assert base * 0.8 <= seconds <= base * 1.2


def test_a_send_of_unclaimed_rows_is_refused() -> None:
    planned(1)
    with pytest.raises(ValueError, match="not claimed"):
        services.send_claimed(list(Delivery.objects.all()))


def test_the_planner_fills_every_column_a_new_delivery_needs() -> None:
    for model_field in Delivery._meta.concrete_fields:
        if model_field.primary_key or model_field.null:
            continue
        assert model_field.attname in services.INSERT_COLUMNS, (
            f"{model_field.attname}: add it to INSERT_COLUMNS"
        )


def test_a_planned_delivery_is_written_with_its_values_on_every_database() -> None:
    notice = due(person("electronic", email="camille@example.fr"))
    services.plan_deliveries(now=NOW)
    row = Delivery.objects.get(notice=notice, channel="email")
    assert (row.status, row.address, row.language, row.attempts) == ("pending", "camille@example.fr", "fr", 0)
    assert (row.next_attempt_at, row.created_at, row.claimed_by, row.last_error) == (NOW, NOW, "", "")
