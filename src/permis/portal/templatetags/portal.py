"""Template filters of the portal."""

from __future__ import annotations

from datetime import date, datetime

from django import template

from permis.portal.dates import long_date as _long_date
from permis.portal.dates import long_datetime as _long_datetime

register = template.Library()


@register.filter
def long_date(value: date | None) -> str:
    """16 octobre 2024, 1er avril 2024 (October 16, 2024 in English)."""
    return _long_date(value) if value else ""


@register.filter
def long_datetime(value: datetime | None) -> str:
    """1er décembre 2026 à 15:34 (Dec. 1, 2026 at 15:34 in English), in Paris time."""
    return _long_datetime(value) if value else ""


@register.simple_tag
def colon() -> str:
    """The colon between a label and its value as the page's language writes it: a space before it in French
    ("Numéro de permis : …"), none in English ("Licence number: …")."""
    from django.utils.translation import get_language

    return " : " if (get_language() or "fr").split("-")[0] == "fr" else ": "
