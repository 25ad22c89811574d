"""The legal dates of a letter: made available, first opened, deemed received (R223-3-1), postal receipt."""

from __future__ import annotations

import datetime as dt

import pytest

from permis.notices import legal
from permis.notices.legal import LegalError, make_available, open_notice, received_on
from permis.rules.parameters import parameter

from .legal_helpers import delivery, notice, paris

pytestmark = pytest.mark.django_db

DELAY = parameter("notices.e_notice_deemed_after_days").at(dt.date(2025, 1, 6))


def test_an_unopened_notice_is_deemed_received_after_the_legal_delay() -> None:
    account = delivery(notice("48"), "account")
    make_available(account, paris(2025, 1, 6, 9))
    assert account.made_available_at == paris(2025, 1, 6, 9)
    assert account.first_opened_at is None
    assert account.deemed_received_on == dt.date(2025, 1, 6) + dt.timedelta(days=DELAY)
    assert received_on(account) == account.deemed_received_on


def test_the_delay_comes_from_the_legal_parameter_in_force_that_day(monkeypatch) -> None:
    asked = []

    class Seven:
        def at(self, on: dt.date) -> int:
            asked.append(on)
            return 7

    monkeypatch.setattr(legal, "parameter", lambda name: Seven())
    account = delivery(notice("48"), "account")
    make_available(account, paris(2025, 1, 6, 9))
    assert account.deemed_received_on == dt.date(2025, 1, 13)
    assert asked == [dt.date(2025, 1, 6)]


def test_the_legal_day_is_the_day_in_paris() -> None:
    account = delivery(notice("48"), "account")
    late_evening_utc = dt.datetime(2025, 1, 6, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 7th in Paris
    make_available(account, late_evening_utc)
    assert account.deemed_received_on == dt.date(2025, 1, 7) + dt.timedelta(days=DELAY)


def test_making_a_letter_available_twice_changes_nothing() -> None:
    account = delivery(notice("48"), "account")
    make_available(account, paris(2025, 1, 6, 9))
    first = (account.made_available_at, account.deemed_received_on)
    make_available(account, paris(2025, 2, 1, 9))
    account.refresh_from_db()
    assert (account.made_available_at, account.deemed_received_on) == first


def test_only_an_account_delivery_is_made_available() -> None:
    letter = delivery(notice("48"), "post")
    with pytest.raises(LegalError, match="channel"):
        make_available(letter, paris(2025, 1, 6))
    letter.refresh_from_db()
    assert letter.made_available_at is None


def test_there_was_no_electronic_notice_before_31_october_2016() -> None:
    account = delivery(notice("48"), "account")
    with pytest.raises(LegalError, match="2016-10-31"):
        make_available(account, paris(2016, 10, 30))


def test_a_naive_instant_is_refused() -> None:
    account = delivery(notice("48"), "account")
    with pytest.raises(ValueError, match="time zone"):
        make_available(account, dt.datetime(2025, 1, 6, 9))  # noqa: DTZ001 (the point of the test)


def test_the_first_opening_makes_the_notice_received_that_day() -> None:
    account = delivery(notice("48"), "account")
    make_available(account, paris(2025, 1, 6, 9))
    open_notice(account, paris(2025, 1, 9, 18))
    assert account.first_opened_at == paris(2025, 1, 9, 18)
    assert account.deemed_received_on == dt.date(2025, 1, 9)
    open_notice(account, paris(2025, 1, 10, 8))  # a second opening is not the first
    account.refresh_from_db()
    assert account.first_opened_at == paris(2025, 1, 9, 18)
    assert account.deemed_received_on == dt.date(2025, 1, 9)


def test_an_opening_the_day_it_is_made_available_counts_that_day() -> None:
    account = delivery(notice("48"), "account")
    make_available(account, paris(2025, 1, 6, 9))
    open_notice(account, paris(2025, 1, 6, 9, 5))
    assert account.deemed_received_on == dt.date(2025, 1, 6)


def test_opening_after_the_delay_does_not_move_the_deemed_date() -> None:
    account = delivery(notice("48"), "account")
    make_available(account, paris(2025, 1, 6, 9))
    deemed = account.deemed_received_on
    open_notice(account, paris(2025, 3, 1, 10))
    assert account.first_opened_at == paris(2025, 3, 1, 10)
    assert account.deemed_received_on == deemed


def test_a_letter_not_yet_in_the_account_cannot_be_opened() -> None:
    account = delivery(notice("48"), "account")
    with pytest.raises(LegalError, match="not in the account yet"):
        open_notice(account, paris(2025, 1, 6))
    letter = delivery(notice("48"), "email")
    with pytest.raises(LegalError, match="channel"):
        open_notice(letter, paris(2025, 1, 6))


def test_an_opening_before_the_letter_was_made_available_is_refused() -> None:
    account = delivery(notice("48"), "account")
    make_available(account, paris(2025, 1, 6, 9))
    with pytest.raises(LegalError, match="before the letter was made available"):
        open_notice(account, paris(2025, 1, 6, 8))
    account.refresh_from_db()
    assert account.first_opened_at is None


def test_a_simple_letter_an_email_or_an_sms_has_no_legal_date() -> None:
    item = notice("48")
    for channel in ("post", "email", "sms"):
        assert received_on(delivery(item, channel)) is None
    assert received_on(item) is None  # no electronic notice for this letter


def test_a_letter_is_received_on_its_electronic_notice_date() -> None:
    item = notice("48")
    account = delivery(item, "account")
    assert received_on(item) is None
    make_available(account, paris(2025, 1, 6, 9))
    open_notice(account, paris(2025, 1, 8, 9))
    assert received_on(item) == dt.date(2025, 1, 8)


def test_a_48n_counts_from_its_registered_letter_even_when_it_is_also_in_the_account() -> None:
    item = notice("48N")
    account = delivery(item, "account")
    registered = delivery(item, "registered", sent_at=paris(2025, 1, 6, 9))
    make_available(account, paris(2025, 1, 6, 9))
    open_notice(account, paris(2025, 1, 6, 10))
    assert received_on(item) is None  # the receipt has not come back
    registered.receipt_kind, registered.receipt_on = "received", dt.date(2025, 1, 9)
    registered.save()
    assert received_on(item) == dt.date(2025, 1, 9)
    assert received_on(registered) == dt.date(2025, 1, 9)
