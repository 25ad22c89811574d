"""permis.rules: the French points-licence law as code (RULES.md), a plain library.

Standard library and PyYAML only: no Django, no clock, no network. Every function that depends on time takes
the date as an argument.

    from permis.rules import parse_history, evaluate, evaluation_to_json
    history = parse_history(json.load(open("history.json")))   # raises InputError(.problems)
    evaluation = evaluate(history, on=date(2024, 10, 16))
    evaluation_to_json(evaluation)                              # ENGINE-IO.md's output
    explain(evaluation)                                         # the same, as plain French text

A what-if is an evaluation of the same history with hypothetical events added:
``evaluate(history.with_events(offence), on)``.
"""

from __future__ import annotations

from permis.rules.engine import Timeline, evaluate, evaluate_many, timeline, what_if
from permis.rules.io import (
    InputError,
    evaluation_to_json,
    parse_history,
    trusted_history,
    trusted_stored_history,
)
from permis.rules.model import Evaluation, History, Letter, Movement, Options

__all__ = [
    "Evaluation",
    "History",
    "InputError",
    "Letter",
    "Movement",
    "Options",
    "Timeline",
    "evaluate",
    "evaluate_many",
    "evaluation_to_json",
    "parse_history",
    "timeline",
    "trusted_history",
    "trusted_stored_history",
    "what_if",
]
