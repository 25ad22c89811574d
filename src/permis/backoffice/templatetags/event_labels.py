"""Template filters of the back office: an event's values and a movement's kind in words, not the engine's codes.

The labels are the holder's space's (permis.portal.labels), so that an agent and a holder read the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

from permis.portal import labels

from ..forms import flatten

register = template.Library()


@register.filter
def movement_label(kind: str) -> str:
    """withdrawal → "Retrait de points"."""
    return labels.kind_label(kind)


@register.filter
def event_fields(data: Mapping[str, Any] | None, kind: str = "") -> list[tuple[str, str]]:
    """An event's values, as (label, value) pairs in words: {"how": "fine_paid"} →
    [("Devenue définitive par", "Paiement de l’amende forfaitaire")]. Nested values ("speeding") are flattened
    with a dot, as the back office names them ("speeding.limit_kmh")."""
    if not isinstance(data, Mapping):
        return []
    return [
        (labels.field_label(key, kind), labels.field_value(key, value))
        for key, value in flatten(data).items()
    ]


@register.filter
def field_label(key: str, kind: str = "") -> str:
    """The label of one field of an event of `kind` ("committed_on" → "Date de l’infraction")."""
    return labels.field_label(key, kind)


@register.filter
def field_value(value: Any, key: str) -> str:
    """One value of an event in words, given its field (`key`): a date, a code's label, "—" for none."""
    return labels.field_value(key, value)
