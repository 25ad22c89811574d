"""The holder's own file (/mon-espace/): what each page says, who may see it, and that nothing is written."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from pytest_django.asserts import assertContains, assertNotContains

from permis.accounts.models import Account, HolderLink
from permis.notices import signing
from permis.portal.dates import long_date
from permis.portal.dossier import state
from permis.registry import services
from permis.registry.models import Event, FeedRecord, Holder, Licence, Movement, Notice, Projection
from permis.registry.services.core import history_of
from permis.rules import Timeline
from tests.registry.factories import holder as make_holder
from tests.registry.factories import licence as make_licence
from tests.registry.factories import offence

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.portal.dossier_urls")]

TODAY = dt.date(2025, 6, 2)
PAGES = [
    "dossier:dashboard",
    "dossier:history",
    "dossier:forecast",
    "dossier:forecast_ics",
    "dossier:simulator",
    "dossier:digital_licence",
]


@pytest.fixture(autouse=True)
def _today():
    cache.clear()  # the pages keep computed facts under the file's version; ids repeat from test to test
    with time_machine.travel(dt.datetime(2025, 6, 2, 10, 0, tzinfo=dt.UTC), tick=False):
        yield


def _sign_in(client: Client, holder: Holder, username: str = "camille") -> Client:
    user = get_user_model().objects.create_user(username, password="x")
    Account.objects.create(user=user)  # a holders' account: only those see a file
    HolderLink.objects.create(user=user, holder=holder, method="licence_form")
    client.force_login(user)
    return client


def _camille() -> Licence:
    """A licence of 2015 with two offences (6 points left at most), the first one from the feed with a place."""
    lic = make_licence(dt.date(2015, 3, 1), on=dt.date(2024, 1, 1), holder=make_holder())
    outcome = services.record_event(
        lic,
        "offence",
        offence("2024-03-01", "2024-03-20", 4, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="A-1",
        on=dt.date(2024, 3, 21),
    )
    FeedRecord.objects.create(
        sender="ANTAI",
        source_ref="A-1",
        payload={"place": "Dijon (21231)"},
        outcome="accepted",
        event=outcome.event,
    )
    services.record_event(
        lic,
        "offence",
        offence("2025-01-10", "2025-02-01", 3, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="A-2",
        on=dt.date(2025, 2, 2),
    )
    services.refresh(lic, TODAY)
    return lic


def _other() -> Licence:
    return make_licence(
        dt.date(2012, 5, 1),
        on=dt.date(2024, 1, 1),
        holder=make_holder(birth_name="DURAND", given_names="Lucien", email="l@example.fr"),
        number="OTHER0000001",
        dossier_number="OTHERDOS0001",
    )


def test_anonymous_visitors_go_to_the_login_page() -> None:
    client = Client()
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login")), name


def test_an_account_without_a_file_goes_to_the_linking_page() -> None:
    client = Client()
    user = get_user_model().objects.create_user("nolink", password="x")
    Account.objects.create(user=user)
    client.force_login(user)
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"] == reverse("accounts:link"), name


def test_a_user_that_is_no_holders_account_is_refused_even_if_linked() -> None:
    """An agent's user (no ``Account``) gets a 403, never the file, even with a ``HolderLink`` (review H2)."""
    lic = _camille()
    user = get_user_model().objects.create_user("agent.paris", password="x")
    HolderLink.objects.create(user=user, holder=lic.holder, method="licence_form")
    client = Client()
    client.force_login(user)
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 403, name
        assert "Espace réservé aux titulaires de permis" in response.content.decode()
        assert lic.number not in response.content.decode(), name


def test_no_url_of_the_space_takes_an_id() -> None:
    from permis.portal.dossier.urls import urlpatterns

    for pattern in urlpatterns:
        assert "<" not in str(pattern.pattern), pattern
        assert getattr(pattern.callback, "permis_access", None) == "holder"


def test_the_dashboard_shows_the_balance_the_status_the_categories_and_what_to_do() -> None:
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    response = client.get(reverse("dossier:dashboard"))
    html = response.content.decode()
    assert re.search(r'id="balance">5<', html) and re.search(r'id="cap">12<', html)
    assertContains(response, "Permis valide")
    assertContains(response, "Données à jour au 2 juin 2025")
    assertContains(response, "Il vous reste 6 points ou moins")
    assertContains(response, "Un stage suivi dès aujourd’hui")
    assertContains(response, lic.number)
    assertContains(response, "<td>B</td>", html=False)
    assertContains(response, "Camille MARTIN")
    # The side menu lists the space's pages that exist.
    assertContains(response, f'href="{reverse("dossier:history")}"')


def test_a_holder_never_sees_another_holders_file() -> None:
    mine = _camille()
    theirs = _other()
    client = _sign_in(Client(), mine.holder)
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        assert theirs.number.encode() not in response.content, name
        assert b"DURAND" not in response.content, name
    client = _sign_in(Client(), theirs.holder, "lucien")
    for name in PAGES:
        response = client.get(reverse(name))
        assert mine.number.encode() not in response.content, name
        assert b"Dijon" not in response.content, name
    # Another holder's ids in the query string change nothing: the pages read request.holder only.
    response = client.get(reverse("dossier:history"), {"licence": mine.pk, "holder": mine.holder_id})
    assert mine.number.encode() not in response.content


def test_a_stale_projection_is_not_shown_the_engine_computes_today() -> None:
    lic = _camille()
    # The daily run has not passed since 2024: the projection says 8 points as of then.
    Projection.objects.filter(licence=lic).update(
        as_of=dt.date(2024, 3, 21), next_change_on=dt.date(2024, 9, 1)
    )
    licence = state.licence_of(lic.holder)
    snap, evaluation = state.snapshot(licence, TODAY)
    assert not snap.fresh and evaluation is not None
    assert snap.balance == Timeline(history_of(lic)).at(TODAY).balance == 5


def test_a_fresh_projection_of_an_earlier_day_says_when_it_was_computed() -> None:
    lic = _camille()
    next_change = Projection.objects.get(licence=lic).next_change_on
    assert next_change > TODAY
    Projection.objects.filter(licence=lic).update(as_of=dt.date(2025, 5, 1))
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    assertContains(response, "Données à jour au 2 juin 2025.")
    assertContains(response, "Situation calculée le 1er mai 2025 et inchangée depuis.")
    assert re.search(r'id="balance">5<', response.content.decode())


def test_the_course_date_read_from_movements_is_the_engines() -> None:
    lic = _camille()
    services.record_event(
        lic,
        "course",
        {"first_day": "2025-03-03", "last_day": "2025-03-04", "type": "voluntary"},
        source="course_centre",
        on=dt.date(2025, 3, 5),
    )
    services.refresh(lic, TODAY)
    licence = state.licence_of(lic.holder)
    snap, _ = state.snapshot(licence, TODAY)
    assert snap.fresh
    expected = Timeline(history_of(lic)).at(TODAY).next_creditable_course_from
    assert state.next_course_from(licence, snap) == expected == dt.date(2026, 3, 5)
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    assertContains(response, "à partir du 5 mars 2026")


def test_a_48n_gives_the_four_month_deadline() -> None:
    lic = make_licence(dt.date(2024, 6, 1), on=dt.date(2024, 6, 1), holder=make_holder())
    services.record_event(
        lic,
        "offence",
        offence("2025-04-01", "2025-04-20", 3, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="N-1",
        on=dt.date(2025, 4, 21),
    )
    assert Notice.objects.filter(licence=lic, code="48N").exists()
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    assertContains(response, "Stage obligatoire (lettre 48N)")
    assertContains(response, "Permis probatoire")


def test_a_signed_in_holders_pages_are_one_statement_and_write_nothing() -> None:
    """The session, read with its account and the account's file (link, holder, current licence and projection)
    in one statement (permis.accounts.signed_in): nothing else once the page is kept, no engine run, and no write
    (the session is touched once a minute at most). docs/performance.md, "Citizen portal": each round trip is a
    large share of a page's cost."""
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    for name in ("dossier:dashboard", "dossier:history"):
        client.get(reverse(name))  # the first visit computes the page's facts and keeps the page
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse(name))
        assert response.status_code == 200
        tables = [re.search(r'FROM "(\w+)"', q["sql"]).group(1) for q in queries.captured_queries]  # type: ignore[union-attr]
        assert tables == ["django_session"], [q["sql"] for q in queries.captured_queries]
        assert all(q["sql"].startswith("SELECT") for q in queries.captured_queries)


def test_the_session_is_touched_once_a_minute_not_at_every_request() -> None:
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    client.get(reverse("dossier:dashboard"))
    with CaptureQueriesContext(connection) as quiet:
        client.get(reverse("dossier:dashboard"))
    assert not any('UPDATE "django_session"' in q["sql"] for q in quiet.captured_queries)
    a_minute_later = dt.datetime(2025, 6, 2, 10, 1, 1, tzinfo=dt.UTC)
    with time_machine.travel(a_minute_later, tick=False), CaptureQueriesContext(connection) as touched:
        assert client.get(reverse("dossier:dashboard")).status_code == 200
    assert any('UPDATE "django_session"' in q["sql"] for q in touched.captured_queries)


def test_a_kept_page_gets_a_fresh_csrf_token_each_time_and_its_sign_out_form_works() -> None:
    lic = _camille()
    client = _sign_in(Client(enforce_csrf_checks=True), lic.holder)
    pages = [client.get(reverse("dossier:dashboard")).content.decode() for _ in range(2)]
    tokens = [re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1) for page in pages]  # type: ignore[union-attr]
    assert tokens[0] != tokens[1]
    assert pages[0].replace(tokens[0], "") == pages[1].replace(tokens[1], "")
    assert client.post(reverse("accounts:logout"), {"csrfmiddlewaretoken": tokens[1]}).status_code == 302
    assert client.get(reverse("dossier:dashboard")).status_code == 302


def test_a_kept_page_follows_a_new_event_and_a_new_name_at_once() -> None:
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    for name in ("dossier:dashboard", "dossier:history"):
        client.get(reverse(name))
    services.record_event(
        lic,
        "offence",
        offence("2025-05-01", "2025-05-20", 2, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="A-3",
        on=TODAY,
    )
    services.refresh(lic, TODAY)
    Holder.objects.filter(pk=lic.holder_id).update(used_name="Dupont")
    dashboard = client.get(reverse("dossier:dashboard")).content.decode()
    assert re.search(r'id="balance">3<', dashboard)
    assert "Camille DUPONT" in dashboard
    assertContains(client.get(reverse("dossier:history")), "20 mai 2025")


def test_the_history_lists_each_movement_with_its_offence_and_article() -> None:
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    response = client.get(reverse("dossier:history"))
    assertContains(response, "Retrait de points")
    assertContains(response, "Infraction du 1er mars 2024 devenue définitive le 20 mars 2024")
    assertContains(response, "Dijon (21231)")  # from the feed record
    assertContains(response, "Date de valeur")
    assertContains(response, "Code de la route, art. L223-1 et L223-2")
    assertContains(response, "Capital initial")
    # The chart: the forecast drawn dashed, a legend, and the table alternative.
    assertContains(response, "permis-chart__balance--forecast")
    assertContains(response, "stroke-dasharray")
    assertContains(response, "Les données du graphique sous forme de tableau")
    # The year filter works without JavaScript (a GET form).
    response = client.get(reverse("dossier:history"), {"annee": "2025"})
    assertContains(response, "Infraction du 10 janvier 2025")
    assertNotContains(response, "Infraction du 1er mars 2024 devenue")
    assertNotContains(response, "Capital initial")
    # A year that is not in the list is ignored.
    assert client.get(reverse("dossier:history"), {"annee": "abc"}).status_code == 200


def test_the_forecast_lists_the_restorations_and_what_would_cancel_them() -> None:
    lic = _camille()
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:forecast"))
    assertContains(response, "Reconstitution du capital")
    assertContains(response, "une infraction commise avant le")
    assertContains(response, "art. L223-6")
    assertContains(response, reverse("dossier:forecast_ics"))


def _unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_the_forecast_calendar_is_rfc5545() -> None:
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    response = client.get(reverse("dossier:forecast_ics"))
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.content.decode("utf-8")
    assert body.endswith("\r\n") and "\n" not in body.replace("\r\n", "")
    for raw in body.split("\r\n"):
        assert len(raw.encode("utf-8")) <= 75
    lines = _unfold(body)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR"
    assert "X-WR-CALNAME:Mes points de permis : prévisions" in lines
    english = _unfold(client.get("/en" + reverse("dossier:forecast_ics")).content.decode("utf-8"))
    assert "X-WR-CALNAME:My licence points: forecast" in english
    events: list[dict[str, str]] = []
    for line in lines:
        if line == "BEGIN:VEVENT":
            events.append({})
        elif events and ":" in line and line != "END:VEVENT":
            name, value = line.split(":", 1)
            events[-1][name] = value
    assert events
    upcoming = Timeline(history_of(lic)).at(TODAY).upcoming
    assert [e["DTSTART;VALUE=DATE"] for e in events] == [m.on.strftime("%Y%m%d") for m in upcoming]
    for event in events:
        assert re.fullmatch(r"\d{8}T\d{6}Z", event["DTSTAMP"])
        assert event["UID"] and "DTEND;VALUE=DATE" in event
        # Escaped text: no bare comma or semicolon in a TEXT value.
        assert not re.search(r"(?<!\\)[,;]", event["DESCRIPTION"])
    # The UIDs are stable from one download to the next.
    again = [
        line
        for line in _unfold(client.get(reverse("dossier:forecast_ics")).content.decode())
        if line.startswith("UID:")
    ]
    assert again == [f"UID:{e['UID']}" for e in events]


def test_the_calendar_escapes_and_folds_text() -> None:
    from permis.portal.dossier.calendar import escape, fold

    assert escape("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"
    long = "DESCRIPTION:" + "é" * 80
    folded = fold(long)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == long


def _counts() -> tuple[int, ...]:
    return (
        Event.objects.count(),
        Movement.objects.count(),
        Notice.objects.count(),
        Projection.objects.count(),
        FeedRecord.objects.count(),
    )


def test_the_simulator_compares_with_todays_forecast_and_stores_nothing() -> None:
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    assertContains(client.get(reverse("dossier:simulator")), "Simuler une infraction ou un stage")
    before = _counts()
    projection = Projection.objects.values().get(licence=lic)
    response = client.post(
        reverse("dossier:simulator"),
        {
            "what-with_offence": "on",
            "offence-committed_on": "2025-06-02",
            "offence-final_on": "2025-06-02",
            "offence-points": "2",
            "offence-offence_class": "C4",
            "what-with_course": "on",
            "course-first_day": "2025-07-01",
            "course-last_day": "2025-07-02",
            "course-course_type": "voluntary",
        },
    )
    assert response.status_code == 200
    assertContains(response, "Résultat de la simulation")
    assertContains(response, "Solde aujourd’hui : 5 / 12 ; avec cette hypothèse : 3 / 12.")
    assertContains(response, "État du permis avec cette hypothèse : Permis valide")
    assertContains(response, "Différence avec la prévision actuelle")
    assertContains(response, "−2")
    assertContains(response, "stroke-dasharray")
    assert _counts() == before
    assert Projection.objects.values().get(licence=lic) == projection


def test_the_simulator_accepts_a_natinf_of_the_bareme_and_explains_errors() -> None:
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    response = client.post(
        reverse("dossier:simulator"),
        {
            "what-with_offence": "on",
            "offence-committed_on": "2025-06-02",
            "offence-final_on": "2025-06-10",
            "offence-natinf": "35273",
        },
    )
    assertContains(response, "Résultat de la simulation")
    response = client.post(
        reverse("dossier:simulator"), {"what-with_offence": "on", "offence-committed_on": ""}
    )
    assertContains(response, "La simulation n’a pas pu être faite", status_code=400)
    assertContains(response, "<title>Erreur : ", status_code=400)
    response = client.post(reverse("dossier:simulator"), {})
    assertContains(response, "Cochez « Ajouter une infraction »", status_code=400)


def test_an_hypothesis_the_engine_refuses_is_an_invalid_submission() -> None:
    """The form cannot know the file: an offence before the licence is the engine's objection, answered 400."""
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    data = {
        "what-with_offence": "on",
        "offence-committed_on": "2001-06-02",
        "offence-final_on": "2001-06-10",
        "offence-natinf": "35273",
    }
    response = client.post(reverse("dossier:simulator"), data)
    assertContains(response, "Cette date précède l’obtention du permis.", status_code=400)
    assertContains(response, "<title>Erreur : ", status_code=400)


def test_a_part_not_chosen_keeps_what_was_typed_and_shows_no_error() -> None:
    """A course alone: the offence block the page sends (half filled) is neither checked nor marked invalid."""
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    response = client.post(
        reverse("dossier:simulator"),
        {
            "what-with_course": "on",
            "offence-committed_on": "2025-06-02",
            "offence-points": "",
            "course-first_day": "2025-07-01",
            "course-last_day": "2025-07-02",
            "course-course_type": "voluntary",
        },
    )
    html = response.content.decode()
    assertContains(response, "Résultat de la simulation")
    assert 'aria-invalid="true"' not in html and "fr-input-group--error" not in html
    assert 'value="2025-06-02"' in html  # the offence's date as typed, kept for a next try


def test_nothing_chosen_is_one_error_saying_what_to_fill_not_every_field_of_both_parts() -> None:
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    response = client.post(
        reverse("dossier:simulator"),
        {"offence-committed_on": "", "offence-final_on": "", "course-first_day": "", "course-last_day": ""},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Cochez « Ajouter une infraction », « Ajouter un stage », ou les deux." in html
    assert "Ce champ est obligatoire" not in html
    assert 'aria-invalid="true"' not in html
    assert [anchor for anchor, _label, _message in response.context["errors"]] == ["what-fields"]


def test_a_course_is_two_consecutive_days_a_longer_one_is_refused_on_its_last_day() -> None:
    """R223-5 (RULES.md §8.1): a 6-day "course" is not one, and would be credited +4 by the engine."""
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    data = {
        "what-with_course": "on",
        "course-first_day": "2026-01-10",
        "course-last_day": "2026-01-15",
        "course-course_type": "voluntary",
    }
    response = client.post(reverse("dossier:simulator"), data)
    assertContains(
        response,
        "Un stage de sensibilisation dure 2 jours consécutifs (article R223-5 du code de la route) : pour un "
        "stage commencé le 10 janvier 2026, le dernier jour est le 11 janvier 2026.",
        status_code=400,
    )
    assert "Résultat de la simulation" not in response.content.decode()
    assert [anchor for anchor, _label, _message in response.context["errors"]] == ["id_course-last_day"]
    one_day = client.post(reverse("dossier:simulator"), {**data, "course-last_day": "2026-01-10"})
    assertContains(one_day, "dure 2 jours consécutifs", status_code=400)
    two_days = client.post(reverse("dossier:simulator"), {**data, "course-last_day": "2026-01-11"})
    assertContains(two_days, "Résultat de la simulation")


def test_the_digital_licence_is_a_signed_qr_that_verifies_and_carries_no_points() -> None:
    lic = _camille()
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:digital_licence"))
    html = response.content.decode()
    text = re.search(r'id="qr-text"[^>]*>([^<]+)<', html).group(1).strip()
    assert 'src="data:image/svg+xml' in html
    verdict = signing.verify(text)
    assert verdict.valid, verdict.detail
    payload = verdict.payload
    assert payload["licence"] == lic.number and payload["status"] == "valid"
    assert payload["born"] == "1990-05-17" and payload["cats"][0][0] == "B"
    assert "balance" not in payload and "points" not in str(sorted(payload))
    expires = dt.datetime.fromisoformat(payload["exp"])
    assert (
        dt.timedelta(minutes=9)
        < expires - dt.datetime(2025, 6, 2, 10, 0, tzinfo=dt.UTC)
        <= dt.timedelta(minutes=10)
    )
    assertContains(response, 'id="qr-refresh"')
    assertContains(response, "Valable jusqu’à 12:10")


def test_the_digital_licence_renews_its_code_in_place_never_by_reloading_the_page() -> None:
    """A reload every 9.5 minutes sent keyboard and screen-reader users back to the top: the code, its validity
    and its text are replaced in place, and a polite live region says so."""
    lic = _camille()
    html = _sign_in(Client(), lic.holder).get(reverse("dossier:digital_licence")).content.decode()
    assert "location.reload" not in html
    assert re.search(r'<p class="fr-sr-only" id="qr-status" role="status" aria-live="polite"></p>', html)
    for element in ('id="qr"', 'id="qr-expires"', 'id="qr-text"', 'id="qr-refresh"'):
        assert element in html
    assert "Le code QR a été renouvelé." in html  # what the live region will say
    assert "var refreshSeconds = 570;" in html


def test_a_linked_holder_without_a_licence_is_told_so() -> None:
    holder = make_holder()
    holder.save()
    client = _sign_in(Client(), holder)
    for name in ("dossier:dashboard", "dossier:history", "dossier:simulator"):
        assertContains(client.get(reverse(name)), "Aucun permis dans votre dossier")


def test_the_menu_skips_pages_that_do_not_exist() -> None:
    from permis.portal import menu

    names = [entry.name for entry in menu.entries()]
    assert "dossier:dashboard" in names
    assert set(names) <= {name for name, _label in menu.MENU}
    menu.MENU.append(("nowhere:page", "x"))
    try:
        menu._entries.cache_clear()
        assert "nowhere:page" not in [entry.name for entry in menu.entries()]
    finally:
        menu.MENU.pop()
        menu._entries.cache_clear()


def test_the_english_pages() -> None:
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    response = client.get("/en/mon-espace/")
    assertContains(response, "Data up to date on June 2, 2025.")
    assertContains(response, "You have 6 points or fewer left")
    assertContains(client.get("/en/mon-espace/historique/"), "History of my balance")
    assertContains(client.get("/en/mon-espace/previsions/"), "Forecast: the points to come")
    assertContains(client.get("/en/mon-espace/permis-numerique/"), "My digital licence")
    # English writes no space before a colon ("Licence number: …"), French does ("Numéro de permis : …").
    assertContains(response, f"Licence number: {lic.number}")
    assertNotContains(response, f"Licence number : {lic.number}")
    history = client.get("/en/mon-espace/historique/").content.decode()
    assert "Points: 4" in history and "Points : " not in history
    translation.activate("fr")
    assertContains(client.get("/mon-espace/"), f"Numéro de permis : {lic.number}")


def test_the_english_dashboard_of_a_suspended_licence() -> None:
    suspended = _with([("suspension", {"from": "2025-05-01", "to": "2025-08-01"})])
    html = _sign_in(Client(), suspended.holder).get("/en/mon-espace/").content.decode()
    translation.activate("fr")
    assert _badges(html) == [("error", "Licence suspended")]


def test_the_english_dashboard_of_an_invalidated_licence() -> None:
    invalidated = _with([*ZERO, ("invalidation_notified", {"on": "2025-05-20"})])
    html = _sign_in(Client(), invalidated.holder).get("/en/mon-espace/").content.decode()
    translation.activate("fr")
    assert "No longer valid: the licence is invalidated" in html and "Valid until" not in html


def _with(events: list[tuple[str, dict]]) -> Licence:
    lic = make_licence(dt.date(2015, 3, 1), on=dt.date(2024, 1, 1), holder=make_holder())
    for n, (kind, data) in enumerate(events, start=1):
        services.record_event(
            lic, kind, data, source="agent", recorded_by="test", source_ref=f"S-{n}", sender="TEST", on=TODAY
        )
    services.refresh(lic, TODAY)
    return lic


ZERO = [
    ("offence", offence("2025-01-10", "2025-02-01", 6, "D")),
    ("offence", offence("2025-02-10", "2025-03-01", 6, "D")),
]


@pytest.mark.parametrize(
    ("events", "badge", "alert"),
    [
        (ZERO, "Solde nul", "Votre solde est nul"),
        (
            [*ZERO, ("invalidation_notified", {"on": "2025-05-20"})],
            "Permis invalidé",
            "Votre permis est invalidé",
        ),
        (
            [("suspension", {"from": "2025-05-01", "to": "2025-08-01"})],
            "Permis suspendu",
            "Votre permis est suspendu",
        ),
        (
            [("annulment", {"on": "2025-05-01"})],
            "Permis annulé par un juge",
            "Votre permis a été annulé par un juge",
        ),
    ],
)
def test_the_dashboard_says_each_state_and_what_to_do(events, badge, alert) -> None:
    lic = _with(events)
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    assertContains(response, badge)
    assertContains(response, alert)


def _probationary(*offences: dict) -> Licence:
    """A traditional probationary licence of 1 June 2024 (probation until 1 June 2027), with these offences."""
    lic = make_licence(dt.date(2024, 6, 1), on=dt.date(2024, 6, 1), holder=make_holder())
    for n, data in enumerate(offences, start=1):
        services.record_event(
            lic, "offence", data, source="feed", sender="ANTAI", source_ref=f"P-{n}", on=dt.date(2025, 4, 21)
        )
    services.refresh(lic, TODAY)
    return lic


def test_the_probation_alert_follows_the_engines_forecast_after_an_offence() -> None:
    """RULES.md §3.2: after an offence during probation the cap becomes 12 at the end, the balance stays."""
    lic = _probationary(offence("2025-04-01", "2025-04-20", 3, "C4"))
    end = Timeline(history_of(lic)).at(TODAY).upcoming
    assert [m.balance for m in end if m.kind == "probation_end"] == [3]
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    assertContains(response, "Votre période probatoire se termine le 1er juin 2027.")
    assertContains(response, "il sera de 3 points")
    assertNotContains(response, "atteindra alors 12 points")


def test_the_probation_alert_promises_12_points_only_without_offence() -> None:
    lic = _probationary()
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    assertContains(response, "Votre période probatoire se termine le 1er juin 2027.")
    assertContains(response, "Sans infraction d’ici là, votre permis atteindra alors 12 points.")


def test_a_nil_balance_forecast_shows_the_change_as_shown_and_that_the_48si_cancels_it() -> None:
    """A raw balance of -1 (48SI not notified): the holder sees 0 -> 12, so +12 (not the engine's +13 on the raw
    balance), and the 48SI's notification cancels the restoration (RULES.md §7.4)."""
    lic = _with(
        [
            ("offence", offence("2025-01-10", "2025-02-01", 6, "D")),
            ("offence", offence("2025-02-10", "2025-03-01", 4, "C4")),
            ("offence", offence("2025-03-10", "2025-04-01", 3, "C4")),
        ]
    )
    evaluation = Timeline(history_of(lic)).at(TODAY)
    assert (evaluation.raw_balance, evaluation.status) == (-1, "zero_balance")
    assert [(m.kind, m.change) for m in evaluation.upcoming] == [("full_restoration", 13)]  # the engine's
    client = _sign_in(Client(), lic.holder)
    html = client.get(reverse("dossier:forecast")).content.decode()
    assert "Reconstitution du capital (+12)" in html and "+13" not in html
    assert (
        "une infraction commise avant le 1er avril 2028, ou l’invalidation du permis (notification de la lettre "
        "48SI) avant cette date"
    ) in html
    ics = "\n".join(_unfold(client.get(reverse("dossier:forecast_ics")).content.decode()))
    assert "(+12)" in ics and "(+13)" not in ics
    assert "notification de la lettre 48SI" in ics


def _badges(html: str) -> list[str]:
    return re.findall(r'<span class="fr-badge fr-badge--(\w+)"[^>]*>([^<]*)</span>', html)


def test_a_suspended_licence_leads_with_suspended_never_with_valid() -> None:
    """The digital licence says "Suspendu": the dashboard's badge agrees, and no "Permis valide" beside it."""
    lic = _with([("suspension", {"from": "2025-05-01", "to": "2025-08-01"})])
    html = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard")).content.decode()
    assert _badges(html) == [("error", "Permis suspendu")]
    assert 'id="status">Permis suspendu<' in html
    assert "Permis valide" not in html


def test_a_suspended_licence_with_a_nil_balance_says_both_suspended_first() -> None:
    lic = _with([*ZERO, ("suspension", {"from": "2025-05-01", "to": "2025-08-01"})])
    html = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard")).content.decode()
    labels = [label for _level, label in _badges(html)]
    assert labels[0] == "Permis suspendu" and labels[1].startswith("Solde nul")


def test_a_valid_licence_keeps_its_green_badge() -> None:
    lic = _with([])
    html = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard")).content.decode()
    assert _badges(html) == [("success", "Permis valide")]


def test_the_next_points_change_skips_the_end_of_probation_where_the_balance_stays() -> None:
    """After an offence during probation, the end of probation changes the cap only (RULES.md §3.2): the next
    change of the points is the day the balance does change."""
    lic = _probationary(offence("2025-04-01", "2025-04-20", 3, "C4"))
    upcoming = Timeline(history_of(lic)).at(TODAY).upcoming
    assert (upcoming[0].kind, upcoming[0].balance) == ("probation_end", 3)
    changes = [m for m in upcoming if m.balance != 3]
    assert changes and changes[0].on > upcoming[0].on
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    assertContains(response, f"Prochain changement de vos points prévu le {long_date(changes[0].on)}.")
    assertNotContains(response, f"Prochain changement de vos points prévu le {long_date(upcoming[0].on)}.")


def test_an_invalidated_licences_categories_are_no_longer_valid() -> None:
    lic = _with([*ZERO, ("invalidation_notified", {"on": "2025-05-20"})])
    html = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard")).content.decode()
    assert "Plus valable : le permis est invalidé" in html
    assert "Valable jusqu’au" not in html and "sans limite" not in html


def test_a_suspended_holder_is_told_when_the_suspension_ends_not_of_a_points_change() -> None:
    lic = _with([("suspension", {"from": "2025-05-01", "to": "2025-08-01"})])
    assert Projection.objects.get(licence=lic).next_change_on == dt.date(2025, 8, 2)  # a suspension boundary
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    assertContains(response, "Suspension du permis jusqu’au 1er août 2025 inclus.")
    assertContains(
        response,
        "La suspension dure jusqu’au 1er août 2025 inclus : vous pourrez conduire de nouveau à partir du "
        "2 août 2025.",
    )
    assertNotContains(response, "Prochain changement")


def test_a_suspension_to_come_is_not_called_a_points_change() -> None:
    lic = _with([("suspension", {"from": "2025-07-01", "to": "2025-09-30"})])
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    assertContains(response, "Suspension du permis à partir du 1er juillet 2025.")
    assertNotContains(response, "Prochain changement")


def test_the_next_points_change_is_named_as_such() -> None:
    lic = _camille()
    upcoming = Timeline(history_of(lic)).at(TODAY).upcoming[0].on
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    day = long_date(upcoming)
    assertContains(response, f"Prochain changement de vos points prévu le {day}.")


def test_an_invalidated_holder_who_surrendered_the_licence_is_told_when_to_apply_again() -> None:
    """L223-5 II: no new licence before six months from the surrender; the engine knows the day."""
    lic = _with(
        [
            *ZERO,
            ("invalidation_notified", {"on": "2025-05-20"}),
            ("licence_surrendered", {"on": "2025-05-25"}),
        ]
    )
    assert Timeline(history_of(lic)).at(TODAY).new_licence_from == dt.date(2025, 11, 25)
    response = _sign_in(Client(), lic.holder).get(reverse("dossier:dashboard"))
    assertContains(response, "vous pourrez demander un nouveau permis à partir du 25 novembre 2025")
    assertNotContains(response, "Remettez votre permis")


def test_the_share_menu_entry_does_not_promise_the_balance() -> None:
    """A share code never shows points (L223-7): the menu says what is shared."""
    from permis.portal import menu

    labels = {name: str(label) for name, label in menu.MENU}
    assert labels["demarches:share"] == "Partager mon droit à conduire"
    response = _sign_in(Client(), _camille().holder).get(reverse("dossier:dashboard"))
    assertNotContains(response, "Partager mon solde")


def test_head_is_answered_like_get_on_every_page() -> None:
    """Monitors and link checkers use HEAD: the same status as GET (M3), and nothing else is allowed."""
    lic = _camille()
    client = _sign_in(Client(), lic.holder)
    for name in PAGES:
        get = client.get(reverse(name))
        head = client.head(reverse(name))
        assert head.status_code == get.status_code == 200, name
        assert client.put(reverse(name)).status_code == 405, name
    assert Client().head(reverse("dossier:dashboard")).status_code == 302  # signed out: to the login page
