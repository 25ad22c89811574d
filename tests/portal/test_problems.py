"""The engine's and the registry's refusals in plain French (permis.portal.problems).

Each problem is made by the code that writes it (the engine's parser, the registry's and the receipts' services),
so that a change of wording there fails here instead of showing English to an agent or a holder.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation

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


def test_anything_else_is_shown_as_written() -> None:
    assert in_words("something no pattern knows") == "something no pattern knows"
