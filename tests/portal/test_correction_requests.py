"""« Demander une correction »: a holder asks for a correction of their file from the personal space, gets a
reference, and reads the state of their requests and the answers; another holder's request is a 404."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from permis.accounts.models import Account, HolderLink
from permis.audit.models import AccessLog
from permis.backoffice import holder_requests
from permis.backoffice.models import HolderCorrectionRequest
from permis.registry import services as registry
from permis.registry.models import Holder, Licence
from tests.registry.factories import holder, licence, offence

pytestmark = pytest.mark.django_db

URL = "/mon-espace/corrections/"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()  # the history page is kept under the file's version; ids repeat from test to test


def with_offence(**holder_fields) -> Licence:
    lic = licence(holder=holder(postal_code="75011", city="Paris", **holder_fields))
    registry.record_event(
        lic,
        "offence",
        offence("2024-01-10", "2024-02-01", 4, "C4"),
        source="feed",
        sender="ANTAI",
        source_ref=f"A-{lic.pk}",
    )
    return lic


def sign_in(client: Client, who: Holder, username: str = "camille") -> User:
    user = User.objects.create_user(username, email=f"{username}@example.fr")
    Account.objects.create(user=user)
    HolderLink.objects.create(user=user, holder=who, method="licence_form")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return user


def test_a_holder_asks_for_a_correction_and_gets_a_reference() -> None:
    lic = with_offence()
    client = Client()
    user = sign_in(client, lic.holder)
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Demander une correction</h1>" in html
    assert '<option value="e1">Infraction (4 points) du 10 janvier 2024</option>' in html
    assert '<option value="autre">' in html
    assert '<label class="fr-label" for="id_message">' in html
    assert 'aria-current="page">Demander une correction</a>' in html  # in the space's menu
    assert "Vous n’avez envoyé aucune demande de correction." in html

    sent = client.post(
        URL, {"concerned": "e1", "message": "  Je n’étais pas le conducteur : véhicule vendu.  "}
    )
    row = HolderCorrectionRequest.objects.get()
    assert sent.status_code == 302 and sent["Location"] == reverse("demarches:correction", args=[row.pk])
    assert (row.holder, row.licence, row.requested_by, row.target.seq) == (lic.holder, lic, user, 1)
    assert row.message == "Je n’étais pas le conducteur : véhicule vendu."
    assert row.subject == "Infraction (4 points) du 10 janvier 2024"
    assert row.status == "pending" and row.reference.startswith("DC-") and len(row.reference) == 11
    detail = client.get(sent["Location"]).content.decode()
    assert f"Votre demande est enregistrée sous la référence {row.reference}" in detail
    assert "Je n’étais pas le conducteur" in detail
    assert "attend d’être examinée par un agent" in detail
    listing = client.get(URL).content.decode()
    assert f"Demande {row.reference} du" in listing and "En attente de traitement" in listing
    # The holder reading their own requests is not someone else consulting the file.
    assert not AccessLog.objects.exists()
    # Nothing changes in the file.
    assert lic.events.count() == 1


def test_something_else_than_an_event_can_be_reported() -> None:
    lic = with_offence()
    client = Client()
    sign_in(client, lic.holder)
    assert (
        client.post(URL, {"concerned": "autre", "message": "Ma date de permis est fausse."}).status_code
        == 302
    )
    row = HolderCorrectionRequest.objects.get()
    assert (row.target, row.subject) == (None, "Autre")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (
            {"concerned": "", "message": "x"},
            "Élément concerné : Choisissez l’élément concerné, ou « Autre chose ».",
        ),
        ({"concerned": "e1", "message": "   "}, "Qu’est-ce qui est inexact ? : Décrivez ce qui est inexact."),
        ({"concerned": "e99", "message": "x"}, "Choisissez un élément de la liste, ou « Autre chose »."),
        (
            {"concerned": "e1", "message": "a" * 1001},
            "Votre message fait 1001 caractères : raccourcissez-le à 1000 au plus.",
        ),
    ],
)
def test_an_invalid_request_is_a_400_naming_the_field(data: dict[str, str], says: str) -> None:
    lic = with_offence()
    client = Client()
    sign_in(client, lic.holder)
    response = client.post(URL, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "<title>Erreur : Demander une correction" in html
    assert 'id="erreurs"' in html and "Votre demande n’a pas été envoyée" in html
    assert says in html
    assert not HolderCorrectionRequest.objects.exists()


def test_one_pending_request_per_event_and_a_bound_on_open_requests() -> None:
    lic = with_offence()
    client = Client()
    sign_in(client, lic.holder)
    client.post(URL, {"concerned": "e1", "message": "faux"})
    first = HolderCorrectionRequest.objects.get()
    again = client.post(URL, {"concerned": "e1", "message": "toujours faux"})
    assert again.status_code == 400
    assert (
        f"Votre demande {first.reference} sur cet élément attend déjà sa réponse." in again.content.decode()
    )
    for n in range(holder_requests.MAX_OPEN - 1):
        assert client.post(URL, {"concerned": "autre", "message": f"point {n}"}).status_code == 302
    too_many = client.post(URL, {"concerned": "autre", "message": "encore"})
    assert too_many.status_code == 400
    assert "Vous avez déjà 5 demandes en attente de réponse" in too_many.content.decode()


def test_another_holders_requests_are_never_shown() -> None:
    mine, theirs = with_offence(), with_offence(birth_name="DURAND")
    them = Client()
    sign_in(them, theirs.holder, "lucien")
    them.post(URL, {"concerned": "e1", "message": "secret de Lucien"})
    their_request = HolderCorrectionRequest.objects.get()
    me = Client()
    sign_in(me, mine.holder)
    assert me.get(reverse("demarches:correction", args=[their_request.pk])).status_code == 404
    assert me.get(reverse("demarches:correction", args=[their_request.pk + 1000])).status_code == 404
    listing = me.get(URL).content.decode()
    assert "secret de Lucien" not in listing and their_request.reference not in listing
    # The other holder's event ids are not choices of this holder's form: "e1" is this holder's own event.
    me.post(URL, {"concerned": "e1", "message": "le mien"})
    assert HolderCorrectionRequest.objects.get(holder=mine.holder).target.licence == mine


def test_the_history_links_each_movement_to_the_request_page() -> None:
    lic = with_offence()
    client = Client()
    sign_in(client, lic.holder)
    html = client.get(reverse("dossier:history")).content.decode()
    assert f'href="{URL}?concerne=e1&amp;mouvement=2024-02-01">Signaler une erreur' in html
    assert (
        f'href="{URL}?concerne=autre&amp;mouvement=2010-03-01">Signaler une erreur' in html
    )  # initial points
    # Followed, the link chooses the event and starts the message with the movement's day.
    page = client.get(f"{URL}?concerne=e1&mouvement=2024-02-01").content.decode()
    assert '<option value="e1" selected>' in page
    assert "Mouvement du 1er février 2024 : </textarea>" in page
    # Values that are no choice or no day are ignored.
    page = client.get(f"{URL}?concerne=e42&mouvement=2024-02-31").content.decode()
    assert '<option value="" selected>' in page
    assert "Mouvement du" not in page
