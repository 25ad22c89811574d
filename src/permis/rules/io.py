"""The engine's JSON contract (ENGINE-IO.md): strict parsing of a history, and the evaluation as JSON.

Every problem found is reported, each on its own line, naming the event and the field (``events[3].final_on``)
and saying why, so that a person can fix the file without reading code.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from permis.rules import bareme
from permis.rules.engine import Timeline
from permis.rules.model import (
    ANNULLED,
    COURSE_TYPES,
    HOW,
    INVALIDATED,
    OFFENCE_CLASSES,
    OPTION_CHOICES,
    ROUTES,
    Annulment,
    Course,
    Evaluation,
    Event,
    History,
    InvalidationNotified,
    Licence,
    LicenceSurrendered,
    Movement,
    NewLicence,
    Offence,
    OffenceCancelled,
    Options,
    Suspension,
)
from permis.rules.parameters import parameter

SYSTEM_START = dt.date(1992, 7, 1)  # loi n° 89-469: the points system starts on 1 July 1992
# Exactly YYYY-MM-DD: Python's fromisoformat also takes week dates (2024-W28-3) and compact forms.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_MIN_YEAR, _MAX_YEAR = 1900, 2200


class InputError(ValueError):
    """The history is not valid input; `problems` lists every problem, one sentence each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


_EVENT_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # kind: (required fields, optional fields); `kind`, `id` and `recorded_on` are allowed everywhere
    "offence": (
        {"committed_on", "final_on"},
        {"decided_on", "how", "simultaneous_group", "points", "class", "speeding", "natinf"},
    ),
    "offence_cancelled": ({"offence", "on"}, set()),
    "course": ({"first_day", "last_day"}, {"type"}),
    "invalidation_notified": ({"on"}, set()),
    "licence_surrendered": ({"on"}, set()),
    "annulment": ({"on"}, {"ban_until"}),
    "suspension": ({"from", "to"}, set()),
    "new_licence": ({"obtained_on"}, {"route"}),
}
_COMMON_FIELDS = {"kind", "id", "recorded_on"}
_LICENCE_FIELDS = {"obtained_on", "route", "complementary_training_on", "regained"}


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")

    def date(self, data: Mapping[str, Any], key: str, path: str, required: bool) -> dt.date | None:
        if key not in data or data[key] is None:
            if required:
                self.add(f"{path}.{key}", "missing (a date YYYY-MM-DD is required)")
            return None
        return self.parse_date(data[key], f"{path}.{key}")

    def parse_date(self, value: Any, path: str) -> dt.date | None:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            parsed = value
        elif isinstance(value, str) and _DATE.fullmatch(value):
            try:
                parsed = dt.date.fromisoformat(value)
            except ValueError:
                self.add(path, f"{value!r} is not a valid date (expected YYYY-MM-DD)")
                return None
        else:
            self.add(path, f"{value!r} is not a date (expected a string YYYY-MM-DD)")
            return None
        if not _MIN_YEAR <= parsed.year <= _MAX_YEAR:
            self.add(path, f"{parsed.isoformat()} is out of range ({_MIN_YEAR} to {_MAX_YEAR})")
            return None
        return parsed

    def choice(
        self, data: Mapping[str, Any], key: str, path: str, choices: tuple[str, ...], default: Any
    ) -> Any:
        value = data.get(key, default)
        if value is None:
            return default
        if value not in choices:
            self.add(f"{path}.{key}", f"{value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def fields(self, data: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                self.add(f"{path}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_options(data: Any, problems: _Problems) -> Options:
    if data is None:
        return Options()
    if not isinstance(data, Mapping):
        problems.add("options", "must be an object")
        return Options()
    values: dict[str, Any] = {}
    for key, value in data.items():
        choices = OPTION_CHOICES.get(key)
        if choices is None:
            problems.add(f"options.{key}", f"unknown option (known: {', '.join(OPTION_CHOICES)})")
        elif choices is int:
            if not _is_int(value) or not 0 <= value <= 365:
                problems.add(f"options.{key}", f"{value!r} must be a whole number of days from 0 to 365")
            else:
                values[key] = value
        elif value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            shown = ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in choices)
            problems.add(f"options.{key}", f"{value!r} is not one of {shown}")
        else:
            values[key] = value
    return Options(**values)


def parse_licence(data: Any, problems: _Problems) -> Licence | None:
    if not isinstance(data, Mapping):
        problems.add("licence", "missing or not an object (it needs at least obtained_on)")
        return None
    problems.fields(data, "licence", _LICENCE_FIELDS)
    obtained_on = problems.date(data, "obtained_on", "licence", required=True)
    route = problems.choice(data, "route", "licence", ROUTES, "traditional")
    training = problems.date(data, "complementary_training_on", "licence", required=False)
    regained = data.get("regained", False)
    if regained is None:
        regained = False
    if not isinstance(regained, bool):
        problems.add("licence.regained", f"{regained!r} must be true or false")
        regained = False
    if obtained_on is None:
        return None
    if training is not None and training < obtained_on:
        problems.add(
            "licence.complementary_training_on",
            f"{training.isoformat()} is before the licence was obtained ({obtained_on.isoformat()})",
        )
    return Licence(obtained_on, route, training, regained)


def _offence(
    data: Mapping[str, Any],
    path: str,
    ident: str,
    recorded_on: dt.date | None,
    options: Options,
    licence: Licence | None,
    problems: _Problems,
) -> Offence | None:
    committed_on = problems.date(data, "committed_on", path, required=True)
    final_on = problems.date(data, "final_on", path, required=True)
    decided_on = problems.date(data, "decided_on", path, required=False)
    how = problems.choice(data, "how", path, HOW, None)
    group = data.get("simultaneous_group")
    if (group is not None and not isinstance(group, str | int)) or isinstance(group, bool):
        problems.add(f"{path}.simultaneous_group", f"{group!r} must be a string")
        group = None
    ways = [key for key in ("points", "speeding", "natinf") if key in data]
    if "class" in data and "points" not in data:
        problems.add(f"{path}.class", "given without points (class goes with points)")
    ok = True
    if len(ways) > 1:
        problems.add(
            f"{path}.{ways[1]}", f"give only one of points, speeding or natinf (found {', '.join(ways)})"
        )
        ok = False
    if not ways:
        problems.add(path, "an offence needs points and class, or speeding, or natinf")
        ok = False
    if committed_on is None or final_on is None:
        return None
    if final_on < committed_on:
        problems.add(
            f"{path}.final_on",
            f"{final_on.isoformat()} is before committed_on {committed_on.isoformat()}: an offence becomes final "
            "after it is committed",
        )
        ok = False
    if decided_on is not None and decided_on < final_on:
        problems.add(
            f"{path}.decided_on",
            f"{decided_on.isoformat()} is before final_on {final_on.isoformat()}: the ministry records a "
            "withdrawal once the offence is final",
        )
        ok = False
    if committed_on < SYSTEM_START:
        problems.add(
            f"{path}.committed_on",
            f"{committed_on.isoformat()} is before 1992-07-01, when the points system started",
        )
        ok = False
    elif licence is not None and committed_on < licence.obtained_on:
        problems.add(
            f"{path}.committed_on",
            f"{committed_on.isoformat()} is before the licence was obtained ({licence.obtained_on.isoformat()})",
        )
        ok = False
    if len(ways) != 1:  # told above: which of the ways is meant is unknown
        return None
    # The way's own fields are checked even when the dates are wrong (one line per problem, ENGINE-IO.md); what
    # needs right dates (the law's maximum on the day, the barème's answer) only when everything before is right.
    way = ways[0]
    label = article = natinf = None
    speeding = None
    if way == "points":
        points, offence_class = data["points"], data.get("class")
        if not _is_int(points) or not 0 <= points <= 12:
            problems.add(f"{path}.points", f"{points!r} must be a whole number from 0 to 12")
            ok = False
        if offence_class not in OFFENCE_CLASSES:
            problems.add(f"{path}.class", f"{offence_class!r} must be one of {', '.join(OFFENCE_CLASSES)}")
            ok = False
        if ok:
            limits = parameter("withdrawal.max_points").at(committed_on)
            limit = limits["delit"] if offence_class == "D" else limits["contravention"]
            if points > limit:
                kind = "a délit" if offence_class == "D" else "a contravention"
                problems.add(
                    f"{path}.points",
                    f"{points} is more than {kind} can remove on {committed_on.isoformat()} ({limit}, "
                    "Code de la route, art. L223-2)",
                )
                ok = False
    elif way == "speeding":
        value = data["speeding"]
        if not isinstance(value, Mapping):
            problems.add(f"{path}.speeding", "must be an object with limit_kmh and retained_kmh")
            return None
        problems.fields(value, f"{path}.speeding", {"limit_kmh", "retained_kmh"})
        limit_kmh, retained = value.get("limit_kmh"), value.get("retained_kmh")
        numbers = True
        for key, number in (("limit_kmh", limit_kmh), ("retained_kmh", retained)):
            if not _is_int(number) or not 1 <= number <= 500:
                problems.add(
                    f"{path}.speeding.{key}", f"{number!r} must be a whole number of km/h from 1 to 500"
                )
                ok = numbers = False
        if numbers and retained <= limit_kmh:
            problems.add(
                f"{path}.speeding.retained_kmh",
                f"{retained} km/h does not exceed the limit of {limit_kmh} km/h: no offence",
            )
            ok = False
        if ok:
            resolved = bareme.resolve_speeding(
                limit_kmh, retained, committed_on, final_on, options.lt5_basis, options.harsher_basis
            )
            points, offence_class = resolved.points, resolved.offence_class
            label, article, speeding = resolved.label, resolved.article, (limit_kmh, retained)
    else:
        code = data["natinf"]
        if _is_int(code):
            code = str(code)
        if not isinstance(code, str) or not code.strip():
            problems.add(f"{path}.natinf", f"{code!r} must be a NATINF code (a string of digits)")
            return None
        if ok:
            try:
                resolved = bareme.resolve_natinf(
                    code.strip(), committed_on, final_on, options.lt5_basis, options.harsher_basis
                )
            except bareme.UnknownNatinf as error:
                problems.add(f"{path}.natinf", str(error))
                return None
            points, offence_class = resolved.points, resolved.offence_class
            label, article, natinf = resolved.label, resolved.article, code.strip()
    if not ok:
        return None
    return Offence(
        ident,
        committed_on,
        final_on,
        points,
        offence_class,
        decided_on,
        how,
        None if group is None else str(group),
        recorded_on,
        label,
        article,
        natinf,
        speeding,
    )


def _event(
    data: Any, index: int, options: Options, licence: Licence | None, problems: _Problems
) -> Event | None:
    path = f"events[{index}]"
    if not isinstance(data, Mapping):
        problems.add(path, "must be an object with a kind")
        return None
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _EVENT_FIELDS:
        problems.add(f"{path}.kind", f"{kind!r} is not a known kind ({', '.join(_EVENT_FIELDS)})")
        return None
    required, optional = _EVENT_FIELDS[kind]
    problems.fields(data, path, required | optional | _COMMON_FIELDS)
    ident = data.get("id")
    if ident is None:
        ident = path
    elif _is_int(ident):
        ident = str(ident)
    elif not isinstance(ident, str) or not ident.strip():
        problems.add(f"{path}.id", f"{ident!r} must be a non-empty string")
        ident = path
    recorded_on = problems.date(data, "recorded_on", path, required=False)
    d = problems.date
    if kind == "offence":
        return _offence(data, path, ident, recorded_on, options, licence, problems)
    if kind == "offence_cancelled":
        on = d(data, "on", path, True)
        target = data.get("offence")
        if not isinstance(target, str | int) or isinstance(target, bool) or target == "":
            problems.add(f"{path}.offence", f"{target!r} must be the id of an offence event")
            return None
        return None if on is None else OffenceCancelled(ident, str(target), on, recorded_on)
    if kind == "course":
        first, last = d(data, "first_day", path, True), d(data, "last_day", path, True)
        course_type = problems.choice(data, "type", path, COURSE_TYPES, "voluntary")
        if first is None or last is None:
            return None
        if last < first:
            problems.add(f"{path}.last_day", f"{last.isoformat()} is before first_day {first.isoformat()}")
            return None
        if first < SYSTEM_START:
            problems.add(
                f"{path}.first_day",
                f"{first.isoformat()} is before 1992-07-01, when the points system started",
            )
            return None
        if licence is not None and first < licence.obtained_on:
            problems.add(
                f"{path}.first_day",
                f"{first.isoformat()} is before the licence was obtained ({licence.obtained_on.isoformat()})",
            )
            return None
        return Course(ident, first, last, course_type, recorded_on)
    if kind == "suspension":
        start, end = d(data, "from", path, True), d(data, "to", path, True)
        if start is None or end is None:
            return None
        if end < start:
            problems.add(f"{path}.to", f"{end.isoformat()} is before from {start.isoformat()}")
            return None
        return Suspension(ident, start, end, recorded_on)
    if kind == "annulment":
        on, ban = d(data, "on", path, True), d(data, "ban_until", path, False)
        if on is None:
            return None
        if ban is not None and ban < on:
            problems.add(f"{path}.ban_until", f"{ban.isoformat()} is before the annulment ({on.isoformat()})")
            return None
        return Annulment(ident, on, ban, recorded_on)
    if kind == "new_licence":
        obtained = d(data, "obtained_on", path, True)
        route = problems.choice(data, "route", path, ROUTES, "traditional")
        if obtained is None:
            return None
        if obtained < SYSTEM_START:
            problems.add(
                f"{path}.obtained_on",
                f"{obtained.isoformat()} is before 1992-07-01, when the points system started",
            )
            return None
        if licence is not None and obtained <= licence.obtained_on:
            problems.add(
                f"{path}.obtained_on",
                f"{obtained.isoformat()} is not after the first licence ({licence.obtained_on.isoformat()})",
            )
            return None
        return NewLicence(ident, obtained, route, recorded_on)
    on = d(data, "on", path, True)
    if on is None:
        return None
    if licence is not None and on < licence.obtained_on:
        problems.add(f"{path}.on", f"{on.isoformat()} is before the licence was obtained")
        return None
    maker: Callable[..., Event] = (
        InvalidationNotified if kind == "invalidation_notified" else LicenceSurrendered
    )
    return maker(ident, on, recorded_on)


def parse_history(data: Any, *, trusted: int = 0) -> History:
    """Build a History from ENGINE-IO.md's input, or raise InputError listing every problem.

    `trusted`: how many of the first events were already checked, within this same history, by an earlier call
    (a registry appending records to a history it stored after checking it): they are built without their
    checks (`trusted_history`), the others are checked as usual, against them too.
    """
    problems = _Problems()
    if not isinstance(data, Mapping):
        raise InputError(["(document): must be a JSON object with licence, events and options"])
    problems.fields(data, "(document)", {"licence", "events", "options"})
    options = parse_options(data.get("options"), problems)
    licence = parse_licence(data.get("licence"), problems)
    raw_events = data.get("events", [])
    if raw_events is None:
        raw_events = []
    if not isinstance(raw_events, list):
        problems.add("events", "must be a list of events")
        raw_events = []
    events: list[Event] = []
    parsed: dict[int, Event] = {}
    seen: dict[str, int] = {}
    for index, item in enumerate(raw_events):
        if isinstance(item, Mapping) and "id" in item:
            key = str(item["id"]) if isinstance(item["id"], str | int) else None
            if key is not None:
                if key in seen:
                    problems.add(f"events[{index}].id", f"{key!r} is already used by events[{seen[key]}]")
                else:
                    seen[key] = index
        if index < trusted:
            event = _trusted_event(item, index, options)
        else:
            event = _event(item, index, options, licence, problems)
        if event is not None:
            events.append(event)
            parsed[index] = event
    offences = {e.id: e for e in events if isinstance(e, Offence)}
    offence_ids_in_input = {
        str(item.get("id"))
        for item in raw_events
        if isinstance(item, Mapping) and item.get("kind") == "offence"
    }
    cancelled: dict[str, int] = {}
    for index, item in enumerate(raw_events):
        if not isinstance(item, Mapping) or item.get("kind") != "offence_cancelled":
            continue
        if index < trusted:  # checked before; its target counts as cancelled for the others
            cancelled[str(item["offence"])] = index
            continue
        target = item.get("offence")
        if not isinstance(target, str | int) or isinstance(target, bool):
            continue
        target = str(target)
        path = f"events[{index}].offence"
        if target not in offence_ids_in_input:
            problems.add(path, f"{target!r} is not the id of an offence in this history")
        elif target in cancelled:
            problems.add(path, f"{target!r} is already cancelled by events[{cancelled[target]}]")
        else:
            cancelled[target] = index
            offence = offences.get(target)
            event = parsed.get(index)
            if offence is not None and event is not None and event.on < offence.final_on:
                problems.add(
                    f"events[{index}].on",
                    f"{event.on.isoformat()} is before the offence became final ({offence.final_on.isoformat()})",
                )
    if not problems.items and licence is not None:
        # What the law requires before a surrender or a new licence depends on the licence's state on that day:
        # the engine's own answer, for a history otherwise valid.
        _preconditions(licence, parsed, options, trusted, problems)
    if problems.items or licence is None:
        raise InputError(problems.items or ["licence: missing"])
    return History(licence, tuple(events), options)


# -- the law's preconditions -------------------------------------------------------------------------------------
# A surrender and a new licence are decisions that only follow an invalidation or an annulment, and a new licence
# only after the waiting period or the ban (L223-5). Each is checked against what was known when it was recorded
# (the events recorded on or before its `recorded_on`; all of them without one), like `--known-at`: a decision
# lawful when it was taken stays readable when a later record (a cancelled offence, a corrected 48SI) changes its
# past. Only the events not `trusted` are checked: a history stored before these checks stays readable.
def _state_on(licence: Licence, events: list[Event], options: Options, on: dt.date) -> Evaluation | None:
    """The engine's evaluation of these events on `on`; None before the licence carries points."""
    try:
        return Timeline(History(licence, tuple(events), options)).at(on)
    except ValueError:
        return None


def _day_of(event: Event) -> dt.date:
    """The day that puts an event in the life of one licence or the next (as the engine's replay does)."""
    if isinstance(event, Offence):
        return event.committed_on
    if isinstance(event, Course):
        return event.first_day
    if isinstance(event, Suspension):
        return event.start
    if isinstance(event, NewLicence):
        return event.obtained_on
    return event.on


def _preconditions(
    licence: Licence, parsed: Mapping[int, Event], options: Options, trusted: int, problems: _Problems
) -> None:
    for index, event in parsed.items():
        if index < trusted or not isinstance(event, NewLicence | LicenceSurrendered):
            continue
        recorded = event.recorded_on
        known = {
            i: e
            for i, e in parsed.items()
            if recorded is None or e.recorded_on is None or e.recorded_on <= recorded
        }
        path = f"events[{index}]"
        if isinstance(event, LicenceSurrendered):
            _surrender_problem(licence, known, options, index, event, path, problems)
        else:
            _new_licence_problem(licence, known, options, index, event, path, problems)


def _surrender_problem(
    licence: Licence,
    parsed: Mapping[int, Event],
    options: Options,
    index: int,
    event: LicenceSurrendered,
    path: str,
    problems: _Problems,
) -> None:
    day = event.on
    starts = sorted(e.obtained_on for e in parsed.values() if isinstance(e, NewLicence))
    epoch = bisect.bisect_right(starts, day)  # which licence of the holder the surrender is of
    for other_index, other in parsed.items():
        if (
            other_index < index
            and isinstance(other, LicenceSurrendered)
            and bisect.bisect_right(starts, other.on) == epoch
        ):
            problems.add(
                f"{path}.on", f"the licence is already surrendered on {other.on.isoformat()} ({other.id})"
            )
            return
    others = [e for i, e in parsed.items() if i != index]
    state = _state_on(licence, others, options, day)
    if state is None or state.status not in (INVALIDATED, ANNULLED):
        problems.add(
            f"{path}.on",
            f"the licence is neither invalidated (48SI notified) nor annulled on {day.isoformat()}: only such a "
            "licence is surrendered to the préfet (Code de la route, art. L223-5)",
        )


def _new_licence_problem(
    licence: Licence,
    parsed: Mapping[int, Event],
    options: Options,
    index: int,
    event: NewLicence,
    path: str,
    problems: _Problems,
) -> None:
    day = event.obtained_on
    field = f"{path}.obtained_on"
    new_licences = [(i, e) for i, e in parsed.items() if isinstance(e, NewLicence) and i != index]
    for other_index, other in new_licences:
        if other_index < index and other.obtained_on == day:
            problems.add(
                field, f"a new licence obtained on {day.isoformat()} is already recorded ({other.id})"
            )
            return
    recorded = event.recorded_on
    for _, other in new_licences:
        # A licence recorded on an earlier day was checked without this one: this one cannot come before it.
        if (
            recorded is not None
            and other.recorded_on is not None
            and other.recorded_on < recorded
            and other.obtained_on > day
        ):
            problems.add(
                field,
                f"{day.isoformat()} is before the new licence obtained on {other.obtained_on.isoformat()} "
                f"({other.id}): a new licence is recorded after the ones before it",
            )
            return
    # The licence in force the day before: what happens from `day` on is the new licence's (later surrenders
    # and 48SI included), and the engine keeps one surrender per licence.
    before = [e for i, e in parsed.items() if i != index and _day_of(e) < day]
    kept = {e.id for e in before if isinstance(e, Offence)}
    before += [  # a later cancellation of an offence of that licence changes its past (no window blocked)
        e for e in parsed.values() if isinstance(e, OffenceCancelled) and e.on >= day and e.offence in kept
    ]
    state = _state_on(licence, before, options, day - dt.timedelta(days=1))
    if state is None or state.status not in (INVALIDATED, ANNULLED):
        problems.add(
            field,
            f"the licence is neither invalidated (48SI notified) nor annulled before {day.isoformat()}: a new "
            "licence follows an invalidation or an annulment (Code de la route, art. L223-5)",
        )
        return
    if state.status == INVALIDATED and state.new_licence_from is None:
        problems.add(
            field,
            f"{day.isoformat()} is before any surrender of the licence invalidated on "
            f"{_iso(state.invalidated_on)}: the waiting period runs from the surrender (Code de la route, "
            "art. L223-5 II)",
        )
        return
    allowed = state.new_licence_from
    if allowed is None or day >= allowed:
        return
    annulment = next(
        (
            e
            for e in before
            if isinstance(e, Annulment) and e.ban_until == allowed and e.on <= day - dt.timedelta(days=1)
        ),
        None,
    )
    if state.status == ANNULLED and annulment is not None:
        problems.add(
            field,
            f"{day.isoformat()} is before {allowed.isoformat()}, the end of the ban on a new licence ordered "
            f"with the annulment of {annulment.on.isoformat()} ({annulment.id})",
        )
    else:
        problems.add(
            field,
            f"{day.isoformat()} is before {allowed.isoformat()}, the end of the waiting period after the "
            "surrender of the invalidated licence (6 months, 1 year after a second total loss of points within "
            "5 years: Code de la route, art. L223-5 II)",
        )


# -- the trusted path --------------------------------------------------------------------------------------------
# A history the registry stored was checked by `parse_history` when each of its events was written, and nothing
# the checks depend on (the licence, the shipped barème and parameters) changes afterwards. Re-evaluating it
# (the daily run, `permis verify`, a replay) needs the same objects, not the checks again: these functions build
# them straight from the document, as `parse_history` would for a valid one (a property test holds them equal).
# Never for outside input: a document that `parse_history` would refuse gives a wrong result or an exception.
_DAYS: dict[
    Any, dt.date
] = {}  # "YYYY-MM-DD" (or a date) -> the date: a file has a few tens of thousands of days


def _new_day(value: Any) -> dt.date:
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    if len(_DAYS) < 200_000:
        _DAYS[value] = day
    return day


def _day(value: Any) -> dt.date:
    day = _DAYS.get(value)
    return _new_day(value) if day is None else day


def _day_or_none(value: Any) -> dt.date | None:
    if value is None:
        return None
    day = _DAYS.get(value)
    return _new_day(value) if day is None else day


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _trusted_offence(
    data: Mapping[str, Any], ident: str, recorded_on: dt.date | None, options: Options
) -> Offence:
    days = _DAYS
    committed_on = days.get(data["committed_on"]) or _new_day(data["committed_on"])
    final_on = days.get(data["final_on"]) or _new_day(data["final_on"])
    group = data.get("simultaneous_group")
    label = article = natinf = speeding = None
    if "points" in data:
        points, offence_class = data["points"], data.get("class")
    elif "speeding" in data:
        value = data["speeding"]
        limit_kmh, retained = value["limit_kmh"], value["retained_kmh"]
        resolved = bareme.resolve_speeding(
            limit_kmh, retained, committed_on, final_on, options.lt5_basis, options.harsher_basis
        )
        points, offence_class = resolved.points, resolved.offence_class
        label, article, speeding = resolved.label, resolved.article, (limit_kmh, retained)
    else:
        code = data["natinf"]
        natinf = (str(code) if _is_int(code) else code).strip()
        resolved = bareme.resolve_natinf(
            natinf, committed_on, final_on, options.lt5_basis, options.harsher_basis
        )
        points, offence_class = resolved.points, resolved.offence_class
        label, article = resolved.label, resolved.article
    return Offence(
        ident,
        committed_on,
        final_on,
        points,
        offence_class,
        _day_or_none(data.get("decided_on")),
        data.get("how"),
        None if group is None else str(group),
        recorded_on,
        label,
        article,
        natinf,
        speeding,
    )


def _trusted_event(data: Mapping[str, Any], index: int, options: Options) -> Event:
    kind = data["kind"]
    ident = data.get("id")
    if ident is None:
        ident = f"events[{index}]"
    elif not isinstance(ident, str):
        ident = str(ident)
    recorded = data.get("recorded_on")
    recorded_on = None if recorded is None else (_DAYS.get(recorded) or _new_day(recorded))
    return _trusted_event_of(kind, ident, data, recorded_on, index, options)


def _trusted_event_of(
    kind: str, ident: str, data: Mapping[str, Any], recorded_on: dt.date | None, index: int, options: Options
) -> Event:
    """An event from its kind, its id, its fields (`data`, where only the kind's own fields are read) and the
    day it was recorded."""
    if kind == "offence":
        return _trusted_offence(data, ident, recorded_on, options)
    if kind == "course":
        return Course(
            ident,
            _day(data["first_day"]),
            _day(data["last_day"]),
            _or(data.get("type"), "voluntary"),
            recorded_on,
        )
    if kind == "offence_cancelled":
        return OffenceCancelled(ident, str(data["offence"]), _day(data["on"]), recorded_on)
    if kind == "suspension":
        return Suspension(ident, _day(data["from"]), _day(data["to"]), recorded_on)
    if kind == "annulment":
        return Annulment(ident, _day(data["on"]), _day_or_none(data.get("ban_until")), recorded_on)
    if kind == "new_licence":
        return NewLicence(
            ident, _day(data["obtained_on"]), _or(data.get("route"), "traditional"), recorded_on
        )
    if kind == "invalidation_notified":
        return InvalidationNotified(ident, _day(data["on"]), recorded_on)
    if kind == "licence_surrendered":
        return LicenceSurrendered(ident, _day(data["on"]), recorded_on)
    raise ValueError(f"events[{index}].kind: {kind!r} is not a known kind")


_DEFAULT_OPTIONS = Options()


def trusted_history(data: Mapping[str, Any]) -> History:
    """The History of a document that `parse_history` accepted before (stored by the registry), without the
    checks: the same History `parse_history` returns for it, several times cheaper. Not for outside input."""
    licence = data["licence"]
    options = data.get("options")
    options = _DEFAULT_OPTIONS if not options else Options(**options)
    events = data.get("events")
    return History(
        Licence(
            _day(licence["obtained_on"]),
            _or(licence.get("route"), "traditional"),
            _day_or_none(licence.get("complementary_training_on")),
            _or(licence.get("regained"), False),
        ),
        tuple(_trusted_event(item, index, options) for index, item in enumerate(events)) if events else (),
        options,
    )


def trusted_stored_history(
    obtained_on: dt.date,
    route: str | None,
    complementary_training_on: dt.date | None,
    regained: bool | None,
    events: Iterable[tuple[str, str, Mapping[str, Any], dt.date | None]],
) -> History:
    """`trusted_history` of a stored document given as its parts, without building the document: the licence's
    fields, and each event as (kind, id, its own fields, the day it was recorded), which stand for the document

        {"licence": {"obtained_on": ..., "route": ..., "complementary_training_on": ..., "regained": ...},
         "events": [{"kind": kind, "id": id, **fields, "recorded_on": day}, ...]}

    (dates as ISO strings, default options): the same History. Fields holding "kind" or "id", which would
    replace the given ones in that document, are refused (ValueError): build the document instead. Not for
    outside input, like `trusted_history`; tests/rules/test_trusted.py holds the two equal."""
    options = _DEFAULT_OPTIONS
    built = []
    for index, (kind, ident, data, recorded_on) in enumerate(events):
        if "kind" in data or "id" in data:
            raise ValueError(f"events[{index}]: its fields name a kind or an id of their own")
        built.append(_trusted_event_of(kind, ident, data, recorded_on, index, options))
    return History(
        Licence(
            _day(obtained_on),
            _or(route, "traditional"),
            _day_or_none(complementary_training_on),
            _or(regained, False),
        ),
        tuple(built),
        options,
    )


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def movement_to_json(movement: Movement, upcoming: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "on": movement.on.isoformat(),
        "change": movement.change,
        "balance": movement.balance,
        "kind": movement.kind,
        "cause": movement.cause,
        "basis": movement.basis,
    }
    if upcoming:
        out["unless"] = movement.unless
    return out


def evaluation_to_json(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation in ENGINE-IO.md's output shape."""
    probation = evaluation.probation
    return {
        "on": evaluation.on.isoformat(),
        "balance": evaluation.balance,
        "raw_balance": evaluation.raw_balance,
        "cap": evaluation.cap,
        "status": evaluation.status,
        "suspended": evaluation.suspended,
        "probation": None
        if probation is None
        else {
            "start": probation.start.isoformat(),
            "end": probation.end.isoformat(),
            "increments_open": probation.increments_open,
        },
        "movements": [movement_to_json(m) for m in evaluation.movements],
        "upcoming": [movement_to_json(m, upcoming=True) for m in evaluation.upcoming],
        "letters": [
            {"code": letter.code, "on": letter.on.isoformat(), "cause": letter.cause}
            for letter in evaluation.letters
        ],
        "next_creditable_course_from": _iso(evaluation.next_creditable_course_from),
    }
