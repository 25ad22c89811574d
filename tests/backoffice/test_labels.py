"""The file page and the review of a correction show an event's values and a movement's kind in words, never the
engine's codes (review of the back office, finding 7): in French, and in English under /en/."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from permis.backoffice.models import CorrectionRequest
from permis.registry import services as registry
from tests.registry.factories import offence

from .helpers import agent, client_for, file_in, open_with_purpose

pytestmark = pytest.mark.django_db


@pytest.fixture
def speeding_file():
    """A file of Paris with a speeding offence (80 km/h, 99 retained) whose fine was paid."""
    lic = file_in("75011")
    data = {
        "committed_on": "2025-07-21",
        "final_on": "2025-08-30",
        "how": "fine_paid",
        "speeding": {"limit_kmh": 80, "retained_kmh": 99},
    }
    registry.record_event(lic, "offence", data, source="feed", sender="ANTAI", source_ref="S1")
    return lic


def history_and_movements(html: str) -> str:
    return html[html.index('id="history"') : html.index('id="notices"')]


def test_the_file_page_shows_the_values_and_movements_in_words(speeding_file) -> None:
    lic = speeding_file
    client = client_for(agent())
    open_with_purpose(client, lic)
    html = history_and_movements(client.get(f"/gestion/dossiers/{lic.pk}/").content.decode())
    assert "Date de l’infraction : 21/07/2025" in html
    assert "Date à laquelle l’infraction est devenue définitive : 30/08/2025" in html
    assert "Devenue définitive par : Paiement de l’amende forfaitaire" in html
    assert "Vitesse maximale autorisée (km/h) : 80" in html
    assert "Vitesse retenue (km/h) : 99" in html
    assert "<td>Capital initial</td>" in html and "<td>Retrait de points</td>" in html
    for code in (
        "committed_on",
        "fine_paid",
        "speeding.limit_kmh",
        "<td>initial</td>",
        "<td>withdrawal</td>",
    ):
        assert code not in html


def test_the_file_page_in_english(speeding_file) -> None:
    lic = speeding_file
    client = client_for(agent())
    open_with_purpose(client, lic)
    html = history_and_movements(client.get(f"/en/gestion/dossiers/{lic.pk}/").content.decode())
    assert "Date of the offence : 21/07/2025" in html
    assert "Speed limit (km/h) : 80" in html
    assert "Payment of the fixed fine" in html
    assert "<td>Initial capital</td>" in html and "<td>Points withdrawn</td>" in html
    assert "fine_paid" not in html and "committed_on" not in html


def test_a_correction_and_its_review_show_the_values_in_words() -> None:
    lic = file_in("75011")
    registry.record_event(
        lic,
        "offence",
        offence("2024-01-10", "2024-02-01", 4, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="A1",
    )
    one, two = client_for(agent(login="one")), client_for(agent(login="two"))
    for client in (one, two):
        open_with_purpose(client, lic, "correction")
    one.post(
        f"/gestion/dossiers/{lic.pk}/corriger/?evenement=1",
        {
            "value__committed_on": "2024-01-10",
            "value__final_on": "2024-02-01",
            "value__points": "2",
            "value__class": "C4",
            "reason": "avis de contravention joint",
        },
    )
    request = CorrectionRequest.objects.get()
    review = two.get(f"/gestion/corrections/{request.pk}/").content.decode()
    assert '<th scope="row">Nombre de points retirés</th><td>4</td><td>2</td>' in review
    assert '<th scope="row">Classe de l’infraction</th><td>Contravention de 4e classe</td>' in review
    assert '<th scope="row">Date de l’infraction</th><td>10/01/2024</td><td>10/01/2024</td>' in review
    two.post(f"/gestion/corrections/{request.pk}/", {"decision": "approve", "review_reason": "pièce vue"})
    html = history_and_movements(two.get(f"/gestion/dossiers/{lic.pk}/").content.decode())
    assert "Nombre de points retirés : 2" in html  # the correction event's values
    assert "Classe de l’infraction : Contravention de 4e classe" in html
    assert "points :" not in html and "class :" not in html


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("licence_surrendered", {"on": "2026-01-05"}, [("Date de remise du permis", "05/01/2026")]),
        ("invalidation_notified", {"on": "2026-01-05"}, [("Date de l’avis de réception", "05/01/2026")]),
        (
            "course",
            {"first_day": "2026-02-02", "last_day": "2026-02-03", "type": "mandatory"},
            [
                ("Premier jour du stage", "02/02/2026"),
                ("Dernier jour du stage", "03/02/2026"),
                ("Type de stage", "Stage obligatoire (lettre 48N)"),
            ],
        ),
        (
            "suspension",
            {"from": "2026-01-01", "to": "2026-03-31"},
            [("Suspendu à partir du", "01/01/2026"), ("Jusqu’au (inclus)", "31/03/2026")],
        ),
        (
            "new_licence",
            {"obtained_on": "2026-06-01", "route": "aac"},
            [
                ("Date d’obtention du nouveau permis", "01/06/2026"),
                ("Voie d’accès", "Apprentissage anticipé de la conduite"),
            ],
        ),
        (
            "offence_cancelled",
            {"offence": "e1", "on": "2026-01-05"},
            [("Infraction annulée", "e1"), ("Date de l’annulation de l’infraction", "05/01/2026")],
        ),
        (
            "offence",
            {"natinf": "11207", "decided_on": None, "made_up": "x"},
            [("Code NATINF", "11207"), ("Date de la décision de retrait", "—"), ("made_up", "x")],
        ),
    ],
)
def test_every_kind_of_event_reads_in_words(kind: str, data: dict, expected: list) -> None:
    template = Template(
        "{% load event_labels %}{% for label, value in data|event_fields:kind %}{{ label }}={{ value }};{% endfor %}"
    )
    rendered = template.render(Context({"data": data, "kind": kind}, autoescape=False))
    assert rendered == "".join(f"{label}={value};" for label, value in expected)
