"""The engine's input classes built by their quick ``__init__`` (model.quick_init) are the objects dataclasses'
own ``__init__`` builds: same signature, same defaults, same fields, equal and equally hashed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect

import pytest

from permis.rules import model

QUICK = [
    model.Licence,
    model.Offence,
    model.OffenceCancelled,
    model.Course,
    model.InvalidationNotified,
    model.LicenceSurrendered,
    model.Annulment,
    model.Suspension,
    model.NewLicence,
    model.History,
]

_SAMPLES = {
    "id": "e3",
    "offence": "e1",
    "committed_on": dt.date(2023, 1, 5),
    "final_on": dt.date(2023, 3, 1),
    "obtained_on": dt.date(2010, 6, 1),
    "first_day": dt.date(2024, 2, 1),
    "last_day": dt.date(2024, 2, 2),
    "on": dt.date(2024, 5, 1),
    "start": dt.date(2024, 5, 1),
    "end": dt.date(2024, 8, 1),
    "points": 4,
    "offence_class": "C4",
    "licence": model.Licence(dt.date(2010, 6, 1)),
}


def _arguments(cls: type) -> dict:
    return {
        item.name: _SAMPLES[item.name]
        for item in dataclasses.fields(cls)
        if item.init and item.default is dataclasses.MISSING
    }


def _state(obj: object) -> tuple:
    return tuple(getattr(obj, item.name) for item in dataclasses.fields(obj))  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", QUICK, ids=lambda cls: cls.__name__)
def test_the_quick_init_builds_what_the_dataclass_builds(cls: type) -> None:
    assert inspect.signature(cls.__init__) == inspect.signature(cls._dataclass_init)  # type: ignore[attr-defined]
    required = _arguments(cls)
    quick = cls(**required)
    slow = object.__new__(cls)
    cls._dataclass_init(slow, **required)  # type: ignore[attr-defined]
    assert _state(quick) == _state(slow) and quick == slow and hash(quick) == hash(slow)
    # Positional arguments, and every optional field given a value of its own.
    values = list(required.values())
    quick = cls(*values)
    assert _state(quick) == _state(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(quick, dataclasses.fields(cls)[0].name, None)


def test_optional_fields_keep_their_values() -> None:
    offence = model.Offence(
        "e1",
        dt.date(2023, 1, 5),
        dt.date(2023, 3, 1),
        2,
        "C4",
        decided_on=dt.date(2023, 2, 1),
        speeding=(80, 95),
    )
    assert offence.decided_on == dt.date(2023, 2, 1) and offence.speeding == (80, 95)
    assert offence.how is None and offence.kind == "offence"
    history = model.History(model.Licence(dt.date(2010, 6, 1)))
    assert history.events == () and history.options == model.Options()
