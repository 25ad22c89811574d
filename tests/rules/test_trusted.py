"""The trusted path (`trusted_history`, `parse_history(..., trusted=k)`) builds what the checking parse builds.

The registry re-evaluates histories it stored after `parse_history` accepted them; it builds them again without
the checks. These properties hold the two paths equal on generated realistic histories (tests/rules/strategies.py):
the same History objects, hence the same evaluation on every date.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permis.rules import Timeline, evaluate, parse_history, trusted_history, trusted_stored_history
from permis.rules.io import InputError

try:
    from tests.rules import strategies as gen
except ImportError:  # tests/ is not a package: pytest put tests/rules on sys.path
    import strategies as gen  # type: ignore[no-redef]

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def stored(history: dict[str, Any]) -> dict[str, Any]:
    """The document as the registry keeps it: through JSON, so every date is a string."""
    return json.loads(json.dumps(history, default=str))


@SETTINGS
@given(gen.history_and_dates())
def test_trusted_history_builds_the_same_history_and_evaluations(
    case: tuple[dict[str, Any], list[date]],
) -> None:
    history, dates = case
    for document in (history, stored(history)):
        checked = parse_history(document)
        trusted = trusted_history(document)
        assert trusted == checked
        line, trusted_line = Timeline(checked), Timeline(trusted)
        for day in dates:
            try:
                expected = line.at(day)
            except ValueError:
                with pytest.raises(ValueError, match="before the licence carries points"):
                    trusted_line.at(day)
                continue
            assert trusted_line.at(day) == expected
            assert evaluate(trusted, day) == expected


@SETTINGS
@given(gen.histories(), st.data())
def test_a_trusted_prefix_gives_the_same_history_as_checking_everything(
    history: dict[str, Any], data: Any
) -> None:
    events = history.get("events") or []
    trusted = data.draw(st.integers(0, len(events)))
    assert parse_history(history, trusted=trusted) == parse_history(history)


def test_the_events_after_a_trusted_prefix_are_still_checked() -> None:
    document = {
        "licence": {"obtained_on": "2010-01-01"},
        "events": [
            {
                "kind": "offence",
                "id": "a",
                "committed_on": "2020-01-01",
                "final_on": "2020-02-01",
                "points": 2,
                "class": "C4",
            },
            {"kind": "offence_cancelled", "id": "b", "offence": "a", "on": "2020-03-01"},
            {"kind": "offence_cancelled", "id": "c", "offence": "a", "on": "2020-04-01"},
            {
                "kind": "offence",
                "id": "a",
                "committed_on": "2019-01-01",
                "final_on": "2018-01-01",
                "points": 1,
                "class": "C3",
            },
        ],
    }
    with pytest.raises(InputError) as caught:
        parse_history(document, trusted=2)
    problems = caught.value.problems
    assert any(p.startswith("events[2].offence") and "already cancelled by events[1]" in p for p in problems)
    assert any(p.startswith("events[3].id") for p in problems)
    assert any(p.startswith("events[3].final_on") for p in problems)
    assert not any(p.startswith(("events[0]", "events[1]")) for p in problems)


def _parts(document: dict[str, Any]) -> tuple:
    """A stored document (see `stored`) as the parts `trusted_stored_history` takes."""
    licence = document["licence"]
    day = date.fromisoformat
    events = []
    for index, item in enumerate(document.get("events") or []):
        fields = {k: v for k, v in item.items() if k not in ("kind", "id", "recorded_on")}
        recorded = item.get("recorded_on")
        events.append(
            (
                item["kind"],
                item.get("id", f"events[{index}]"),
                fields,
                None if recorded is None else day(recorded),
            )
        )
    training = licence.get("complementary_training_on")
    return (
        day(licence["obtained_on"]),
        licence.get("route"),
        None if training is None else day(training),
        licence.get("regained"),
        events,
    )


@SETTINGS
@given(gen.histories())
def test_the_stored_parts_give_the_history_of_their_document(history: dict[str, Any]) -> None:
    document = stored({**history, "options": None})
    assert trusted_stored_history(*_parts(document)) == trusted_history(document) == parse_history(document)


def test_fields_naming_their_own_kind_or_id_are_refused() -> None:
    fields = {"committed_on": "2020-01-01", "final_on": "2020-02-01", "points": 2, "class": "C4", "id": "x"}
    with pytest.raises(ValueError, match="a kind or an id of their own"):
        trusted_stored_history(date(2010, 1, 1), None, None, None, [("offence", "e1", fields, None)])
