"""Dates as the pages write them."""

from __future__ import annotations

from datetime import date

from django.utils.formats import date_format
from django.utils.translation import get_language


def long_date(value: date) -> str:
    """The localised long date; French writes the first of the month "1er" (1er avril 2024)."""
    text = date_format(value, "DATE_FORMAT")
    if value.day == 1 and (get_language() or "fr").split("-")[0] == "fr" and text.startswith("1 "):
        return "1er" + text[1:]
    return text
