"""`POST /api/v1/post/receipts`: the postal partner reports the receipts of registered letters (scope `post`)."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from permis.api.models import ApiKey
from permis.api.v1 import api
from permis.notices.models import Delivery
from permis.registry.models import Event, Projection
from tests.notices.legal_helpers import delivery, notice, paris, zero_balance_licence

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


def post(body, key: str | None = None, raw: bytes | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    data = raw if raw is not None else json.dumps(body)
    return Client().post(URL, data, content_type="application/json", **headers)


def test_a_receipt_is_recorded_and_answered(key: str, letter: Delivery) -> None:
    response = post({"receipts": [{"delivery": letter.pk, "kind": "received", "on": "2024-04-05"}]}, key)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "received": 1,
        "recorded": 1,
        "duplicates": 0,
        "rejected": 0,
        "receipts": [{"index": 0, "delivery": letter.pk, "outcome": "recorded", "errors": []}],
    }
    letter.refresh_from_db()
    assert (letter.receipt_kind, letter.receipt_on, letter.receipt_source) == (
        "received",
        dt.date(2024, 4, 5),
        "api:La Poste",
    )


def test_a_letter_can_be_named_by_its_printed_reference_and_a_repeat_is_a_duplicate(
    key: str, letter: Delivery
) -> None:
    batch = {"receipts": [{"delivery": "LRAR-1", "kind": "not_collected", "on": "2024-04-04"}]}
    assert post(batch, key).json()["recorded"] == 1
    again = post(batch, key).json()
    assert (again["recorded"], again["duplicates"]) == (0, 1)
    assert again["receipts"][0] == {"index": 0, "delivery": letter.pk, "outcome": "duplicate", "errors": []}


def test_the_receipt_of_a_48si_invalidates_the_licence(key: str) -> None:
    lic, letter_48si = zero_balance_licence()
    letter = delivery(letter_48si, "registered", sent_at=paris(2024, 4, 3, 9))
    body = post({"receipts": [{"delivery": letter.pk, "kind": "received", "on": "2024-04-06"}]}, key).json()
    assert body["recorded"] == 1, body
    assert Projection.objects.get(licence=lic).status == "invalidated"
    event = Event.objects.get(licence=lic, kind="invalidation_notified")
    assert (event.data, event.source, event.recorded_by) == ({"on": "2024-04-06"}, "system", "api:La Poste")


def test_bad_receipts_are_rejected_on_their_own_with_their_fields(key: str, letter: Delivery) -> None:
    other = delivery(notice("48N"), "registered", sent_at=paris(2024, 4, 2, 9))
    simple = delivery(notice("48"), "post", sent_at=paris(2024, 4, 2, 9))
    body = post(
        {
            "receipts": [
                {"delivery": letter.pk, "kind": "lost", "on": "2024-04-05"},
                {"delivery": letter.pk, "kind": "received", "on": "2024-04-05", "colour": "red"},
                {"delivery": letter.pk, "kind": "received", "on": "2024-02-30"},
                {"delivery": letter.pk, "kind": "received"},
                {"delivery": 1.5, "kind": "received", "on": "2024-04-05"},
                {"delivery": "NOPE-1", "kind": "received", "on": "2024-04-05"},
                {"delivery": simple.pk, "kind": "received", "on": "2024-04-05"},
                {"delivery": letter.pk, "kind": "received", "on": "2024-04-01"},
                {"delivery": letter.pk, "kind": "received", "on": "2024-07-01"},
                "not an object",
                {"delivery": other.pk, "kind": "received", "on": "2024-04-05"},
                {"delivery": letter.pk, "kind": "received", "on": "2024-04-05"},
                {"delivery": letter.pk, "kind": "not_collected", "on": "2024-04-04"},
            ]
        },
        key,
    ).json()
    errors = {r["index"]: r["errors"] for r in body["receipts"]}
    assert errors[0] == ["receipts[0]: kind: Input should be 'received' or 'not_collected'"]
    assert errors[1] == ["receipts[1]: colour: unknown field"]
    assert errors[2] == ["receipts[2]: on: '2024-02-30' is not a date that exists (expected YYYY-MM-DD)"]
    assert errors[3] == ["receipts[3]: on: Field required"]
    assert errors[4] == [
        "receipts[4]: delivery: must be the delivery id (a number) or the letter's reference (a string)"
    ]
    assert errors[5] == ["receipts[5]: delivery: no registered letter 'NOPE-1'"]
    assert errors[6] == [f"receipts[6]: delivery: no registered letter {simple.pk}"]  # as an unknown id
    assert errors[7][0].endswith("on: 2024-04-01 is before the letter was sent (2024-04-02)")
    assert errors[8][0].endswith("on: 2024-07-01 is in the future")
    assert errors[9] == ["receipts[9]: receipt: a receipt must be an object with delivery, kind and on"]
    assert errors[10] == errors[11] == []
    assert "contradicts it" in errors[12][0]
    assert [r["outcome"] for r in body["receipts"]] == ["rejected"] * 10 + [
        "recorded",
        "recorded",
        "rejected",
    ]
    assert (body["received"], body["recorded"], body["duplicates"], body["rejected"]) == (13, 2, 0, 11)
    assert body["receipts"][5]["delivery"] is None and body["receipts"][6]["delivery"] is None


@pytest.mark.parametrize("channel", ["email", "post", "account", "sms"])
def test_a_letter_the_post_never_carried_is_answered_as_an_unknown_id(key: str, channel: str) -> None:
    """The partner learns nothing of other letters: not their kind, their licence or their channel."""
    other = delivery(notice("48SI"), channel, sent_at=paris(2024, 4, 2, 9))
    unknown = other.pk + 1000
    refs = (other.pk, str(other.pk), unknown)
    batches = [{"receipts": [{"delivery": ref, "kind": "received", "on": "2024-04-05"}]} for ref in refs]
    answers = [post(batch, key).json()["receipts"][0] for batch in batches]
    assert answers[0] == {
        "index": 0,
        "delivery": None,
        "outcome": "rejected",
        "errors": [f"receipts[0]: delivery: no registered letter {other.pk}"],
    }
    assert answers[1]["errors"] == [f"receipts[0]: delivery: no registered letter '{other.pk}'"]
    assert answers[2]["errors"] == [f"receipts[0]: delivery: no registered letter {unknown}"]
    assert {name for answer in answers for name in answer} == {"index", "delivery", "outcome", "errors"}
    other.refresh_from_db()
    assert other.receipt_on is None


@pytest.mark.parametrize("status", ["pending", "sending", "temporary_failure", "failed"])
def test_a_registered_letter_not_handed_to_the_post_yet_is_answered_as_an_unknown_id(
    key: str, status: str
) -> None:
    """Its id and its printed reference (predictable, permis-<id>-registered) tell nothing: the same status and
    the same body as for a letter that does not exist, so a postal key cannot probe which letters exist."""
    waiting = delivery(notice("48SI"), "registered", status=status)
    if status == "failed":  # failed after its PDF was queued: the reference exists, the post never took it
        waiting.provider_ref = f"permis-{waiting.pk}-registered"
        waiting.save(update_fields=["provider_ref"])
    unknown = waiting.pk + 1000

    def answer(ref, on: str = "2024-04-05"):
        response = post({"receipts": [{"delivery": ref, "kind": "received", "on": on}]}, key)
        return response.status_code, response.json()

    for known, absent in (
        (waiting.pk, unknown),
        (str(waiting.pk), str(unknown)),
        (f"permis-{waiting.pk}-registered", f"permis-{unknown}-registered"),
    ):
        for on in ("2024-04-05", "2024-13-01"):
            status_code, body = answer(known, on)
            expected_status, expected = answer(absent, on)
            assert status_code == expected_status == 200
            receipt = body["receipts"][0]
            named = f"no registered letter {known!r}"  # the id the partner sent, as for an unknown id
            receipt["errors"] = [
                e.replace(named, f"no registered letter {absent!r}") for e in receipt["errors"]
            ]
            assert body == expected
            assert receipt["delivery"] is None
            assert receipt["errors"][-1] == f"receipts[0]: delivery: no registered letter {absent!r}"
    waiting.refresh_from_db()
    assert waiting.receipt_on is None and not Event.objects.filter(kind="invalidation_notified").exists()


def test_without_a_valid_key_the_answer_is_401(letter: Delivery) -> None:
    batch = {"receipts": [{"delivery": letter.pk, "kind": "received", "on": "2024-04-05"}]}
    for response in (post(batch), post(batch, "permis_000000000000_wrong")):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert set(response.json()) == {"error"}
    letter.refresh_from_db()
    assert letter.receipt_on is None


def test_a_key_without_the_post_scope_gets_403(letter: Delivery) -> None:
    _, feed_key = ApiKey.objects.issue(name="ANTAI", sender="ANTAI", scopes=["feed"])
    response = post({"receipts": [{"delivery": letter.pk, "kind": "received", "on": "2024-04-05"}]}, feed_key)
    assert response.status_code == 403
    assert response.json() == {"error": "this key does not have the 'post' scope"}
    letter.refresh_from_db()
    assert letter.receipt_on is None


def test_a_malformed_batch_is_refused_whole_with_the_field_named(key: str, letter: Delivery) -> None:
    assert post(None, key, raw=b"{not json").status_code == 400
    for body, field in (
        ({"receipts": [], "extra": 1}, "extra"),
        ({"receipt": []}, "receipts"),
        ({"receipts": []}, "receipts"),
        ({"receipts": {"delivery": letter.pk}}, "receipts"),
        ([{"delivery": letter.pk}], "receipts"),
    ):
        response = post(body, key)
        assert response.status_code == 422, body
        assert field in response.json()["error"]
    too_many = post(
        {"receipts": [{"delivery": letter.pk, "kind": "received", "on": "2024-04-05"}] * 1001}, key
    )
    assert too_many.status_code == 413 and "at most 1000" in too_many.json()["error"]
    letter.refresh_from_db()
    assert letter.receipt_on is None


def test_the_route_declares_the_post_scope_and_is_documented() -> None:
    operations = {
        bound.prefix + path: operation
        for bound in api._get_bound_routers()
        for path, view in bound.path_operations.items()
        for operation in view.operations
    }
    receipts = next(op for path, op in operations.items() if path == "/post//receipts")
    assert [callback.scope for callback in receipts.auth_callbacks] == ["post"]
    for path, operation in operations.items():
        assert operation.auth_callbacks, f"{path}: {operation.methods} has no authorisation"
    document = Client().get("/api/v1/openapi.json").json()
    schema = document["paths"][URL]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["receipts"]["items"]["additionalProperties"] is False
    assert set(schema["properties"]["receipts"]["items"]["required"]) == {"delivery", "kind", "on"}


def test_the_apikey_command_makes_a_key_with_the_post_scope(letter: Delivery) -> None:
    out = io.StringIO()
    call_command(
        "apikey", "create", "--name", "La Poste", "--scope", "post", stdout=out, stderr=io.StringIO()
    )
    key = out.getvalue().strip()
    assert ApiKey.objects.get().scopes == ["post"]
    response = post({"receipts": [{"delivery": letter.pk, "kind": "received", "on": "2024-04-05"}]}, key)
    assert response.status_code == 200 and response.json()["recorded"] == 1
