"""How far apart two départements are, to list course sessions nearest first.

The file ships ``data/departements.csv``: one reference point per département, its préfecture (chef-lieu), for
every code ``services.departement_of`` answers. A distance is the great-circle distance between two such points:
good enough to tell a neighbour from the other end of France, or from overseas, but not the road distance from a
holder's commune to a centre, which would need every commune's place and the roads.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).parent / "data" / "departements.csv"

# The Earth's mean radius (IUGG), in kilometres: the haversine formula takes the Earth for a sphere.
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class ReferencePoint:
    """A département's préfecture, in decimal degrees (WGS84)."""

    code: str
    chef_lieu: str
    latitude: float
    longitude: float


@functools.cache
def reference_points() -> dict[str, ReferencePoint]:
    """Département code -> its reference point, from the shipped table (its ``#`` lines are comments)."""
    with TABLE.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {
            row["code"]: ReferencePoint(
                row["code"], row["chef_lieu"], float(row["latitude"]), float(row["longitude"])
            )
            for row in rows
        }


def distance_km(a: ReferencePoint, b: ReferencePoint) -> float:
    """The great-circle (haversine) distance between two points, in kilometres."""
    lat_a, lat_b = math.radians(a.latitude), math.radians(b.latitude)
    half_dlat = (lat_b - lat_a) / 2
    half_dlon = math.radians(b.longitude - a.longitude) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat_a) * math.cos(lat_b) * math.sin(half_dlon) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def distances_from(departement: str) -> dict[str, float]:
    """Kilometres from `departement`'s reference point to each département's: 0 to itself. A code the table does
    not hold is only 0 from itself, so its own sessions still come first."""
    points = reference_points()
    origin = points.get(departement)
    if origin is None:
        return {departement: 0.0}
    return {code: distance_km(origin, point) for code, point in points.items()}
