"""The engine's domain values: a licence's history in, an evaluation out.

Inputs are frozen dataclasses built by ``permis.rules.io.parse_history`` (or by the registry from its rows).
Outputs use NamedTuples for the many small records (movements, letters): they are immutable and cheap to make,
which matters when the registry re-evaluates millions of licences.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

ROUTES = ("traditional", "aac")
OFFENCE_CLASSES = ("C1", "C2", "C3", "C4", "C5", "D")
HOW = ("fine_paid", "majoree_title", "composition_penale", "conviction")
COURSE_TYPES = ("voluntary", "mandatory", "judicial")

# Classes that put a licence on the 3-year track (L223-6 al. 2): a délit or a 4th/5th-class contravention.
LONG_TRACK_CLASSES = frozenset({"C4", "C5", "D"})

VALID = "valid"
ZERO_BALANCE = "zero_balance"
INVALIDATED = "invalidated"
ANNULLED = "annulled"
STATUSES = (VALID, ZERO_BALANCE, INVALIDATED, ANNULLED)


_T = TypeVar("_T")


def quick_init(cls: type[_T]) -> type[_T]:
    """Give a frozen slots dataclass an ``__init__`` that sets each slot through its descriptor.

    The objects are the same (same class, same fields, same defaults, same signature); dataclasses' frozen
    ``__init__`` goes through ``object.__setattr__`` by name for every field, which made building an Offence
    cost several microseconds, a sizeable part of re-evaluating millions of stored histories. The dataclass's
    own ``__init__`` stays as ``_dataclass_init`` (tests/rules/test_model.py holds the two equal).
    """
    namespace: dict[str, Any] = {}
    params, body = [], []
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = item.name
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
        if item.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{name}: quick_init does not handle default factories")
        if item.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = item.default
        if not item.init:
            body.append(f"    _set_{name}(self, _default_{name})")
            continue
        params.append(name if item.default is dataclasses.MISSING else f"{name}=_default_{name}")
        body.append(f"    _set_{name}(self, {name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - built from the class's own field names, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls._dataclass_init = cls.__init__  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[misc]
    return cls


@dataclass(frozen=True, slots=True)
class Options:
    """The engine's readings of the uncertain points (RULES.md, "Engine defaults", binding)."""

    withdrawal_date: str = "decided_on"
    lt5_basis: str = "final_on"
    harsher_basis: str = "committed_on"
    strict_commit_blocking: bool = True
    probation_full_restoration: str = "reading_a"
    increment_check: str = "strict"
    one_point_simultaneous: str = "each"
    ten_year_split: str = "proportional"
    course_year: str = "rolling_from_credit"
    course_before_48si: str = "raw_balance"
    e_notice_deemed_after_days: int = 15
    surrender_days: int = 10
    letter_48m: str = "at_or_below_6"
    start_1992: str = "6_then_12"


# Allowed values of each option (an int option lists its type).
OPTION_CHOICES: dict[str, tuple[object, ...] | type] = {
    "withdrawal_date": ("decided_on", "final_on"),
    "lt5_basis": ("final_on", "committed_on"),
    "harsher_basis": ("committed_on", "final_on"),
    "strict_commit_blocking": (True, False),
    "probation_full_restoration": ("reading_a", "reading_b"),
    "increment_check": ("strict", "as_administered"),
    "one_point_simultaneous": ("each", "group"),
    "ten_year_split": ("proportional", "c1_c4_first"),
    "course_year": ("rolling_from_credit", "rolling_from_any"),
    "course_before_48si": ("raw_balance", "displayed_balance"),
    "e_notice_deemed_after_days": int,
    "surrender_days": int,
    "letter_48m": ("at_or_below_6", "never"),
    "start_1992": ("6_then_12", "12"),
}


@quick_init
@dataclass(frozen=True, slots=True)
class Licence:
    obtained_on: dt.date
    route: str = "traditional"
    complementary_training_on: dt.date | None = None
    regained: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class Offence:
    """A point-carrying offence, with its points and class already resolved from the barème."""

    id: str
    committed_on: dt.date
    final_on: dt.date
    points: int
    offence_class: str
    decided_on: dt.date | None = None
    how: str | None = None
    simultaneous_group: str | None = None
    recorded_on: dt.date | None = None
    label: str | None = None
    article: str | None = None
    natinf: str | None = None
    speeding: tuple[int, int] | None = None  # (limit_kmh, retained_kmh)
    kind: str = field(default="offence", init=False)


@quick_init
@dataclass(frozen=True, slots=True)
class OffenceCancelled:
    id: str
    offence: str
    on: dt.date
    recorded_on: dt.date | None = None
    kind: str = field(default="offence_cancelled", init=False)


@quick_init
@dataclass(frozen=True, slots=True)
class Course:
    id: str
    first_day: dt.date
    last_day: dt.date
    type: str = "voluntary"
    recorded_on: dt.date | None = None
    kind: str = field(default="course", init=False)


@quick_init
@dataclass(frozen=True, slots=True)
class InvalidationNotified:
    id: str
    on: dt.date
    recorded_on: dt.date | None = None
    kind: str = field(default="invalidation_notified", init=False)


@quick_init
@dataclass(frozen=True, slots=True)
class LicenceSurrendered:
    id: str
    on: dt.date
    recorded_on: dt.date | None = None
    kind: str = field(default="licence_surrendered", init=False)


@quick_init
@dataclass(frozen=True, slots=True)
class Annulment:
    id: str
    on: dt.date
    ban_until: dt.date | None = None
    recorded_on: dt.date | None = None
    kind: str = field(default="annulment", init=False)


@quick_init
@dataclass(frozen=True, slots=True)
class Suspension:
    id: str
    start: dt.date
    end: dt.date
    recorded_on: dt.date | None = None
    kind: str = field(default="suspension", init=False)


@quick_init
@dataclass(frozen=True, slots=True)
class NewLicence:
    id: str
    obtained_on: dt.date
    route: str = "traditional"
    recorded_on: dt.date | None = None
    kind: str = field(default="new_licence", init=False)


Event = (
    Offence
    | OffenceCancelled
    | Course
    | InvalidationNotified
    | LicenceSurrendered
    | Annulment
    | Suspension
    | NewLicence
)


@quick_init
@dataclass(frozen=True, slots=True)
class History:
    licence: Licence
    events: tuple[Event, ...] = ()
    options: Options = Options()

    def with_events(self, *extra: Event) -> History:
        """The same history with hypothetical events added: the basis of every what-if."""
        return History(self.licence, self.events + tuple(extra), self.options)

    def known_at(self, when: dt.date | None) -> History:
        """Only the events the registry knew on `when` (events without `recorded_on` count as known)."""
        if when is None:
            return self
        kept = tuple(e for e in self.events if e.recorded_on is None or e.recorded_on <= when)
        known_offences = {e.id for e in kept if isinstance(e, Offence)}
        kept = tuple(e for e in kept if not isinstance(e, OffenceCancelled) or e.offence in known_offences)
        return History(self.licence, kept, self.options)


class Movement(NamedTuple):
    """One change of the balance or the cap. `change` is the change of the signed (raw) balance."""

    on: dt.date
    change: int
    balance: int
    kind: str
    cause: str | None
    basis: str
    cap: int
    raw_balance: int
    status: str
    # What would cancel an upcoming change: ("commit_before", day), ("commit_or_final", window_end, due),
    # ("invalidated_first",) or ("cancelled",); None when nothing would.
    condition: tuple | None = None

    @property
    def unless(self) -> str | None:
        """The condition in the words of ENGINE-IO.md."""
        condition = self.condition
        if condition is None:
            return None
        code = condition[0]
        if code == "commit_before":
            return f"an offence committed before {condition[1].isoformat()}"
        if code == "commit_or_final":
            return (
                f"an offence committed before {condition[1].isoformat()}, "
                f"or one becoming final before {condition[2].isoformat()}"
            )
        if code == "invalidated_first":
            return "the licence being invalidated or annulled first"
        return "the offence being cancelled"


class Letter(NamedTuple):
    code: str
    on: dt.date
    cause: str | None


class Probation(NamedTuple):
    start: dt.date
    end: dt.date
    increments_open: bool


class Evaluation(NamedTuple):
    """The state of a licence on a date. Immutable; a NamedTuple because the registry makes millions of them."""

    on: dt.date
    balance: int
    raw_balance: int
    cap: int
    status: str
    suspended: bool
    probation: Probation | None
    movements: tuple[Movement, ...]
    upcoming: tuple[Movement, ...]
    letters: tuple[Letter, ...]
    next_creditable_course_from: dt.date | None
    # Facts beyond the CLI contract, for the explanation, the portal and the registry.
    licence_obtained_on: dt.date | None = None
    invalidated_on: dt.date | None = None
    surrender_due_by: dt.date | None = None
    new_licence_from: dt.date | None = None
    notes: tuple[str, ...] = ()
