"""Corrections take two agents: one asks (the corrected values and the reason), another decides; approved, an
append-only correction event is recorded through the registry; the file never changes before."""

from __future__ import annotations

import pytest

from permis.audit.models import AccessLog
from permis.backoffice import services
from permis.backoffice.models import CorrectionRequest
from permis.registry import services as registry
from permis.registry.models import Event, Movement, Projection
from tests.registry.factories import offence

from .helpers import agent, client_for, file_in, open_with_purpose

pytestmark = pytest.mark.django_db


@pytest.fixture
def offence_file():
    """A file of Paris with one offence of 4 points (the holder says it was 2)."""
    lic = file_in("75011")
    registry.record_event(
        lic,
        "offence",
        offence("2024-01-10", "2024-02-01", 4, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="A1",
    )
    return lic


def ask(client, lic, seq: int, data: dict):
    return client.post(f"/gestion/dossiers/{lic.pk}/corriger/?evenement={seq}", data)


def values(**changes):
    base = {
        "value__committed_on": "2024-01-10",
        "value__final_on": "2024-02-01",
        "value__points": "4",
        "value__class": "C4",
        "reason": "demande du titulaire du 3 mars, avis de contravention joint",
    }
    base.update(changes)
    return base


def test_two_agents_correct_an_event(offence_file) -> None:
    lic = offence_file
    first, second = agent(login="first"), agent(login="second")
    one, two = client_for(first), client_for(second)
    # Opened by its address without a purpose: the purpose first, then back to the same event.
    asked = one.get(f"/gestion/dossiers/{lic.pk}/corriger/?evenement=1")
    assert (
        asked["Location"]
        == f"/gestion/dossiers/{lic.pk}/motif/?next=%2Fgestion%2Fdossiers%2F{lic.pk}%2Fcorriger%2F%3Fevenement%3D1"
    )
    back = one.post(asked["Location"], {"purpose": "correction"})
    assert back["Location"] == f"/gestion/dossiers/{lic.pk}/corriger/?evenement=1"
    choose = one.get(f"/gestion/dossiers/{lic.pk}/corriger/")
    assert f'href="/gestion/dossiers/{lic.pk}/corriger/?evenement=1"' in choose.content.decode()
    form = one.get(f"/gestion/dossiers/{lic.pk}/corriger/?evenement=1")
    assert 'value="4"' in form.content.decode()
    assert ask(one, lic, 1, values(value__points="2")).status_code == 302
    request = CorrectionRequest.objects.get()
    assert (request.status, request.replacement["data"]["points"]) == ("pending", 2)
    assert not Event.objects.filter(kind="correction").exists()  # nothing changes before the review
    assert Projection.objects.get(licence=lic).balance == 8
    # The agent who asked cannot decide.
    own = one.post(f"/gestion/corrections/{request.pk}/", {"decision": "approve"})
    assert own.status_code == 200
    assert "un second agent" in own.content.decode()
    with pytest.raises(services.BackofficeError, match="second agent"):
        services.review_correction(first.agent_profile, request, approve=True)
    # The list names the request, nothing of the file: no licence number, no reason, no read to log.
    listed = two.get("/gestion/corrections/").content.decode()
    assert f'Examiner<span class="fr-sr-only"> la demande n° {request.pk}</span>' in listed
    assert lic.number not in listed and "demande du titulaire du 3 mars" not in listed
    assert not AccessLog.objects.filter(actor=f"user:{second.pk}").exists()
    # Another agent opens it: the purpose first (their own, not one chosen for them), then back to the review.
    review = f"/gestion/corrections/{request.pk}/"
    asked = two.get(review)
    assert (
        asked["Location"]
        == f"/gestion/dossiers/{lic.pk}/motif/?next=%2Fgestion%2Fcorrections%2F{request.pk}%2F"
    )
    assert two.post(review, {"decision": "approve"})["Location"] == asked["Location"]  # no decision unread
    back = two.post(asked["Location"], {"purpose": "holder_request", "purpose_detail": "courrier du 3 mars"})
    assert back["Location"] == review
    page = two.get(review)
    assert page.status_code == 200 and "demande du titulaire" in page.content.decode()
    entry = AccessLog.objects.filter(actor=f"user:{second.pk}").get()
    assert (entry.purpose, entry.purpose_detail) == ("holder_request", "courrier du 3 mars")
    assert "correction demandée" in entry.shown
    # Another agent approves: the correction event, append-only, with both agents and the reason.
    done = two.post(
        f"/gestion/corrections/{request.pk}/", {"decision": "approve", "review_reason": "pièce vue"}
    )
    assert done.status_code == 302
    request.refresh_from_db()
    event = Event.objects.get(kind="correction")
    assert (request.status, request.reviewed_by, request.event) == ("approved", second, event)
    assert event.corrects.seq == 1 and event.data["replaces"] == 1
    assert event.data["event"]["data"]["points"] == 2
    assert (event.source, event.recorded_by) == ("agent", "agent:second")
    assert "demandée par agent:first" in event.reason and "approuvée par agent:second" in event.reason
    assert Projection.objects.get(licence=lic).balance == 10
    assert Movement.objects.get(licence=lic, kind="withdrawal").change == -2
    assert Event.objects.get(licence=lic, seq=1).data["points"] == 4  # the original is never rewritten
    # Decided once only.
    again = two.post(f"/gestion/corrections/{request.pk}/", {"decision": "reject", "review_reason": "x"})
    assert again.status_code == 200 and "déjà été traitée (Approuvée)" in again.content.decode()


def test_a_correction_can_make_an_event_void_or_be_rejected_with_a_reason(offence_file) -> None:
    lic = offence_file
    one, two = client_for(agent(login="first")), client_for(agent(login="second"))
    open_with_purpose(one, lic, "correction")
    assert ask(one, lic, 1, values(void="on")).status_code == 302
    request = CorrectionRequest.objects.get()
    assert request.replacement is None
    open_with_purpose(two, lic, "correction")
    no_reason = two.post(f"/gestion/corrections/{request.pk}/", {"decision": "reject"})
    assert "Indiquez pourquoi la demande est rejetée." in no_reason.content.decode()
    no_decision = two.post(f"/gestion/corrections/{request.pk}/", {})
    assert "Choisissez d’approuver ou de rejeter la demande." in no_decision.content.decode()
    rejected = two.post(
        f"/gestion/corrections/{request.pk}/", {"decision": "reject", "review_reason": "pas de pièce"}
    )
    assert rejected.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.review_reason) == ("rejected", "pas de pièce")
    assert not Event.objects.filter(kind="correction").exists()
    # Asked again, approved: the offence is void and the points come back.
    assert ask(one, lic, 1, values(void="on")).status_code == 302
    second = CorrectionRequest.objects.get(status="pending")
    two.post(f"/gestion/corrections/{second.pk}/", {"decision": "approve"})
    assert Event.objects.get(kind="correction").data == {"replaces": 1, "event": None}
    assert Projection.objects.get(licence=lic).balance == 12
    # A void event is not corrected again.
    assert one.get(f"/gestion/dossiers/{lic.pk}/corriger/?evenement=1").status_code == 404


def test_bad_corrections_say_which_field_and_why(offence_file) -> None:
    lic = offence_file
    one = client_for(agent(login="first"))
    open_with_purpose(one, lic, "correction")
    no_reason = ask(one, lic, 1, values(value__points="2", reason=""))
    assert "Indiquez le motif de la correction." in no_reason.content.decode()
    not_a_number = ask(one, lic, 1, values(value__points="deux"))
    assert "Un nombre entier est attendu." in not_a_number.content.decode()
    backwards = ask(one, lic, 1, values(value__final_on="2023-01-01"))
    html = backwards.content.decode()
    assert "Refusé par le fichier national : Cette date ne peut pas précéder la date de l’infraction." in html
    assert 'id="id_value__final_on_error"' in html
    same = ask(one, lic, 1, values())
    assert "identiques aux valeurs actuelles : rien à corriger" in same.content.decode()
    assert not CorrectionRequest.objects.exists()
    assert ask(one, lic, 1, values(value__points="2")).status_code == 302
    twice = ask(one, lic, 1, values(value__points="3"))
    assert "attend déjà sa validation" in twice.content.decode()
    assert CorrectionRequest.objects.count() == 1
    # An agent of another département neither sees nor reviews it.
    lyon = client_for(agent(login="lyon", departements=("69",)))
    request = CorrectionRequest.objects.get()
    assert lyon.get(f"/gestion/corrections/{request.pk}/").status_code == 403
    assert "Aucune demande de correction en attente." in lyon.get("/gestion/corrections/").content.decode()


def test_a_correction_of_a_correction_is_refused(offence_file) -> None:
    lic = offence_file
    first, second = agent(login="first"), agent(login="second")
    target = Event.objects.get(licence=lic, seq=1)
    request = services.request_correction(first.agent_profile, target, None, "titre annulé")
    services.review_correction(second.agent_profile, request, approve=True)
    correction = Event.objects.get(kind="correction")
    with pytest.raises(services.BackofficeError, match="Une correction ne se corrige pas"):
        services.request_correction(first.agent_profile, correction, None, "x")
    assert Projection.objects.get(licence=lic).balance == 12


@pytest.fixture
def speeding_file():
    """A file of Paris with a speeding offence (100 km/h retained where 80 were allowed), its fine paid."""
    lic = file_in("75011")
    data = {
        "committed_on": "2024-01-10",
        "final_on": "2024-02-01",
        "how": "fine_paid",
        "speeding": {"limit_kmh": 80, "retained_kmh": 100},
    }
    registry.record_event(lic, "offence", data, source="feed", sender="ANTAI", source_ref="A2")
    return lic


def speeding_values(**changes):
    base = {
        "value__committed_on": "2024-01-10",
        "value__final_on": "2024-02-01",
        "value__how": "fine_paid",
        "value__speeding__limit_kmh": "80",
        "value__speeding__retained_kmh": "100",
        "reason": "photo du radar lue par le titulaire",
    }
    base.update(changes)
    return base


def test_the_engines_refusals_of_a_correction_are_in_french_on_their_field(speeding_file) -> None:
    lic = speeding_file
    one = client_for(agent(login="first"))
    open_with_purpose(one, lic, "correction")
    national = "Refusé par le fichier national : "
    for changes, field, message in (
        (
            {"value__speeding__retained_kmh": "99999999999999999999999999"},
            "value__speeding__retained_kmh",
            "Une vitesse s’écrit en km/h, un nombre entier de 1 à 500.",
        ),
        ({"value__speeding__retained_kmh": ""}, "value__speeding__retained_kmh", "Ce champ est obligatoire."),
        (
            {"value__speeding__limit_kmh": "0"},
            "value__speeding__limit_kmh",
            "Une vitesse s’écrit en km/h, un nombre entier de 1 à 500.",
        ),
        (
            {"value__speeding__retained_kmh": "70"},
            "value__speeding__retained_kmh",
            "La vitesse retenue ne dépasse pas la vitesse maximale autorisée (80 km/h) : "
            "ce n’est pas un excès de vitesse.",
        ),
        (
            {"value__how": "zzz"},
            "value__how",
            "Cette valeur n’est pas admise ; les valeurs possibles : "
            "fine_paid, majoree_title, composition_penale, conviction.",
        ),
    ):
        response = ask(one, lic, 1, speeding_values(**changes))
        assert response.status_code == 200, changes
        form = response.context["form"]
        assert not form.non_field_errors(), (changes, form.non_field_errors())
        (error,) = form.errors[field]
        assert error == national + message
        html = response.content.decode()
        assert f'id="id_{field}_error"' in html
        for english in ("must be", "is not one of", "None", "does not exceed"):
            assert english not in html, (changes, english)
    assert not CorrectionRequest.objects.exists()


def test_the_back_offices_own_refusals_are_not_the_national_files(offence_file) -> None:
    lic = offence_file
    first = agent(login="first")
    one = client_for(first)
    open_with_purpose(one, lic, "correction")
    same = ask(one, lic, 1, values())
    assert same.context["form"].non_field_errors() == [
        "Les valeurs corrigées sont identiques aux valeurs actuelles : rien à corriger."
    ]
    assert ask(one, lic, 1, values(value__points="2")).status_code == 302
    twice = ask(one, lic, 1, values(value__points="3"))
    assert twice.context["form"].non_field_errors() == [
        "Une correction de l’événement e1 attend déjà sa validation."
    ]
    own = one.post(f"/gestion/corrections/{CorrectionRequest.objects.get().pk}/", {"decision": "approve"})
    assert own.context["form"].non_field_errors() == [
        "Une correction est validée par un second agent, pas par celui qui l’a demandée."
    ]
    for response in (same, twice, own):
        assert "Refusé par le fichier national" not in response.content.decode()


def test_the_purpose_page_returns_only_to_a_review_of_the_same_file(offence_file) -> None:
    lic, other = offence_file, file_in("75012")
    registry.record_event(
        other,
        "offence",
        offence("2024-01-10", "2024-02-01", 2, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="O",
    )
    first = agent(login="first")
    theirs = services.request_correction(
        first.agent_profile, Event.objects.get(licence=other, seq=1), None, "titre annulé"
    )
    two = client_for(agent(login="second"))
    elsewhere = f"/gestion/dossiers/{lic.pk}/motif/?next=/gestion/corrections/{theirs.pk}/"
    done = two.post(elsewhere, {"purpose": "correction"})
    assert done["Location"] == f"/gestion/dossiers/{lic.pk}/"  # not the other file's review
    assert two.get(f"/gestion/corrections/{theirs.pk}/").status_code == 302  # its own purpose is still asked
