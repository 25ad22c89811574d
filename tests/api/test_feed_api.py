"""`POST /api/v1/feed/offences`: the file feed's meaning over HTTP, behind a key with the feed scope."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from permis.api.models import ApiKey
from permis.api.v1 import api
from permis.registry import services
from permis.registry.models import Event, FeedRecord, Projection
from permis.registry.services.feed import parse_record
from tests.registry.factories import holder

pytestmark = pytest.mark.django_db

URL = "/api/v1/feed/offences"


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(dt.datetime(2025, 6, 1, 10, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def key() -> str:
    return ApiKey.objects.issue(name="ANTAI", sender="ANTAI", scopes=["feed"])[1]


@pytest.fixture
def lic():
    return services.register_licence(
        holder=holder(),
        number="API000000001",
        dossier_number="APID00000001",
        obtained_on=dt.date(2010, 3, 1),
        on=dt.date(2024, 1, 1),
    )


def record(ref: str, **fields) -> dict:
    return {
        "sender_ref": ref,
        "licence_number": "API000000001",
        "points": 3,
        "class": "C4",
        "committed_on": "2025-01-10",
        "final_on": "2025-02-01",
        **fields,
    }


def post(body, key: str | None = None, raw: bytes | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    data = raw if raw is not None else json.dumps(body)
    return Client().post(URL, data, content_type="application/json", **headers)


def test_an_accepted_record_is_in_the_balance_when_the_answer_comes(key: str, lic) -> None:
    response = post({"records": [record("R-1", place="Lyon")]}, key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["received"], body["accepted"], body["duplicates"], body["rejected"]) == (1, 1, 0, 0)
    assert body["records"] == [{"index": 0, "sender_ref": "R-1", "outcome": "accepted", "errors": []}]
    assert Projection.objects.get(licence=lic).balance == 9
    event = Event.objects.get(sender="ANTAI", source_ref="R-1")
    assert event.source == "feed" and event.data["points"] == 3
    receipt = FeedRecord.objects.get(source_ref="R-1")
    assert receipt.batch == body["batch"] and receipt.payload["place"] == "Lyon" and receipt.event == event


def test_the_same_batch_sent_twice_is_recorded_once(key: str, lic) -> None:
    batch = {"records": [record("R-1"), record("R-2", committed_on="2025-03-01", final_on="2025-04-01")]}
    assert post(batch, key).json()["accepted"] == 2
    again = post(batch, key).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    assert Event.objects.filter(licence=lic).count() == 2
    assert Projection.objects.get(licence=lic).balance == 6


def test_bad_records_are_rejected_on_their_own_with_their_errors(key: str, lic) -> None:
    body = post(
        {
            "records": [
                record("R-1", points="3"),
                record("R-2", colour="red"),
                record("R-3", final_on="2025-02-30"),
                record("R-4", licence_number="NOPE00001"),
                record("R-5", sender="TJ-LYON"),
                record("R-6"),
                {
                    "sender_ref": "R-7",
                    "kind": "cancellation",
                    "licence_number": "API000000001",
                    "cancels": "R-6",
                    "cancelled_on": "2025-05-01",
                },
                "not an object",
            ]
        },
        key,
    ).json()
    by_ref = {r["index"]: r for r in body["records"]}
    assert by_ref[0]["errors"] == ["records[0] (ref R-1): points: Input should be a valid integer"]
    assert by_ref[1]["errors"] == ["records[1] (ref R-2): colour: unknown field"]
    assert by_ref[2]["errors"] == [
        "records[2] (ref R-3): final_on: '2025-02-30' is not a date that exists (expected YYYY-MM-DD)"
    ]
    assert by_ref[3]["errors"] == [
        "records[3] (ref R-4): licence_number: no licence with number NOPE00001 in the registry"
    ]
    assert by_ref[4]["errors"] == [
        "records[4] (ref R-5): sender: 'TJ-LYON' is not the sender of this import ('ANTAI')"
    ]
    assert by_ref[7]["errors"][0].startswith("records[7]: record: ")
    assert [r["outcome"] for r in body["records"]] == ["rejected"] * 5 + ["accepted", "accepted", "rejected"]
    assert Projection.objects.get(licence=lic).balance == 12  # R-6 cancelled by R-7 (on 2025-05-01)
    assert FeedRecord.objects.filter(outcome="rejected").count() == 6


def test_without_a_valid_key_the_answer_is_401(lic) -> None:
    for response in (
        post({"records": [record("R-1")]}),
        post({"records": [record("R-1")]}, "permis_000000000000_wrong"),
        Client().post(URL, "{}", content_type="application/json", HTTP_AUTHORIZATION="Basic abc"),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert set(response.json()) == {"error"}
    assert not Event.objects.exists()


def test_a_revoked_key_is_refused(key: str, lic) -> None:
    ApiKey.objects.get().revoke()
    response = post({"records": [record("R-1")]}, key)
    assert response.status_code == 401 and response.json() == {"error": "unknown or revoked key"}


def test_a_key_without_the_feed_scope_gets_403(lic) -> None:
    _, other = ApiKey.objects.issue(name="Police", sender="PN", scopes=["police"])
    response = post({"records": [record("R-1")]}, other)
    assert response.status_code == 403
    assert response.json() == {"error": "this key does not have the 'feed' scope"}
    assert not Event.objects.exists()


def test_a_malformed_batch_is_refused_whole(key: str) -> None:
    assert post(None, key, raw=b"{not json").status_code == 400
    response = post({"records": [record("R-1")], "extra": 1}, key)
    assert response.status_code == 422 and "extra" in response.json()["error"]
    assert post({"records": []}, key).status_code == 422
    assert post([record("R-1")], key).status_code == 422
    too_many = post({"records": [record(f"R-{n}") for n in range(1001)]}, key)
    assert too_many.status_code == 413 and "at most 1000" in too_many.json()["error"]
    assert not FeedRecord.objects.exists()


def test_a_sender_can_read_what_became_of_its_record(key: str, lic) -> None:
    post({"records": [record("R-1", final_on="2025-02-30")]}, key)
    post({"records": [record("R-1")]}, key)
    client = Client()
    response = client.get(f"{URL}/R-1", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert [r["outcome"] for r in response.json()] == ["accepted", "rejected"]
    _, other = ApiKey.objects.issue(name="TJ", sender="TJ-LYON", scopes=["feed"])
    assert client.get(f"{URL}/R-1", HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 404


def test_the_openapi_document_and_the_docs_page_are_served() -> None:
    client = Client()
    document = client.get("/api/v1/openapi.json").json()
    body = document["paths"][URL]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["records"]["maxItems"] == 1000
    assert body["properties"]["records"]["items"]["additionalProperties"] is False
    assert "class" in body["properties"]["records"]["items"]["properties"]
    assert document["components"]["securitySchemes"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"/static/ninja/swagger-ui-bundle.js" in docs.content  # served here, not from a CDN
    missing = client.get("/api/v1/nothing/here")
    assert missing.status_code == 404 and missing.json() == {
        "error": "no such endpoint: /api/v1/nothing/here"
    }
    posted = client.post("/api/v1/nothing/here", "{}", content_type="application/json")  # no CSRF page
    assert posted.status_code == 404 and posted.json()["error"].startswith("no such endpoint")
    for method in (client.get, client.post):
        root = method("/api/v1/")
        assert root.status_code == 404, root.content
        assert root.json() == {"error": "no such endpoint: /api/v1/ (the endpoints: /api/v1/docs)"}
    wrong = client.delete("/api/v1/feed/offences")
    assert wrong.status_code == 405 and wrong["Allow"] == "POST"
    assert wrong.json() == {"error": "method DELETE not allowed here (allowed: POST)"}
    for path in (
        "/api/v1/police/licences/{number}",
        "/api/v1/feed/offences",
        "/api/v1/post/receipts",
        "/api/v1/holder/me",
    ):
        for operation in document["paths"][path].values():
            assert "429" in operation["responses"], path  # every key can be throttled


def test_every_api_route_declares_its_authorisation() -> None:
    operations = [
        (bound.prefix + path, operation)
        for bound in api._get_bound_routers()
        for path, view in bound.path_operations.items()
        for operation in view.operations
    ]
    assert operations
    for path, operation in operations:
        assert operation.auth_callbacks, f"{path}: {operation.methods} has no authorisation"


def test_every_url_under_api_v1_is_the_api() -> None:
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern

    for path, pattern in walk(get_resolver().url_patterns):
        if path.startswith("api/v1/"):
            callback = getattr(pattern.callback, "func", pattern.callback)  # the OpenAPI views are partials
            assert callback.__module__.startswith(("ninja", "permis.api")), path


def test_the_apikey_command_prints_a_working_key_once(lic) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "apikey", "create", "--name", "ANTAI", "--sender", "ANTAI", "--scope", "feed", stdout=out, stderr=err
    )
    key = out.getvalue().strip()
    assert key.startswith("permis_") and "shown once" in err.getvalue()
    row = ApiKey.objects.get()
    assert key not in json.dumps([row.prefix, row.secret_hash, row.name])
    assert post({"records": [record("R-1")]}, key).status_code == 200
    listing = io.StringIO()
    call_command("apikey", "list", stdout=listing)
    assert row.prefix in listing.getvalue() and key not in listing.getvalue()
    call_command("apikey", "revoke", row.prefix, stdout=io.StringIO())
    assert post({"records": [record("R-2")]}, key).status_code == 401
    for name in ("", "   ", "A\tB", "x" * 101):  # a key is issued to someone the list can name
        with pytest.raises(CommandError, match="--name: the partner's name"):
            call_command("apikey", "create", "--name", name, "--scope", "police", stdout=out, stderr=err)
    assert ApiKey.objects.count() == 1


def test_odd_digits_nan_and_week_dates_reject_their_record_not_the_batch(key: str, lic) -> None:
    body = json.dumps(
        {
            "records": [
                record("R-1", points="³"),
                record("R-2", points=float("nan")),
                record("R-3", points=float("inf")),
                record("R-4", committed_on="2025-W02-1"),
                record(
                    "R-5", speeding_limit_kmh="٥٠", speeding_retained_kmh=97, points=None, **{"class": None}
                ),
                record("R-6"),
            ]
        }
    )
    assert (
        "NaN" in body and "Infinity" in body
    )  # as json.dumps writes them (not JSON), and a careless sender may
    response = post(None, key, raw=body.encode())
    assert response.status_code == 200, response.content
    result = response.json()
    assert [r["outcome"] for r in result["records"]] == ["rejected"] * 5 + ["accepted"]
    errors = {r["sender_ref"]: r["errors"] for r in result["records"]}
    assert errors["R-1"] == ["records[0] (ref R-1): points: Input should be a valid integer"]
    assert errors["R-2"] == ["records[1] (ref R-2): points: Input should be a valid integer"]
    assert errors["R-4"] == [
        "records[3] (ref R-4): committed_on: '2025-W02-1' is not a date (expected YYYY-MM-DD)"
    ]
    stored = {r.source_ref: r for r in FeedRecord.objects.all()}
    assert stored["R-2"].payload["points"] == "NaN" and stored["R-3"].payload["points"] == "Infinity"
    assert Projection.objects.get(licence=lic).balance == 9


def test_a_nul_character_rejects_its_record_alone_with_the_file_feeds_words(key: str, lic) -> None:
    """A NUL ("\\u0000" in the JSON) is a bad value like another: its record is rejected with the record, the
    field and the reason, the file feed's wording (`permis import offences`), and the batch goes on. Nothing of
    it reaches the database (PostgreSQL's text and jsonb hold no NUL)."""
    records = [
        record("R-1", place="Lyon\x00"),
        record("R-2\x00"),
        record("R-3", **{"licence_number": "API0000\x0000001"}),
        record("R-4", **{"colour\x00": "red"}),
        {
            "sender_ref": "R-5",
            "kind": "cancellation",
            "licence_number": "API000000001",
            "cancels": "R-6\x00",
            "cancelled_on": "2025-05-01",
        },
        record("R-6"),
    ]
    body = json.dumps({"records": records})
    assert "\\u0000" in body and "\x00" not in body  # as JSON writes it
    response = post(None, key, raw=body.encode())
    assert response.status_code == 200, response.content
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (1, 5)
    errors = [r["errors"] for r in result["records"]]
    assert errors[0] == ["records[0] (ref R-1): place: 'Lyon\\x00' must be at most 100 printable characters"]
    assert errors[1] == ["records[1]: sender_ref: 'R-2\\x00' must be at most 100 printable characters"]
    assert errors[2] == [
        "records[2] (ref R-3): licence_number: 'API0000\\x0000001' must be at most 40 printable characters"
    ]
    assert errors[3] == ["records[3] (ref R-4): 'colour\\x00': unknown field"]
    assert errors[4] == ["records[4] (ref R-5): cancels: 'R-6\\x00' must be at most 100 printable characters"]
    assert errors[5] == []
    # The file feed says the same of the same record (only the place differs: a line, not an index).
    on = dt.date(2025, 6, 1)
    assert parse_record(records[0], 0, where="records", sender="ANTAI", on=on).errors == errors[0]
    assert parse_record(records[4], 4, where="records", sender="ANTAI", on=on).errors == errors[4]
    assert Projection.objects.get(licence=lic).balance == 9  # R-6 went in
    stored = list(FeedRecord.objects.order_by("pk"))
    assert [r.outcome for r in stored] == ["rejected"] * 5 + ["accepted"]
    assert stored[0].payload["place"] == "Lyon\\u0000" and stored[1].source_ref == ""
    assert not any("\x00" in json.dumps([r.source_ref, r.payload, r.errors]) for r in stored)


def test_a_body_that_is_not_json_is_still_refused_whole(key: str, lic) -> None:
    good = json.dumps({"records": [record("R-1")]})
    for raw in (
        good.replace('"R-1"', '"R-\x001"').encode(),  # a raw NUL inside a string: not JSON
        b"\x00" + good.encode(),
        b'{"records": [\x00]}',
    ):
        response = post(None, key, raw=raw)
        assert response.status_code == 400, raw
        assert response.json()["error"].startswith("the body is not JSON")
    client = Client()
    assert client.get(f"{URL}/R-1%00", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 400
    assert not FeedRecord.objects.exists() and Projection.objects.get(licence=lic).balance == 12
