"""Template filters of the PDF documents."""

from __future__ import annotations

import datetime as dt

from django import template

from permis.notices.documents.facts import day

register = template.Library()


@register.filter
def jour(value: dt.date | str | None) -> str:
    """A date as French administrative letters write it: « 1er mai 2024 », « 20 mai 2024 »."""
    return day(value)
