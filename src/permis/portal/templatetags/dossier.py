"""Template tags of the holder's space."""

from __future__ import annotations

from django import template

from permis.portal.menu import Entry, entries

register = template.Library()


@register.simple_tag
def space_menu() -> tuple[Entry, ...]:
    """The side menu's entries whose page exists (permis.portal.menu)."""
    return entries()


@register.filter
def signed(value: int) -> str:
    """+2, −3, 0: the change of a balance with its sign (a real minus sign)."""
    if value > 0:
        return f"+{value}"
    if value < 0:
        return f"−{-value}"
    return "0"


@register.simple_tag
def today_long() -> str:
    """Today's date as the pages write it (the space's data are always computed for today)."""
    from django.utils import timezone

    from permis.portal.dates import long_date

    return long_date(timezone.localdate())
