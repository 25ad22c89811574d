"""`permis demo`: a realistic population, written in bulk exactly as the service layer would write it."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from permis.backoffice.views import _receipt_choices
from permis.notices import services as notices
from permis.notices.documents.facts import letter_issued
from permis.notices.legal import POSTAL_REGISTERED_CODES, legal_day, received_on
from permis.notices.models import Channel, Delivery, DeliveryStatus
from permis.notices.receipts import record_postal_receipt
from permis.registry.communes import commune_name
from permis.registry.demo import Population, named_people
from permis.registry.models import Event, FeedRecord, Licence, Notice, NoticeStatus, Projection
from permis.registry.services import today
from permis.registry.services.integrity import verify

pytestmark = pytest.mark.django_db


def run_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", *args, "--quiet", stdout=out)
    return out.getvalue()


def test_the_demo_fills_an_empty_file_with_the_named_holders_and_a_population() -> None:
    output = run_demo("--licences", "300", "--seed", "3")
    assert Licence.objects.count() == 300
    for person in named_people(today()):
        assert person.licence["number"] in output
    assert "Répartition des soldes" in output


def test_the_bulk_loaded_file_verifies_as_if_written_one_change_at_a_time() -> None:
    run_demo("--licences", "300", "--seed", "4")
    report = verify()
    assert report.licences == 300
    assert report.discrepancies == []


def test_the_population_looks_like_the_national_one() -> None:
    run_demo("--licences", "600", "--seed", "5")
    at_twelve = Projection.objects.filter(balance=12).count() / 600
    assert 0.65 <= at_twelve <= 0.9  # "8 drivers in 10 at 12 points"
    assert Projection.objects.exclude(probation_end=None).exists()
    assert Event.objects.filter(kind="course").exists()
    assert Projection.objects.filter(balance__lt=12).exists()


def test_the_named_holders_show_every_situation() -> None:
    run_demo("--licences", "8")
    statuses = set(Projection.objects.values_list("status", flat=True))
    assert {"valid", "zero_balance", "invalidated"} <= statuses
    assert Projection.objects.filter(suspended=True).exists()
    assert Notice.objects.filter(code="48N").exists()


def test_the_demo_refuses_a_file_that_is_not_empty_unless_asked_to_skip() -> None:
    run_demo("--licences", "8")
    with pytest.raises(CommandError, match="vide"):
        run_demo("--licences", "8")
    assert "non rechargées" in run_demo("--licences", "8", "--if-empty")
    assert Licence.objects.count() == 8


def test_the_same_seed_gives_the_same_population() -> None:
    first = [p.licence["obtained_on"] for p, _ in zip(Population(today(), 9), range(50))]
    second = [p.licence["obtained_on"] for p, _ in zip(Population(today(), 9), range(50))]
    assert first == second


# -- the demo's letters went out ---------------------------------------------------------------------------------
def test_every_letter_due_before_the_load_went_out_on_the_channel_of_a_holder_by_post() -> None:
    run_demo("--licences", "300", "--seed", "6")
    on = today()
    past = Notice.objects.filter(due_on__lt=on)
    assert past.exists()
    assert not Notice.objects.filter(due_on__lt=on).exclude(status=NoticeStatus.DELIVERED).exists()
    deliveries = {d.notice_id: d for d in Delivery.objects.all()}
    for notice in past:
        delivery = deliveries[notice.pk]  # one delivery each (the unique (notice, channel) forbids a second)
        expected = Channel.REGISTERED if notice.code in POSTAL_REGISTERED_CODES else Channel.POST
        assert (delivery.channel, delivery.status) == (expected, DeliveryStatus.DELIVERED), notice
        # Made, dated and handed to the printer on its due day, to the holder's address.
        assert legal_day(notice.created_at) == letter_issued(notice) == notice.due_on
        assert legal_day(delivery.sent_at) == notice.due_on
        assert delivery.address.endswith(f"{notice.licence.holder.postal_code} {notice.licence.holder.city}")
        if delivery.receipt_on is not None:
            assert delivery.channel == Channel.REGISTERED
            assert notice.due_on < delivery.receipt_on <= on
            assert delivery.receipt_source and delivery.receipt_recorded_at is not None
    assert Delivery.objects.filter(channel=Channel.REGISTERED, receipt_on__isnull=False).exists()
    # The letters due on the load day are the worker's to send.
    assert not Delivery.objects.filter(notice__due_on__gte=on).exists()


def test_a_48si_is_received_on_the_day_the_history_says_it_was_notified() -> None:
    run_demo("--licences", "2000", "--seed", "1")
    received = Delivery.objects.filter(notice__code="48SI", receipt_on__isnull=False).select_related("notice")
    assert received.exists()
    for delivery in received:
        event = Event.objects.get(sender="post", source_ref=f"receipt:{delivery.pk}")
        assert event.kind == "invalidation_notified"
        assert event.licence_id == delivery.notice.licence_id
        assert event.data == {"on": delivery.receipt_on.isoformat()}
        assert event.recorded_by == delivery.receipt_source
    # Every notification that follows a 48SI is that letter's receipt.
    for event in Event.objects.filter(kind="invalidation_notified"):
        letters = Notice.objects.filter(licence=event.licence_id, code="48SI", due_on__lt=event.data["on"])
        if letters.exists():
            assert event.source_ref and event.source_ref.startswith("receipt:"), event.data
    assert verify().discrepancies == []


def test_the_notices_worker_sends_none_of_the_demo_letters_again() -> None:
    run_demo("--licences", "300", "--seed", "7")
    before = Delivery.objects.count()
    due_today = Notice.objects.filter(due_on__gte=today()).count()
    planned = notices.plan_deliveries()
    assert planned.notices == due_today
    assert Delivery.objects.count() == before + sum(planned.deliveries.values())
    assert notices.due_count() == sum(planned.deliveries.values())


def test_the_demo_offences_keep_their_feed_record_with_a_place() -> None:
    run_demo("--licences", "300", "--seed", "8")
    offences = Event.objects.filter(kind="offence", source="feed")
    records = {r.event_id: r for r in FeedRecord.objects.filter(outcome=FeedRecord.Outcome.ACCEPTED)}
    assert offences.count() == len(records)
    for event in offences:
        record = records[event.pk]
        assert (record.sender, record.source_ref) == (event.sender, event.source_ref)
        assert record.payload["committed_on"] == event.data["committed_on"]
        assert commune_name(record.payload["place"]), record.payload


# -- the named holders' stories ----------------------------------------------------------------------------------
def named_letter(number: str, code: str) -> Delivery:
    return Delivery.objects.select_related("notice").get(notice__licence__number=number, notice__code=code)


def test_ines_48n_is_registered_and_received_so_her_course_has_a_deadline() -> None:
    run_demo("--licences", "8")
    delivery = named_letter("DEMO00000003", "48N")
    assert delivery.channel == Channel.REGISTERED
    assert delivery.receipt_on == delivery.notice.due_on + dt.timedelta(days=2)
    assert received_on(delivery.notice) == delivery.receipt_on


def test_leas_48si_is_sent_and_awaits_its_receipt_which_an_agent_records() -> None:
    run_demo("--licences", "8")
    delivery = named_letter("DEMO00000005", "48SI")
    assert (delivery.channel, delivery.status) == (Channel.REGISTERED, DeliveryStatus.DELIVERED)
    assert delivery.sent_at is not None and delivery.receipt_on is None
    licence = delivery.notice.licence
    assert licence.projection.status == "zero_balance"
    assert [pk for pk, _label in _receipt_choices(licence)] == [delivery.pk]
    outcome = record_postal_receipt(delivery, kind="received", on=today(), source="agent:agent.paris")
    assert outcome.event is not None
    licence.projection.refresh_from_db()
    assert licence.projection.status == "invalidated"


def test_karims_48si_was_received_the_day_his_licence_was_invalidated() -> None:
    run_demo("--licences", "8")
    delivery = named_letter("DEMO00000006", "48SI")
    assert delivery.receipt_kind == "received"
    event = Event.objects.get(licence=delivery.notice.licence, kind="invalidation_notified")
    assert event.data["on"] == delivery.receipt_on.isoformat()
    assert (event.sender, event.source_ref) == ("post", f"receipt:{delivery.pk}")
    assert delivery.notice.licence.projection.status == "invalidated"


def test_every_named_holders_offence_has_a_place() -> None:
    for person in named_people(today()):
        offences = [i for i, (kind, _data, _source) in enumerate(person.events) if kind == "offence"]
        assert sorted(person.places) == offences
        assert all(commune_name(code) for code in person.places.values())


@pytest.mark.django_db(transaction=True)
def test_a_load_stopped_half_way_leaves_an_empty_file_that_loads_again(monkeypatch) -> None:
    """`make run` loads the demo with --if-empty: a half-loaded file (a Ctrl-C in the middle) was skipped for good."""
    from permis.registry.management.commands import demo as command

    def stopped() -> None:
        raise KeyboardInterrupt("stopped")

    monkeypatch.setattr(command, "seed_agents", stopped)
    with pytest.raises(KeyboardInterrupt):
        call_command("demo", "--licences", "40", "--quiet", stdout=io.StringIO())
    assert not Licence.objects.exists() and not Event.objects.exists()
    monkeypatch.undo()
    call_command("demo", "--licences", "40", "--if-empty", "--quiet", stdout=io.StringIO())
    assert Licence.objects.count() == 40
