"""The barème: how many points an offence removes, and in which class it falls (RULES.md §5).

Two ways in: a NATINF code of the shipped table, or a speeding excess computed from the limit and the retained
speed by the bands of R413-14 (parameters/speeding/bands.yaml). Harsher versions apply to offences committed
from their date (`harsher_basis`); the 2024 "<5 km/h = 0 point" rule, a milder change, applies by the date
chosen by `lt5_basis` (RULES.md §4.6).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from permis.rules.model import OFFENCE_CLASSES, Offence
from permis.rules.parameters import ParameterError, as_date, load_yaml, parameter

ROOT = Path(__file__).parent

_ENTRY_KEYS = {"key", "label", "label_en", "article", "natinf", "versions", "lt5"}
_REQUIRED_KEYS = _ENTRY_KEYS - {"lt5"}
_VERSION_KEYS = {"from", "class", "points", "article", "reference"}


class UnknownNatinf(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Version:
    start: dt.date
    offence_class: str
    points: int
    article: str
    reference: str | None


@dataclass(frozen=True, slots=True)
class OffenceType:
    key: str
    label: str  # the French legal wording, the reference
    label_en: str  # its English translation, for the pages in English
    article: str
    natinf: tuple[str, ...]
    versions: tuple[Version, ...]
    lt5: bool

    def version(self, on: dt.date) -> Version | None:
        found = None
        for version in self.versions:
            if version.start <= on:
                found = version
        return found


@dataclass(frozen=True, slots=True)
class Resolved:
    points: int
    offence_class: str
    label: str
    article: str


@lru_cache(maxsize=1)
def offence_types() -> Mapping[str, OffenceType]:
    """Every offence type of the barème, by NATINF code."""
    data = load_yaml(ROOT / "offences.yaml")
    by_natinf: dict[str, OffenceType] = {}
    for index, entry in enumerate(data["offences"]):
        where = f"bareme/offences.yaml: offences[{index}]"
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            raise ParameterError(f"{where}: unknown keys {sorted(unknown)}")
        missing = _REQUIRED_KEYS - set(entry)
        if missing:
            raise ParameterError(f"{where}: missing keys {sorted(missing)}")
        versions = []
        for v_index, item in enumerate(entry["versions"]):
            v_where = f"{where}.versions[{v_index}]"
            unknown = set(item) - _VERSION_KEYS
            if unknown:
                raise ParameterError(f"{v_where}: unknown keys {sorted(unknown)}")
            if item["class"] not in OFFENCE_CLASSES:
                raise ParameterError(f"{v_where}: unknown class {item['class']!r}")
            versions.append(
                Version(
                    as_date(item["from"], v_where),
                    item["class"],
                    int(item["points"]),
                    str(item.get("article", entry["article"])),
                    item.get("reference"),
                )
            )
        versions.sort(key=lambda v: v.start)
        kind = OffenceType(
            entry["key"],
            str(entry["label"]),
            str(entry["label_en"]),
            str(entry["article"]),
            tuple(str(code) for code in entry["natinf"]),
            tuple(versions),
            bool(entry.get("lt5", False)),
        )
        for code in kind.natinf:
            if code in by_natinf:
                raise ParameterError(f"{where}: NATINF {code} is listed twice")
            by_natinf[code] = kind
    return by_natinf


def lt5_rule_applies(committed_on: dt.date, final_on: dt.date, basis: str) -> bool:
    """Whether the 2024 rule (a retained excess under 5 km/h removes no point) applies to this offence."""
    return bool(parameter("speeding.lt5_zero_points").at(final_on if basis == "final_on" else committed_on))


def resolve_natinf(
    code: str, committed_on: dt.date, final_on: dt.date, lt5_basis: str, harsher_basis: str
) -> Resolved:
    kind = offence_types().get(code)
    if kind is None:
        raise UnknownNatinf(f"unknown NATINF {code!r} (not in the shipped barème)")
    version = kind.version(committed_on if harsher_basis == "committed_on" else final_on)
    if version is None:
        raise UnknownNatinf(f"NATINF {code!r} carried no points before {kind.versions[0].start.isoformat()}")
    points = version.points
    if kind.lt5 and lt5_rule_applies(committed_on, final_on, lt5_basis):
        points = 0
    return Resolved(points, version.offence_class, kind.label, version.article)


def resolve_speeding(
    limit_kmh: int,
    retained_kmh: int,
    committed_on: dt.date,
    final_on: dt.date,
    lt5_basis: str,
    harsher_basis: str,
) -> Resolved:
    """Points and class of a speeding offence from the limit and the retained speed (R413-14, R413-14-1, L413-1)."""
    excess = retained_kmh - limit_kmh
    if excess <= 0:
        raise ValueError(f"retained speed {retained_kmh} km/h does not exceed the limit {limit_kmh} km/h")
    table = parameter("speeding.bands").at(committed_on if harsher_basis == "committed_on" else final_on)
    # The answer depends on the table in force, the two speeds and, under 5 km/h, the 2024 rule: kept per
    # table (the parameters' values live as long as the process), since a file has few distinct pairs.
    known = _SPEEDING.get(id(table))
    if known is None or known[0] is not table:
        known = _SPEEDING[id(table)] = (table, {})
    answers = known[1]
    zero = excess < 5 and lt5_rule_applies(committed_on, final_on, lt5_basis)
    key = (limit_kmh, retained_kmh, zero)
    resolved = answers.get(key)
    if resolved is None:
        resolved = _speeding(limit_kmh, retained_kmh, excess, table, zero)
        if len(answers) < 100_000 and type(limit_kmh) is int and type(retained_kmh) is int:
            answers[key] = resolved  # (80.0 would equal 80 as a key, but not in the label)
    return resolved


_SPEEDING: dict[int, tuple[Mapping, dict[tuple, Resolved]]] = {}

# The label of a speeding offence, in French (the reference, what the engine resolves) and in English.
_SPEEDING_LABEL = {
    "fr": "Excès de vitesse de {excess} km/h (vitesse retenue {retained} km/h, limite {limit} km/h)",
    "en": "Speeding by {excess} km/h (speed retained {retained} km/h, limit {limit} km/h)",
}


def _speeding(limit_kmh: int, retained_kmh: int, excess: int, table: Mapping, zero: bool) -> Resolved:
    low_limit = limit_kmh <= table["low_limit_kmh"]
    for band in table["bands"]:
        if band["below"] is None or excess < band["below"]:
            break
    offence_class = band.get("class_low_limit", band["class"]) if low_limit else band["class"]
    points = 0 if zero else band["points"]
    label = _SPEEDING_LABEL["fr"].format(excess=excess, retained=retained_kmh, limit=limit_kmh)
    return Resolved(points, offence_class, label, band["article"])


def offence_label(offence: Offence, lang: str = "fr") -> str | None:
    """The offence's label in `lang`: "fr" the French wording it was resolved with (the barème's, the reference),
    "en" its English translation (the barème's ``label_en``, or the speeding label in English). None when the
    offence was given by its points and class (no label)."""
    if lang == "fr" or offence.label is None:
        return offence.label
    if offence.natinf is not None:
        kind = offence_types().get(offence.natinf)
        if kind is not None:
            return kind.label_en
    if offence.speeding is not None:
        limit_kmh, retained_kmh = offence.speeding
        return _SPEEDING_LABEL[lang].format(
            excess=retained_kmh - limit_kmh, retained=retained_kmh, limit=limit_kmh
        )
    return offence.label
