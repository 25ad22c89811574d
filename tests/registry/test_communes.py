"""A place sent as a commune's INSEE code is written the way a reader knows it."""

from __future__ import annotations

import pytest
from django.utils import translation

from permis.registry.communes import commune_name, communes, place_label
from permis.registry.demo import OFFENCE_PLACES, PLACES


def test_a_known_code_gives_the_communes_name_and_its_code() -> None:
    assert place_label("21231") == "Dijon (21231)"
    assert place_label(" 75056 ") == "Paris (75056)"
    assert commune_name("45234") == "Orléans"


def test_a_code_the_table_does_not_hold_is_still_said_to_be_a_commune() -> None:
    with translation.override("fr"):
        assert place_label("01053") == "commune 01053"
        assert place_label("2a004") == "commune 2A004"  # Corsica's codes, in capitals


@pytest.mark.parametrize("place", ["A6, PR 120, sens Paris-Lyon", "Dijon (21231)", "123456", "2C004", ""])
def test_any_other_place_is_shown_as_it_came(place: str) -> None:
    assert place_label(place) == place


def test_every_commune_the_demo_uses_is_in_the_table() -> None:
    table = communes()
    for insee, city, _postal, _departement in PLACES:
        assert table[insee] == city
    assert all(code in table for code in OFFENCE_PLACES)
