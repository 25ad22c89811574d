"""Demo course centres and sessions, until the back office (issue 6) lets préfectures approve real ones.

Deterministic by seed: the same seed on the same day gives the same centres, sessions and prices. The centres
sit in the départements of the demo population (src/permis/registry/demo.py, PLACES), the named demo holders'
Paris included; one centre per seed has had its approval withdrawn, so pages show it is left out.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.db import transaction

from permis.registry.demo import PLACES

from .models import CourseCentre, CourseSession

CENTRE_NAMES = [
    "Stage Points Sécurité",
    "Prévention Routière Formation",
    "Centre Récupération de Points",
    "Objectif Conduite",
    "Auto-École du Centre",
    "Sécurité Routière Conseil",
]
VENUES = ["Hôtel Ibis", "Salle municipale", "Centre de formation", "Maison des associations", "Hôtel Kyriad"]
STREETS = [
    "rue de la Gare",
    "avenue de la Libération",
    "boulevard Pasteur",
    "rue Nationale",
    "place du Marché",
]


@dataclass(frozen=True)
class Seeded:
    centres: int
    sessions: int


def seed_courses(on: dt.date, seed: int = 0, weeks: int = 16) -> Seeded:
    """Two centres per demo département (three in Paris), each with a session every two or three weeks over
    the next `weeks` weeks; does nothing when centres already exist."""
    if CourseCentre.objects.exists():
        return Seeded(0, 0)
    rng = random.Random(f"courses:{seed}")  # noqa: S311 (demo data, reproducible by design)
    centres: list[CourseCentre] = []
    serial = 0
    for _insee, city, postcode, departement in PLACES:
        for n in range(3 if departement == "75" else 2):
            serial += 1
            approved = on - dt.timedelta(days=rng.randint(200, 3650))
            centres.append(
                CourseCentre(
                    name=f"{rng.choice(CENTRE_NAMES)} {city}" + (f" {n + 1}" if n else ""),
                    approval_number=f"R{approved.year % 100:02d}{departement:0>3}{serial:04d}0",
                    address=f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                    postcode=postcode,
                    city=city,
                    departement=departement,
                    approved_on=approved,
                    withdrawn_on=None,
                    contact=f"contact{serial}@stages.demo.permis.test",
                )
            )
    # One withdrawn approval, to show that its sessions are no longer offered.
    centres[rng.randrange(len(centres))].withdrawn_on = on - dt.timedelta(days=rng.randint(10, 90))
    sessions: list[CourseSession] = []
    with transaction.atomic():
        CourseCentre.objects.bulk_create(centres)
        saved = list(CourseCentre.objects.order_by("pk"))
        for centre in saved:
            day = on + dt.timedelta(days=rng.randint(2, 14))
            end = on + dt.timedelta(weeks=weeks)
            while day < end:
                seats = rng.choice([16, 18, 20, 20, 20])
                sessions.append(
                    CourseSession(
                        centre=centre,
                        first_day=day,
                        last_day=day + dt.timedelta(days=1),
                        place=f"{rng.choice(VENUES)}, {centre.city}",
                        price_cents=rng.randrange(17900, 27900, 500),
                        seats=seats,
                        seats_taken=rng.randint(0, seats),
                    )
                )
                day += dt.timedelta(days=rng.choice([14, 14, 21]))
        CourseSession.objects.bulk_create(sessions)
    return Seeded(len(saved), len(sessions))
