"""Police checks: by number and by QR, the balance only with its own scope (L225-4), every check logged."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from permis.audit.models import AccessLog
from permis.notices import signing
from permis.notices.documents.facts import attestation_payload, licence_state
from permis.portal.dossier.views import digital_payload
from permis.registry import services
from permis.registry.models import Projection
from tests.api.partners import call, key, licence
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 6, 2)
URL = "/api/v1/police/licences/"


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(dt.datetime(2025, 6, 2, 10, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def lic():
    return licence("POL000000001", offences=[offence("2025-01-10", "2025-02-01", 3)], on=TODAY)


@pytest.fixture
def police() -> str:
    return key("police", name="Gendarmerie, brigade de Lyon")


def test_no_key_is_401_and_a_key_without_the_scope_is_403(lic) -> None:
    response = call("get", URL + "POL000000001?purpose=roadside_check")
    assert response.status_code == 401 and "error" in response.json()
    response = call("get", URL + "POL000000001?purpose=roadside_check", key("third_party"))
    assert response.status_code == 403 and response.json() == {
        "error": "this key does not have the 'police' scope"
    }
    assert AccessLog.objects.count() == 0


def test_a_check_by_number_shows_the_driving_rights_not_the_points_and_is_logged(lic, police) -> None:
    response = call("get", URL + "POL000000001?purpose=roadside_check&purpose_detail=PV 123", police)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["number"] == "POL000000001" and body["holder"]["birth_name"] == "MARTIN"
    assert (body["status"], body["valid"], body["suspended"], body["suspension"]) == (
        "valid",
        True,
        False,
        None,
    )
    assert [(c["code"], c["valid"]) for c in body["categories"]] == [("B", True), ("A", True)]
    assert "balance" not in body and "cap" not in body
    entry = AccessLog.objects.get()
    assert (entry.role, entry.purpose, entry.purpose_detail, entry.channel) == (
        "police",
        "roadside_check",
        "PV 123",
        "api",
    )
    assert entry.licence_id == lic.pk and entry.actor_label == "Gendarmerie, brigade de Lyon"
    assert "solde de points" not in entry.shown and "catégories" in entry.shown


def test_the_balance_needs_the_police_balance_scope(lic, police) -> None:
    assert call("get", URL + "POL000000001/balance?purpose=judicial_inquiry", police).status_code == 403
    both = key("police", "police_balance", name="OPJ Lyon")
    response = call("get", URL + "POL000000001/balance?purpose=judicial_inquiry", both)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["balance"], body["cap"], body["points_status"], body["status"]) == (9, 12, "valid", "valid")
    assert AccessLog.objects.get().shown[-1] == "solde de points"


def test_unknown_number_missing_or_wrong_purpose(lic, police) -> None:
    response = call("get", URL + "NOPE0000?purpose=roadside_check", police)
    assert response.status_code == 404 and "NOPE0000" in response.json()["error"]
    assert call("get", URL + "POL000000001", police).status_code == 422
    response = call("get", URL + "POL000000001?purpose=curiosity", police)
    assert response.status_code == 422
    assert response.json()["error"] == "purpose: Input should be 'roadside_check' or 'judicial_inquiry'"
    assert AccessLog.objects.count() == 0


def test_a_suspended_licence_says_until_when(lic, police) -> None:
    services.record_event(
        lic,
        "suspension",
        {"from": "2025-05-01", "to": "2025-08-31"},
        source="agent",
        recorded_by="a",
        on=TODAY,
    )
    body = call("get", URL + "POL000000001?purpose=roadside_check", police).json()
    assert (body["status"], body["valid"], body["suspended"]) == ("suspended", False, True)
    assert body["suspension"] == {"from": "2025-05-01", "to": "2025-08-31"}


def test_a_zero_balance_before_the_48si_reads_valid_without_the_balance_scope(police) -> None:
    lic = licence(
        "POL000000002",
        offences=[offence("2025-01-10", "2025-02-01", 6), offence("2025-01-11", "2025-02-02", 6, "D")],
        on=TODAY,
    )
    body = call("get", URL + "POL000000002?purpose=roadside_check", police).json()
    assert body["status"] == "valid" and body["valid"] is True
    assert Projection.objects.get(licence=lic).status == "zero_balance"


def _qr(payload: dict) -> str:
    return signing.sign_payload(payload)


def post_qr(token: str, qr: str, **extra):
    return call("post", "/api/v1/police/qr", token, {"qr": qr, "purpose": "roadside_check", **extra})


def test_qr_of_a_digital_licence_valid_then_expired(lic, police) -> None:
    from django.utils import timezone

    text = _qr(digital_payload(lic, timezone.now()))
    body = post_qr(police, text).json()
    assert (body["outcome"], body["document"]) == ("valid", "digital_licence")
    assert body["licence"]["number"] == "POL000000001" and body["licence"]["valid"] is True
    assert AccessLog.objects.get().shown[0] == "code QR"
    with time_machine.travel(dt.datetime(2025, 6, 2, 10, 30, tzinfo=dt.UTC)):
        body = post_qr(police, text).json()
    assert body["outcome"] == "expired" and "expiré" in body["message"]


def test_qr_revoked_tampered_and_unknown_key(lic, police) -> None:
    text = _qr(attestation_payload(licence_state(lic, TODAY), TODAY))
    assert post_qr(police, text).json()["outcome"] == "valid"
    head, signature = text.rsplit(".", 1)
    tampered = post_qr(police, head + "." + ("A" if signature[0] != "A" else "B") + signature[1:]).json()
    assert (tampered["outcome"], tampered["licence"]) == ("tampered", None)
    assert post_qr(police, "not a qr").json()["outcome"] == "tampered"
    stranger = Ed25519PrivateKey.generate()
    body = {"doc": "attestation", "licence": "POL000000001", "v": 1}
    unsigned = f"PERMIS1.stranger.{signing.b64url(signing.canonical(body))}"
    foreign = unsigned + "." + signing.b64url(stranger.sign(unsigned.encode()))
    assert post_qr(police, foreign).json()["outcome"] == "unknown_key"
    services.record_event(
        lic,
        "suspension",
        {"from": "2025-06-01", "to": "2025-07-01"},
        source="agent",
        recorded_by="a",
        on=TODAY,
    )
    revoked = post_qr(police, text).json()
    assert revoked["outcome"] == "revoked" and revoked["licence"]["status"] == "suspended"
    # Valid and revoked checks read the file: logged; tampered and unknown-key ones name no file.
    assert AccessLog.objects.count() == 2


def test_qr_body_is_strict(police) -> None:
    assert post_qr(police, "x", colour="blue").status_code == 422
    response = call("post", "/api/v1/police/qr", police, {"qr": 12, "purpose": "roadside_check"})
    assert response.status_code == 422 and "error" in response.json()
    assert call("post", "/api/v1/police/qr", police, b"{not json").status_code in (400, 422)
