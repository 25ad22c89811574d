"""FranceConnect's identity pivot, and which holder of the file it designates.

The identity pivot is what FranceConnect certifies about a person: birth name, given names, birth date, sex,
place and country of birth. It links an account to a holder's file automatically only when it designates
exactly one holder; none or several, and the person links the file by typing the numbers of the licence, which
is accepted only if the same identity certifies the holder the numbers designate (``same_person`` with
``whole_pivot=False``: birth name, first given name, birth date).

Names are compared after normalisation (accents, case, hyphens and repeated spaces do not count): the civil
register and the national file do not always write them the same way, and a difference of accent must not
stop a match. Everything else is compared exactly.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from typing import Any

from permis.registry.models import Holder, Licence

from .fcdev import Identity

NAMED_DEMO_NUMBERS = [f"DEMO{serial:08d}" for serial in range(1, 9)]
HOMONYM_NUMBERS = ("DEMOHOMONYM1", "DEMOHOMONYM2")
NOBODY = Identity(
    given_name="Aurore Marie",
    family_name="PERSONNE",
    birthdate="1970-01-01",
    gender="female",
    birthplace="75056",
    preferred_username="",
    email="aurore.personne@demo.permis.test",
    note="ne correspond à aucun permis du fichier",
)


def normalise_name(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.replace("-", " ").replace("'", " ").replace("’", " ").casefold().split())


def _birth_date(claims: Mapping[str, Any]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(claims.get("birthdate", "")))
    except ValueError:
        return None


def _first_given_name(value: str) -> str:
    """The first of the given names as written (a compound name keeps its hyphen: "Jean-Pierre"), normalised."""
    words = value.replace(",", " ").split()
    return normalise_name(words[0]) if words else ""


def same_person(holder: Holder, claims: Mapping[str, Any], *, whole_pivot: bool = True) -> bool:
    """Whether FranceConnect's claims certify this holder's identity.

    Always: the birth name (normalised), the birth date (exactly), and the given names (normalised).
    ``whole_pivot`` (the automatic link, which has nothing else to go on): every given name, the sex, the place
    and the country of birth too. Otherwise (the linking form, where the licence's numbers designate the file):
    the first given name is enough (the civil register may list more given names than the file), and sex and
    place are not compared (their codes are not always written alike).
    """
    birth_date = _birth_date(claims)
    family = normalise_name(str(claims.get("family_name", "")))
    given = normalise_name(str(claims.get("given_name", "")))
    if birth_date is None or not family or not given:
        return False
    if holder.birth_date != birth_date or normalise_name(holder.birth_name) != family:
        return False
    all_given = normalise_name(holder.given_names) == given
    if whole_pivot:
        return (
            all_given
            and holder.sex == claims.get("gender")
            and (holder.birth_place or "") == (claims.get("birthplace") or "")
            and (holder.birth_country or "99100") == (claims.get("birthcountry") or "99100")
        )
    first = _first_given_name(str(claims.get("given_name", "")))
    return all_given or (bool(first) and first == _first_given_name(holder.given_names))


def matching_holders(claims: Mapping[str, Any], limit: int = 2) -> list[Holder]:
    """The holders whose identity equals the pivot of these claims (at most ``limit``, enough to tell 0/1/2)."""
    birth_date = _birth_date(claims)
    if birth_date is None:
        return []
    family = str(claims.get("family_name", "")).strip()
    if not family or not normalise_name(str(claims.get("given_name", ""))):
        return []
    # The index (birth_name, birth_date) finds the candidates; the rest is compared here.
    names = {family, family.upper(), normalise_name(family).upper()}
    candidates = Holder.objects.filter(birth_name__in=names, birth_date=birth_date)
    found = []
    for holder in candidates:
        if same_person(holder, claims):
            found.append(holder)
            if len(found) >= limit:
                break
    return found


def identity_of(holder: Holder, note: str = "") -> Identity:
    return Identity(
        given_name=holder.given_names,
        family_name=holder.birth_name,
        birthdate=holder.birth_date.isoformat(),
        gender=holder.sex,
        birthplace=holder.birth_place,
        birthcountry=holder.birth_country or "99100",
        preferred_username=holder.used_name,
        email=holder.email,
        note=note,
    )


def ensure_demo_homonyms() -> bool:
    """Two holders with one identity pivot (homonyms born the same day in the same town), so that the
    ambiguous case can be tried; registered through the registry's services, once. Returns True if made."""
    from permis.registry.services.core import register_licence

    if Licence.objects.filter(number__in=HOMONYM_NUMBERS).exists():
        return False
    for index, number in enumerate(HOMONYM_NUMBERS, start=1):
        holder = Holder(
            birth_name="HOMONYME",
            given_names="Dominique",
            birth_date=dt.date(1975, 6, 15),
            birth_place="69123",
            sex="male",
            address=f"{index} place Bellecour",
            postal_code="69002",
            city="Lyon",
        )
        register_licence(
            holder=holder,
            number=number,
            dossier_number=f"99100000{index:04d}",
            obtained_on=dt.date(1994, 9, 1),
            departement="69",
            categories=[{"code": "B", "obtained_on": dt.date(1994, 9, 1), "expires_on": None}],
        )
    return True


def demo_identities() -> list[Identity]:
    """The identities the development provider offers: the named demo holders, one that matches no file and
    one that matches two (read from the database at each visit, so a reloaded demo shows at once)."""
    identities = []
    licences = (
        Licence.objects.filter(number__in=NAMED_DEMO_NUMBERS).select_related("holder").order_by("number")
    )
    for licence in licences:
        identities.append(identity_of(licence.holder, note=f"permis {licence.number}"))
    identities.append(NOBODY)
    homonym = Licence.objects.filter(number=HOMONYM_NUMBERS[0]).select_related("holder").first()
    if homonym is not None:
        identities.append(identity_of(homonym.holder, note="correspond à deux titulaires du fichier"))
    return identities
