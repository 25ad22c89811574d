"""The agent's record forms: each goes through the registry's services with the agent's identity, and says which
field is wrong and why."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from permis.backoffice.models import CategoryChange
from permis.registry import services
from permis.registry.models import Category, Event, Holder, Movement, Projection
from permis.registry.services import integrity
from tests.notices.legal_helpers import delivery, offence, paris, zero_balance_licence

from .helpers import agent, client_for, file_in, open_with_purpose

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    """An agent of Paris with a file of Paris open (purpose stated)."""
    user = agent(login="jdupont")
    client = client_for(user)
    lic = file_in("75011")
    open_with_purpose(client, lic)
    return client, lic


def post(client, lic, kind: str, data: dict):
    return client.post(f"/gestion/dossiers/{lic.pk}/enregistrer/{kind}/", data)


def agent_event(lic, kind: str) -> Event:
    event = Event.objects.get(licence=lic, kind=kind)
    assert (event.source, event.recorded_by) == ("agent", "agent:jdupont")
    return event


def test_every_form_page_shows_its_fields(desk) -> None:
    client, lic = desk
    for kind, label in (
        ("avis-48si", "Date de l’avis de réception"),
        ("remise", "Date de remise du permis"),
        ("suspension", "Suspendu à partir du"),
        ("annulation", "Interdiction de solliciter un nouveau permis jusqu’au"),
        ("nouveau-permis", "Voie d’accès"),
        ("categorie", "Fin de validité (contrôle médical)"),
    ):
        response = client.get(f"/gestion/dossiers/{lic.pk}/enregistrer/{kind}/")
        assert response.status_code == 200, kind
        assert label in response.content.decode(), kind
    assert client.get(f"/gestion/dossiers/{lic.pk}/enregistrer/autre/").status_code == 404


def test_surrender(desk) -> None:
    client, lic = desk
    missing = post(client, lic, "remise", {"on": ""})
    assert missing.status_code == 400 and "Ce champ est obligatoire." in missing.content.decode()
    garbage = post(client, lic, "remise", {"on": "31/02/2024"})
    assert garbage.status_code == 400 and "Saisissez une date valide." in garbage.content.decode()
    before = post(client, lic, "remise", {"on": "2001-01-01"})
    assert before.status_code == 422
    assert (
        "Refusé par le fichier national : Cette date précède l’obtention du permis."
        in before.content.decode()
    )
    assert not Event.objects.filter(licence=lic).exists()
    post(client, lic, "annulation", {"on": "2024-01-20"})
    done = post(client, lic, "remise", {"on": "2024-02-01", "reason": "remis en préfecture"})
    assert done.status_code == 302 and done["Location"] == f"/gestion/dossiers/{lic.pk}/"
    event = agent_event(lic, "licence_surrendered")
    assert (event.data, event.reason) == ({"on": "2024-02-01"}, "remis en préfecture")
    again = post(client, lic, "remise", {"on": "2024-02-03"})
    assert again.status_code == 422
    assert "La remise du permis est déjà enregistrée (le 1er février 2024)." in again.content.decode()


def test_a_valid_licence_is_not_surrendered(desk) -> None:
    """L223-5: only an invalidated or annulled licence is surrendered (the audit's B4)."""
    client, lic = desk
    refused = post(client, lic, "remise", {"on": "2024-02-01"})
    assert refused.status_code == 422
    html = refused.content.decode()
    assert (
        "Refusé par le fichier national : À cette date, le permis n’est ni invalidé (lettre 48SI notifiée) ni "
        "annulé : seul un permis invalidé ou annulé est remis en préfecture (art. L223-5)." in html
    )
    assert 'id="id_on_error"' in html
    assert not Event.objects.filter(licence=lic).exists()


def test_suspension(desk) -> None:
    client, lic = desk
    backwards = post(client, lic, "suspension", {"start": "2024-05-01", "end": "2024-04-01"})
    assert "La fin de la suspension ne peut pas précéder son début." in backwards.content.decode()
    assert 'aria-describedby="id_end_error"' in backwards.content.decode()
    assert backwards.status_code == 400
    out_of_range = post(client, lic, "suspension", {"start": "1850-05-01", "end": "1850-06-01"})
    assert out_of_range.status_code == 422
    html = out_of_range.content.decode()
    assert (
        "Refusé par le fichier national : Cette date est en dehors des années admises (1900 à 2200)." in html
    )
    assert 'id="id_start_error"' in html and 'id="id_end_error"' in html
    assert not Event.objects.filter(licence=lic).exists()
    done = post(client, lic, "suspension", {"start": "2024-05-01", "end": "2024-10-31"})
    assert done.status_code == 302
    assert agent_event(lic, "suspension").data == {"from": "2024-05-01", "to": "2024-10-31"}


def test_annulment_with_a_ban(desk) -> None:
    client, lic = desk
    bad = post(client, lic, "annulation", {"on": "2024-05-01", "ban_until": "2024-01-01"})
    assert "L’interdiction ne peut pas finir avant l’annulation." in bad.content.decode()
    done = post(client, lic, "annulation", {"on": "2024-05-01", "ban_until": "2025-05-01"})
    assert done.status_code == 302
    assert agent_event(lic, "annulment").data == {"on": "2024-05-01", "ban_until": "2025-05-01"}
    assert Projection.objects.get(licence=lic).status == "annulled"
    early = post(client, lic, "nouveau-permis", {"obtained_on": "2025-04-30", "route": "traditional"})
    assert early.status_code == 422
    assert (
        "Le jugement d’annulation interdit de solliciter un nouveau permis avant le 1er mai 2025."
        in early.content.decode()
    )
    assert (
        post(client, lic, "nouveau-permis", {"obtained_on": "2025-05-01", "route": "traditional"}).status_code
        == 302
    )


def test_a_decision_dated_after_today_is_refused(desk) -> None:
    """A decision is recorded once taken (the audit's B6 and B7 c): an annulment, a surrender or a new licence
    dated after today is refused on its date."""
    client, lic = desk
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    annulment = post(client, lic, "annulation", {"on": tomorrow})
    assert annulment.status_code == 422
    assert "Refusé par le fichier national : Cette date est dans le futur." in annulment.content.decode()
    assert 'id="id_on_error"' in annulment.content.decode()
    post(client, lic, "annulation", {"on": "2024-05-01"})
    for kind, data in (
        ("remise", {"on": tomorrow}),
        ("nouveau-permis", {"obtained_on": tomorrow, "route": "traditional"}),
    ):
        refused = post(client, lic, kind, data)
        assert refused.status_code == 422, kind
        assert "Cette date est dans le futur." in refused.content.decode(), kind
    assert list(Event.objects.filter(licence=lic).values_list("kind", flat=True)) == ["annulment"]


def test_new_licence_after_annulment(desk) -> None:
    client, lic = desk
    post(client, lic, "annulation", {"on": "2024-05-01"})
    bad = post(client, lic, "nouveau-permis", {"obtained_on": "2001-01-01", "route": "traditional"})
    assert (
        "Refusé par le fichier national : Cette date précède le 1er juillet 1992" not in bad.content.decode()
    )
    assert (
        "Refusé par le fichier national : Le nouveau permis doit avoir été obtenu après le premier"
        in bad.content.decode()
    )
    assert 'id="id_obtained_on_error"' in bad.content.decode()
    wrong_route = post(client, lic, "nouveau-permis", {"obtained_on": "2025-01-01", "route": "bike"})
    assert wrong_route.status_code == 400
    assert "Sélectionnez un choix valide." in wrong_route.content.decode()
    done = post(client, lic, "nouveau-permis", {"obtained_on": "2025-01-01", "route": "aac"})
    assert done.status_code == 302
    assert agent_event(lic, "new_licence").data == {"obtained_on": "2025-01-01", "route": "aac"}
    assert Movement.objects.filter(licence=lic, kind="new_licence").exists()
    twice = post(client, lic, "nouveau-permis", {"obtained_on": "2025-01-01", "route": "aac"})
    assert twice.status_code == 422
    assert "Un nouveau permis obtenu le 1er janvier 2025 est déjà enregistré." in twice.content.decode()
    assert Event.objects.filter(licence=lic, kind="new_licence").count() == 1


def test_a_new_licence_on_a_valid_licence_is_refused_and_keeps_the_balance(desk) -> None:
    """The audit's B7 (a): one agent's "new licence" gave a licence of 3 points 6, wiping its offences."""
    client, lic = desk
    services.record_event(
        lic,
        "offence",
        offence("2024-01-10", "2024-02-01", 6, "D"),
        source="feed",
        sender="TJ",
        source_ref="A-1",
    )
    assert Projection.objects.get(licence=lic).balance == 6
    refused = post(client, lic, "nouveau-permis", {"obtained_on": "2024-11-30", "route": "traditional"})
    assert refused.status_code == 422
    html = refused.content.decode()
    assert (
        "Refusé par le fichier national : Le permis n’a été ni invalidé (lettre 48SI notifiée) ni annulé avant "
        "cette date : un nouveau permis ne s’enregistre qu’après une invalidation ou une annulation (art. L223-5)."
        in html
    )
    assert 'id="id_obtained_on_error"' in html
    assert not Event.objects.filter(licence=lic, kind="new_licence").exists()
    projection = Projection.objects.get(licence=lic)
    assert (projection.balance, projection.status) == (6, "valid")


def test_categories_and_medical_validity(desk) -> None:
    client, lic = desk
    bad = post(
        client, lic, "categorie", {"code": "C", "obtained_on": "2015-01-01", "expires_on": "2014-01-01"}
    )
    assert (
        "Refusé par le fichier national : La fin de validité doit suivre la date d’obtention (1er janvier 2015)."
        in bad.content.decode()
    )
    unknown = post(client, lic, "categorie", {"code": "Z", "obtained_on": "2015-01-01"})
    assert "Sélectionnez un choix valide." in unknown.content.decode()
    done = post(
        client, lic, "categorie", {"code": "C", "obtained_on": "2015-01-01", "expires_on": "2030-01-01"}
    )
    assert done.status_code == 302
    category = Category.objects.get(licence=lic, code="C")
    assert (category.obtained_on, category.expires_on) == (dt.date(2015, 1, 1), dt.date(2030, 1, 1))
    change = CategoryChange.objects.get()
    assert (change.code, change.before, change.recorded_by) == ("C", None, "agent:jdupont")
    # Changing the medical validity of a category held.
    post(client, lic, "categorie", {"code": "C", "obtained_on": "2015-01-01", "expires_on": "2031-01-01"})
    assert Category.objects.get(licence=lic, code="C").expires_on == dt.date(2031, 1, 1)
    latest = CategoryChange.objects.first()
    assert (latest.before["expires_on"], latest.after["expires_on"]) == ("2030-01-01", "2031-01-01")
    assert "C, par agent:jdupont le" in client.get(f"/gestion/dossiers/{lic.pk}/").content.decode()
    # The registry sealed each change with the licence: `permis verify` finds the file as the agent left it.
    assert integrity.verify(licence_ids=[lic.pk]).discrepancies == []


@pytest.fixture
def after_48si():
    with time_machine.travel(dt.datetime(2024, 6, 1, 10, tzinfo=dt.UTC), tick=True):
        lic, letter_48si = zero_balance_licence()
        Holder.objects.filter(pk=lic.holder_id).update(postal_code="75011")
        letter = delivery(letter_48si, "registered", sent_at=paris(2024, 4, 3, 9))
        user = agent(login="jdupont")
        client = client_for(user)
        open_with_purpose(client, lic)
        yield client, lic, letter


def test_a_48si_receipt_invalidates_the_licence(after_48si) -> None:
    client, lic, letter = after_48si
    assert Projection.objects.get(licence=lic).status == "zero_balance"
    page = client.get(f"/gestion/dossiers/{lic.pk}/enregistrer/avis-48si/")
    assert f"Envoi n° {letter.pk}, envoyé le 03/04/2024" in page.content.decode()
    future = post(client, lic, "avis-48si", {"delivery": letter.pk, "kind": "received", "on": "2024-07-01"})
    assert (
        "Cette date est dans le futur." in future.content.decode()
        and 'id="id_on_error"' in future.content.decode()
    )
    before = post(client, lic, "avis-48si", {"delivery": letter.pk, "kind": "received", "on": "2024-04-01"})
    assert "Cette date précède l’envoi de la lettre" in before.content.decode()
    other = post(client, lic, "avis-48si", {"delivery": 999999, "kind": "received", "on": "2024-04-05"})
    assert "Sélectionnez un choix valide." in other.content.decode()
    done = post(client, lic, "avis-48si", {"delivery": letter.pk, "kind": "received", "on": "2024-04-05"})
    assert done.status_code == 302
    event = agent_event(lic, "invalidation_notified")
    assert event.data == {"on": "2024-04-05"}
    assert Projection.objects.get(licence=lic).status == "invalidated"
    letter.refresh_from_db()
    assert (letter.receipt_kind, letter.receipt_on, letter.receipt_source) == (
        "received",
        dt.date(2024, 4, 5),
        "agent:jdupont",
    )
    page = client.get(f"/gestion/dossiers/{lic.pk}/")
    assert '<strong id="licence-status">Invalidé</strong>' in page.content.decode()


def test_a_new_licence_waits_six_months_from_the_surrender(after_48si) -> None:
    """L223-5 II (the audit's B7 b): no new licence before 6 months from the surrender of the invalidated one,
    nor before it is surrendered."""
    client, lic, letter = after_48si
    post(client, lic, "avis-48si", {"delivery": letter.pk, "kind": "received", "on": "2024-04-05"})
    unsurrendered = post(client, lic, "nouveau-permis", {"obtained_on": "2024-05-30", "route": "traditional"})
    assert unsurrendered.status_code == 422
    assert (
        "Le permis invalidé le 5 avril 2024 n’a pas été remis en préfecture : enregistrez d’abord sa remise"
        in unsurrendered.content.decode()
    )
    assert post(client, lic, "remise", {"on": "2024-04-10"}).status_code == 302
    early = post(client, lic, "nouveau-permis", {"obtained_on": "2024-05-30", "route": "traditional"})
    assert early.status_code == 422
    html = early.content.decode()
    assert (
        "Refusé par le fichier national : Pas de nouveau permis avant le 10 octobre 2024 : le délai d’attente "
        "après la remise du permis invalidé n’est pas écoulé" in html
    )
    assert 'id="id_obtained_on_error"' in html
    assert Projection.objects.get(licence=lic).status == "invalidated"
    with time_machine.travel(dt.datetime(2024, 10, 15, 10, tzinfo=dt.UTC)):
        client = client_for(agent(login="jmartin"))  # months later: a new session
        open_with_purpose(client, lic)
        done = post(client, lic, "nouveau-permis", {"obtained_on": "2024-10-10", "route": "traditional"})
        assert done.status_code == 302 and done["Location"] == f"/gestion/dossiers/{lic.pk}/"
        projection = Projection.objects.get(licence=lic)
        assert (projection.balance, projection.status) == (6, "valid")
