"""The rules' own texts on the holder's pages: the barème's offence labels, the legal citations and the engine's
notes are French on the French pages and English on the English ones (/en/).

Each test asks its French pages first: a request to /en/ leaves English active on the thread.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from permis.accounts.models import Account, HolderLink
from permis.registry import services
from permis.registry.models import Licence
from tests.portal.helpers import EXAMPLE_COURSE, simulator_data
from tests.registry.factories import holder as make_holder
from tests.registry.factories import licence as make_licence

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.portal.dossier_urls")]

TODAY = dt.date(2025, 6, 2)

WRONG_WAY = ("Circulation en sens interdit", "Driving the wrong way (no entry)")
SPEEDING = (
    "Excès de vitesse de 25 km/h (vitesse retenue 105 km/h, limite 80 km/h)",
    "Speeding by 25 km/h (speed retained 105 km/h, limit 80 km/h)",
)
WITHDRAWAL = (
    "Code de la route, art. L223-1 et L223-2",
    "Highway Code (Code de la route), art. L223-1 and L223-2",
)
INITIAL = (
    "Code de la route, art. L223-1 et R223-1",
    "Highway Code (Code de la route), art. L223-1 and R223-1",
)
FULL_RESTORATION = (
    "Code de la route, art. L223-6 al. 1 et 2",
    "Highway Code (Code de la route), art. L223-6 paras. 1 and 2",
)
JUDICIAL_COURSE = (
    "Stage x1 : stage imposé par une décision judiciaire",
    "Course x1: a course ordered by a court gives no points",
)


@pytest.fixture(autouse=True)
def _today():
    cache.clear()  # the pages keep computed facts under the file's version; ids repeat from test to test
    with time_machine.travel(dt.datetime(2025, 6, 2, 10, 0, tzinfo=dt.UTC), tick=False):
        yield


def _signed_in(lic: Licence) -> Client:
    client = Client()
    user = get_user_model().objects.create_user("camille", password="x")
    Account.objects.create(user=user)
    HolderLink.objects.create(user=user, holder=lic.holder, method="licence_form")
    client.force_login(user)
    return client


def _licence() -> Licence:
    """A licence of 2015 with an offence of the barème (by its NATINF) and a speeding offence."""
    lic = make_licence(dt.date(2015, 3, 1), on=dt.date(2024, 1, 1), holder=make_holder())
    for n, data in enumerate(
        [
            {"committed_on": "2024-03-01", "final_on": "2024-03-20", "natinf": "256"},
            {
                "committed_on": "2025-01-10",
                "final_on": "2025-02-01",
                "speeding": {"limit_kmh": 80, "retained_kmh": 105},
            },
        ],
        start=1,
    ):
        services.record_event(
            lic, "offence", data, source="feed", sender="ANTAI", source_ref=f"A-{n}", on=dt.date(2025, 2, 2)
        )
    services.refresh(lic, TODAY)
    return lic


def _calendar(client: Client, url: str) -> str:
    """The calendar's text, its lines unfolded and its escaped commas and semicolons plain."""
    body = client.get(url).content.decode("utf-8")
    return body.replace("\r\n ", "").replace("\\,", ",").replace("\\;", ";")


def test_the_history_shows_the_offences_and_the_articles_in_the_pages_language() -> None:
    client = _signed_in(_licence())
    url = reverse("dossier:history")
    french = client.get(url).content.decode()
    for text, _english in (WRONG_WAY, SPEEDING, WITHDRAWAL, INITIAL):
        assert text in french, text
    english = client.get(f"/en{url}").content.decode()
    assert "History of my balance" in english
    for text, translation in (WRONG_WAY, SPEEDING, WITHDRAWAL, INITIAL):
        assert translation in english, translation
        assert text not in english, text


def test_the_forecast_and_its_calendar_cite_the_articles_in_the_pages_language() -> None:
    client = _signed_in(_licence())
    page, calendar = reverse("dossier:forecast"), reverse("dossier:forecast_ics")
    assert FULL_RESTORATION[0] in client.get(page).content.decode()
    assert FULL_RESTORATION[0] in _calendar(client, calendar)
    english = client.get(f"/en{page}").content.decode()
    assert FULL_RESTORATION[1] in english and FULL_RESTORATION[0] not in english
    ics = _calendar(client, f"/en{calendar}")
    assert FULL_RESTORATION[1] in ics and FULL_RESTORATION[0] not in ics


def test_the_holders_simulator_lists_the_bareme_and_gives_the_notes_in_the_pages_language() -> None:
    client = _signed_in(_licence())
    url = reverse("dossier:simulator")
    judicial = {
        "what-with_course": "on",
        "course-first_day": "2025-05-12",
        "course-last_day": "2025-05-13",
        "course-course_type": "judicial",
    }
    french = client.get(url).content.decode()
    assert f"256 – {WRONG_WAY[0]}" in french
    assert JUDICIAL_COURSE[0] in client.post(url, judicial).content.decode()
    english = client.get(f"/en{url}").content.decode()
    assert f"256 – {WRONG_WAY[1]}" in english and WRONG_WAY[0] not in english
    result = client.post(f"/en{url}", judicial).content.decode()
    assert JUDICIAL_COURSE[1] in result and JUDICIAL_COURSE[0] not in result


def test_the_public_simulator_cites_the_articles_in_the_pages_language() -> None:
    client = Client()
    data = simulator_data(
        offences=[{"committed_on": "2024-07-01", "final_on": "2024-07-10", "natinf": "256"}],
        courses=[EXAMPLE_COURSE],
    )
    french = client.post("/simulateur/", data).content.decode()
    assert WITHDRAWAL[0] in french and INITIAL[0] in french
    english = client.post("/en/simulateur/", data).content.decode()
    assert "Points withdrawn" in english
    for text, translation in (WITHDRAWAL, INITIAL):
        assert translation in english, translation
        assert text not in english, text
