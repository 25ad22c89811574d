"""The simulator page through Django's test client, against the real rules engine."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.asserts import assertContains, assertNotContains

from tests.portal.helpers import EXAMPLE_COURSE, EXAMPLE_OFFENCE, engine_io_example, simulator_data

URL = "/simulateur/"


def balance_of(html: str) -> int:
    match = re.search(r'id="balance">(\d+)<', html)
    assert match, "no balance on the page"
    return int(match.group(1))


def field_tag(html: str, field_id: str) -> str:
    match = re.search(rf'<[^>]*\bid="{re.escape(field_id)}"[^>]*>', html)
    assert match, f"no element #{field_id}"
    return match.group(0)


def test_the_home_page_leads_to_the_simulator(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == URL


def test_the_empty_simulator_offers_one_row_of_each_kind(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="fr"' in html
    assert "<h1>Simulateur du solde de points</h1>" in html
    assert 'name="offences-TOTAL_FORMS" value="1"' in html
    assert 'name="courses-TOTAL_FORMS" value="1"' in html
    assert 'id="balance"' not in html
    assertContains(response, "Ajouter une infraction")
    assertContains(response, "Ajouter un stage")


def test_the_engine_io_example_gives_six_points(client: Client) -> None:
    response = client.post(URL, engine_io_example())
    assert response.status_code == 200
    html = response.content.decode()
    assert balance_of(html) == 6
    assertContains(response, "sur 6 au maximum")
    assertContains(response, "Permis valide")
    assertContains(response, "Permis probatoire du 1er avril 2024 au 1er avril 2027.")


def test_each_movement_shows_its_date_change_balance_reason_and_article(client: Client) -> None:
    html = client.post(URL, engine_io_example()).content.decode()
    rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    withdrawal = next(row for row in rows if "Retrait de points" in row)
    assert "10 juillet 2024" in withdrawal
    assert "−3" in withdrawal
    assert "infraction 1 du 1er juillet 2024" in withdrawal
    assert "L223-2" in withdrawal
    course = next(row for row in rows if "Stage de sensibilisation" in row and "+3" in row)
    assert "16 octobre 2024" in course
    assert "R223-8" in course
    assertContains(client.post(URL, engine_io_example()), "Capital initial")


def test_the_forecast_says_what_would_cancel_each_change(client: Client) -> None:
    response = client.post(URL, engine_io_example())
    assertContains(response, "Fin de la période probatoire")
    assertContains(response, "Reconstitution du capital")
    assertContains(response, "une infraction commise avant le 10 juillet 2027")


def test_the_letters_and_the_next_course_date_are_listed(client: Client) -> None:
    response = client.post(URL, engine_io_example())
    assertContains(response, "Lettre 48N du 10 juillet 2024")
    assertContains(response, "Lettre 47 du 16 octobre 2024")
    assertContains(response, "Un stage de sensibilisation n’ajouterait pas de points à cette date.")


def test_the_chart_is_an_accessible_svg_with_a_table_alternative(client: Client) -> None:
    html = client.post(URL, engine_io_example()).content.decode()
    svg = re.search(r"<svg[^>]*>.*?</svg>", html, flags=re.S)
    assert svg
    assert 'role="img"' in svg.group(0)
    assert 'aria-labelledby="chart-title-wide chart-desc-wide"' in svg.group(0)
    assert '<title id="chart-title-wide">' in svg.group(0)
    desc = re.search(r'<desc id="chart-desc-wide">(.*?)</desc>', svg.group(0), flags=re.S)
    assert desc
    assert "6 points sur 6 le 16 octobre 2024" in desc.group(1)
    assert "permis-chart__balance--forecast" in svg.group(0)
    assert "Les données du graphique sous forme de tableau" in html


def test_the_page_gives_the_history_for_the_command_line(client: Client) -> None:
    response = client.post(URL, engine_io_example())
    assertContains(response, "permis rules evaluate historique.json --on 2024-10-16")
    assertContains(response, "&quot;kind&quot;: &quot;course&quot;")


def test_a_second_date_shows_the_balance_then(client: Client) -> None:
    response = client.post(URL, engine_io_example(also_on="2027-07-10"))
    assertContains(response, "Solde aux autres dates")
    html = response.content.decode()
    table = html[html.index("Solde aux autres dates") :]
    assert re.search(r"<td>10 juillet 2027</td><td>12</td><td>12</td>", table)


def test_speeding_is_turned_into_points_by_the_bareme(client: Client) -> None:
    offence = {
        "committed_on": "2024-07-01",
        "final_on": "2024-07-10",
        "limit_kmh": "80",
        "retained_kmh": "93",
    }
    html = client.post(URL, simulator_data(offences=[offence])).content.decode()
    # 13 km/h over an 80 km/h limit: a 1-point, 4th-class offence (R413-14).
    assert balance_of(html) == 5


def test_blank_rows_are_ignored(client: Client) -> None:
    blank = {"committed_on": "", "final_on": "", "points": "", "offence_class": ""}
    response = client.post(
        URL, simulator_data(offences=[blank, EXAMPLE_OFFENCE, blank], courses=[{"course_type": "voluntary"}])
    )
    assert balance_of(response.content.decode()) == 3


def test_a_row_marked_not_to_count_is_left_out(client: Client) -> None:
    response = client.post(URL, simulator_data(offences=[{**EXAMPLE_OFFENCE, "DELETE": "on"}]))
    assert balance_of(response.content.decode()) == 6


def test_adding_a_row_keeps_what_was_typed_and_shows_no_error(client: Client) -> None:
    half_typed = {"committed_on": "2024-07-01"}
    response = client.post(URL, simulator_data(offences=[half_typed], action="add_offence"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="offences-TOTAL_FORMS" value="2"' in html
    assert 'value="2024-07-01"' in html
    assert 'id="id_offences-1-committed_on"' in html
    assert "autofocus" in field_tag(html, "id_offences-1-committed_on")
    assert 'id="erreurs"' not in html
    assert "aria-invalid" not in html
    assert 'id="balance"' not in html


def test_adding_a_course_row(client: Client) -> None:
    html = client.post(URL, simulator_data(courses=[EXAMPLE_COURSE], action="add_course")).content.decode()
    assert 'name="courses-TOTAL_FORMS" value="2"' in html
    assert "autofocus" in field_tag(html, "id_courses-1-first_day")


def test_a_final_date_before_the_offence_is_shown_next_to_the_field(client: Client) -> None:
    offence = {**EXAMPLE_OFFENCE, "final_on": "2024-06-01"}
    response = client.post(URL, simulator_data(offences=[offence]))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="erreurs"' in html
    assert 'href="#id_offences-0-final_on"' in html
    tag = field_tag(html, "id_offences-0-final_on")
    assert 'aria-invalid="true"' in tag
    assert 'aria-describedby="id_offences-0-final_on_error"' in tag
    assert re.search(
        r'id="id_offences-0-final_on_error">Cette date ne peut pas précéder la date de l’infraction', html
    )
    assert "<title>Erreur : " in html
    assert 'id="balance"' not in html


def test_an_engine_problem_lands_on_the_field_it_names(client: Client) -> None:
    # The form cannot know the barème: the engine rejects the code and names events[0].natinf.
    offence = {"committed_on": "2024-07-01", "final_on": "2024-07-10", "natinf": "99999"}
    response = client.post(URL, simulator_data(offences=[offence]))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'href="#id_offences-0-natinf"' in html
    assert 'aria-invalid="true"' in field_tag(html, "id_offences-0-natinf")
    assertContains(response, "Le code NATINF 99999 n’est pas dans le barème du simulateur.", status_code=400)


def test_an_engine_problem_on_a_course_lands_on_the_course_row(client: Client) -> None:
    course = {"first_day": "2020-01-10", "last_day": "2020-01-11", "course_type": "voluntary"}
    response = client.post(URL, simulator_data(offences=[EXAMPLE_OFFENCE], courses=[course]))
    html = response.content.decode()
    assert 'href="#id_courses-0-first_day"' in html
    assertContains(response, "Cette date précède l’obtention du permis.", status_code=400)


def test_a_date_before_the_licence_carries_points_is_an_error_not_a_crash(client: Client) -> None:
    response = client.post(URL, simulator_data(obtained_on="1980-05-01", on="1990-01-01"))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'href="#id_on"' in html
    assert 'id="balance"' not in html


def test_an_offence_needs_exactly_one_way_of_giving_its_points(client: Client) -> None:
    none_given = {"committed_on": "2024-07-01", "final_on": "2024-07-10"}
    response = client.post(URL, simulator_data(offences=[none_given]))
    assertContains(response, "Indiquez le nombre de points et la classe", status_code=400)
    two_given = {**EXAMPLE_OFFENCE, "natinf": "20110"}
    response = client.post(URL, simulator_data(offences=[two_given]))
    assertContains(response, "Remplissez une seule des trois façons", status_code=400)
    assertNotContains(response, 'id="balance"', status_code=400)


def test_a_tampered_formset_is_an_error_not_a_crash(client: Client) -> None:
    data = engine_io_example()
    del data["offences-TOTAL_FORMS"]
    response = client.post(URL, data)
    assert response.status_code == 400
    assertContains(response, 'id="erreurs"', status_code=400)
    # "Add a row" is not a submission: the page comes back (200), the row count repaired.
    response = client.post(URL, {**engine_io_example(), "offences-TOTAL_FORMS": "x", "action": "add_offence"})
    assert response.status_code == 200


def test_every_page_says_it_is_a_demonstration_unless_official(client: Client, settings: object) -> None:
    assertContains(client.get(URL), "Service de démonstration.")
    settings.OFFICIAL_DEPLOYMENT = True  # type: ignore[attr-defined]
    assertNotContains(client.get(URL), "Service de démonstration.")


def test_the_page_is_available_in_english(client: Client) -> None:
    response = client.get("/en/simulateur/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en"' in html
    assert "Points balance simulator" in html, "English catalogue not compiled: run `make install`"
    assert 'hreflang="fr" href="/simulateur/"' in html
    result = client.post("/en/simulateur/", engine_io_example())
    assertContains(result, "Points withdrawn")
    assertContains(result, "an offence committed before July 10, 2027")


def test_the_french_page_links_to_the_english_one(client: Client) -> None:
    assertContains(client.get(URL), 'hreflang="en" href="/en/simulateur/"')


text_or_date = st.one_of(
    st.text(max_size=12), st.dates().map(lambda d: d.isoformat()), st.sampled_from(["", "0", "-1"])
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    licence=st.fixed_dictionaries(
        {
            "obtained_on": text_or_date,
            "route": st.sampled_from(["traditional", "aac", "x"]),
            "on": text_or_date,
        }
    ),
    offence=st.fixed_dictionaries(
        {
            "committed_on": text_or_date,
            "final_on": text_or_date,
            "decided_on": text_or_date,
            "points": st.one_of(st.integers(-3, 20).map(str), st.text(max_size=3)),
            "offence_class": st.sampled_from(["", "C1", "C4", "D", "Z"]),
            "natinf": st.one_of(st.just(""), st.text("0123456789", max_size=6)),
        }
    ),
    course=st.fixed_dictionaries(
        {
            "first_day": text_or_date,
            "last_day": text_or_date,
            "course_type": st.sampled_from(["voluntary", "judicial", "?"]),
        }
    ),
)
def test_no_input_makes_the_simulator_fail(
    client: Client, licence: dict, offence: dict, course: dict
) -> None:
    response = client.post(URL, simulator_data(offences=[offence], courses=[course], **licence))
    assert response.status_code in (200, 400)  # a result, or the errors: never a server error


days = st.dates(min_value=date(1985, 1, 1), max_value=date(2035, 12, 31))


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    obtained_on=days,
    on=days,
    offences=st.lists(
        st.tuples(
            days, st.integers(0, 400), st.integers(1, 6), st.sampled_from(["C2", "C3", "C4", "C5", "D"])
        ),
        max_size=4,
    ),
    courses=st.lists(st.tuples(days, st.sampled_from(["voluntary", "mandatory", "judicial"])), max_size=2),
    invalidation_notified_on=st.one_of(st.none(), days),
)
def test_any_well_formed_history_gives_a_balance_or_errors_never_a_crash(
    client: Client,
    obtained_on: date,
    on: date,
    offences: list[tuple[date, int, int, str]],
    courses: list[tuple[date, str]],
    invalidation_notified_on: date | None,
) -> None:
    data = simulator_data(
        obtained_on=obtained_on.isoformat(),
        on=on.isoformat(),
        invalidation_notified_on=invalidation_notified_on.isoformat() if invalidation_notified_on else "",
        offences=[
            {
                "committed_on": committed.isoformat(),
                "final_on": (committed + timedelta(days=delay)).isoformat(),
                "points": str(points),
                "offence_class": offence_class,
            }
            for committed, delay, points, offence_class in offences
        ],
        courses=[
            {
                "first_day": first.isoformat(),
                "last_day": (first + timedelta(days=1)).isoformat(),
                "course_type": kind,
            }
            for first, kind in courses
        ],
    )
    response = client.post(URL, data)
    assert not response.context["sim"].engine_failed, "the engine crashed: see the log for the history"
    html = response.content.decode()
    assert ('id="balance"' in html) != ('id="erreurs"' in html)
    assert response.status_code == (200 if 'id="balance"' in html else 400)


def test_a_course_before_the_points_system_is_an_input_error_not_an_engine_failure(client: Client) -> None:
    course = {"first_day": "1992-01-01", "last_day": "1992-01-02", "course_type": "voluntary"}
    response = client.post(URL, simulator_data(obtained_on="1992-01-01", on="2000-01-01", courses=[course]))
    assert response.status_code == 400
    assert not response.context["sim"].engine_failed
    assertContains(response, "1992", status_code=400)


def test_an_engine_failure_is_a_plain_error_on_the_page_not_a_500(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from permis.portal import simulation

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(simulation, "evaluate_many", broken)
    response = client.post(URL, engine_io_example())
    assert response.status_code == 200
    assert response.context["sim"].engine_failed
    assertContains(response, "Le simulateur n’a pas su calculer ce cas")


def test_head_is_answered_like_get(client: Client) -> None:
    """Monitors and link checkers use HEAD: same status as GET, no body (M3)."""
    get = client.get(URL)
    head = client.head(URL)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert client.put(URL).status_code == 405


def test_a_course_of_six_days_is_refused_on_its_last_day_not_credited(client: Client) -> None:
    """R223-5 (RULES.md §8.1): a course lasts two consecutive days; the engine alone would credit +4."""
    course = {"first_day": "2024-10-10", "last_day": "2024-10-15", "course_type": "voluntary"}
    response = client.post(URL, simulator_data(offences=[EXAMPLE_OFFENCE], courses=[course]))
    html = response.content.decode()
    assert 'href="#id_courses-0-last_day"' in html
    assertContains(
        response,
        "Un stage de sensibilisation dure 2 jours consécutifs (article R223-5 du code de la route) : pour un "
        "stage commencé le 10 octobre 2024, le dernier jour est le 11 octobre 2024.",
        status_code=400,
    )
    assert 'id="balance"' not in html
