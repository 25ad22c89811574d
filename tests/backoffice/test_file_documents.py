"""The agent's view of a file (issue 6, B2): the identity FranceConnect gives (birth place, sex), the licence's
format, an attestation of driving rights printed at the counter and logged like the RII, and the documents and
share codes issued for the file."""

from __future__ import annotations

import pytest

from permis.audit.models import AccessLog
from permis.audit.services import create_share, revoke_share
from permis.notices.documents.access import PRINTED
from permis.registry.models import Licence

from .helpers import agent, client_for, file_in, open_with_purpose

pytestmark = pytest.mark.django_db


def test_the_file_shows_birth_place_sex_and_the_licence_format() -> None:
    lic = file_in("75011", holder_fields={"birth_place": "75056", "sex": "male"})
    Licence.objects.filter(pk=lic.pk).update(format="cardboard")
    client = client_for(agent())
    open_with_purpose(client, lic)
    html = client.get(f"/gestion/dossiers/{lic.pk}/").content.decode()
    assert "<dt>Sexe</dt><dd>Masculin</dd>" in html
    assert "<dt>Lieu de naissance</dt>" in html and "75056" in html and "France</span>" in html
    assert '<dd id="licence-format">Format cartonné (trois volets, rose)</dd>' in html
    assert f"<dt>Numéro de permis</dt><dd>{lic.number}</dd>" in html
    entry = AccessLog.objects.filter(licence=lic).latest("pk")
    assert "documents imprimés et codes de partage" in entry.shown


def test_an_attestation_is_printed_at_the_counter_and_logged_like_the_rii() -> None:
    lic = file_in("75011")
    client = client_for(agent(login="camille"))
    assert client.get(f"/gestion/dossiers/{lic.pk}/attestation.pdf").status_code == 302  # the purpose first
    open_with_purpose(client, lic, "holder_request", "au guichet")
    html = client.get(f"/gestion/dossiers/{lic.pk}/").content.decode()
    assert f'href="/gestion/dossiers/{lic.pk}/attestation.pdf"' in html
    assert "Aucun document imprimé par le service." in html
    pdf = client.get(f"/gestion/dossiers/{lic.pk}/attestation.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and pdf["Cache-Control"] == "no-store"
    entry = AccessLog.objects.filter(licence=lic).latest("pk")
    assert (entry.shown, entry.purpose, entry.purpose_detail) == (
        [PRINTED["attestation"]],
        "holder_request",
        "au guichet",
    )
    assert client.get(f"/gestion/dossiers/{lic.pk}/rii.pdf").status_code == 200
    # Both prints are listed under the file's documents, newest first, with who printed them.
    html = client.get(f"/gestion/dossiers/{lic.pk}/").content.decode()
    printed = html.split('id="printed-documents"', 1)[1].split("</tbody>", 1)[0]
    assert printed.index("Relevé d’information intégral (RII)") < printed.index(
        "Attestation des droits à conduire"
    )
    assert "Alex (Agent de préfecture, Préfecture)" in printed
    # An agent of another département gets neither the attestation nor an entry.
    lyon = client_for(agent(departements=("69",)))
    before = AccessLog.objects.count()
    assert lyon.get(f"/gestion/dossiers/{lic.pk}/attestation.pdf").status_code == 403
    assert AccessLog.objects.count() == before


def test_the_share_codes_of_the_holder_are_listed_without_the_codes() -> None:
    lic = file_in("75011")
    share, code = create_share(lic.holder, 7, "Loueur Dupont")
    revoked, _ = create_share(lic.holder, 3)
    revoke_share(lic.holder, revoked.pk)
    client = client_for(agent())
    open_with_purpose(client, lic)
    html = client.get(f"/gestion/dossiers/{lic.pk}/").content.decode()
    codes = html.split('id="share-codes"', 1)[1].split("</tbody>", 1)[0]
    assert "Loueur Dupont" in codes and f"se terminant par {share.hint}" in codes
    assert "actif" in codes and "révoqué le" in codes
    assert code not in html and code.replace("-", "") not in html  # only the holder ever sees a code
