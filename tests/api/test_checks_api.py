"""Third parties: a share code or an attestation's QR tells existence, categories and validity, nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from permis.audit.models import AccessLog
from permis.audit.services import create_share, revoke_share
from permis.notices import signing
from permis.notices.documents.facts import attestation_payload, licence_state, rii_payload
from permis.portal.dossier.views import digital_payload
from permis.registry import services
from tests.api.partners import call, key, leaks, licence
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 6, 2)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(dt.datetime(2025, 6, 2, 10, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def lic():
    return licence("TP0000000001", offences=[offence("2025-01-10", "2025-02-01", 3)], on=TODAY)


@pytest.fixture
def third() -> str:
    return key("third_party", name="Loca'Voitures")


def share(token: str, code: str, **extra):
    return call("post", "/api/v1/checks/share", token, {"code": code, **extra})


def test_a_share_code_tells_categories_and_validity_and_is_logged(lic, third) -> None:
    _row, code = create_share(lic.holder, 7, "location")
    response = share(third, code.lower(), purpose="location d'un véhicule")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["licence_number"] == "TP0000000001" and body["holder_name"] == "MARTIN Camille"
    assert (body["status"], body["valid"]) == ("valid", True)
    assert [c["code"] for c in body["categories"]] == ["B", "A"]
    assert leaks(body) == []
    entry = AccessLog.objects.get()
    assert (entry.role, entry.channel, entry.purpose_detail) == (
        "third_party",
        "share_code",
        "location d'un véhicule",
    )
    assert "Loca'Voitures" in entry.actor_label


def test_unknown_expired_and_revoked_codes_answer_the_same_404(lic, third) -> None:
    row, code = create_share(lic.holder, 1)
    assert share(third, "ABCD-EFGH-JK").json() == {"error": "code: invalid or expired share code"}
    assert share(third, "short").status_code == 404
    with time_machine.travel(dt.datetime(2025, 6, 4, 10, tzinfo=dt.UTC)):
        assert share(third, code).status_code == 404
    revoke_share(lic.holder, row.pk)
    assert share(third, code).status_code == 404
    assert AccessLog.objects.count() == 0


def test_share_body_is_strict_and_keys_are_checked(lic) -> None:
    third = key("third_party")
    assert share(third, "ABCD-EFGH-JK", balance=True).status_code == 422
    assert call("post", "/api/v1/checks/share", third, {"code": 123}).status_code == 422
    assert share(key("police"), "ABCD-EFGH-JK").status_code == 403
    assert share("permis_nothing_here", "ABCD-EFGH-JK").status_code == 401


def attestation(token: str, qr: str):
    return call("post", "/api/v1/checks/attestation", token, {"qr": qr, "purpose": "embauche"})


def test_an_attestation_qr_valid_revoked_tampered(lic, third) -> None:
    text = signing.sign_payload(attestation_payload(licence_state(lic, TODAY), TODAY))
    body = attestation(third, text).json()
    assert (body["outcome"], body["document"], body["valid"], body["status"]) == (
        "valid",
        "attestation",
        True,
        "valid",
    )
    assert body["licence_number"] == "TP0000000001" and body["valid_until"] == "2025-10-02"
    assert leaks(body) == []
    entry = AccessLog.objects.get()
    assert (entry.role, entry.channel, entry.purpose_detail) == ("third_party", "api", "embauche")
    head, signature = text.rsplit(".", 1)
    tampered = attestation(third, head + "." + ("A" if signature[0] != "A" else "B") + signature[1:]).json()
    assert (tampered["outcome"], tampered["licence_number"], tampered["categories"]) == ("tampered", None, [])
    services.record_event(
        lic,
        "suspension",
        {"from": "2025-06-01", "to": "2025-07-01"},
        source="agent",
        recorded_by="a",
        on=TODAY,
    )
    revoked = attestation(third, text).json()
    assert (revoked["outcome"], revoked["valid"]) == ("revoked", False)
    assert leaks(revoked) == []


def test_a_digital_licence_expires_in_minutes(lic, third) -> None:
    text = signing.sign_payload(digital_payload(lic, timezone.now()))
    assert attestation(third, text).json()["outcome"] == "valid"
    with time_machine.travel(dt.datetime(2025, 6, 2, 11, tzinfo=dt.UTC)):
        assert attestation(third, text).json()["outcome"] == "expired"


def test_a_statement_qr_carries_points_and_is_refused(lic, third) -> None:
    text = signing.sign_payload(rii_payload(licence_state(lic, TODAY), TODAY, 3))
    response = attestation(third, text)
    assert response.status_code == 422 and "not an attestation" in response.json()["error"]
    assert leaks(response.json()) == []
    assert AccessLog.objects.count() == 0
