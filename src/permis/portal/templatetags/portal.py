"""Template filters of the portal."""

from __future__ import annotations

from datetime import date

from django import template

from permis.portal.dates import long_date as _long_date

register = template.Library()


@register.filter
def long_date(value: date | None) -> str:
    """16 octobre 2024, 1er avril 2024 (October 16, 2024 in English)."""
    return _long_date(value) if value else ""
