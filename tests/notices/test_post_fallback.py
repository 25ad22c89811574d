"""A letter whose email alert failed for good goes by post instead (``services.fall_back_to_post``): the postal
letter takes the email's place. The letter follows its postal delivery, the failed email stays in its history,
and agents are not asked to act on it (not listed, not counted, not retried)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Q

from permis.notices import services
from permis.notices.models import Channel, Delivery, DeliveryStatus
from permis.notices.stats import delivery_stats, failed_deliveries
from permis.registry.models import Holder, Notice, NoticeStatus
from tests.notices.test_delivery import NOW, deliver, due, person
from tests.notices.test_delivery_agent import agent
from tests.notices.test_letter_dates import failed_for_good

pytestmark = pytest.mark.django_db

EVERYONE = Q()


def status_of(notice: Notice) -> str:
    return Notice.objects.get(pk=notice.pk).status


def test_the_letter_follows_its_postal_delivery_and_the_failed_email_stays_in_its_history(
    smtp_server,
) -> None:
    notice = failed_for_good(smtp_server)
    post = Delivery.objects.get(notice=notice, channel=Channel.POST)
    assert post.status == DeliveryStatus.PENDING
    assert status_of(notice) == NoticeStatus.SENDING  # the postal letter is on its way, nothing failed
    deliver(NOW + dt.timedelta(minutes=1))
    assert Delivery.objects.get(pk=post.pk).status == DeliveryStatus.DELIVERED
    assert status_of(notice) == NoticeStatus.DELIVERED
    email = Delivery.objects.get(notice=notice, channel=Channel.EMAIL)
    assert email.status == DeliveryStatus.FAILED and "550" in email.last_error
    assert sorted(Delivery.objects.filter(notice=notice).values_list("channel", "status")) == [
        ("account", "delivered"),
        ("email", "failed"),
        ("post", "delivered"),
    ]


def test_agents_neither_see_nor_count_nor_retry_the_replaced_email(smtp_server) -> None:
    notice = failed_for_good(smtp_server)
    email = Delivery.objects.get(notice=notice, channel=Channel.EMAIL)
    assert list(failed_deliveries(EVERYONE)) == []
    figures = delivery_stats()
    assert figures.by_channel["email"] == {"failed": 1}  # the history keeps it
    assert (figures.failed, figures.replaced_by_post) == (0, 1)
    assert figures.as_dict()["failed"] == 0
    with pytest.raises(ValueError, match="partie par la poste"):
        services.retry(email, by="agent")
    assert Delivery.objects.get(pk=email.pk).status == DeliveryStatus.FAILED


def test_the_agents_page_shows_no_failure_for_a_letter_sent_by_post_instead(client, smtp_server) -> None:
    notice = failed_for_good(smtp_server)
    email = Delivery.objects.get(notice=notice, channel=Channel.EMAIL)
    client.force_login(agent("view_delivery", "change_delivery", role="supervisor"))
    page = client.get("/gestion/notifications/").content.decode()
    assert 'id="figure-failed">0<' in page
    assert "sans compter 1 alerte par courriel remplacée par un envoi postal" in page
    assert "Aucun envoi en échec." in page
    assert f"/envois/{email.pk}/relancer/" not in page
    response = client.post(f"/gestion/notifications/envois/{email.pk}/relancer/", follow=True)
    assert "non relancé" in response.content.decode()
    assert Delivery.objects.get(pk=email.pk).status == DeliveryStatus.FAILED


def test_a_postal_letter_that_fails_too_is_the_failure_agents_see(smtp_server) -> None:
    notice = failed_for_good(smtp_server, address="")  # no street: the postal letter cannot go either
    post = Delivery.objects.get(notice=notice, channel=Channel.POST)
    assert post.status == DeliveryStatus.FAILED and "adresse postale incomplète" in post.last_error
    assert status_of(notice) == NoticeStatus.FAILED
    assert [row.pk for row in failed_deliveries(EVERYONE)] == [post.pk]  # the post, not the email
    assert delivery_stats().failed == 1
    Holder.objects.filter(pk=notice.licence.holder_id).update(address="12 rue des Lilas")
    services.retry(post, by="agent", now=NOW)
    assert status_of(notice) == NoticeStatus.SENDING
    deliver(NOW + dt.timedelta(minutes=1))
    assert status_of(notice) == NoticeStatus.DELIVERED


def test_a_48si_whose_email_alert_failed_still_shows_the_failure(smtp_server) -> None:
    """Its registered letter was planned from the start: it replaces no email, whose failure stays to act on."""
    notice = failed_for_good(smtp_server, "48SI")
    email = Delivery.objects.get(notice=notice, channel=Channel.EMAIL)
    assert status_of(notice) == NoticeStatus.FAILED
    assert [row.pk for row in failed_deliveries(EVERYONE)] == [email.pk]
    assert (delivery_stats().failed, delivery_stats().replaced_by_post) == (1, 0)


def test_a_letter_posted_at_planning_for_want_of_an_email_address_is_not_failed() -> None:
    notice = due(person("electronic", email=""), "48")
    services.plan_deliveries(now=NOW)
    assert Delivery.objects.get(notice=notice, channel=Channel.EMAIL).status == DeliveryStatus.FAILED
    assert status_of(notice) == NoticeStatus.SENDING
    assert list(failed_deliveries(EVERYONE)) == []
    deliver()
    assert status_of(notice) == NoticeStatus.DELIVERED


def test_a_failed_sms_alert_is_still_a_failure_when_the_letter_went_by_post(smtp_server, sms_stub) -> None:
    notice = due(person("electronic", email="c@example.fr", sms_alerts=True, phone="06 12 34 56 78"), "48")
    services.plan_deliveries(now=NOW)
    smtp_server.refuse_next(1, code=550)
    sms_stub.fail_next(1, status=400)
    deliver()
    assert Delivery.objects.get(notice=notice, channel=Channel.SMS).status == DeliveryStatus.FAILED
    deliver(NOW + dt.timedelta(minutes=1))  # the postal letter
    assert status_of(notice) == NoticeStatus.FAILED
    assert [row.channel for row in failed_deliveries(EVERYONE)] == ["sms"]


def test_the_migration_mends_the_letters_an_earlier_fallback_left_failed(smtp_server) -> None:
    """notices 0003: before the roll-up knew the rule, such a letter stayed `failed`; the migration brings it in
    line with its postal delivery, and leaves a real failure alone."""
    import importlib

    from django.apps import apps

    mend = importlib.import_module("permis.notices.migrations.0003_letters_replaced_by_post").forwards
    replaced = failed_for_good(smtp_server)
    really = failed_for_good(smtp_server, address="")  # the postal letter failed too
    Notice.objects.filter(pk=replaced.pk).update(status=NoticeStatus.FAILED)  # as the old roll-up left it
    mend(apps, None)
    assert status_of(replaced) == NoticeStatus.SENDING  # its postal letter is on its way
    assert status_of(really) == NoticeStatus.FAILED
    deliver(NOW + dt.timedelta(minutes=1))
    Notice.objects.filter(pk=replaced.pk).update(status=NoticeStatus.FAILED)
    mend(apps, None)
    assert status_of(replaced) == NoticeStatus.DELIVERED
