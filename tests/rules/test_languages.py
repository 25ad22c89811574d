"""The rules' own texts in English: the barème's labels, the citations, the notes (and `explain --lang en`).

French is the reference (what the engine writes and the file stores); English is chosen with a `lang` argument,
for the pages in English. permis.rules has no gettext: these tests stand for the catalogue's checks.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from permis.rules import citations, parse_history, timeline
from permis.rules.bareme import offence_label, offence_types
from permis.rules.explain import explain
from permis.rules.notes import NOTES, note, note_text

# Words that give French away in an English text (the name "Code de la route" aside).
FRENCH = re.compile(
    r"\b(?:et|dernier|notamment|du|de|des|le|la|les|Loi|Décret|Excès|vitesse|retenue|stage)\b|\bal\."
)


def _without_code_name(text: str) -> str:
    return text.replace("(Code de la route)", "").replace("Code de la route", "")


def test_every_entry_of_the_bareme_has_a_french_and_an_english_label() -> None:
    kinds = {kind.key: kind for kind in offence_types().values()}
    assert len(kinds) == 35
    for key, kind in kinds.items():
        assert kind.label.strip() and kind.label_en.strip(), key
        assert kind.label != kind.label_en, key
        assert not FRENCH.search(kind.label_en), (key, kind.label_en)
    assert kinds["speeding_20_30"].label == "Excès de vitesse de 20 à moins de 30 km/h"
    assert kinds["speeding_20_30"].label_en == "Speeding by 20 to under 30 km/h"


def test_an_entry_without_its_english_label_is_refused(tmp_path, monkeypatch) -> None:
    from permis.rules import bareme
    from permis.rules.parameters import ParameterError

    (tmp_path / "offences.yaml").write_text(
        "offences:\n"
        "  - key: red_light\n"
        "    label: Franchissement d'un feu rouge\n"
        "    article: R412-30\n"
        '    natinf: ["210"]\n'
        "    versions:\n"
        "      - {from: 1992-07-01, class: C4, points: 4}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(bareme, "ROOT", tmp_path)
    bareme.offence_types.cache_clear()
    try:
        with pytest.raises(ParameterError, match=r"missing keys \['label_en'\]"):
            bareme.offence_types()
    finally:
        monkeypatch.undo()
        bareme.offence_types.cache_clear()


def _offences(*events: dict) -> list:
    history = parse_history({"licence": {"obtained_on": "2010-01-01"}, "events": list(events)})
    return [event for event in history.events if event.kind == "offence"]


def test_an_offence_label_in_french_is_the_one_it_was_resolved_with_and_in_english_its_translation() -> None:
    by_natinf, speeding, by_points = _offences(
        {
            "kind": "offence",
            "id": "I1",
            "committed_on": "2024-07-01",
            "final_on": "2024-07-10",
            "natinf": "210",
        },
        {
            "kind": "offence",
            "id": "I2",
            "committed_on": "2024-08-01",
            "final_on": "2024-08-10",
            "speeding": {"limit_kmh": 80, "retained_kmh": 105},
        },
        {
            "kind": "offence",
            "id": "I3",
            "committed_on": "2024-09-01",
            "final_on": "2024-09-10",
            "points": 3,
            "class": "C4",
        },
    )
    assert offence_label(by_natinf) == by_natinf.label == "Franchissement d'un feu rouge"
    assert offence_label(by_natinf, "en") == "Running a red light"
    assert offence_label(speeding) == speeding.label
    assert speeding.label == "Excès de vitesse de 25 km/h (vitesse retenue 105 km/h, limite 80 km/h)"
    assert offence_label(speeding, "en") == "Speeding by 25 km/h (speed retained 105 km/h, limit 80 km/h)"
    assert offence_label(by_points) is None and offence_label(by_points, "en") is None


def test_every_citation_has_an_english_rendering_with_the_same_articles() -> None:
    french = {
        name: value
        for name, value in vars(citations).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }
    assert len(french) >= 19
    for name, text in french.items():
        english = citations.citation(text, "en")
        assert english != text, name
        assert citations.citation(text) == citations.citation(text, "fr") == text
        assert not FRENCH.search(_without_code_name(english)), (name, english)
        articles = re.findall(r"\b[LRD]\d{3}(?:-\d+)*\b|\bn° [\d-]+", text)
        assert articles, name
        for article in articles:
            assert article.replace("n° ", "No. ") in english, (name, article, english)
    assert (
        citations.citation(citations.ONE_POINT, "en")
        == "Highway Code (Code de la route), art. L223-6 para. 3"
    )


def test_a_citation_this_module_does_not_write_is_given_back_as_it_is() -> None:
    assert citations.citation("Code de la route, art. L999-9", "en") == "Code de la route, art. L999-9"


def test_every_note_reads_back_in_english_with_its_values() -> None:
    values = {"course": "S2", "years": 1, "allowed": "2025-03-04"}
    for key, (french, english) in NOTES.items():
        text = note(key, **values)
        assert text == french.format(**values)
        assert note_text(text) == text
        assert note_text(text, "en") == english.format(**values), key
        assert not FRENCH.search(note_text(text, "en")), key
    assert note_text("Une remarque inconnue.", "en") == "Une remarque inconnue."


def test_explain_in_english_has_no_french_label_citation_or_note() -> None:
    history = parse_history(
        {
            "licence": {"obtained_on": "2015-03-01"},
            "events": [
                {
                    "kind": "offence",
                    "id": "I1",
                    "committed_on": "2024-07-01",
                    "final_on": "2024-07-10",
                    "natinf": "210",
                },
                {
                    "kind": "offence",
                    "id": "I2",
                    "committed_on": "2024-08-01",
                    "final_on": "2024-08-10",
                    "speeding": {"limit_kmh": 80, "retained_kmh": 105},
                },
                {
                    "kind": "course",
                    "id": "S1",
                    "first_day": "2024-10-14",
                    "last_day": "2024-10-15",
                    "type": "judicial",
                },
            ],
        }
    )
    evaluation = timeline(history).at(dt.date(2024, 10, 16))
    english = explain(evaluation, history, "en")
    assert "offence I1: Running a red light" in english
    assert "Speeding by 25 km/h (speed retained 105 km/h, limit 80 km/h)" in english
    assert "(Highway Code (Code de la route), art. L223-1 and L223-2)" in english
    assert "Course S1: a course ordered by a court gives no points" in english
    assert not FRENCH.search(_without_code_name(english)), english
    french = explain(evaluation, history)
    assert "infraction I1 : Franchissement d'un feu rouge" in french
    assert "(Code de la route, art. L223-1 et L223-2)" in french
    assert "Stage S1 : stage imposé par une décision judiciaire" in french
