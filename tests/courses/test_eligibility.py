"""Course eligibility read from the engine, on RULES.md's worked examples involving courses (§8)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from permis.courses.services import eligibility
from permis.registry import services
from permis.registry.services.core import history_of
from permis.rules import what_if
from permis.rules.model import Course
from tests.registry import factories
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db
D = dt.date.fromisoformat
POINTS = re.compile(r"\b\d{1,2}\s*(points?|pts?)\b", re.IGNORECASE)


def _record(lic, kind: str, data: dict, on: str) -> None:
    source = "course_centre" if kind == "course" else "feed"
    services.record_event(lic, kind, data, source=source, sender="TEST", on=D(on))


def _course_would_credit(lic, on: dt.date) -> bool:
    """The engine's own answer, by simulation: a course started on `on` changes the balance two days later."""
    history = history_of(lic)
    course = Course(id="what-if", first_day=on, last_day=on + dt.timedelta(days=1))
    before, after = what_if(history, on + dt.timedelta(days=2), [course])
    return after.raw_balance > before.raw_balance


def _check(lic, on: str):
    result = eligibility(lic, D(on))
    assert result.eligible_now == _course_would_credit(lic, D(on)), result
    assert not POINTS.search(result.reason), result.reason  # the reason never states a number of points
    return result


def test_e09_after_a_withdrawal_a_course_counts_now() -> None:
    lic = factories.licence(obtained_on=D("2010-03-01"))
    _record(lic, "offence", offence("2025-01-02", "2025-01-10", 2, "C4"), "2025-01-10")
    result = _check(lic, "2025-02-01")
    assert result.eligible_now and result.from_date == D("2025-02-01") and result.code == "eligible"
    assert result.for_centre() == {"eligible": True, "from": "2025-02-01"}


def test_e09_at_the_cap_after_the_course_no_course_counts() -> None:
    lic = factories.licence(obtained_on=D("2010-03-01"))
    _record(lic, "offence", offence("2025-01-02", "2025-01-10", 2, "C4"), "2025-01-10")
    _record(lic, "course", {"first_day": "2025-03-03", "last_day": "2025-03-04"}, "2025-03-05")
    result = _check(lic, "2025-04-01")
    assert not result.eligible_now and result.from_date is None and result.code == "at_cap"
    assert result.for_centre() == {"eligible": False, "from": None}


def test_e09_the_next_course_counts_one_year_after_the_credit() -> None:
    """E09: a course credited on 2025-03-05; after a new withdrawal the next one counts from 2026-03-05."""
    lic = factories.licence(obtained_on=D("2010-03-01"))
    _record(lic, "offence", offence("2025-01-02", "2025-01-10", 2, "C4"), "2025-01-10")
    _record(lic, "course", {"first_day": "2025-03-03", "last_day": "2025-03-04"}, "2025-03-05")
    _record(lic, "offence", offence("2025-05-01", "2025-05-15", 3, "C4"), "2025-05-15")
    result = _check(lic, "2025-06-01")
    assert not result.eligible_now
    assert result.from_date == D("2026-03-05") and result.code == "yearly_limit"
    assert "05/03/2026" in result.reason
    assert result.for_centre() == {"eligible": False, "from": "2026-03-05"}
    assert _check(lic, "2026-03-05").eligible_now


def test_e11_a_zero_balance_before_the_48si_still_lets_a_course_count() -> None:
    lic = factories.licence(obtained_on=D("2012-01-01"))
    _record(lic, "offence", offence("2024-06-01", "2024-06-20", 6, "D"), "2024-06-20")
    _record(lic, "offence", offence("2025-02-01", "2025-04-15", 6, "D"), "2025-04-15")
    result = _check(lic, "2025-05-01")
    assert result.eligible_now and result.code == "eligible"


def test_e12_an_invalidated_licence_gets_no_course() -> None:
    lic = factories.licence(obtained_on=D("2015-01-01"))
    _record(lic, "offence", offence("2024-12-01", "2025-01-10", 6, "D"), "2025-01-10")
    _record(lic, "offence", offence("2025-01-20", "2025-02-10", 6, "D"), "2025-02-10")
    _record(lic, "invalidation_notified", {"on": "2025-04-03"}, "2025-04-03")
    result = _check(lic, "2025-04-20")
    assert not result.eligible_now and result.from_date is None and result.code == "invalidated"


def test_e18_the_48n_course_is_due_and_counts() -> None:
    lic = factories.licence(obtained_on=D("2024-04-01"), on=D("2024-04-01"))
    _record(lic, "offence", offence("2024-07-01", "2024-07-10", 3, "C4"), "2024-07-10")
    result = _check(lic, "2024-08-10")
    assert result.eligible_now and result.mandatory_48n
    assert "48N" in result.reason
    assert result.for_centre() == {
        "eligible": True,
        "from": "2024-08-10",
    }  # nothing about the 48N for a centre
    _record(
        lic,
        "course",
        {"first_day": "2024-10-14", "last_day": "2024-10-15", "type": "mandatory"},
        "2024-10-16",
    )
    after = _check(lic, "2024-11-01")
    assert not after.mandatory_48n
    assert not after.eligible_now and after.code == "at_cap"  # 6/6: min(3 + 4, 6)


def test_a_licence_at_twelve_never_gets_a_course() -> None:
    lic = factories.licence(obtained_on=D("2010-03-01"))
    result = _check(lic, "2024-06-01")
    assert not result.eligible_now and result.code == "at_cap"


def test_eligibility_takes_a_licence_id() -> None:
    lic = factories.licence(obtained_on=D("2010-03-01"))
    assert eligibility(lic.pk, D("2024-06-01")).code == "at_cap"
