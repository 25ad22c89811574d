"""Form data for the simulator, as a browser would post it."""

from __future__ import annotations

from typing import Any


def simulator_data(
    *,
    offences: list[dict[str, Any]] | None = None,
    courses: list[dict[str, Any]] | None = None,
    action: str = "simulate",
    **licence: Any,
) -> dict[str, str]:
    """The POST body of the simulator: the licence fields, then one formset row per offence and course."""
    data: dict[str, Any] = {
        "obtained_on": "2024-04-01",
        "route": "traditional",
        "complementary_training_on": "",
        "invalidation_notified_on": "",
        "on": "2024-10-16",
        "also_on": "",
        "action": action,
    }
    data.update(licence)
    for prefix, rows in (("offences", offences or []), ("courses", courses or [])):
        data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
        data[f"{prefix}-INITIAL_FORMS"] = "0"
        data[f"{prefix}-MIN_NUM_FORMS"] = "0"
        data[f"{prefix}-MAX_NUM_FORMS"] = "40"
        for index, row in enumerate(rows):
            for name, value in row.items():
                data[f"{prefix}-{index}-{name}"] = value
    return {key: str(value) for key, value in data.items() if value is not None}


# ENGINE-IO.md's example (E18 of RULES.md): 6 points on 2024-10-16.
EXAMPLE_OFFENCE = {
    "committed_on": "2024-07-01",
    "final_on": "2024-07-10",
    "points": "3",
    "offence_class": "C4",
}
EXAMPLE_COURSE = {"first_day": "2024-10-14", "last_day": "2024-10-15", "course_type": "mandatory"}


def engine_io_example(**changes: Any) -> dict[str, str]:
    return simulator_data(offences=[EXAMPLE_OFFENCE], courses=[EXAMPLE_COURSE], **changes)
