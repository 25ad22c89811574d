"""Template tags of the holder's space."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext

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


@register.filter
def text_version(value: str | None) -> str:
    """A consent text's version as a holder reads it: "electronic@2" -> "version 2" (the file name stays the
    record's, permis.notices.preferences)."""
    if not value:
        return "—"
    _kind, _at, number = value.rpartition("@")
    return gettext("version %(n)s") % {"n": number} if _at and number.isdigit() else value
