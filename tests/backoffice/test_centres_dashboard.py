"""Course centres approved and withdrawn by the agents of their département; the supervisors' dashboard with the
volumes, failed deliveries, pending corrections and the reports of `permis verify`; the demo's agents."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils.html import escape

from permis.backoffice.demo import DEV_PASSWORD, seed_agents
from permis.backoffice.models import AgentProfile, CorrectionRequest, IntegrityReport
from permis.courses.models import CourseCentre
from permis.registry.models import Event

from .helpers import agent, client_for, file_in

pytestmark = pytest.mark.django_db

CENTRE = {
    "name": "Prévention routière Lyon",
    "approval_number": "R-69-0001",
    "address": "3 rue de la Paix",
    "postcode": "69003",
    "city": "Lyon",
    "departement": "69",
    "approved_on": "2024-01-01",
    "contact": "",
}


def test_an_agent_approves_and_withdraws_a_centre_of_their_departement() -> None:
    client = client_for(agent(departements=("69",)))
    assert client.get("/gestion/centres/").status_code == 200
    done = client.post("/gestion/centres/", CENTRE)
    assert done.status_code == 302
    centre = CourseCentre.objects.get(approval_number="R-69-0001")
    assert (centre.departement, centre.approved_on, centre.withdrawn_on) == ("69", dt.date(2024, 1, 1), None)
    again = client.post("/gestion/centres/", CENTRE)
    assert "is already held by Prévention routière Lyon" in again.content.decode()
    before = client.post(f"/gestion/centres/{centre.pk}/retrait/", {"on": "2023-01-01"})
    assert "is before the approval" in before.content.decode()
    withdrawn = client.post(f"/gestion/centres/{centre.pk}/retrait/", {"on": "2024-06-01"})
    assert withdrawn.status_code == 302
    centre.refresh_from_db()
    assert centre.withdrawn_on == dt.date(2024, 6, 1) and not centre.approved(dt.date(2024, 6, 1))
    assert "retiré le 01/06/2024" in client.get("/gestion/centres/").content.decode()
    # Approved again from a later date.
    assert client.post("/gestion/centres/", {**CENTRE, "approved_on": "2025-01-01"}).status_code == 302
    centre.refresh_from_db()
    assert centre.withdrawn_on is None and centre.approved_on == dt.date(2025, 1, 1)


def test_bad_centres_say_which_field_and_why() -> None:
    client = client_for(agent(departements=("69", "75")))
    response = client.post(
        "/gestion/centres/",
        {**CENTRE, "name": "", "postcode": "6900", "departement": "XX", "approved_on": ""},
    )
    html = response.content.decode()
    for message in (
        "Ce champ est obligatoire.",
        "Un code postal français a cinq chiffres.",
        "« XX » n’est pas un département.",
    ):
        assert message in html
    mismatch = client.post("/gestion/centres/", {**CENTRE, "departement": "75"})
    assert "is not the département of postcode 69003 (69)" in mismatch.content.decode()
    elsewhere = client_for(agent(departements=("75",))).post("/gestion/centres/", CENTRE)
    assert "Ce département n’est pas l’un des vôtres." in elsewhere.content.decode()
    assert not CourseCentre.objects.exists()


def test_an_agent_cannot_withdraw_a_centre_of_another_departement() -> None:
    client_for(agent(departements=("69",))).post("/gestion/centres/", CENTRE)
    centre = CourseCentre.objects.get()
    parisian = client_for(agent(departements=("75",)))
    assert parisian.post(f"/gestion/centres/{centre.pk}/retrait/", {"on": "2024-06-01"}).status_code == 403
    assert (
        client_for(agent("supervisor", ())).get(f"/gestion/centres/{centre.pk}/retrait/").status_code == 200
    )


def test_the_dashboard_shows_volumes_pending_corrections_and_the_last_verify() -> None:
    lic = file_in("75011")
    first = agent(login="first")
    from permis.backoffice import services

    services.record_surrender(first.agent_profile, lic, dt.date(2024, 2, 1))
    CorrectionRequest.objects.create(
        licence=lic,
        target=Event.objects.get(licence=lic),
        replacement=None,
        reason="erreur",
        requested_by=first,
    )
    supervisor = client_for(agent("supervisor", ()))
    html = supervisor.get("/gestion/tableau-de-bord/").content.decode()
    assert '<strong id="figure-events">1</strong>' in html
    assert "Aucune vérification enregistrée" in html
    assert f"Permis {lic.number}, événement e1, demandée par first" in html
    assert 'href="/gestion/notifications/#failed-title"' in html
    call_command("verify", "--quiet", "--jobs", "1", stdout=io.StringIO(), stderr=io.StringIO())
    report = IntegrityReport.objects.get()
    assert (report.scope, report.licences, report.events, report.discrepancies) == ("all", 1, 1, 0)
    html = supervisor.get("/gestion/tableau-de-bord/").content.decode()
    assert "aucune anomalie" in html
    # A changed event: the next run reports it.
    Event.objects.filter(licence=lic).update(data={"on": "2024-02-02"})
    with pytest.raises(SystemExit):
        call_command("verify", "--quiet", "--jobs", "1", stdout=io.StringIO(), stderr=io.StringIO())
    latest = IntegrityReport.objects.first()
    assert latest.discrepancies >= 1 and latest.details
    auditor = client_for(agent("auditor", ()))
    assert escape(latest.details[0]) in auditor.get("/gestion/integrite/").content.decode()


def test_the_demo_agents_get_a_password_only_in_development(settings) -> None:
    settings.DEBUG = True
    agents = seed_agents()
    assert [a.login for a in agents] == ["agent.paris", "agent2.paris", "superviseur"]
    assert all(a.password == DEV_PASSWORD for a in agents)
    assert client_for_login("agent.paris", DEV_PASSWORD)
    supervisor = AgentProfile.objects.get(user__username="superviseur")
    assert supervisor.role == "supervisor" and supervisor.user.has_perm("notices.view_delivery")
    settings.DEBUG = False
    agents = seed_agents()  # run again on a deployment: the known password is gone
    assert all(a.password is None for a in agents)
    assert not client_for_login("agent.paris", DEV_PASSWORD)


def client_for_login(username: str, password: str) -> bool:
    from django.test import Client

    return Client().login(username=username, password=password)
