"""The engine's and the registry's refusals in plain French (permis.portal.problems).

Each problem is made by the code that writes it (the engine's parser, the registry's and the receipts' services),
so that a change of wording there fails here instead of showing English to an agent or a holder.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation

from permis.courses.approval import approve_centre, withdraw_centre
from permis.courses.services import CourseError
from permis.notices.receipts import ReceiptError, record_postal_receipt
from permis.portal.problems import in_words
from permis.registry import services
from permis.registry.services.categories import set_category
from permis.rules import InputError, parse_history
from tests.notices.legal_helpers import delivery, notice, paris
from tests.registry.factories import licence

LICENCE = {"obtained_on": "2010-05-04"}


def engine_problems(*events: dict, licence_data: dict | None = None) -> list[str]:
    with pytest.raises(InputError) as refused:
        parse_history({"licence": licence_data or LICENCE, "events": list(events)})
    return refused.value.problems


def why(problem: str) -> str:
    """The part a page shows: after a receipt's "delivery …: " label and the field's name, if it names one."""
    text = problem.split(": ", 1)[1] if problem.startswith("delivery ") else problem
    head, sep, rest = text.partition(": ")
    return rest if sep and " " not in head else text


ENGINE_CASES = {
    "suspension backwards": (
        [{"id": "s", "kind": "suspension", "from": "2024-03-01", "to": "2024-02-01"}],
        "La fin ne peut pas précéder le début (1er mars 2024).",
    ),
    "ban before the annulment": (
        [{"id": "a", "kind": "annulment", "on": "2024-03-01", "ban_until": "2024-01-01"}],
        "La fin de l’interdiction ne peut pas précéder l’annulation (1er mars 2024).",
    ),
    "new licence not after the first": (
        [{"id": "n", "kind": "new_licence", "obtained_on": "2009-01-01"}],
        "Le nouveau permis doit avoir été obtenu après le premier (4 mai 2010).",
    ),
    "surrender before the licence": (
        [{"id": "r", "kind": "licence_surrendered", "on": "2009-01-01"}],
        "Cette date précède l’obtention du permis.",
    ),
    "a date out of range": (
        [{"id": "r", "kind": "licence_surrendered", "on": "1850-05-01"}],
        "Cette date est en dehors des années admises (1900 à 2200).",
    ),
    "a date that does not exist": (
        [{"id": "r", "kind": "licence_surrendered", "on": "2024-02-31"}],
        "Ce n’est pas une date valide (JJ/MM/AAAA).",
    ),
    "a missing date": (
        [{"id": "r", "kind": "licence_surrendered"}],
        "Indiquez une date.",
    ),
}


@pytest.mark.parametrize("case", sorted(ENGINE_CASES))
def test_the_engines_refusals_in_french_and_english(case: str) -> None:
    events, french = ENGINE_CASES[case]
    (problem,) = engine_problems(*events)
    assert in_words(why(problem)) == french
    with translation.override("en"):
        english = in_words(why(problem))
    assert english != french and english != why(problem)  # the catalogue's translation, not the engine's text


@pytest.mark.django_db
def test_the_registrys_refusals_in_french() -> None:
    lic = licence(obtained_on=dt.date(2010, 5, 4), number="PROB00000001")
    found = {}
    with pytest.raises(services.RegistryError) as refused:
        set_category(lic, code="C", obtained_on=dt.date(2015, 1, 1), expires_on=dt.date(2014, 1, 1))
    found["expiry"] = refused.value.problems
    with pytest.raises(services.RegistryError) as refused:
        set_category(lic, code="C", obtained_on=services.today() + dt.timedelta(days=3))
    found["future"] = refused.value.problems
    with pytest.raises(services.RegistryError) as refused:
        set_category(lic, code="C", obtained_on=dt.date(2015, 1, 1), restrictions="x" * 101)
    found["long"] = refused.value.problems
    with pytest.raises(services.RegistryError) as refused:
        services.register_licence(
            holder=lic.holder, number="PROB00000001", dossier_number="x", obtained_on=dt.date(2012, 1, 1)
        )
    found["registered"] = refused.value.problems
    words = {key: [in_words(why(problem)) for problem in problems] for key, problems in found.items()}
    assert words["expiry"] == ["La fin de validité doit suivre la date d’obtention (1er janvier 2015)."]
    assert words["future"] == ["Cette date est dans le futur."]
    assert words["long"] == ["100 caractères au plus."]
    assert words["registered"] == [
        "Le numéro s’écrit avec 5 à 19 lettres majuscules ou chiffres.",  # the dossier number "x"
        "Ce numéro est déjà enregistré dans le fichier national.",
    ]


@pytest.mark.django_db
def test_a_file_altered_outside_the_registry_is_said_in_french() -> None:
    lic = licence(obtained_on=dt.date(2010, 5, 4), number="PROB00000002")
    services.record_event(
        lic, "suspension", {"from": "2020-01-01", "to": "2020-02-01"}, source="agent", on=dt.date(2020, 3, 1)
    )
    lic.events.order_by("-seq").first().delete()  # behind the registry's back
    with pytest.raises(services.RegistryError) as refused:
        services.refresh(lic)
    (problem,) = refused.value.problems
    assert in_words(why(problem)) == (
        "Le dossier du permis PROB00000002 a été modifié en dehors du fichier national : rien n’y est enregistré "
        "tant qu’il n’a pas été vérifié. Rien n’a été enregistré ; prévenez l’administrateur du fichier "
        "(commande permis verify)."
    )


@pytest.mark.django_db
def test_the_receipts_refusals_in_french() -> None:
    letter = notice("48N")  # a registered letter; its receipt writes no event (a 48SI's would)

    def refusal(row, **receipt) -> str:
        with pytest.raises(ReceiptError) as refused:
            record_postal_receipt(row, **{"kind": "received", "source": "agent:test", **receipt})
        (problem,) = refused.value.problems
        return in_words(why(problem))

    registered = delivery(letter, "registered")
    assert refusal(registered, on=dt.date(2024, 4, 5)) == (
        "La lettre n’est pas encore partie : elle ne peut pas avoir été reçue."
    )
    simple = delivery(letter, "post", sent_at=paris(2024, 4, 3, 9))
    assert (
        refusal(simple, on=dt.date(2024, 4, 5))
        == "Un avis de réception ne concerne qu’une lettre recommandée."
    )
    registered.sent_at = paris(2024, 4, 3, 9)
    registered.save()
    assert (
        refusal(registered, on=dt.date(2024, 4, 1))
        == "Cette date précède l’envoi de la lettre (3 avril 2024)."
    )
    assert (
        refusal(registered, on=timezone.localdate() + dt.timedelta(days=2)) == "Cette date est dans le futur."
    )
    record_postal_receipt(registered, kind="received", on=dt.date(2024, 4, 5), source="agent:test")
    assert refusal(registered, kind="not_collected", on=dt.date(2024, 4, 6)) == (
        "Un avis de réception est déjà enregistré (5 avril 2024) et celui-ci le contredit : passez par une "
        "demande de correction."
    )


SPEEDING = {"id": "o", "kind": "offence", "committed_on": "2024-01-10", "final_on": "2024-02-01"}

# The values of an event as an agent corrects it in the back office (an emptied value reaches the engine as None).
CORRECTION_CASES = {
    "an emptied speed": (
        {**SPEEDING, "speeding": {"limit_kmh": 80, "retained_kmh": None}},
        "Ce champ est obligatoire.",
    ),
    "an emptied class": (
        {**SPEEDING, "points": 2, "class": None},
        "Ce champ est obligatoire.",
    ),
    "a speed out of range": (
        {**SPEEDING, "speeding": {"limit_kmh": 80, "retained_kmh": 99999999999999999999999999}},
        "Une vitesse s’écrit en km/h, un nombre entier de 1 à 500.",
    ),
    "a speed within the limit": (
        {**SPEEDING, "speeding": {"limit_kmh": 80, "retained_kmh": 70}},
        "La vitesse retenue ne dépasse pas la vitesse maximale autorisée (80 km/h) : "
        "ce n’est pas un excès de vitesse.",
    ),
    "points out of range": (
        {**SPEEDING, "points": 13, "class": "C4"},
        "Le nombre de points est un nombre entier de 0 à 12.",
    ),
    "an unknown way it ended": (
        {**SPEEDING, "points": 2, "class": "C4", "how": "zzz"},
        "Cette valeur n’est pas admise ; les valeurs possibles : "
        "fine_paid, majoree_title, composition_penale, conviction.",
    ),
    "an unknown class": (
        {**SPEEDING, "points": 2, "class": "C9"},
        "Cette valeur n’est pas admise ; les valeurs possibles : C1, C2, C3, C4, C5, D.",
    ),
    "a class without points": (
        {**SPEEDING, "class": "C4", "natinf": "11"},
        "Une classe ne s’indique qu’avec un nombre de points.",
    ),
    "neither points nor speed nor natinf": (
        SPEEDING,
        "Une infraction a un nombre de points et une classe, ou une vitesse, ou un code NATINF.",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRECTION_CASES))
def test_the_engines_refusals_of_a_corrected_event_in_french(case: str) -> None:
    event, french = CORRECTION_CASES[case]
    (problem,) = [p for p in engine_problems(event) if "natinf" not in p.split(": ")[0]]
    assert in_words(why(problem)) == french


def approval_refusal(call, *args, **kwargs) -> str:
    with pytest.raises(CourseError) as refused:
        call(*args, **kwargs)
    return in_words(refused.value.message)


@pytest.mark.django_db
def test_the_approval_of_course_centres_refusals_in_french() -> None:
    centre = {
        "name": "Prévention routière Lyon",
        "approval_number": "R-69-0001",
        "address": "3 rue de la Paix",
        "postcode": "69003",
        "city": "Lyon",
        "departement": "69",
        "approved_on": dt.date(2024, 1, 1),
    }
    assert approval_refusal(approve_centre, **{**centre, "departement": "75"}) == (
        "Le code postal 69003 est dans le département 69, pas dans le 75."
    )
    row = approve_centre(**centre)
    assert approval_refusal(approve_centre, **centre) == (
        "Le numéro d’agrément R-69-0001 est déjà celui du centre « Prévention routière Lyon »."
    )
    assert approval_refusal(withdraw_centre, row, dt.date(2023, 12, 31)) == (
        "Le retrait ne peut pas précéder l’agrément (1er janvier 2024)."
    )
    withdraw_centre(row, dt.date(2024, 6, 1))
    assert approval_refusal(withdraw_centre, row, dt.date(2024, 7, 1)) == (
        "L’agrément de ce centre est déjà retiré, à partir du 1er juin 2024."
    )
    assert approval_refusal(approve_centre, **{**centre, "approved_on": dt.date(2024, 5, 1)}) == (
        "Un nouvel agrément ne peut pas précéder le retrait du précédent (1er juin 2024)."
    )


def test_anything_else_is_shown_as_written() -> None:
    assert in_words("something no pattern knows") == "something no pattern knows"
