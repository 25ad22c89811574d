"""`POST /api/v1/post/receipts`: a reference that only looks like a number is one bad receipt, never a failed batch.

``str.isdigit`` takes "²" (which ``int`` refuses) and "٣" (which ``int`` reads as 3); a delivery id is ASCII
digits, and a number too large for the database is no delivery either.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.test import Client

from permis.api.models import ApiKey
from permis.notices.models import Delivery
from tests.notices.legal_helpers import delivery, notice, paris

pytestmark = pytest.mark.django_db

URL = "/api/v1/post/receipts"


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(dt.datetime(2024, 6, 1, 10, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def key() -> str:
    return ApiKey.objects.issue(name="La Poste", scopes=["post"])[1]


@pytest.fixture
def letter() -> Delivery:
    return delivery(notice("48N"), "registered", sent_at=paris(2024, 4, 2, 9), provider_ref="LRAR-1")


@pytest.mark.parametrize("reference", ["²", "³", "٣", "1²", "9" * 30, 10**30, -1, 0])
def test_a_reference_that_is_not_an_ascii_delivery_id_is_rejected_alone(
    key: str, letter: Delivery, reference
) -> None:
    body = {
        "receipts": [
            {"delivery": reference, "kind": "received", "on": "2024-04-05"},
            {"delivery": letter.pk, "kind": "received", "on": "2024-04-05"},
        ]
    }
    response = Client().post(
        URL, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["recorded"], answer["rejected"]) == (1, 1), answer
    assert answer["receipts"][0]["errors"] == [f"receipts[0]: delivery: no registered letter {reference!r}"]
    assert answer["receipts"][1]["outcome"] == "recorded"
