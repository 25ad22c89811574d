"""A realistic demo population (PRODUCT.md, "Demo data"), and the named demo holders.

The population follows the national statistics where they exist: about 8 drivers in 10 at 12 points; 55.8% of
the points removed come from 1-point offences (2018: 14.9 million points removed for about 45 million licences,
so about a third of a point per licence per year); probationary licences at every stage; courses, zero
balances, invalidations, suspensions and a few annulments. Every history is valid input for the engine, and
every date is relative to the day the demo is loaded, so the demo tells the same stories whenever it runs.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

GIVEN_NAMES_F = [
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Sarah",
    "Emma",
    "Louise",
    "Jade",
    "Zoé",
    "Claire",
    "Nathalie",
    "Isabelle",
    "Sophie",
    "Aïcha",
    "Fatima",
    "Marie",
    "Julie",
    "Élodie",
    "Anne",
]
GIVEN_NAMES_M = [
    "Lucas",
    "Hugo",
    "Louis",
    "Nathan",
    "Karim",
    "Thomas",
    "Julien",
    "Nicolas",
    "Mehdi",
    "Pierre",
    "Antoine",
    "Éric",
    "Philippe",
    "Jean",
    "Mathis",
    "Yanis",
    "Gabriel",
    "Arthur",
    "Olivier",
    "Paul",
]
SURNAMES = [
    "MARTIN",
    "BERNARD",
    "DUBOIS",
    "THOMAS",
    "ROBERT",
    "RICHARD",
    "PETIT",
    "DURAND",
    "LEROY",
    "MOREAU",
    "SIMON",
    "LAURENT",
    "LEFEBVRE",
    "MICHEL",
    "GARCIA",
    "DAVID",
    "BERTRAND",
    "ROUX",
    "VINCENT",
    "FOURNIER",
    "MOREL",
    "GIRARD",
    "ANDRÉ",
    "MERCIER",
    "DUPONT",
    "LAMBERT",
    "BONNET",
    "FRANÇOIS",
    "MARTINEZ",
    "NGUYEN",
]
# (INSEE code, city, postal code, département)
PLACES = [
    ("75056", "Paris", "75011", "75"),
    ("13055", "Marseille", "13005", "13"),
    ("69123", "Lyon", "69003", "69"),
    ("31555", "Toulouse", "31000", "31"),
    ("06088", "Nice", "06000", "06"),
    ("44109", "Nantes", "44000", "44"),
    ("67482", "Strasbourg", "67000", "67"),
    ("34172", "Montpellier", "34000", "34"),
    ("33063", "Bordeaux", "33000", "33"),
    ("59350", "Lille", "59000", "59"),
    ("35238", "Rennes", "35000", "35"),
    ("76540", "Rouen", "76000", "76"),
    ("21231", "Dijon", "21000", "21"),
    ("63113", "Clermont-Ferrand", "63000", "63"),
    ("29019", "Brest", "29200", "29"),
]
STREETS = [
    "rue de la République",
    "avenue Jean Jaurès",
    "rue Victor Hugo",
    "boulevard Gambetta",
    "rue Pasteur",
    "place de la Mairie",
    "rue des Écoles",
    "chemin des Vignes",
    "allée des Tilleuls",
    "rue du Moulin",
]

# Offences other than small speeding, with their share among offences (the rest is 1-point speeding).
OTHER_OFFENCES = [
    ({"speeding": (80, 105)}, 0.060),  # +25 km/h: 2 points
    ({"natinf": "23800"}, 0.045),  # phone: 3 points
    ({"natinf": "12929"}, 0.015),  # seat belt: 3 points
    ({"natinf": "210"}, 0.035),  # red light: 4 points
    ({"natinf": "203"}, 0.015),  # stop: 4 points
    ({"speeding": (90, 126)}, 0.020),  # +36 km/h: 3 points
    ({"natinf": "13322"}, 0.010),  # alcohol contravention: 6 points
    ({"natinf": "1247"}, 0.006),  # alcohol délit: 6 points
    ({"natinf": "23761"}, 0.004),  # drugs: 6 points
]


@dataclass
class Person:
    """One holder, their licence and its history, ready to load."""

    holder: dict[str, Any]
    licence: dict[str, Any]
    categories: list[dict[str, Any]]
    events: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # (kind, data, source)
    story: str = ""
    # Where each offence was committed (index in `events` -> a commune's INSEE code), as the feed sends it: the
    # engine does not read it, the feed's record keeps it (docs/feed.md, ``place``).
    places: dict[int, str] = field(default_factory=dict)


def _iso(day: dt.date) -> str:
    return day.isoformat()


def _offence(committed: dt.date, final: dt.date, way: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    data: dict[str, Any] = {"committed_on": _iso(committed), "final_on": _iso(final), "how": "fine_paid"}
    if "speeding" in way:
        limit, retained = way["speeding"]
        data["speeding"] = {"limit_kmh": limit, "retained_kmh": retained}
    else:
        data.update(way)
    return ("offence", data, "feed")


def _course(first: dt.date, course_type: str = "voluntary") -> tuple[str, dict[str, Any], str]:
    last = first + dt.timedelta(days=1)
    return (
        "course",
        {"first_day": _iso(first), "last_day": _iso(last), "type": course_type},
        "course_centre",
    )


def _on(kind: str, day: dt.date, **extra: Any) -> tuple[str, dict[str, Any], str]:
    return (kind, {"on": _iso(day), **extra}, "agent")


class Population:
    """A deterministic generator of people (same seed, same day: same population)."""

    def __init__(self, today: dt.date, seed: int = 0):
        self.today = today
        self.random = random.Random(seed)  # noqa: S311 (synthetic data, not secrets)
        # Places come from a generator of their own, so that giving offences a place left every other draw, hence
        # the population of a seed, as it was.
        self.place_random = random.Random(f"places-{seed}")  # noqa: S311 (synthetic data, not secrets)
        self.serial = 0

    def numbers(self) -> tuple[str, str]:
        self.serial += 1
        return f"{self.serial:012d}", f"{(self.serial * 7919) % 10**12:012d}"

    def person(self) -> Person:
        r, today = self.random, self.today
        sex = r.choice(("female", "male"))
        birth = today - dt.timedelta(days=int(r.uniform(18.2, 86) * 365.25))
        insee, city, postal, departement = r.choice(PLACES)
        given = r.choice(GIVEN_NAMES_F if sex == "female" else GIVEN_NAMES_M)
        surname = r.choice(SURNAMES)
        holder = {
            "birth_name": surname,
            "given_names": given,
            "birth_date": birth,
            "birth_place": insee,
            "sex": sex,
            "address": f"{r.randint(1, 120)} {r.choice(STREETS)}",
            "postal_code": postal,
            "city": city,
            "email": "",
            "phone": "",
        }
        age_at_licence = 18 + min(r.expovariate(1 / 2.5), 30)
        obtained = birth + dt.timedelta(days=int(age_at_licence * 365.25))
        obtained = min(obtained, today - dt.timedelta(days=r.randint(1, 60)))
        route = "aac" if obtained.year >= 1990 and r.random() < 0.25 else "traditional"
        training = None
        if obtained >= dt.date(2019, 1, 1) and r.random() < 0.08:
            candidate = obtained + dt.timedelta(days=r.randint(185, 360))
            training = candidate if candidate < today else None
        number, dossier = self.numbers()
        card = obtained >= dt.date(2013, 9, 16) or r.random() < 0.6
        licence = {
            "number": number,
            "dossier_number": dossier,
            "format": "card" if card else "cardboard",
            "obtained_on": obtained,
            "route": route,
            "complementary_training_on": training,
            "regained": False,
            "departement": departement,
        }
        categories = [{"code": "B", "obtained_on": obtained, "expires_on": _card_expiry(obtained, card)}]
        if r.random() < 0.15:
            day = obtained + dt.timedelta(days=r.randint(100, 4000))
            if day < today:
                categories.append({"code": "A", "obtained_on": day, "expires_on": _card_expiry(day, True)})
        if r.random() < 0.05:
            day = obtained + dt.timedelta(days=r.randint(400, 6000))
            if day < today:
                medical = min(day + dt.timedelta(days=5 * 365), birth + dt.timedelta(days=76 * 365))
                categories.append({"code": "C", "obtained_on": day, "expires_on": medical})
        person = Person(holder, licence, categories)
        self.history(person)
        return person

    def history(self, person: Person) -> None:
        r, today = self.random, self.today
        obtained = person.licence["obtained_on"]
        window_start = max(obtained, today - dt.timedelta(days=10 * 365), dt.date(1992, 7, 1))
        span = (today - dt.timedelta(days=20) - window_start).days
        if span <= 0:
            return
        # About 10 million offences a year for 45 million licences (2018): 2.3 per licence over ten years,
        # concentrated on a minority of drivers.
        roll = r.random()
        if roll < 0.5:
            count = 0
        elif roll < 0.9985:
            count = 1 + min(int(r.expovariate(0.45)), 9)
        else:
            self.heavy(person, window_start, span)
            return
        finals = []
        for _ in range(count):
            committed = window_start + dt.timedelta(days=r.randint(0, span))
            final = committed + dt.timedelta(days=r.randint(8, 75))
            if final >= today:
                continue
            way = self.offence_kind(committed)
            self.add_offence(person, _offence(committed, final, way))
            finals.append((final, way))
        if len(finals) >= 2 and r.random() < 0.12:
            last = max(f for f, _ in finals)
            first = last + dt.timedelta(days=r.randint(20, 300))
            if first + dt.timedelta(days=2) < today:
                person.events.append(_course(first))
        probation_end = obtained + dt.timedelta(days=3 * 365)
        for final, way in finals:
            heavy = "natinf" in way and way["natinf"] in {
                "23800",
                "12929",
                "210",
                "203",
                "13322",
                "1247",
                "23761",
            }
            if obtained >= dt.date(2004, 3, 1) and final < probation_end and heavy and r.random() < 0.7:
                first = final + dt.timedelta(days=r.randint(30, 110))
                if first + dt.timedelta(days=2) < today:
                    person.events.append(_course(first, "mandatory"))
                break
        if finals and r.random() < 0.01:
            final = max(f for f, _ in finals)
            start = final + dt.timedelta(days=r.randint(1, 30))
            person.events.append(
                ("suspension", {"from": _iso(start), "to": _iso(start + dt.timedelta(days=90))}, "agent")
            )

    def add_offence(self, person: Person, offence: tuple[str, dict[str, Any], str]) -> None:
        """Append an offence with its place: most often the holder's own commune, otherwise one on the way."""
        r = self.place_random
        home = _insee_of(person.holder["city"])
        place = home if home and r.random() < 0.6 else r.choice(OFFENCE_PLACES)
        person.places[len(person.events)] = place
        person.events.append(offence)

    def offence_kind(self, committed: dt.date) -> dict[str, Any]:
        r = self.random
        roll = r.random()
        for way, share in OTHER_OFFENCES:
            if roll < share:
                return way
            roll -= share
        limit = r.choice((50, 50, 80, 80, 90, 110, 130))
        return {"speeding": (limit, limit + r.randint(5, 19))}

    def heavy(self, person: Person, window_start: dt.date, span: int) -> None:
        """A total loss of points: successive offences, the 48SI, the surrender, sometimes a new licence.

        The 48SI goes by registered post the day the balance falls to 0 (the last offence's final day); its
        receipt, a few days later, is the day the invalidation is notified."""
        r, today = self.random, self.today
        start = window_start + dt.timedelta(days=r.randint(0, max(0, span - 900)))
        day = start
        final = start
        for way in ({"natinf": "13322"}, {"natinf": "210"}, {"natinf": "23800"}):
            final = day + dt.timedelta(days=r.randint(10, 40))
            self.add_offence(person, _offence(day, final, way))
            day = final + dt.timedelta(days=r.randint(20, 90))
        # 6 to 16 days after it was sent (the draw of the earlier version, so that a seed keeps its population).
        notified = final + dt.timedelta(days=r.randint(30, 80) // 5)
        if notified >= today:
            return
        person.events.append(_on("invalidation_notified", notified))
        surrendered = notified + dt.timedelta(days=r.randint(2, 10))
        if surrendered < today:
            person.events.append(_on("licence_surrendered", surrendered))
        again = surrendered + dt.timedelta(days=r.randint(240, 500))
        if again < today and r.random() < 0.5:
            person.events.append(("new_licence", {"obtained_on": _iso(again)}, "agent"))

    def __iter__(self) -> Iterator[Person]:
        while True:
            yield self.person()


# The communes where the population's offences happen away from home (all in data/communes.csv).
OFFENCE_PLACES = [place[0] for place in PLACES] + [
    "21054",  # Beaune (A6)
    "37261",  # Tours (A10)
    "38185",  # Grenoble
    "45234",  # Orléans (A10)
    "51454",  # Reims (A4)
    "57463",  # Metz (A31)
    "72181",  # Le Mans (A11)
    "78646",  # Versailles
    "83137",  # Toulon (A8)
    "84007",  # Avignon (A7)
]
_INSEE_BY_CITY = {city: insee for insee, city, _postal, _departement in PLACES}


def _insee_of(city: str) -> str:
    return _INSEE_BY_CITY.get(city, "")


def _card_expiry(obtained: dt.date, card: bool) -> dt.date | None:
    if not card:
        return dt.date(2033, 1, 19)  # pink paper licences stay valid until 19 January 2033
    issued = max(obtained, dt.date(2013, 9, 16))
    return dt.date(issued.year + 15, issued.month, min(issued.day, 28))


def named_people(today: dt.date) -> list[Person]:
    """The named demo holders: one for every situation the portal shows. Their stories are in `story`."""

    def ago(days: int) -> dt.date:
        return today - dt.timedelta(days=days)

    def years_ago(years: float) -> dt.date:
        return today - dt.timedelta(days=int(years * 365.25))

    def person(
        serial: int,
        surname: str,
        given: str,
        sex: str,
        birth: dt.date,
        obtained: dt.date,
        story: str,
        events: list,
        route: str = "traditional",
        categories: tuple[str, ...] = ("B",),
        places: tuple[str, ...] = (),
    ) -> Person:
        """`places`: the INSEE code of each offence's commune, in the order of the offences."""
        holder = {
            "birth_name": surname,
            "given_names": given,
            "birth_date": birth,
            "birth_place": "75056",
            "sex": sex,
            "address": f"{serial} rue de la République",
            "postal_code": "75011",
            "city": "Paris",
            "email": f"{given.lower().replace('é', 'e').replace('è', 'e')}.{surname.lower()}@demo.permis.test",
            "phone": f"06000000{serial:02d}",
        }
        licence = {
            "number": f"DEMO{serial:08d}",
            "dossier_number": f"{990000000000 + serial}",
            "format": "card",
            "obtained_on": obtained,
            "route": route,
            "complementary_training_on": None,
            "regained": False,
            "departement": "75",
        }
        cats = [
            {"code": code, "obtained_on": obtained, "expires_on": _card_expiry(obtained, True)}
            for code in categories
        ]
        offences = [index for index, (kind, _data, _source) in enumerate(events) if kind == "offence"]
        if len(offences) != len(places):
            raise ValueError(
                f"{given}: {len(offences)} offences, {len(places)} places: one place per offence"
            )
        return Person(holder, licence, cats, events, story, dict(zip(offences, places, strict=True)))

    speeding_1 = {"speeding": (80, 92)}
    return [
        person(
            1,
            "MARTIN",
            "Camille",
            "female",
            dt.date(1979, 4, 12),
            dt.date(1998, 6, 3),
            "12 points, aucune infraction depuis des années ; catégories A et B.",
            [],
            categories=("B", "A"),
        ),
        person(
            2,
            "BERNARD",
            "Lucas",
            "male",
            years_ago(19.5),
            years_ago(1.4),
            "Jeune conducteur en conduite accompagnée : 9 points sur 9, 12 à la fin de la période probatoire.",
            [],
            route="aac",
        ),
        person(
            3,
            "PETIT",
            "Inès",
            "female",
            years_ago(20.2),
            years_ago(1.1),
            "Permis probatoire : téléphone au volant (3 points), lettre 48N reçue en recommandé, stage "
            "obligatoire à faire dans les 4 mois.",
            [_offence(ago(50), ago(30), {"natinf": "23800"})],
            places=("21231",),
        ),
        person(
            4,
            "DUBOIS",
            "Hugo",
            "male",
            dt.date(1985, 9, 30),
            dt.date(2004, 1, 20),
            "4 points après plusieurs infractions (lettre 48M) ; un stage lui rendrait 4 points.",
            [
                _offence(ago(700), ago(680), {"natinf": "210"}),
                _offence(ago(300), ago(270), speeding_1),
                _offence(ago(90), ago(60), {"speeding": (90, 126)}),
            ],
            places=("69123", "21054", "75056"),
        ),
        person(
            5,
            "MOREAU",
            "Léa",
            "female",
            dt.date(1990, 2, 14),
            dt.date(2009, 5, 5),
            "Solde nul : la lettre 48SI, envoyée en recommandé il y a 6 jours, n'est pas encore reçue ; le "
            "permis reste valide jusqu'à sa réception (un agent l'enregistre) ; un stage le sauverait.",
            [
                _offence(ago(400), ago(380), {"natinf": "13322"}),
                _offence(ago(200), ago(170), {"natinf": "210"}),
                # Final 6 days ago: its registered 48SI is still at the post office (kept 15 days).
                _offence(ago(25), ago(6), {"natinf": "23800"}),
            ],
            places=("75056", "78646", "75056"),
        ),
        person(
            6,
            "LEROY",
            "Karim",
            "male",
            dt.date(1988, 11, 2),
            dt.date(2007, 3, 15),
            "Permis invalidé (48SI reçue en recommandé), remis en préfecture ; nouveau permis possible dans "
            "quelques mois.",
            [
                _offence(ago(500), ago(470), {"natinf": "1247"}),
                _offence(ago(300), ago(280), {"natinf": "210"}),
                _offence(ago(150), ago(126), {"natinf": "23800"}),
                # The receipt of the 48SI sent the day above: the load writes it as the postal receipt's event.
                _on("invalidation_notified", ago(120)),
                _on("licence_surrendered", ago(115)),
            ],
            places=("51454", "75056", "75056"),
        ),
        person(
            7,
            "GIRARD",
            "Sophie",
            "female",
            dt.date(1975, 7, 21),
            dt.date(1994, 9, 1),
            "Suspension du droit de conduire en cours (sans effet sur les points) après un excès de 45 km/h.",
            [
                _offence(ago(40), ago(20), {"speeding": (80, 125)}),
                ("suspension", {"from": _iso(ago(15)), "to": _iso(ago(-75))}, "agent"),
            ],
            places=("45234",),
        ),
        person(
            8,
            "ROUX",
            "Thomas",
            "male",
            dt.date(1982, 1, 8),
            dt.date(2001, 10, 10),
            "Un point retiré il y a 5 mois : il revient dans un mois ; le calendrier le montre.",
            [_offence(ago(170), ago(150), speeding_1)],
            places=("72181",),
        ),
    ]
