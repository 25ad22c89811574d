"""Properties of the engine on generated realistic histories (tests/rules/strategies.py).

The properties come from the engine's issue:
- 0 <= balance <= cap on every evaluated date, and for every movement's balance;
- adding an offence never raises the balance on any later date;
- evaluating on date D gives the same result as the movements up to D of an evaluation on a later date;
- the events' order in the input never matters.

A failing property is never weakened: its shrunk counterexample becomes an explicit regression test
at the bottom of this file, with the reading of RULES.md that it contradicts.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from permis.rules import evaluate, evaluate_many, evaluation_to_json, parse_history

try:
    from tests.rules import strategies as gen
except ImportError:  # tests/ is not a package: pytest put tests/rules on sys.path
    import strategies as gen  # type: ignore[no-redef]

# Tuned so that the whole file runs in well under 60 s on the 2-core CI machine. A longer hunt:
# PERMIS_PROPERTY_EXAMPLES=5000 pytest tests/rules/test_properties.py
EXAMPLES = int(os.environ.get("PERMIS_PROPERTY_EXAMPLES", "150"))
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

STATUSES = {"valid", "zero_balance", "invalidated", "annulled"}


def to_json(history: dict[str, Any], on: date) -> dict[str, Any]:
    return evaluation_to_json(evaluate(parse_history(history), on=on))


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)


# --- 0 <= balance <= cap --------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(gen.history_and_dates())
def test_balance_stays_between_zero_and_the_cap(case: tuple[dict[str, Any], list[date]]) -> None:
    history, dates = case
    parsed = parse_history(history)
    for on in dates:
        out = evaluation_to_json(evaluate(parsed, on=on))
        context = f"on {on}:\n{dump(out)}"
        assert 0 <= out["balance"] <= out["cap"] <= 12, context
        assert out["status"] in STATUSES, context
        if out["status"] in ("valid", "zero_balance"):
            assert out["balance"] == max(0, out["raw_balance"]), context
        for movement in out["movements"]:
            assert 0 <= movement["balance"] <= 12, f"movement {movement} {context}"
        for change in out["upcoming"]:
            assert 0 <= change["balance"] <= 12, f"upcoming {change} {context}"


@PROPERTY_SETTINGS
@given(gen.histories())
def test_every_movement_balance_is_within_the_cap_of_its_day(history: dict[str, Any]) -> None:
    """The balance after the last movement of a day is the balance of that day, within its cap."""
    parsed = parse_history(history)
    final = evaluation_to_json(evaluate(parsed, on=gen.LAST_EVALUATION))
    last_of_day: dict[str, dict[str, Any]] = {}
    for movement in final["movements"]:
        last_of_day[movement["on"]] = movement
    days = sorted(last_of_day)
    evaluations = evaluate_many(parsed, [date.fromisoformat(d) for d in days])
    for day, ev in zip(days, evaluations):
        out = evaluation_to_json(ev)
        movement = last_of_day[day]
        assert 0 <= movement["balance"] <= out["cap"], f"{movement}\n{dump(out)}"
        assert movement["balance"] == out["balance"], f"{movement}\n{dump(out)}"


@PROPERTY_SETTINGS
@given(gen.history_and_dates())
def test_movements_are_oldest_first_and_end_with_the_balance(
    case: tuple[dict[str, Any], list[date]],
) -> None:
    history, dates = case
    parsed = parse_history(history)
    for on in dates:
        out = evaluation_to_json(evaluate(parsed, on=on))
        ons = [m["on"] for m in out["movements"]]
        assert ons == sorted(ons), dump(out)
        assert all(d <= on.isoformat() for d in ons), dump(out)
        if out["movements"]:
            assert out["movements"][-1]["balance"] == out["balance"], dump(out)
        upcoming = [u["on"] for u in out["upcoming"]]
        assert upcoming == sorted(upcoming), dump(out)
        assert all(d > on.isoformat() for d in upcoming), dump(out)


# --- adding an offence never raises the balance -----------------------------------------------------


# Under the binding reading course_year=rolling_from_credit ("only a course that credited points starts the
# year", RULES.md §8.1 [P/U]) an extra offence can make an earlier course creditable and so change which later
# course credits: with three courses the balance can end higher (tests/rules/test_readings.py, docs/rules.md).
# So the property is checked in full under course_year=rolling_from_any, and under the default reading on
# histories with at most one course that can credit points, where that interaction cannot happen.


def keep_one_creditable_course(history: dict[str, Any]) -> dict[str, Any]:
    kept, seen = [], False
    for event in history["events"]:
        if event["kind"] == "course" and event.get("type") != "judicial":
            if seen:
                continue
            seen = True
        kept.append(event)
    return {**history, "events": kept}


@st.composite
def history_with_extra_offence(draw: st.DrawFn, course_year: str) -> tuple[dict, dict, list[date]]:
    history = copy.deepcopy(draw(gen.histories()))
    if course_year == "rolling_from_credit":
        history = keep_one_creditable_course(history)
        history.get("options", {}).pop("course_year", None)  # the default
    else:
        history.setdefault("options", {})["course_year"] = course_year
    extra = draw(gen.extra_offence(history))
    committed = date.fromisoformat(extra["committed_on"])
    later = st.dates(committed, gen.LAST_EVALUATION)
    final_on = date.fromisoformat(extra["final_on"])
    anniversaries = [final_on + timedelta(days=n) for n in (0, 1, 183, 365, 730, 731, 1095, 1096, 3653)]
    anniversaries = [d for d in anniversaries if d <= gen.LAST_EVALUATION]
    dates = draw(st.lists(st.one_of(later, st.sampled_from(anniversaries)), min_size=1, max_size=8))
    return history, extra, dates


def check_extra_offence_never_raises_the_balance(case: tuple[dict, dict, list[date]]) -> None:
    history, extra, dates = case
    worse = copy.deepcopy(history)
    worse["events"].append(extra)
    before = evaluate_many(parse_history(history), sorted(dates))
    after = evaluate_many(parse_history(worse), sorted(dates))
    for on, b, a in zip(sorted(dates), before, after):
        assert a.balance <= b.balance, (
            f"on {on}: {b.balance} without {extra['id']}, {a.balance} with it\n"
            f"without: {dump(evaluation_to_json(b))}\nwith: {dump(evaluation_to_json(a))}"
        )


@PROPERTY_SETTINGS
@given(history_with_extra_offence("rolling_from_any"))
def test_adding_an_offence_never_raises_the_balance_on_a_later_date(
    case: tuple[dict, dict, list[date]],
) -> None:
    check_extra_offence_never_raises_the_balance(case)


@PROPERTY_SETTINGS
@given(history_with_extra_offence("rolling_from_credit"))
def test_adding_an_offence_never_raises_the_balance_under_the_default_course_year_with_one_course(
    case: tuple[dict, dict, list[date]],
) -> None:
    check_extra_offence_never_raises_the_balance(case)


# --- evaluating on D is a prefix of evaluating later ------------------------------------------------


@st.composite
def history_and_two_dates(draw: st.DrawFn) -> tuple[dict, date, date]:
    history, dates = draw(gen.history_and_dates())
    earlier = min(dates)
    later = draw(st.one_of(st.dates(earlier, gen.LAST_EVALUATION), st.just(gen.LAST_EVALUATION)))
    return history, earlier, later


@PROPERTY_SETTINGS
@given(history_and_two_dates())
def test_evaluating_on_a_date_gives_the_movements_of_a_later_evaluation_up_to_it(
    case: tuple[dict, date, date],
) -> None:
    history, earlier, later = case
    parsed = parse_history(history)
    early = evaluation_to_json(evaluate(parsed, on=earlier))
    late = evaluation_to_json(evaluate(parsed, on=later))
    prefix = [m for m in late["movements"] if m["on"] <= earlier.isoformat()]
    assert early["movements"] == prefix, f"on {earlier}:\n{dump(early)}\non {later}:\n{dump(late)}"
    if prefix:
        assert early["balance"] == prefix[-1]["balance"]


@PROPERTY_SETTINGS
@given(history_and_two_dates())
def test_evaluating_on_a_date_gives_the_letters_of_a_later_evaluation_up_to_it(
    case: tuple[dict, date, date],
) -> None:
    history, earlier, later = case
    parsed = parse_history(history)
    early = evaluation_to_json(evaluate(parsed, on=earlier))
    late = evaluation_to_json(evaluate(parsed, on=later))
    prefix = [letter for letter in late["letters"] if letter["on"] <= earlier.isoformat()]
    assert early["letters"] == prefix, f"on {earlier}:\n{dump(early)}\non {later}:\n{dump(late)}"


@PROPERTY_SETTINGS
@given(gen.history_and_dates())
def test_evaluate_many_gives_what_evaluate_gives_date_by_date(
    case: tuple[dict[str, Any], list[date]],
) -> None:
    history, dates = case
    parsed = parse_history(history)
    many = [evaluation_to_json(ev) for ev in evaluate_many(parsed, dates)]
    one_by_one = [evaluation_to_json(evaluate(parsed, on=on)) for on in dates]
    assert many == one_by_one


# --- the order of the events never matters ---------------------------------------------------------


@st.composite
def history_permutation_and_dates(draw: st.DrawFn) -> tuple[dict, dict, list[date]]:
    history, dates = draw(gen.history_and_dates())
    shuffled = copy.deepcopy(history)
    shuffled["events"] = draw(st.permutations(history["events"]))
    return history, shuffled, dates


@PROPERTY_SETTINGS
@given(history_permutation_and_dates())
def test_the_order_of_the_events_in_the_input_never_matters(case: tuple[dict, dict, list[date]]) -> None:
    history, shuffled, dates = case
    assume(history["events"])
    for on in dates:
        assert to_json(history, on) == to_json(shuffled, on), f"on {on}"


# --- regressions: shrunk counterexamples of the properties above -----------------------------------


def licence_2010(*events: dict[str, Any]) -> dict[str, Any]:
    return {"licence": {"obtained_on": "2010-01-01"}, "events": list(events)}


def offence(
    eid: str, points: int, cls: str, final_on: str, group: str | None = "G", committed_on: str = "2024-01-01"
) -> dict[str, Any]:
    event = {
        "kind": "offence",
        "id": eid,
        "committed_on": committed_on,
        "final_on": final_on,
        "points": points,
        "class": cls,
    }
    if group is not None:
        event["simultaneous_group"] = group
    return event


def balance(history: dict[str, Any], on: str) -> int:
    return evaluate(parse_history(history), on=date.fromisoformat(on)).balance


def test_a_group_member_final_later_does_not_give_back_points_withdrawn_earlier() -> None:
    """Shrunk from test_adding_an_offence_never_raises_the_balance_on_a_later_date.

    A (6 points) and B (4 points) were committed at one interception (simultaneous, capped at 8, L223-2 III).
    A became final on 2024-01-10, B only on 2024-03-01. Without B the balance is 6 from 2024-01-10. With B,
    the engine splits the cap in proportion up front (A 5, B 3), so on 2024-02-01 the balance is 7: the
    second offence raised the balance before it was even final. Reading of RULES.md §4.3: the cap bounds what
    the group removes in total ("cumulate up to 8"); each withdrawal takes effect on its own date (§4.2), so
    A removes its 6 points on 2024-01-10 and B removes what is left under the cap (2) on 2024-03-01. The
    proportional split is the engine's reading for the 10-year rule only (§7.3, option ten_year_split).
    """
    without_b = licence_2010(offence("A", 6, "C4", "2024-01-10"))
    with_b = licence_2010(offence("A", 6, "C4", "2024-01-10"), offence("B", 4, "C4", "2024-03-01"))
    assert balance(without_b, "2024-02-01") == 6
    assert balance(with_b, "2024-02-01") <= 6
    assert balance(with_b, "2024-04-01") == 4  # 12 - 8: the cap, once both are final


def test_the_same_group_with_a_later_decision_date_keeps_the_first_withdrawal_whole() -> None:
    """The hypothesis counterexample itself (decided_on one day later), on a 2000 licence.

    In 2000 the cap for contraventions only was 6 (décret 92-1228). I2 (4 points, C4) and EXTRA (3 points,
    C2) at one interception, both final 2000-01-01, EXTRA decided 2000-01-02. On 2000-01-01 only I2 is
    withdrawn: the balance must not be higher than without EXTRA (12 - 1 - 4 = 7).
    """
    base = [
        {
            "kind": "offence",
            "id": "I1",
            "committed_on": "2000-01-01",
            "final_on": "2000-01-01",
            "points": 1,
            "class": "C1",
        },
        {
            "kind": "offence",
            "id": "I2",
            "committed_on": "2000-01-01",
            "final_on": "2000-01-01",
            "points": 4,
            "class": "C4",
            "simultaneous_group": "G1",
        },
    ]
    extra = {
        "kind": "offence",
        "id": "EXTRA",
        "committed_on": "2000-01-01",
        "final_on": "2000-01-01",
        "decided_on": "2000-01-02",
        "points": 3,
        "class": "C2",
        "simultaneous_group": "G1",
    }
    without = {"licence": {"obtained_on": "2000-01-01"}, "events": base}
    with_extra = {"licence": {"obtained_on": "2000-01-01"}, "events": [*base, extra]}
    assert balance(without, "2000-01-01") == 7
    assert balance(with_extra, "2000-01-01") <= 7


@pytest.mark.parametrize(
    "others",
    [
        [("A", 6, "C4"), ("B", 2, "C4")],  # 8: at the cap already
        [("A", 2, "C4"), ("B", 6, "D")],  # 8 with a délit
    ],
)
def test_a_one_point_offence_added_to_a_group_at_the_cap_gives_nothing_back(
    others: list[tuple[str, int, str]],
) -> None:
    """Shrunk from test_adding_an_offence_never_raises_the_balance_on_a_later_date.

    A group already removing 8 points (the cap) gets a third, 1-point offence C. The group still removes 8,
    but the proportional split gives C a share of 1, and the engine then restores that point after 6 months
    (option one_point_simultaneous=each): on 2024-08-01 the holder has 5 points with the extra offence and 4
    without it. Reading of RULES.md §7.1: the 6-month rule restores "the point" of an infraction that removed
    exactly one point; C removed nothing beyond the cap (the other two already reached 8), so there is no point
    of C to give back, and a third offence cannot leave the holder better off.
    """
    base = [offence(eid, points, cls, "2024-01-10") for eid, points, cls in others]
    without_c = licence_2010(*base)
    with_c = licence_2010(*base, offence("C", 1, "C4", "2024-01-10"))
    assert balance(without_c, "2024-08-01") == 4
    assert balance(with_c, "2024-08-01") <= 4


def test_a_course_ending_on_the_day_of_another_event_is_evaluated() -> None:
    """Shrunk from several properties (TypeError while sorting events; fixed in the engine since).

    A course's sort key (last_day, first_day, ...) was compared with another event's (on, kind, ...) when
    the course's last day was that event's date: date < str.
    """
    history = {
        "licence": {"obtained_on": "2000-01-01"},
        "events": [
            {
                "kind": "course",
                "id": "S1",
                "first_day": "2001-03-31",
                "last_day": "2001-04-01",
                "type": "voluntary",
            },
            {"kind": "licence_surrendered", "id": "R1", "on": "2001-04-01"},
            {"kind": "invalidation_notified", "id": "V1", "on": "2001-04-01"},
            {"kind": "annulment", "id": "N1", "on": "2001-04-01"},
        ],
    }
    evaluate(parse_history(history), on=date(2001, 5, 1))


def test_one_point_members_of_a_capped_group_give_back_no_more_than_without_an_extra_one() -> None:
    """Shrunk from test_adding_an_offence_never_raises_the_balance_on_a_later_date (after 6f61a8f).

    One interception on 2024-01-01: A (4 points, C4) final 2024-02-01, B (3, C4) and C (1, C3) final
    2024-01-10. The group removes 8 (the cap): 12 - 8 = 4, then C's point comes back on 2024-07-10: 5.
    Add D (1 point, C3, final 2024-01-10): B, C and D remove 5 on 2024-01-10, A is cut to 3 by the cap on
    2024-02-01 (still 4 points left), and on 2024-07-10 both C and D give their point back: 6. The extra
    offence leaves the holder one point better off from 2024-07-10 to the full restoration.

    Reading of RULES.md §4.3 and §7.1: the group removes at most 8 points whatever its members; the 6-month
    rule gives back the point of an infraction that removed exactly one point. With one_point_simultaneous=
    each, a 1-point member of a group that the cap cut did not remove "its" point on its own: the cap took
    the group's excess, and which member absorbs it is book-keeping. Two readings that keep the property:
    a 1-point member of a capped group is not restored on its own (the group was cut by the cap), or the
    cap's cut falls on the 1-point members first. Either way D must not give back a point that the
    group, capped at 8, never lost because of it.
    """

    def member(eid: str, points: int, cls: str, final_on: str) -> dict[str, Any]:
        return offence(eid, points, cls, final_on)

    base = [
        member("A", 4, "C4", "2024-02-01"),
        member("B", 3, "C4", "2024-01-10"),
        member("C", 1, "C3", "2024-01-10"),
    ]
    without_d = licence_2010(*base)
    with_d = licence_2010(*base, member("D", 1, "C3", "2024-01-10"))
    assert balance(without_d, "2024-08-01") == 5
    assert balance(with_d, "2024-08-01") <= 5


def test_a_course_between_the_withdrawals_of_a_capped_group_can_leave_a_higher_balance() -> None:
    """A consequence of the binding readings, found by the monotonicity property and kept as a fact.

    One interception on 2024-01-01: A (6 points, C4) becomes final on 2024-03-01. Alone, it leaves 6 points.
    With B (3 points, C4) in the same group, final on 2024-01-10: B takes 3 points on 2024-01-10 (a
    withdrawal takes effect on its own date, RULES.md §4.2), a course on 2024-02-01/02 gives them back on
    2024-02-03 (it could credit nothing without B: the licence was at 12), and on 2024-03-01 the cap of 8
    for the group (L223-2 III) leaves only 5 for A: 7 points, one more than without B.

    Every step is a rule applied on its own date; the only ways out would be to withdraw a group's points
    on one date for all members (against CE 29 Sep 2023 n° 461479) or to let a course credit count against
    the group's cap, which no text says. So the monotonicity property lets an extra offence join a group
    only on or after its other members' dates (strategies.extra_offence). If the lead changes the reading,
    this test tells.
    """
    a = offence("A", 6, "C4", "2024-03-01")
    b = offence("B", 3, "C4", "2024-01-10")
    course = {
        "kind": "course",
        "id": "S1",
        "first_day": "2024-02-01",
        "last_day": "2024-02-02",
        "type": "voluntary",
    }
    assert balance(licence_2010(a, course), "2024-04-01") == 6
    assert balance(licence_2010(a, course, b), "2024-04-01") == 7
    # Without the course in between, the extra offence costs what the cap allows (8 in all).
    assert balance(licence_2010(a, b), "2024-04-01") == 4
