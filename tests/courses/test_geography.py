"""The départements' reference points (src/permis/courses/data/departements.csv) and the distances between them."""

from __future__ import annotations

import pytest

from permis.backoffice.access import valid_departement
from permis.courses import geography
from permis.courses.services import departement_of, postcode_exists

# (south, north, west, east) in decimal degrees: where a département's préfecture can be.
METROPOLITAN = (41.3, 51.2, -5.2, 9.6)
CORSICA = (41.4, 43.1, 8.5, 9.6)
OVERSEAS = {
    "971": (15.8, 16.6, -61.9, -61.0),  # Guadeloupe
    "972": (14.3, 14.9, -61.3, -60.8),  # Martinique
    "973": (2.1, 5.8, -54.6, -51.6),  # Guyane
    "974": (-21.4, -20.8, 55.2, 55.9),  # La Réunion
    "975": (46.7, 47.2, -56.5, -56.1),  # Saint-Pierre-et-Miquelon
    "976": (-13.1, -12.6, 44.9, 45.4),  # Mayotte
    "977": (17.85, 17.97, -62.95, -62.78),  # Saint-Barthélemy
    "978": (18.0, 18.15, -63.2, -62.95),  # Saint-Martin
    "986": (-14.4, -13.1, -178.3, -176.0),  # Wallis-et-Futuna
    "987": (-28.0, -7.0, -155.0, -134.0),  # Polynésie française
    "988": (-23.0, -19.0, 163.0, 169.0),  # Nouvelle-Calédonie
}


def accepted_departements() -> set[str]:
    """Every code ``departement_of`` answers for a postcode the project accepts: read from the code, not listed."""
    codes = set()
    for prefix in range(1000):
        for postcode in (f"{prefix:03d}00", f"{prefix:03d}99"):
            if postcode_exists(postcode):
                codes.add(departement_of(postcode))
    return codes


def box_of(code: str) -> tuple[float, float, float, float]:
    if code in ("2A", "2B"):
        return CORSICA
    return OVERSEAS.get(code, METROPOLITAN)


def test_every_accepted_departement_has_a_point_and_the_table_no_other() -> None:
    accepted = accepted_departements()
    assert len(accepted) == 96 + 11  # 01 to 95 with 2A/2B instead of 20, and the overseas codes
    assert set(geography.reference_points()) == accepted
    assert all(valid_departement(code) for code in accepted)


@pytest.mark.parametrize("code", sorted(accepted_departements()))
def test_each_point_lies_in_its_departements_region(code: str) -> None:
    point = geography.reference_points()[code]
    south, north, west, east = box_of(code)
    assert south <= point.latitude <= north, point
    assert west <= point.longitude <= east, point
    assert point.chef_lieu.strip()


def test_no_two_departements_share_a_point() -> None:
    points = {(point.latitude, point.longitude) for point in geography.reference_points().values()}
    assert len(points) == len(geography.reference_points())


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [
        ("75", "78", 17),  # Paris - Versailles
        ("75", "13", 660),  # Paris - Marseille
        ("69", "13", 278),  # Lyon - Marseille
        ("2A", "2B", 105),  # Ajaccio - Bastia
        ("75", "974", 9350),  # Paris - Saint-Denis de La Réunion
    ],
)
def test_known_distances_within_ten_percent(a: str, b: str, km: float) -> None:
    points = geography.reference_points()
    assert geography.distance_km(points[a], points[b]) == pytest.approx(km, rel=0.1)
    assert geography.distance_km(points[b], points[a]) == pytest.approx(km, rel=0.1)


def test_distances_from_a_departement_are_zero_to_itself_and_cover_every_other() -> None:
    distances = geography.distances_from("91")
    assert distances["91"] == 0
    assert set(distances) == set(geography.reference_points())
    assert distances["75"] < distances["13"] < distances["971"]
    assert geography.distances_from("989") == {"989": 0.0}  # a code the table lacks: only itself
