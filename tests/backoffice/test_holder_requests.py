"""A holder's request for a correction, in the back office: the agents of the file's département (and supervisors)
see it in the corrections list, open it (a logged read, purpose "correction"), and either start the two-agent
correction from it (the request follows the decision) or refuse it with a reason the holder reads."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from permis.accounts.models import Account, HolderLink
from permis.audit.models import AccessLog
from permis.backoffice import holder_requests, services
from permis.backoffice.models import CorrectionRequest, HolderCorrectionRequest
from permis.registry import services as registry
from permis.registry.models import Event, Licence, Projection
from tests.registry.factories import offence

from .helpers import agent, client_for, file_in

pytestmark = pytest.mark.django_db


def offence_file(postal_code: str = "75011") -> Licence:
    lic = file_in(postal_code)
    registry.record_event(
        lic,
        "offence",
        offence("2024-01-10", "2024-02-01", 4, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref=f"A-{lic.pk}",
    )
    return lic


def holder_client(lic: Licence, username: str = "camille") -> tuple[Client, User]:
    user = User.objects.create_user(username, email=f"{username}@example.fr")
    Account.objects.create(user=user)
    HolderLink.objects.create(user=user, holder=lic.holder, method="licence_form")
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client, user


def asked(
    lic: Licence, concerned: str = "e1", message: str = "Je n’ai que 2 points de retrait : avis joint."
) -> HolderCorrectionRequest:
    client, _user = holder_client(lic)
    assert (
        client.post("/mon-espace/corrections/", {"concerned": concerned, "message": message}).status_code
        == 302
    )
    return HolderCorrectionRequest.objects.get(licence=lic)


def url(row: HolderCorrectionRequest) -> str:
    return f"/gestion/corrections/demandes/{row.pk}/"


def test_agents_of_the_departement_see_and_open_the_request_and_the_read_is_logged() -> None:
    row = asked(offence_file("75011"))
    paris, supervisor = agent(departements=("75",)), agent("supervisor", departements=())
    marseille, auditor = agent(departements=("13",)), agent("auditor", departements=())
    listing = client_for(paris).get("/gestion/corrections/").content.decode()
    assert row.reference in listing and "demande du titulaire" in listing
    assert f'href="{url(row)}"' in listing
    assert "Je n’ai que 2 points" not in listing  # the list shows nothing of the file
    elsewhere = client_for(marseille).get("/gestion/corrections/").content.decode()
    assert row.reference not in elsewhere and "Aucune demande de titulaire à traiter." in elsewhere
    assert client_for(marseille).get(url(row)).status_code == 403
    assert client_for(auditor).get(url(row)).status_code == 403
    assert not AccessLog.objects.exists()  # refused: nothing read, nothing logged

    page = client_for(paris).get(url(row))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Je n’ai que 2 points de retrait" in html and row.licence.number in html
    assert f'href="/gestion/dossiers/{row.licence_id}/corriger/?demande={row.pk}&amp;evenement=1"' in html
    entry = AccessLog.objects.get()
    assert (entry.holder_id, entry.licence_id, entry.purpose) == (row.holder_id, row.licence_id, "correction")
    assert entry.purpose_detail == f"demande du titulaire {row.reference}"
    assert "demande de correction du titulaire" in entry.shown
    assert client_for(supervisor).get(url(row)).status_code == 200
    assert AccessLog.objects.count() == 2


def test_a_correction_started_from_the_request_answers_it_when_approved() -> None:
    row = asked(offence_file())
    first, second = agent(login="first"), agent(login="second")
    one, two = client_for(first), client_for(second)
    one.get(
        url(row)
    )  # opening the request states the purpose for the file: the correction page opens at once
    form = one.get(f"/gestion/dossiers/{row.licence_id}/corriger/?demande={row.pk}&evenement=1")
    assert form.status_code == 200
    html = form.content.decode()
    assert f"Demande du titulaire {row.reference}" in html and "Je n’ai que 2 points" in html  # prefilled
    assert f"?evenement=1&amp;demande={row.pk}" in html  # the form posts with the request
    data = {
        "value__committed_on": "2024-01-10",
        "value__final_on": "2024-02-01",
        "value__points": "2",
        "value__class": "C4",
        "reason": f"Demande du titulaire {row.reference} : avis de contravention vu",
    }
    sent = one.post(f"/gestion/dossiers/{row.licence_id}/corriger/?evenement=1&demande={row.pk}", data)
    assert sent.status_code == 302
    correction = CorrectionRequest.objects.get()
    row.refresh_from_db()
    assert correction.holder_request == row and row.status == "in_progress"  # the origin is recorded
    listing = two.get("/gestion/corrections/").content.decode()
    assert listing.count("demande du titulaire") >= 2  # the agents' request is marked too
    review = two.get(f"/gestion/corrections/{correction.pk}/")
    if review.status_code == 302:  # the reviewer states the purpose first
        two.post(review["Location"], {"purpose": "correction"})
        review = two.get(f"/gestion/corrections/{correction.pk}/")
    assert f"Demande du titulaire {row.reference}" in review.content.decode()
    # The holder sees it under way, then accepted with the correction made.
    holder, _user = Client(), row.requested_by
    holder.force_login(row.requested_by, backend="django.contrib.auth.backends.ModelBackend")
    assert (
        "un second agent doit la valider" in holder.get(f"/mon-espace/corrections/{row.pk}/").content.decode()
    )
    done = two.post(f"/gestion/corrections/{correction.pk}/", {"decision": "approve"})
    assert done.status_code == 302
    row.refresh_from_db()
    assert (row.status, row.decided_by) == ("accepted", second)
    event = Event.objects.get(kind="correction")
    assert f"demande du titulaire {row.reference}" in event.reason
    assert Projection.objects.get(licence=row.licence).balance == 10
    page = holder.get(f"/mon-espace/corrections/{row.pk}/").content.decode()
    assert "Acceptée" in page and "Votre dossier a été corrigé le" in page
    assert "« Infraction (2 points) du 10 janvier 2024 » a été rectifié." in page


def test_a_rejected_correction_sends_the_request_back_to_the_agents() -> None:
    row = asked(offence_file())
    first, second = agent(login="first"), agent(login="second")
    client_for(first).get(url(row))
    services.request_correction(
        first.agent_profile, row.target, None, "demande du titulaire", holder_request=row
    )
    row.refresh_from_db()
    assert row.status == "in_progress"
    # Nothing else may answer it meanwhile: no second correction, no refusal.
    with pytest.raises(services.CorrectionRefused, match="n’attend plus"):
        holder_requests.refuse(second.agent_profile, row, "non")
    services.review_correction(
        second.agent_profile, CorrectionRequest.objects.get(), approve=False, reason="pièce illisible"
    )
    row.refresh_from_db()
    assert row.status == "pending" and row.answer == ""


def test_an_agent_refuses_the_request_with_a_reason_the_holder_reads() -> None:
    lic = offence_file()
    holder, _user = holder_client(lic)
    holder.post("/mon-espace/corrections/", {"concerned": "autre", "message": "Mon permis date de 2009."})
    row = HolderCorrectionRequest.objects.get()
    paris = client_for(agent())
    page = paris.get(url(row)).content.decode()
    assert (
        f'href="/gestion/dossiers/{lic.pk}/corriger/?demande={row.pk}"' in page
    )  # "autre": the agent chooses
    choose = paris.get(f"/gestion/dossiers/{lic.pk}/corriger/?demande={row.pk}").content.decode()
    assert "Mon permis date de 2009." in choose  # the holder's words beside the events to choose from
    assert f'href="/gestion/dossiers/{lic.pk}/corriger/?evenement=1&amp;demande={row.pk}"' in choose
    empty = paris.post(url(row), {"answer": "  "})
    assert empty.status_code == 400
    assert "Indiquez au titulaire pourquoi sa demande est refusée." in empty.content.decode()
    refused = paris.post(
        url(row), {"answer": "Le fichier national indique bien le 1er mars 2010 (arrêté joint)."}
    )
    assert refused.status_code == 302
    row.refresh_from_db()
    assert row.status == "refused" and row.decided_by.get_username().startswith("agent")
    again = paris.post(url(row), {"answer": "encore"})
    assert again.status_code == 400 and "n’attend plus de réponse (Refusée)" in again.content.decode()
    answer = holder.get("/mon-espace/corrections/").content.decode()
    assert (
        "Refusée" in answer and "Le fichier national indique bien le 1er mars 2010 (arrêté joint)." in answer
    )
    # The agent's correction page, started from the request, refuses a request no longer waiting.
    start = paris.get(f"/gestion/dossiers/{lic.pk}/corriger/?demande={row.pk}&evenement=1")
    assert start.status_code == 200
    data = {"void": "on", "reason": "x"}
    late = paris.post(f"/gestion/dossiers/{lic.pk}/corriger/?evenement=1&demande={row.pk}", data)
    assert "n’attend plus d’agent (Refusée)" in late.content.decode()
    assert not CorrectionRequest.objects.exists()


def test_a_request_of_another_file_cannot_be_attached_to_a_correction() -> None:
    row = asked(offence_file())
    other = offence_file()
    paris = client_for(agent())
    paris.post(f"/gestion/dossiers/{other.pk}/motif/", {"purpose": "correction"})
    assert (
        paris.get(f"/gestion/dossiers/{other.pk}/corriger/?demande={row.pk}&evenement=1").status_code == 404
    )
    assert paris.get(f"/gestion/dossiers/{other.pk}/corriger/?demande=x²&evenement=1").status_code == 404


def test_the_supervisors_dashboard_counts_the_requests_no_agent_has_taken_up() -> None:
    supervisor = Client()
    supervisor.force_login(agent("supervisor", ()))
    page = supervisor.get("/gestion/tableau-de-bord/").content.decode()
    assert '<strong id="figure-holder-requests">0</strong>' in page
    row = asked(offence_file())
    page = supervisor.get("/gestion/tableau-de-bord/").content.decode()
    assert '<strong id="figure-holder-requests">1</strong>' in page
    assert 'href="/gestion/corrections/#from-holders-title"' in page
    assert row.reference not in page and row.message not in page  # a count, no request's content
