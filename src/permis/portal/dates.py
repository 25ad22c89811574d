"""Dates as the pages write them."""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext


def long_date(value: date) -> str:
    """The localised long date; French writes the first of the month "1er" (1er avril 2024)."""
    text = date_format(value, "DATE_FORMAT")
    if value.day == 1 and (get_language() or "fr").split("-")[0] == "fr" and text.startswith("1 "):
        return "1er" + text[1:]
    return text


def long_datetime(value: datetime) -> str:
    """A moment as the pages write it, in Paris time: « 1er décembre 2026 à 15:34 » (1 December… at 15:34)."""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return gettext("%(date)s à %(time)s") % {"date": long_date(local.date()), "time": local.strftime("%H:%M")}
