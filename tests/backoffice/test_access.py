"""Who may open the back office, which files an agent sees, and the purpose stated and logged before a read."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.urls import get_resolver

from permis.audit.models import AccessLog
from permis.backoffice import urls as backoffice_urls
from permis.backoffice.access import departement_of, role_required
from permis.backoffice.views import MAX_RESULTS
from permis.registry import services as registry
from permis.registry.models import Notice
from tests.registry.factories import offence

from .helpers import agent, client_for, file_in, open_with_purpose

pytestmark = pytest.mark.django_db


def test_every_back_office_view_declares_its_roles() -> None:
    for pattern in backoffice_urls.urlpatterns:
        access = getattr(pattern.callback, "permis_access", None)
        assert access and access[0] == "role", pattern.name
    assert get_resolver().resolve("/gestion/dossiers/").url_name == "search"


def test_role_required_refuses_an_unknown_role() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        role_required("janitor")


def test_anonymous_goes_to_the_agents_login_and_others_get_403(client) -> None:
    response = client.get("/gestion/dossiers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/gestion/connexion/?next=/gestion/dossiers/")
    plain = User.objects.create_user("holder", password="x")
    assert client_for(plain).get("/gestion/dossiers/").status_code == 403
    auditor = client_for(agent("auditor", ()))
    assert auditor.get("/gestion/dossiers/").status_code == 403
    assert auditor.get("/gestion/tableau-de-bord/").status_code == 403
    assert auditor.get("/gestion/integrite/").status_code == 200
    assert client_for(agent()).get("/gestion/tableau-de-bord/").status_code == 403
    assert client_for(agent("supervisor", ())).get("/gestion/tableau-de-bord/").status_code == 200


@pytest.mark.parametrize(
    ("postcode", "departement"),
    [
        ("75011", "75"),
        ("01000", "01"),
        ("20000", "2A"),
        ("20190", "2A"),
        ("20200", "2B"),
        ("20600", "2B"),
        ("97411", "974"),
        ("97100", "971"),
        ("98800", "988"),
        ("", ""),
        ("7501", ""),
        ("ABCDE", ""),
    ],
)
def test_the_departement_of_a_postcode(postcode: str, departement: str) -> None:
    assert departement_of(postcode) == departement


def search(client, **fields):
    params = {"purpose": "holder_request", **fields}
    return client.get("/gestion/dossiers/", params)


def listed(response, lic) -> bool:
    """The search lists this file (a link to it in the results)."""
    return f'href="/gestion/dossiers/{lic.pk}/"' in response.content.decode()


def test_an_agent_finds_and_opens_only_the_files_of_their_departements() -> None:
    paris = file_in("75011")
    lyon = file_in("69003")
    ajaccio = file_in("20000")
    bastia = file_in("20200")
    parisian = client_for(agent(departements=("75", "2A")))
    found = search(parisian, licence_number=paris.number)
    assert listed(found, paris)
    assert not listed(search(parisian, licence_number=lyon.number), lyon)
    assert (
        "Aucun dossier de vos départements" in search(parisian, licence_number=lyon.number).content.decode()
    )
    assert listed(search(parisian, licence_number=ajaccio.number), ajaccio)
    assert not listed(search(parisian, licence_number=bastia.number), bastia)
    open_with_purpose(parisian, lyon)
    assert parisian.get(f"/gestion/dossiers/{lyon.pk}/").status_code == 403
    assert parisian.get(f"/gestion/dossiers/{lyon.pk}/motif/").status_code == 403
    supervisor = client_for(agent("supervisor", ()))
    assert listed(search(supervisor, licence_number=lyon.number), lyon)
    open_with_purpose(supervisor, lyon)
    assert supervisor.get(f"/gestion/dossiers/{lyon.pk}/").status_code == 200


def test_search_by_dossier_number_or_identity() -> None:
    lic = file_in("75011", holder_fields={"birth_name": "DUPONT"})
    client = client_for(agent())
    assert listed(search(client, dossier_number=lic.dossier_number.lower()), lic)
    by_name = search(client, birth_name="dupont", birth_date="1990-05-17")
    assert listed(by_name, lic)
    half = search(client, birth_name="dupont")
    assert "Une recherche par identité demande le nom et la date de naissance." in half.content.decode()
    empty = search(client)
    assert "Indiquez un numéro de permis" in empty.content.decode()


def test_a_search_by_name_ignores_case_accents_and_separators() -> None:
    andre = file_in("75011", holder_fields={"birth_name": "ANDRÉ", "used_name": "LE GOFF-D’ARCY"})
    other_day = file_in("75011", holder_fields={"birth_name": "ANDRÉ", "birth_date": dt.date(1990, 5, 18)})
    client = client_for(agent())
    for typed in (
        "ANDRÉ",
        "André",
        "andré",
        "ANDRE",
        "andre",
        " Andre ",
        "ANDRE\u0301",
        "Le Goff d'Arcy",
        "legoffdarcy",
    ):
        found = search(client, birth_name=typed, birth_date="1990-05-17")
        assert listed(found, andre), typed
        assert not listed(found, other_day), typed
    for typed in ("Andres", "Andr", "Le Goff"):
        assert not listed(search(client, birth_name=typed, birth_date="1990-05-17"), andre), typed


def test_a_search_by_name_keeps_its_limit_after_the_names_match() -> None:
    """The birth date narrows in the database; the limit counts the holders whose name matches, not the
    holders born that day whose names sort first."""
    for n in range(MAX_RESULTS + 2):
        file_in("75011", holder_fields={"birth_name": f"AARON{chr(65 + n)}"})
    zelie = file_in("75011", holder_fields={"birth_name": "ZÉLIE"})
    client = client_for(agent())
    found = search(client, birth_name="zelie", birth_date="1990-05-17")
    assert listed(found, zelie) and found.context["results"] == [zelie] and not found.context["more"]
    for _ in range(MAX_RESULTS):
        file_in("75011", holder_fields={"birth_name": "Zélie"})
    many = search(client, birth_name="Zelie", birth_date="1990-05-17")
    assert len(many.context["results"]) == MAX_RESULTS and many.context["more"]
    assert "Plus de 20 dossiers : précisez la recherche." in many.content.decode()


def test_no_result_says_whose_files_were_searched() -> None:
    parisian = client_for(agent(departements=("75",)))
    supervisor = client_for(agent("supervisor", ()))
    nothing = {"birth_name": "PERSONNE", "birth_date": "1990-05-17"}
    assert "Aucun dossier de vos départements ne correspond" in search(parisian, **nothing).content.decode()
    html = search(supervisor, **nothing).content.decode()
    assert "Aucun dossier ne correspond à cette recherche." in html
    assert "vos départements" not in html


def test_the_purpose_is_required_before_any_read_and_every_read_is_logged() -> None:
    lic = file_in("75011")
    user = agent()
    client = client_for(user)
    no_purpose = client.get("/gestion/dossiers/", {"licence_number": lic.number})
    assert "Indiquez le motif de la consultation." in no_purpose.content.decode()
    assert not listed(no_purpose, lic)
    other = client.get("/gestion/dossiers/", {"licence_number": lic.number, "purpose": "other"})
    assert "Précisez le motif" in other.content.decode()
    assert AccessLog.objects.count() == 0
    # Opening a file without a stated purpose asks for one first.
    response = client.get(f"/gestion/dossiers/{lic.pk}/")
    assert response.status_code == 302 and "/motif/" in response["Location"]
    assert AccessLog.objects.count() == 0
    # A search with the purpose: the result is a read, logged; the file opened from it uses that purpose.
    found = search(client, licence_number=lic.number, purpose="other", purpose_detail="courrier du 3 mars")
    assert listed(found, lic)
    assert client.get(f"/gestion/dossiers/{lic.pk}/").status_code == 200
    entries = list(AccessLog.objects.order_by("seq"))
    assert len(entries) == 2
    assert {(e.actor, e.role, e.purpose, e.purpose_detail, e.channel) for e in entries} == {
        (f"user:{user.pk}", "agent", "other", "courrier du 3 mars", "back_office")
    }
    assert "historique et mouvements" in entries[1].shown
    assert entries[1].licence_id == lic.pk and entries[1].holder_id == lic.holder_id


def test_the_purpose_page_pins_a_purpose_for_a_file() -> None:
    lic = file_in("75011")
    client = client_for(agent())
    bad = client.post(f"/gestion/dossiers/{lic.pk}/motif/", {"purpose": ""})
    assert bad.status_code == 200 and "Indiquez le motif de la consultation." in bad.content.decode()
    good = open_with_purpose(client, lic, "correction")
    assert good.status_code == 302 and good["Location"] == f"/gestion/dossiers/{lic.pk}/"
    page = client.get(f"/gestion/dossiers/{lic.pk}/")
    assert page.status_code == 200
    assert "Rectification d&#x27;une information" in page.content.decode()
    assert AccessLog.objects.get().purpose == "correction"
    # Closing the file forgets its purpose.
    client.post(f"/gestion/dossiers/{lic.pk}/fermer/")
    assert client.get(f"/gestion/dossiers/{lic.pk}/").status_code == 302


def test_printing_the_rii_is_logged() -> None:
    lic = file_in("75011")
    client = client_for(agent())
    open_with_purpose(client, lic, "holder_request")
    response = client.get(f"/gestion/dossiers/{lic.pk}/rii.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    entry = AccessLog.objects.get()
    assert entry.shown == ["relevé d'information intégral (RII) imprimé"]
    assert entry.purpose == "holder_request"


def test_a_letter_of_the_file_is_read_as_sent_and_logged() -> None:
    lic = file_in("75011")
    registry.record_event(
        lic,
        "offence",
        offence("2024-01-10", "2024-02-01", 3, "C4"),
        source="feed",
        sender="T",
        source_ref="L1",
    )
    notice = Notice.objects.filter(licence=lic).first()
    client = client_for(agent())
    open_with_purpose(client, lic, "holder_request")
    page = client.get(f"/gestion/dossiers/{lic.pk}/")
    assert f'href="/gestion/dossiers/{lic.pk}/lettre.pdf?lettre={notice.pk}"' in page.content.decode()
    response = client.get(f"/gestion/dossiers/{lic.pk}/lettre.pdf", {"lettre": notice.pk})
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert AccessLog.objects.order_by("-seq").first().shown == ["lettre envoyée (PDF)"]
    other = file_in("75012")
    assert client.get(f"/gestion/dossiers/{other.pk}/lettre.pdf", {"lettre": notice.pk}).status_code == 302
    open_with_purpose(client, other)
    assert client.get(f"/gestion/dossiers/{other.pk}/lettre.pdf", {"lettre": notice.pk}).status_code == 404
    assert client.get(f"/gestion/dossiers/{lic.pk}/lettre.pdf").status_code == 404


def test_closing_a_file_of_another_departement_is_refused() -> None:
    lyon = file_in("69003")
    assert client_for(agent()).post(f"/gestion/dossiers/{lyon.pk}/fermer/").status_code == 403
