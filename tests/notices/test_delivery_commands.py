"""`permis notices plan|send|stats`, the delivery figures, the messages' texts and the worker's delivery task."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from permis.notices import messages, services, tasks
from permis.notices.models import Delivery
from permis.notices.stats import delivery_stats
from permis.registry.models import Notice

from .test_delivery import due, person

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("notices", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_plan_send_and_stats_from_the_command_line(settings, smtp_server) -> None:
    settings.POSTAGE_UNIT_COST_CENTS = 152
    for n in range(3):
        due(person("electronic", email=f"h{n}@example.fr"), "48")
    due(person("electronic"), "48SI")  # registered as well: no postage saved
    due(person("post", address=""), "48")  # fails at planning
    Notice.objects.update(due_on=dt.date(2020, 1, 1))
    assert "planned 5 letters: 10 deliveries (account 4, email 4, post 1, registered 1); " in run("plan")
    Delivery.objects.filter(channel="registered").update(status="delivered")
    out = run("send", "--quiet")
    assert "sent 8 deliveries" in out and "email: delivered 4" in out
    assert len(smtp_server.wait_for(4)) == 4
    figures = json.loads(run("stats", "--json"))
    assert figures["by_channel"]["email"] == {"delivered": 4}
    assert figures["failed"] == 1
    assert (figures["letters"], figures["letters_not_posted"]) == (5, 3)
    assert figures["postage_saved_euros"] == 4.56
    text = run("stats")
    assert "postage saved: 4.56 EUR (3 x 1.52 EUR)" in text and "failed deliveries: 1" in text


def test_stats_count_a_period_only() -> None:
    due(person("electronic"), "48")
    Notice.objects.update(due_on=dt.date(2020, 1, 1))
    services.plan_deliveries()
    Delivery.objects.update(created_at=dt.datetime(2025, 6, 10, 12, tzinfo=dt.UTC))
    assert delivery_stats(dt.date(2025, 6, 10), dt.date(2025, 6, 10)).total == 2
    assert delivery_stats(dt.date(2025, 6, 11)).total == 0
    assert delivery_stats(end=dt.date(2025, 6, 9)).letters_not_posted == 0
    with pytest.raises(CommandError, match="after"):
        run("stats", "--from", "2025-06-11", "--to", "2025-06-10")


def test_the_email_says_only_that_a_letter_is_waiting_in_both_languages() -> None:
    notice = due(person("electronic"), "48SI")
    holder = notice.licence.holder
    for language, words in (("fr", "espace personnel"), ("en", "personal space")):
        email = messages.render_email(
            notice, holder, made_available_on=dt.date(2026, 3, 2), language=language
        )
        assert email.template == f"email/letter@2.{language}"
        assert words in email.body and "/mon-espace/courriers/" in email.body
        assert "48SI" not in email.body + email.subject


@pytest.mark.parametrize("code", ["48", "48M", "46", "47"])
def test_the_email_of_an_electronic_notice_says_it_counts_from_the_first_opening_or_after_15_days(
    code: str,
) -> None:
    notice = due(person("electronic"), code)
    email = messages.render_email(
        notice, notice.licence.holder, made_available_on=dt.date(2026, 3, 2), language="fr"
    )
    assert (
        "réputé reçu le jour où vous l'ouvrez pour la première fois, et au plus tard 15 jours" in email.body
    )
    assert "recommandée" not in email.body


@pytest.mark.parametrize("code", ["48N", "48SI"])
def test_the_email_of_a_registered_letter_says_its_receipt_counts_not_the_account(code: str) -> None:
    """legal.received_on dates a 48N or 48SI by its registered letter's receipt: the email says so, not 15 days."""
    notice = due(person("electronic"), code)
    holder = notice.licence.holder
    french = messages.render_email(notice, holder, made_available_on=dt.date(2026, 3, 2), language="fr").body
    assert "aussi envoyé par lettre recommandée avec avis de réception" in french
    assert "date de réception de cette lettre recommandée, ou de sa première présentation" in french
    assert "réputé reçu" not in french and "15 jours" not in french
    assert code not in french
    english = messages.render_email(notice, holder, made_available_on=dt.date(2026, 3, 2), language="en").body
    assert "registered post" in english and "deemed received" not in english


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_sms_is_one_gsm7_message(settings, language: str) -> None:
    settings.PUBLIC_URL = "https://permis-de-conduire.interieur.gouv.fr"
    notice = due(person("electronic"), "48")
    notice.pk = 999_999_999
    sms = messages.render_sms(
        notice, notice.licence.holder, made_available_on=dt.date(2026, 3, 2), language=language
    )
    septets = messages.gsm7_septets(sms.body)
    assert septets is not None, sms.body
    assert septets <= 160, (septets, sms.body)


def test_the_delivery_task_plans_sends_and_books_the_next_run_once(smtp_server) -> None:
    due(person("electronic"), "48")
    Notice.objects.update(due_on=dt.date(2020, 1, 1))
    result = tasks.deliver_notices.call()
    assert result["planned"]["notices"] == 1 and result["sent"]["deliveries"] == 2
    assert tasks.pending_runs().count() == 1
    _, created = tasks.ensure_scheduled()
    assert not created and tasks.pending_runs().count() == 1


def test_a_failed_delivery_run_still_books_the_next(monkeypatch) -> None:
    def broken(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(services, "plan_deliveries", broken)
    with pytest.raises(RuntimeError):
        tasks.deliver_notices.call()
    assert tasks.pending_runs().count() == 1
