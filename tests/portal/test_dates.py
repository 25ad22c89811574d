"""Dates as the pages write them."""

from __future__ import annotations

from datetime import date

from django.utils import translation

from permis.portal.dates import long_date


def test_french_writes_the_first_of_the_month_1er() -> None:
    with translation.override("fr"):
        assert long_date(date(2024, 4, 1)) == "1er avril 2024"
        assert long_date(date(2024, 10, 16)) == "16 octobre 2024"


def test_english_writes_the_usual_long_date() -> None:
    with translation.override("en"):
        assert long_date(date(2024, 4, 1)) == "April 1, 2024"
