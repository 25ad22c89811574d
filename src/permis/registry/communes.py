"""Communes by their INSEE code (code officiel géographique), to write a place the way a reader knows it.

The feed may send an offence's place as a commune's INSEE code (docs/feed.md, ``place``). The file ships a small
table, ``data/communes.csv``, with the communes the demo uses; it is not the whole COG (about 35,000 communes,
with their mergers over the years): a code it does not hold is still shown, as a code ("commune 44109").
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

from django.utils.translation import gettext

TABLE = Path(__file__).parent / "data" / "communes.csv"

# A commune's INSEE code: five digits, or 2A/2B and three digits for Corsica (ASCII digits only).
INSEE_CODE = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{3}")


@functools.cache
def communes() -> dict[str, str]:
    """INSEE code -> the commune's name, from the shipped table."""
    with TABLE.open(encoding="utf-8", newline="") as handle:
        return {row["insee"]: row["name"] for row in csv.DictReader(handle)}


def commune_name(code: str) -> str | None:
    """The name of the commune with this INSEE code, or None when the table does not know it."""
    return communes().get(code.strip().upper())


def place_label(place: str) -> str:
    """A place as a reader reads it: "Dijon (21231)" for a known INSEE code, "commune 21231" for another code,
    and any other text (an address, a road and its marker) as it came."""
    place = (place or "").strip()
    code = place.upper()
    if not INSEE_CODE.fullmatch(code):
        return place
    name = communes().get(code)
    if name is None:
        return gettext("commune %(code)s") % {"code": code}
    return f"{name} ({code})"
