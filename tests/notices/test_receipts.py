"""The postal receipt of a registered letter: recorded once, contradictions refused, a 48SI's invalidates."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command

from permis.notices.legal import received_on
from permis.notices.receipts import ReceiptError, find_registered, record_postal_receipt
from permis.registry import services
from permis.registry.models import Event, Movement, Projection
from permis.rules import Timeline

from .legal_helpers import delivery, notice, paris, zero_balance_licence

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(dt.datetime(2024, 6, 1, 10, tzinfo=dt.UTC), tick=True):
        yield


def registered(code: str = "48N", sent: dt.datetime | None = None, **fields):
    return delivery(notice(code), "registered", sent_at=sent or paris(2024, 4, 2, 9), **fields)


def test_a_receipt_is_recorded_with_who_reported_it() -> None:
    letter = registered("48N")
    outcome = record_postal_receipt(letter, kind="received", on=dt.date(2024, 4, 5), source="api:La Poste")
    assert not outcome.duplicate and outcome.event is None
    letter.refresh_from_db()
    assert (letter.receipt_kind, letter.receipt_on, letter.receipt_source) == (
        "received",
        dt.date(2024, 4, 5),
        "api:La Poste",
    )
    assert letter.receipt_recorded_at is not None
    # The 48N's four months run from the receipt.
    assert received_on(letter) == received_on(letter.notice) == dt.date(2024, 4, 5)


def test_the_same_receipt_twice_is_a_duplicate_that_changes_nothing() -> None:
    letter = registered("48N")
    record_postal_receipt(letter, kind="not_collected", on=dt.date(2024, 4, 4), source="api:La Poste")
    letter.refresh_from_db()
    first = letter.receipt_recorded_at
    again = record_postal_receipt(
        letter.pk, kind="not_collected", on=dt.date(2024, 4, 4), source="agent:jdupont"
    )
    assert again.duplicate
    letter.refresh_from_db()
    assert (letter.receipt_recorded_at, letter.receipt_source) == (first, "api:La Poste")


def test_a_contradicting_receipt_is_refused() -> None:
    letter = registered("48N")
    record_postal_receipt(letter, kind="not_collected", on=dt.date(2024, 4, 4), source="api:La Poste")
    for kind, on in (("received", dt.date(2024, 4, 4)), ("not_collected", dt.date(2024, 4, 8))):
        with pytest.raises(ReceiptError) as error:
            record_postal_receipt(letter, kind=kind, on=on, source="api:La Poste")
        (problem,) = error.value.problems
        assert f"delivery {letter.pk} (letter 48N" in problem
        assert "already recorded (not_collected on 2024-04-04, by api:La Poste)" in problem
        assert "back office" in problem
    letter.refresh_from_db()
    assert (letter.receipt_kind, letter.receipt_on) == ("not_collected", dt.date(2024, 4, 4))


def test_a_receipt_before_the_letter_was_sent_or_in_the_future_is_refused() -> None:
    letter = registered("48N", sent=paris(2024, 4, 2, 9))
    with pytest.raises(ReceiptError, match=r"on: 2024-04-01 is before the letter was sent \(2024-04-02\)"):
        record_postal_receipt(letter, kind="received", on=dt.date(2024, 4, 1), source="api:La Poste")
    with pytest.raises(ReceiptError, match="on: 2024-06-02 is in the future"):
        record_postal_receipt(letter, kind="received", on=dt.date(2024, 6, 2), source="api:La Poste")
    # The day it was sent and today are both possible.
    record_postal_receipt(letter, kind="received", on=dt.date(2024, 6, 1), source="api:La Poste")


def test_only_a_registered_letter_that_was_sent_has_a_receipt() -> None:
    simple = delivery(notice("48"), "post", sent_at=paris(2024, 4, 2))
    with pytest.raises(ReceiptError, match="channel: a postal receipt is for a registered letter"):
        record_postal_receipt(simple, kind="received", on=dt.date(2024, 4, 5), source="api:La Poste")
    unsent = delivery(notice("48N"), "registered")
    with pytest.raises(ReceiptError, match="has not been sent yet"):
        record_postal_receipt(unsent, kind="received", on=dt.date(2024, 4, 5), source="api:La Poste")
    with pytest.raises(ReceiptError, match="no such delivery"):
        record_postal_receipt(999999, kind="received", on=dt.date(2024, 4, 5), source="api:La Poste")


def test_a_bad_kind_or_source_is_refused_with_its_field() -> None:
    letter = registered("48N")
    with pytest.raises(ReceiptError) as error:
        record_postal_receipt(letter, kind="lost", on="2024-04-05", source="")
    assert [p.split(": ")[1] for p in error.value.problems] == ["kind", "on", "source"]


def test_the_receipt_of_a_48si_invalidates_the_licence_from_that_day() -> None:
    lic, letter_48si = zero_balance_licence()
    assert Projection.objects.get(licence=lic).status == "zero_balance"
    letter = delivery(letter_48si, "registered", sent_at=paris(2024, 4, 3, 9))
    outcome = record_postal_receipt(
        letter, kind="not_collected", on=dt.date(2024, 4, 8), source="api:La Poste"
    )
    event = outcome.event
    assert (event.kind, event.data, event.source, event.sender, event.source_ref) == (
        "invalidation_notified",
        {"on": "2024-04-08"},
        "system",
        "post",
        f"receipt:{letter.pk}",
    )
    assert Projection.objects.get(licence=lic).status == "invalidated"
    invalidation = Movement.objects.get(licence=lic, kind="invalidation")
    assert invalidation.on == dt.date(2024, 4, 8)
    timeline = Timeline(services.history_of(lic))
    assert timeline.at(dt.date(2024, 4, 7)).status == "zero_balance"  # not before the receipt
    assert timeline.at(dt.date(2024, 4, 8)).status == "invalidated"
    # Reported again: a duplicate, and still one event.
    again = record_postal_receipt(letter, kind="not_collected", on=dt.date(2024, 4, 8), source="api:La Poste")
    assert again.duplicate and again.event == event
    assert Event.objects.filter(licence=lic, kind="invalidation_notified").count() == 1


def test_an_agent_reporting_a_48si_receipt_records_an_agents_event() -> None:
    lic, letter_48si = zero_balance_licence()
    letter = delivery(letter_48si, "registered", sent_at=paris(2024, 4, 3, 9))
    outcome = record_postal_receipt(letter, kind="received", on=dt.date(2024, 4, 5), source="agent:jdupont")
    assert (outcome.event.source, outcome.event.recorded_by) == ("agent", "agent:jdupont")
    assert Projection.objects.get(licence=lic).status == "invalidated"


def test_a_letter_is_found_by_its_id_or_its_printed_reference() -> None:
    letter = registered("48N", provider_ref="LRAR-0001", document_path="var/print/2024-04-02/PRINT-7.pdf")
    assert find_registered(letter.pk) == letter
    assert find_registered(str(letter.pk)) == letter
    assert find_registered("LRAR-0001") == letter
    assert find_registered("PRINT-7") == letter
    assert find_registered("nothing") is None
    assert find_registered(True) is None


def test_an_agent_records_a_receipt_at_the_command_line() -> None:
    lic, letter_48si = zero_balance_licence()
    letter = delivery(letter_48si, "registered", sent_at=paris(2024, 4, 3, 9))
    out = io.StringIO()
    call_command(
        "receipt", str(letter.pk), "--kind", "received", "--on", "2024-04-05", "--by", "jdupont", stdout=out
    )
    assert (
        f"delivery {letter.pk} (letter 48SI): received on 2024-04-05 recorded by agent:jdupont"
        in out.getvalue()
    )
    assert "invalidation notified on 2024-04-05" in out.getvalue()
    assert Projection.objects.get(licence=lic).status == "invalidated"
    out = io.StringIO()
    call_command("receipt", str(letter.pk), "--kind", "received", "--on", "2024-04-05", stdout=out)
    assert "already recorded" in out.getvalue()
    with pytest.raises(CommandError, match="contradicts it"):
        call_command("receipt", str(letter.pk), "--kind", "not_collected", "--on", "2024-04-05")
    with pytest.raises(CommandError, match="no registered letter 'NOPE'"):
        call_command("receipt", "NOPE", "--kind", "received", "--on", "2024-04-05")
