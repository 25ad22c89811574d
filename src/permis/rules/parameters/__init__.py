"""Dated legal parameters, one YAML file per legal value (the OpenFisca habit).

Each file holds a description, a unit and dated values; every value carries the legal reference that set it
and a confidence tag (S, P, R, U as in RULES.md §0). The value in force on a date is the one with the latest
start on or before that date; a date before the first value is an error, never a guess.

Loading is strict: unknown keys, duplicate keys, malformed dates and missing references are errors.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parent

_FILE_KEYS = {"description", "unit", "values"}
_VALUE_KEYS = {"value", "reference", "href", "confidence", "note"}
_CONFIDENCES = {"S", "P", "R", "U"}


class ParameterError(Exception):
    """A parameter file is malformed, or a parameter was asked for a date it does not cover."""


try:  # libyaml is much faster; it ships in PyYAML's wheels
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader


class StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe YAML loader that refuses duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ParameterError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, StrictLoader.construct_mapping)


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as stream:
        try:
            return yaml.load(stream, Loader=StrictLoader)  # noqa: S506 (a safe loader)
        except ParameterError as error:
            raise ParameterError(f"{path.name}: {error}") from None
        except yaml.YAMLError as error:
            raise ParameterError(f"{path.name}: invalid YAML: {error}") from None


def as_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ParameterError(f"{where}: {value!r} is a date-time, expected a date")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ParameterError(f"{where}: {value!r} is not a date (YYYY-MM-DD)")


@dataclass(frozen=True, slots=True)
class DatedValue:
    start: dt.date
    value: Any
    reference: str
    href: str | None
    confidence: str
    note: str | None


@dataclass(frozen=True, slots=True)
class Parameter:
    """A legal value that changes over time."""

    name: str
    description: str
    unit: str
    history: tuple[DatedValue, ...]
    _starts: tuple[int, ...]
    _memo: dict[dt.date, Any] = field(default_factory=dict, compare=False, repr=False)

    def entry(self, on: dt.date) -> DatedValue:
        index = bisect.bisect_right(self._starts, on.toordinal()) - 1
        if index < 0:
            raise ParameterError(
                f"{self.name}: no value before {self.history[0].start.isoformat()} (asked for {on.isoformat()})"
            )
        return self.history[index]

    def at(self, on: dt.date) -> Any:
        """The value in force on `on` (memoised by day: the engine asks the same few dates again and again)."""
        try:
            return self._memo[on]  # keyed by the date itself: a date caches its hash, no ordinal to compute
        except KeyError:
            value = self._memo[on] = self.entry(on).value
            return value

    def reference(self, on: dt.date) -> str:
        return self.entry(on).reference

    def change_dates(self) -> tuple[dt.date, ...]:
        return tuple(item.start for item in self.history)


def parse_parameter(name: str, data: Any, where: str) -> Parameter:
    if not isinstance(data, Mapping):
        raise ParameterError(f"{where}: expected a mapping with {sorted(_FILE_KEYS)}")
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise ParameterError(f"{where}: unknown keys {sorted(unknown)}")
    missing = _FILE_KEYS - set(data)
    if missing:
        raise ParameterError(f"{where}: missing keys {sorted(missing)}")
    values = data["values"]
    if not isinstance(values, Mapping) or not values:
        raise ParameterError(f"{where}: values must be a non-empty mapping of dates")
    history = []
    for raw_start, item in values.items():
        start = as_date(raw_start, f"{where}: values")
        at = f"{where}: values[{start.isoformat()}]"
        if not isinstance(item, Mapping):
            raise ParameterError(f"{at}: expected a mapping with value and reference")
        unknown = set(item) - _VALUE_KEYS
        if unknown:
            raise ParameterError(f"{at}: unknown keys {sorted(unknown)}")
        if "value" not in item:
            raise ParameterError(f"{at}: missing value")
        reference = item.get("reference")
        if not isinstance(reference, str) or not reference.strip():
            raise ParameterError(f"{at}: every value needs its legal reference")
        confidence = item.get("confidence", "S")
        if confidence not in _CONFIDENCES:
            raise ParameterError(f"{at}: confidence must be one of {sorted(_CONFIDENCES)}")
        history.append(
            DatedValue(start, item["value"], reference, item.get("href"), confidence, item.get("note"))
        )
    history.sort(key=lambda entry: entry.start)
    starts = tuple(entry.start.toordinal() for entry in history)
    if len(set(starts)) != len(starts):
        raise ParameterError(f"{where}: two values start on the same date")
    return Parameter(name, str(data["description"]), str(data["unit"]), tuple(history), starts)


def _parameter_files() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.yaml")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        yield name, path


@lru_cache(maxsize=1)
def load_parameters() -> Mapping[str, Parameter]:
    """Every parameter, by dotted name (e.g. ``recovery.one_point_delay_months``)."""
    return {
        name: parse_parameter(name, load_yaml(path), f"parameters/{name.replace('.', '/')}.yaml")
        for name, path in _parameter_files()
    }


def parameter(name: str) -> Parameter:
    try:
        return load_parameters()[name]
    except KeyError:
        raise ParameterError(f"unknown parameter {name!r}") from None
