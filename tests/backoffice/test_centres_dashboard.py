"""Course centres approved and withdrawn by the agents of their département; the supervisors' dashboard with the
volumes, failed deliveries, pending corrections and the reports of `permis verify`; the demo's agents."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils.html import escape

from permis.audit.models import AccessLog
from permis.backoffice import enrolment
from permis.backoffice.demo import DEV_PASSWORD, seed_agents
from permis.backoffice.models import AgentProfile, CorrectionRequest, IntegrityReport
from permis.courses.models import CourseCentre
from permis.portal.dates import long_date
from permis.registry.models import Event
from permis.registry.services import today

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
    assert again.context["form"].errors["approval_number"] == [
        "Le numéro d’agrément R-69-0001 est déjà celui du centre « Prévention routière Lyon »."
    ]
    withdrawn_on = today() + dt.timedelta(days=10)
    withdrawn = client.post(f"/gestion/centres/{centre.pk}/retrait/", {"on": withdrawn_on.isoformat()})
    assert withdrawn.status_code == 302
    centre.refresh_from_db()
    assert centre.withdrawn_on == withdrawn_on and not centre.approved(withdrawn_on)
    assert centre.approved(today())  # the sessions held until then stay the centre's to report
    assert f"retiré le {withdrawn_on:%d/%m/%Y}" in client.get("/gestion/centres/").content.decode()
    twice = client.post(f"/gestion/centres/{centre.pk}/retrait/", {"on": withdrawn_on.isoformat()})
    assert twice.context["form"].non_field_errors() == [
        f"L’agrément de ce centre est déjà retiré, à partir du {long_date(withdrawn_on)}."
    ]
    # Approved again, from the withdrawal on.
    early = client.post("/gestion/centres/", {**CENTRE, "approved_on": "2025-01-01"})
    assert early.context["form"].errors["approved_on"] == [
        f"Un nouvel agrément ne peut pas précéder le retrait du précédent ({long_date(withdrawn_on)})."
    ]
    again = client.post("/gestion/centres/", {**CENTRE, "approved_on": withdrawn_on.isoformat()})
    assert again.status_code == 302
    centre.refresh_from_db()
    assert centre.withdrawn_on is None and centre.approved_on == withdrawn_on


def test_a_withdrawal_cannot_precede_the_approval() -> None:
    client = client_for(agent(departements=("69",)))
    approved_on = today() + dt.timedelta(days=30)
    client.post("/gestion/centres/", {**CENTRE, "approved_on": approved_on.isoformat()})
    centre = CourseCentre.objects.get()
    before = client.post(f"/gestion/centres/{centre.pk}/retrait/", {"on": today().isoformat()})
    assert before.context["form"].errors["on"] == [
        f"Le retrait ne peut pas précéder l’agrément ({long_date(approved_on)})."
    ]
    html = before.content.decode()
    assert "Refusé par le fichier national" not in html and "is before" not in html
    centre.refresh_from_db()
    assert centre.withdrawn_on is None


def test_a_withdrawal_takes_effect_today_or_later_never_before() -> None:
    """A withdrawal dated in the past would take from the holders the sessions they already attended: the
    centre reports them for days it was approved (record_attendance asks approved(session.first_day))."""
    client = client_for(agent(departements=("69",)))
    client.post("/gestion/centres/", CENTRE)
    centre = CourseCentre.objects.get()
    for on, message in (
        (today() - dt.timedelta(days=1), "Un retrait prend effet aujourd’hui ou plus tard"),
        (dt.date(2025, 1, 1), "Un retrait prend effet aujourd’hui ou plus tard"),
        (dt.date(9999, 12, 31), "Indiquez une date avant 2201."),
    ):
        refused = client.post(f"/gestion/centres/{centre.pk}/retrait/", {"on": on.isoformat()})
        assert refused.status_code == 200
        (error,) = refused.context["form"].errors["on"]
        assert error.startswith(message)
    centre.refresh_from_db()
    assert centre.withdrawn_on is None and centre.approved(today() - dt.timedelta(days=1))
    assert (
        client.post(f"/gestion/centres/{centre.pk}/retrait/", {"on": today().isoformat()}).status_code == 302
    )
    centre.refresh_from_db()
    assert centre.withdrawn_on == today()


def test_an_approval_date_is_within_the_registrys_years() -> None:
    client = client_for(agent(departements=("69",)))
    for approved_on, message in (
        ("0001-01-01", "Indiquez une date à partir de 1900."),
        ("1899-12-31", "Indiquez une date à partir de 1900."),
        ("9999-12-31", "Indiquez une date avant 2201."),
        ("2201-01-01", "Indiquez une date avant 2201."),
    ):
        refused = client.post("/gestion/centres/", {**CENTRE, "approved_on": approved_on})
        assert refused.context["form"].errors["approved_on"] == [message]
    assert not CourseCentre.objects.exists()


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
    assert mismatch.context["form"].errors["departement"] == [
        "Le code postal 69003 est dans le département 69, pas dans le 75."
    ]
    assert "Refusé par le fichier national" not in mismatch.content.decode()  # the approval's, not the file's
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
    from permis.registry import services as registry
    from tests.registry.factories import offence

    # One event (a surrender needs an invalidated or annulled licence: an offence will do).
    registry.record_event(
        lic,
        "offence",
        offence("2024-01-10", "2024-02-01", 2, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref="D1",
    )
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
    pending = CorrectionRequest.objects.get()
    # Numbered, without the file's data: no read of the file, no access-log entry (the review page is one).
    assert f"Demande n° {pending.pk} (Infraction), demandée par first" in html
    assert lic.number not in html and "erreur" not in html
    assert not AccessLog.objects.filter(holder=lic.holder, role="supervisor").exists()
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
    # Each gets an enrolment code for their first sign-in (printed by `permis demo`), except one who has a factor.
    for demo in agents:
        assert enrolment.valid(AgentProfile.objects.get(user__username=demo.login), demo.enrolment_code)
    AgentProfile.objects.filter(user__username="superviseur").update(totp_enabled=True, totp_secret="A" * 32)
    again = {a.login: a.enrolment_code for a in seed_agents()}
    assert again["superviseur"] is None and again["agent.paris"]
    settings.DEBUG = False
    agents = seed_agents()  # run again on a deployment: the known password is gone
    assert all(a.password is None and a.enrolment_code is None for a in agents)
    assert not client_for_login("agent.paris", DEV_PASSWORD)


def client_for_login(username: str, password: str) -> bool:
    from django.test import Client

    return Client().login(username=username, password=password)
