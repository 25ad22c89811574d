"""Where each offence was committed, on the letters and the RII: the place the feed sent (a commune's INSEE code,
kept in the feed's receipt) written as a reader knows it, "Dijon (21231)", or said to be unknown; read in one
query for the whole document."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from permis.notices.documents import builders, render_letter, render_rii
from permis.notices.documents.facts import letter_facts
from permis.registry.models import Event, FeedRecord, Licence, Notice
from tests.notices.document_helpers import licence_with, record
from tests.notices.test_letter_dates import text_of
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db

ON = dt.date(2024, 12, 1)


def placed(lic: Licence, *places: str) -> None:
    """The feed's receipts of the licence's offences, in order, each with its place ("" for none sent)."""
    events = Event.objects.filter(licence=lic, kind="offence").order_by("seq")
    for event, place in zip(events, places, strict=False):
        payload = {"sender_ref": f"R-{event.seq}", **({"place": place} if place else {})}
        FeedRecord.objects.create(
            sender="ANTAI",
            source_ref=payload["sender_ref"],
            payload=payload,
            outcome=FeedRecord.Outcome.ACCEPTED,
            event=event,
        )


def letter_text(lic: Licence, code: str) -> str:
    notice = Notice.objects.filter(licence=lic, code=code).latest("due_on")
    return text_of(render_letter(notice))


@pytest.mark.parametrize("code", ["48", "48M", "48N"])
def test_a_letter_says_where_its_offence_was_committed(code: str) -> None:
    lic = licence_with(code)
    placed(lic, "21231")
    assert "Lieu Dijon (21231)" in letter_text(lic, code)


def test_a_letter_whose_offence_came_without_a_place_says_it_is_unknown() -> None:
    lic = licence_with("48")
    placed(lic, "")
    text = letter_text(lic, "48")
    assert "Lieu Non communiqué" in text and "21231" not in text
    other = licence_with("48")  # no receipt at all (an event recorded by an agent)
    assert "Lieu Non communiqué" in letter_text(other, "48")


def test_the_48si_gives_the_place_of_every_withdrawal() -> None:
    lic = licence_with("48SI")
    placed(lic, "21231", "")
    text = letter_text(lic, "48SI")
    assert "Lieu Non communiqué" in text  # the last offence, the 48SI's cause, came without a place
    withdrawals = text[text.index("Liste des retraits de points") :]
    assert "Lieu de l’infraction" in withdrawals
    assert "Dijon (21231)" in withdrawals and "Non communiqué" in withdrawals


def test_a_46_names_the_place_of_the_offence_whose_points_come_back() -> None:
    lic = licence_with("46")
    placed(lic, "21231")
    assert "lieu : Dijon (21231)" in letter_text(lic, "46")


def test_the_rii_gives_the_place_of_each_offence() -> None:
    lic = licence_with("48SI")
    placed(lic, "21231", "")
    text = text_of(render_rii(lic, ON))
    assert "Dijon (21231)" in text and "Non communiqué" in text


def test_the_places_are_read_in_one_query_whatever_the_number_of_offences() -> None:
    def queries(offences: int) -> tuple[int, int]:
        lic = licence_with("48")
        for n in range(offences - 1):
            record(
                lic,
                "offence",
                offence(f"2024-0{4 + n}-01", f"2024-0{4 + n}-20", 1, "C3"),
                f"2024-0{4 + n}-21",
            )
        placed(lic, *["21231"] * offences)
        notice = Notice.objects.filter(licence=lic, code="48").latest("due_on")
        notice = Notice.objects.select_related("licence__holder").get(pk=notice.pk)
        licence = Licence.objects.select_related("holder").get(pk=lic.pk)
        with CaptureQueriesContext(connection) as rii:
            context, _state, _entries = builders.rii_context(licence, ON)
        assert [o["place"] for o in context["offences"]] == ["Dijon (21231)"] * offences
        with CaptureQueriesContext(connection) as letter:
            assert letter_facts(notice)["offence"]["place"] == "Dijon (21231)"
        return len(rii), len(letter)

    assert queries(1) == queries(5)


def test_documents_asked_from_an_english_page_are_written_in_french_facts_included() -> None:
    """A letter is a French administrative act: its facts (an offence's class, an unknown commune's wording)
    must not follow the language of the page that asks for it (the review's finding 3)."""
    from django.utils import translation

    lic = licence_with("48")
    placed(lic, "2A999")  # a commune the project's list does not name: "commune 2A999"
    with translation.override("en"):
        text = letter_text(lic, "48")
        rii = text_of(render_rii(lic, ON))
    for document in (text, rii):
        assert "commune 2A999" in document and "municipality" not in document
        assert "contravention" in document.lower() and "class contravention" not in document
