"""Hypothesis strategies for realistic driving-licence histories (ENGINE-IO.md input).

The histories are plain dicts in the ENGINE-IO.md input format, so the same value can be fed to
`parse_history`, written to a file for the CLI, or mutated by the bad-input fuzzers.

What "realistic" means here (and what the property tests rely on):
- the licence was obtained between 1985 and 2025, on any route, sometimes with the formation
  complémentaire (6 to 12 months after the licence, R223-4-1) or as a regained licence;
- 0 to 12 events, each with a unique id; offences are committed on or after the licence date and
  after 1992-07-01 (no points before the points system), and become final 0 to 400 days later;
- offences name their points in one of the three ways of ENGINE-IO.md (points and class, speeding,
  NATINF of RULES.md §5), sometimes several at once in a simultaneous group;
- courses, cancellations of generated offences, suspensions, invalidation notices, surrenders, and
  now and then an annulment followed by a new licence; a surrender or a new licence that the law does not
  allow where it fell (no invalidation or annulment before it, the waiting period not over) is left out;
- sometimes a few options of the RULES.md defaults table with one of their documented values.

Events are generated around an "anchor" date so that they interact (windows that block each other,
courses within a year of each other, increments during probation).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

POINTS_START = date(1992, 7, 1)
FIRST_LICENCE = date(1985, 1, 1)
LAST_LICENCE = date(2025, 12, 31)
# Events are generated up to this date; evaluation dates may go a little further.
LAST_EVENT = date(2031, 12, 31)
LAST_EVALUATION = date(2035, 12, 31)

# (class, points) pairs that occur in the barème of RULES.md §5 (and its history): contraventions
# remove at most 6 points, a délit 6.
CLASS_POINTS: list[tuple[str, int]] = [
    ("C1", 1),
    ("C2", 3),
    ("C2", 2),
    ("C3", 1),
    ("C3", 0),
    ("C4", 0),
    ("C4", 1),
    ("C4", 2),
    ("C4", 3),
    ("C4", 4),
    ("C4", 6),
    ("C5", 6),
    ("D", 6),
    ("D", 0),
]

# NATINF codes of RULES.md §5. `NATINF_CODES` is narrowed to the ones the shipped barème knows and
# that are in force for any commission date in the generated range (see `_usable_natinf`).
NATINF_CANDIDATES: list[str] = [
    "35273",
    "35274",
    "25386",
    "25387",
    "11302",
    "11301",
    "21527",
    "21526",
    "210",
    "203",
    "6111",
    "207",
    "221",
    "202",
    "26959",
    "26960",
    "28031",
    "256",
    "11052",
    "23800",
    "12929",
    "12931",
    "32034",
    "32035",
    "11326",
    "11325",
    "6096",
    "23082",
    "22060",
    "11055",
    "217",
    "6109",
    "6292",
    "201",
    "13322",
    "31060",
    "31061",
    "25434",
    "1247",
    "41",
    "51",
    "23761",
    "22988",
    "23762",
    "29259",
    "8544",
    "29256",
    "5707",
    "7557",
    "22909",
]
# Codes with a documented start after 1992 (RULES.md §5): generated only on or after that date.
NATINF_FROM: dict[str, date] = {
    "32050": date(2017, 1, 1),
}

SPEED_LIMITS = [20, 30, 50, 70, 80, 90, 110, 130]

HOW = ["fine_paid", "majoree_title", "composition_penale", "conviction"]
COURSE_TYPES = ["voluntary", "mandatory", "judicial"]

# The options of the RULES.md "Engine defaults" table, each with its default first, then the
# other readings. Taken from the engine when it is there (permis.rules.model.OPTION_CHOICES).
OPTION_VALUES: dict[str, list[Any]] = {
    "withdrawal_date": ["decided_on", "final_on"],
    "lt5_basis": ["final_on", "committed_on"],
    "harsher_basis": ["committed_on", "final_on"],
    "strict_commit_blocking": [True, False],
    "probation_full_restoration": ["reading_a", "reading_b"],
    "increment_check": ["strict", "as_administered"],
    "one_point_simultaneous": ["each"],
    "ten_year_split": ["proportional"],
    "course_year": ["rolling_from_credit"],
    "course_before_48si": ["raw_balance"],
    "e_notice_deemed_after_days": [15, 0, 7, 30],
    "surrender_days": [10, 7],
    "letter_48m": ["at_or_below_6"],
    "start_1992": ["6_then_12"],
}
try:
    from permis.rules.model import OPTION_CHOICES
except ImportError:  # the engine is not written yet
    pass
else:
    for _name, _choices in OPTION_CHOICES.items():
        if isinstance(_choices, tuple):
            OPTION_VALUES[_name] = list(_choices)
        elif _name not in OPTION_VALUES:
            OPTION_VALUES[_name] = [0, 1, 10, 30]


def iso(d: date) -> str:
    return d.isoformat()


def days(n: int) -> timedelta:
    return timedelta(days=n)


def clamp(d: date, lo: date, hi: date) -> date:
    return max(lo, min(hi, d))


def _usable_natinf() -> list[str]:
    """The candidate codes that the engine's shipped barème accepts (all of them until it exists)."""
    try:
        from permis.rules import InputError, parse_history
    except ImportError:  # the engine is not written yet: keep the candidates
        return list(NATINF_CANDIDATES)
    usable = []
    for code in NATINF_CANDIDATES:
        ok = True
        for committed in (date(1992, 7, 1), date(2004, 6, 1), date(2025, 12, 31), LAST_EVENT):
            history = {
                "licence": {"obtained_on": "1980-01-01"},
                "events": [
                    {
                        "kind": "offence",
                        "id": "N",
                        "committed_on": iso(committed),
                        "final_on": iso(committed),
                        "natinf": code,
                    }
                ],
            }
            try:
                parse_history(history)
            except InputError:
                ok = False
                break
        if ok:
            usable.append(code)
    return usable


NATINF_CODES: list[str] = _usable_natinf()


@st.composite
def offence_amount(draw: st.DrawFn, committed_on: date) -> dict[str, Any]:
    """The points of an offence, in one of the three forms of ENGINE-IO.md."""
    forms = ["points", "speeding"] + (["natinf"] if NATINF_CODES else [])
    form = draw(st.sampled_from(forms))
    if form == "points":
        cls, points = draw(st.sampled_from(CLASS_POINTS))
        return {"points": points, "class": cls}
    if form == "speeding":
        limit = draw(st.sampled_from(SPEED_LIMITS))
        # Mostly small excesses, as in real life; sometimes 50 km/h or more.
        excess = draw(st.one_of(st.integers(1, 25), st.integers(1, 70)))
        return {"speeding": {"limit_kmh": limit, "retained_kmh": limit + excess}}
    code = draw(st.sampled_from(NATINF_CODES))
    start = NATINF_FROM.get(code)
    if start is not None and committed_on < start:
        cls, points = draw(st.sampled_from(CLASS_POINTS))
        return {"points": points, "class": cls}
    return {"natinf": code}


@st.composite
def offence_event(
    draw: st.DrawFn,
    eid: str,
    committed_on: date,
    *,
    final_on: date | None = None,
    group: str | None = None,
    amount: dict[str, Any] | None = None,
    decided: bool = True,
) -> dict[str, Any]:
    if final_on is None:
        delay = draw(st.one_of(st.integers(0, 60), st.integers(0, 400)))
        final_on = committed_on + days(delay)
    event: dict[str, Any] = {
        "kind": "offence",
        "id": eid,
        "committed_on": iso(committed_on),
        "final_on": iso(final_on),
    }
    event.update(amount if amount is not None else draw(offence_amount(committed_on)))
    if decided and draw(st.integers(0, 4)) == 0:
        event["decided_on"] = iso(final_on + days(draw(st.integers(0, 60))))
    if draw(st.booleans()):
        event["how"] = draw(st.sampled_from(HOW))
    if group is not None:
        event["simultaneous_group"] = group
    if draw(st.integers(0, 3)) == 0:
        event["recorded_on"] = iso(final_on + days(draw(st.integers(0, 30))))
    return event


@st.composite
def options(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(sorted(OPTION_VALUES)), max_size=4, unique=True))
    return {name: draw(st.sampled_from(OPTION_VALUES[name])) for name in names}


@st.composite
def licence(draw: st.DrawFn) -> dict[str, Any]:
    obtained = draw(st.dates(FIRST_LICENCE, LAST_LICENCE))
    lic: dict[str, Any] = {"obtained_on": iso(obtained)}
    route = draw(st.sampled_from([None, "traditional", "aac"]))
    if route is not None:
        lic["route"] = route
    regained = draw(st.integers(0, 9)) == 0
    if regained or draw(st.booleans()):
        lic["regained"] = regained
    if not regained and draw(st.integers(0, 3)) == 0:
        # R223-4-1: between the 6th and the 12th month after the licence.
        lic["complementary_training_on"] = iso(obtained + days(draw(st.integers(183, 365))))
    elif draw(st.booleans()):
        lic["complementary_training_on"] = None
    return lic


@st.composite
def histories(
    draw: st.DrawFn,
    *,
    max_events: int = 12,
    with_options: bool = True,
    with_lifecycle: bool = True,
) -> dict[str, Any]:
    """A realistic history: see the module docstring."""
    lic = draw(licence())
    obtained = date.fromisoformat(lic["obtained_on"])
    start = max(obtained, POINTS_START)
    # Most events cluster in a few years after an anchor, so that their windows interact.
    anchor_hi = max(start, LAST_EVENT - days(6 * 365))
    anchor = draw(st.dates(start, anchor_hi))

    def when(spread_days: int = 6 * 365) -> date:
        if draw(st.integers(0, 4)) == 0:
            return draw(st.dates(start, LAST_EVENT))
        return clamp(anchor + days(draw(st.integers(0, spread_days))), start, LAST_EVENT)

    n = draw(st.integers(0, max_events))
    events: list[dict[str, Any]] = []
    offences: list[dict[str, Any]] = []
    counters: dict[str, int] = {}

    def new_id(prefix: str) -> str:
        counters[prefix] = counters.get(prefix, 0) + 1
        return f"{prefix}{counters[prefix]}"

    kinds = ["offence"] * 6 + ["group", "course", "course", "cancel", "suspension", "invalidation"]
    if with_lifecycle:
        kinds += ["annulment", "ruin"]
    annulled = False
    while len(events) < n:
        kind = draw(st.sampled_from(kinds))
        if kind == "offence":
            ev = draw(offence_event(new_id("I"), when()))
            events.append(ev)
            offences.append(ev)
        elif kind == "group":
            # Several offences at one interception (same time and place), usually final together.
            committed = when()
            size = min(draw(st.integers(2, 4)), max(1, n - len(events)))
            group = new_id("G")
            final = committed + days(draw(st.integers(0, 120)))
            for _ in range(size):
                same_final = draw(st.integers(0, 4)) > 0
                ev = draw(
                    offence_event(new_id("I"), committed, final_on=final if same_final else None, group=group)
                )
                events.append(ev)
                offences.append(ev)
        elif kind == "course":
            first = when()
            length = draw(st.sampled_from([1, 1, 1, 0, 2]))
            ev = {
                "kind": "course",
                "id": new_id("S"),
                "first_day": iso(first),
                "last_day": iso(first + days(length)),
                "type": draw(st.sampled_from(COURSE_TYPES)),
            }
            events.append(ev)
        elif kind == "cancel":
            candidates = [o for o in offences if not any(e.get("offence") == o["id"] for e in events)]
            if not candidates:
                continue
            target = draw(st.sampled_from(candidates))
            on = date.fromisoformat(target["final_on"]) + days(draw(st.integers(0, 200)))
            events.append(
                {"kind": "offence_cancelled", "id": new_id("A"), "offence": target["id"], "on": iso(on)}
            )
        elif kind == "suspension":
            frm = when()
            events.append(
                {
                    "kind": "suspension",
                    "id": new_id("P"),
                    "from": iso(frm),
                    "to": iso(frm + days(draw(st.integers(0, 365)))),
                }
            )
        elif kind == "invalidation":
            on = when()
            events.append({"kind": "invalidation_notified", "id": new_id("V"), "on": iso(on)})
            if draw(st.booleans()):
                events.append(
                    {
                        "kind": "licence_surrendered",
                        "id": new_id("R"),
                        "on": iso(on + days(draw(st.integers(0, 15)))),
                    }
                )
        elif kind == "ruin":
            # Big withdrawals in a few months, then (often) the 48SI, the surrender and a new licence.
            committed = when()
            last_final = committed
            for _ in range(draw(st.integers(2, 3))):
                committed = committed + days(draw(st.integers(0, 120)))
                cls, points = draw(st.sampled_from([("C4", 4), ("C4", 6), ("D", 6), ("C5", 6)]))
                ev = draw(
                    offence_event(
                        new_id("I"),
                        clamp(committed, start, LAST_EVENT),
                        amount={"points": points, "class": cls},
                    )
                )
                events.append(ev)
                offences.append(ev)
                last_final = max(last_final, date.fromisoformat(ev.get("decided_on", ev["final_on"])))
            if draw(st.integers(0, 3)) > 0:
                notified = last_final + days(draw(st.integers(0, 120)))
                events.append({"kind": "invalidation_notified", "id": new_id("V"), "on": iso(notified)})
                surrendered = notified + days(draw(st.integers(0, 15)))
                events.append({"kind": "licence_surrendered", "id": new_id("R"), "on": iso(surrendered)})
                if draw(st.booleans()):
                    again = surrendered + days(draw(st.integers(183, 3 * 365)))
                    nl = {"kind": "new_licence", "id": new_id("L"), "obtained_on": iso(again)}
                    if draw(st.booleans()):
                        nl["route"] = draw(st.sampled_from(["traditional", "aac"]))
                    events.append(nl)
        elif kind == "annulment" and not annulled:
            annulled = True
            on = when()
            ev: dict[str, Any] = {"kind": "annulment", "id": new_id("N"), "on": iso(on)}
            ban_until = None
            if draw(st.booleans()):
                ban_until = on + days(draw(st.integers(0, 3 * 365)))
                ev["ban_until"] = iso(ban_until)
            events.append(ev)
            if draw(st.integers(0, 2)) > 0:
                after = max(on, ban_until or on) + days(draw(st.integers(1, 2 * 365)))
                nl: dict[str, Any] = {"kind": "new_licence", "id": new_id("L"), "obtained_on": iso(after)}
                if draw(st.booleans()):
                    nl["route"] = draw(st.sampled_from(["traditional", "aac"]))
                events.append(nl)
    # Input order is arbitrary (ENGINE-IO.md: "in any order").
    events = draw(st.permutations(events)) if events else []
    history: dict[str, Any] = {"licence": lic, "events": list(events)}
    if with_options and draw(st.integers(0, 3)) == 0:
        history["options"] = draw(options())
    return without_refused_decisions(history)


def without_refused_decisions(history: dict[str, Any]) -> dict[str, Any]:
    """The history without the surrenders and new licences the law does not allow where they fell (L223-5:
    a surrender or a new licence only after an invalidation or an annulment, a new licence only after the
    waiting period or the ban): the generator puts them around a total loss without knowing the balance."""
    from permis.rules import InputError, parse_history

    for _ in range(len(history["events"]) + 1):
        try:
            parse_history(history)
        except InputError as error:
            refused = set()
            for problem in error.problems:
                head = problem.split(": ", 1)[0]
                index = int(head[len("events[") : head.index("]")]) if head.startswith("events[") else None
                kind = history["events"][index]["kind"] if index is not None else None
                if kind not in ("licence_surrendered", "new_licence"):
                    raise  # the generator's own mistake: the property tests must see it
                refused.add(index)
            history = {**history, "events": [e for i, e in enumerate(history["events"]) if i not in refused]}
        else:
            return history
    raise AssertionError(f"no history left without refused decisions: {history}")


def evaluation_dates(history: dict[str, Any]) -> st.SearchStrategy[list[date]]:
    """A few evaluation dates from the day the licence carries points, with event dates and anniversaries.

    The engine refuses a date before the licence carries points (its obtention, or 1992-07-01).
    """
    obtained = max(date.fromisoformat(history["licence"]["obtained_on"]), POINTS_START)
    interesting: list[date] = [obtained]
    for ev in history["events"]:
        for key in ("committed_on", "final_on", "first_day", "last_day", "on", "obtained_on", "from"):
            if key in ev:
                d = date.fromisoformat(ev[key])
                for delta in (0, 1, 182, 183, 184, 365, 366, 730, 731, 1095, 1096, 3652, 3653):
                    if d + days(delta) <= LAST_EVALUATION:
                        interesting.append(d + days(delta))
    for years in (1, 2, 3):
        try:
            interesting.append(obtained.replace(year=obtained.year + years))
        except ValueError:  # 29 February
            interesting.append(obtained.replace(year=obtained.year + years, day=28))
    anywhere = st.dates(obtained, LAST_EVALUATION)
    one = st.one_of(anywhere, st.sampled_from(interesting)) if interesting else anywhere
    return st.lists(one, min_size=1, max_size=6)


@st.composite
def history_and_dates(draw: st.DrawFn, **kwargs: Any) -> tuple[dict[str, Any], list[date]]:
    history = draw(histories(**kwargs))
    return history, draw(evaluation_dates(history))


@st.composite
def extra_offence(draw: st.DrawFn, history: dict[str, Any]) -> dict[str, Any]:
    """One more offence for `history`, with a fresh id and points >= 0 (any of the three forms).

    Sometimes it joins a simultaneous group of the history (same commission date and group). It then takes
    effect on or after the day every other member of the group takes effect (whichever of decided_on or
    final_on the option withdrawal_date picks): a member that takes effect earlier can legitimately leave a
    higher balance when a course credits points between its withdrawal and a later member's, which the cap
    then cuts (see test_properties.py, test_a_course_between_the_withdrawals_of_a_capped_group...).
    """
    obtained = date.fromisoformat(history["licence"]["obtained_on"])
    start = max(obtained, POINTS_START)
    groups: dict[str, list[dict[str, Any]]] = {}
    for e in history["events"]:
        if e.get("kind") == "offence" and "simultaneous_group" in e:
            groups.setdefault(e["simultaneous_group"], []).append(e)
    used = {e.get("id") for e in history["events"]}
    eid = "EXTRA"
    while eid in used:
        eid += "X"
    if groups and draw(st.integers(0, 3)) == 0:
        group = draw(st.sampled_from(sorted(groups)))
        members = groups[group]
        committed = date.fromisoformat(members[0]["committed_on"])
        last = max(date.fromisoformat(m.get("decided_on", m["final_on"])) for m in members)
        final_on = last + days(draw(st.one_of(st.just(0), st.integers(0, 60))))
        return draw(offence_event(eid, committed, final_on=final_on, group=group, decided=False))
    committed = draw(st.dates(start, LAST_EVENT))
    return draw(offence_event(eid, committed))
