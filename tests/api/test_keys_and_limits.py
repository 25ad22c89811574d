"""Partner keys: rotation with a grace period, revocation, and the rate limit per key (429, Retry-After)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from permis.api import ratelimit
from permis.api.models import ApiKey, ApiRateWindow
from tests.api.partners import call

pytestmark = pytest.mark.django_db
URL = "/api/v1/feed/offences/ANTAI-1"  # any endpoint: a known key with the feed scope gets past auth (404)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def feed_key() -> tuple[ApiKey, str]:
    return ApiKey.objects.issue(name="ANTAI", sender="ANTAI", scopes=["feed", "post"])


def test_rotation_issues_a_twin_key_and_the_old_one_works_until_the_grace_period_ends() -> None:
    old, old_key = feed_key()
    new_key, message = run("rotate", old.prefix, "--grace-hours", "2")
    assert "works until" in message
    new = ApiKey.objects.exclude(pk=old.pk).get()
    assert (new.name, new.sender, new.scopes) == ("ANTAI", "ANTAI", ["feed", "post"])
    old.refresh_from_db()
    assert old.replaced_by == new
    assert call("get", URL, old_key).status_code == 404
    assert call("get", URL, new_key).status_code == 404
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2, seconds=1)):
        refused = call("get", URL, old_key)
        assert refused.status_code == 401
        assert refused.json() == {"error": "unknown or revoked key"}
        assert call("get", URL, new_key).status_code == 404
        listing, _ = run("list")
        assert f"{old.prefix}  ANTAI" in listing and "expired" in listing
        with pytest.raises(CommandError, match="no active key"):
            run("rotate", old.prefix)


def test_rotation_with_no_grace_refuses_the_old_key_at_once_and_revocation_still_works() -> None:
    old, old_key = feed_key()
    new_key, _ = run("rotate", old.prefix, "--grace-hours", "0")
    assert call("get", URL, old_key).status_code == 401
    new = ApiKey.objects.exclude(pk=old.pk).get()
    run("revoke", new.prefix)
    assert call("get", URL, new_key).status_code == 401
    with pytest.raises(CommandError, match="no active key"):
        run("rotate", new.prefix)
    with pytest.raises(CommandError, match="--grace-hours"):
        run("rotate", old.prefix, "--grace-hours", "-1")


def test_over_the_limit_a_key_gets_429_with_retry_after_and_others_go_on(settings) -> None:
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "feed": 3}
    _, key = feed_key()
    _, other = ApiKey.objects.issue(name="Parquet", sender="TJ75", scopes=["feed"])
    # Pinned in the first second of a minute, so the window does not turn during the test.
    with time_machine.travel(dt.datetime(2026, 11, 23, 10, 0, 0, 100_000, tzinfo=dt.UTC), tick=False):
        assert [call("get", URL, key).status_code for _ in range(3)] == [404, 404, 404]
        limited = call("get", URL, key)
        assert limited.status_code == 429
        assert limited["Retry-After"] == "60"
        assert limited.json()["error"].startswith("rate limit reached: this key may make 3 calls a minute")
        assert call("get", URL, other).status_code == 404
        # Another scope of the same key has its own limit (post: the default 600).
        post = call("post", "/api/v1/post/receipts", key, body={"receipts": []})
        assert post.status_code != 429
    with time_machine.travel(dt.datetime(2026, 11, 23, 10, 1, 30, tzinfo=dt.UTC), tick=False):
        again = call("get", URL, key)
        assert again.status_code == 404
    with time_machine.travel(dt.datetime(2026, 11, 23, 10, 1, 50, tzinfo=dt.UTC), tick=False):
        for _ in range(4):
            last = call("get", URL, key)
        assert last.status_code == 429 and last["Retry-After"] == "10"


def test_a_new_minute_prunes_the_older_rows_and_a_zero_limit_counts_nothing(settings) -> None:
    key, _ = feed_key()
    for minute in (100, 101, 102):
        assert ratelimit.hit(key.pk, minute * 60.0 + 5) == (1, 55.0)
    assert ratelimit.hit(key.pk, 102 * 60.0 + 6)[0] == 2
    assert sorted(ApiRateWindow.objects.values_list("minute", "count")) == [(101, 1), (102, 2)]
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "feed": 0}
    ApiRateWindow.objects.all().delete()
    ratelimit.check(key, "feed")
    assert not ApiRateWindow.objects.exists()


def test_the_counting_statement_names_the_model_table_and_columns() -> None:
    meta = ApiRateWindow._meta
    assert f'"{meta.db_table}"' in ratelimit.UPSERT
    for column in ("key_id", "minute", "count"):
        assert meta.get_field(column.removesuffix("_id")).column == column
    # PostgreSQL's one-statement lookup and count: the same table, and ApiKey's columns in the model's order
    # (ApiKey.from_db takes them positionally).
    assert f'"{meta.db_table}"' in ratelimit.AUTHENTICATE_AND_COUNT
    assert f'"{ApiKey._meta.db_table}"' in ratelimit.AUTHENTICATE_AND_COUNT
    assert tuple(field.column for field in ApiKey._meta.concrete_fields) == ratelimit.KEY_COLUMNS
    assert ", ".join(f'"{c}"' for c in ratelimit.KEY_COLUMNS) in ratelimit.AUTHENTICATE_AND_COUNT


def test_the_limits_come_from_the_environment(monkeypatch) -> None:
    import importlib

    from permis.config import settings as module

    monkeypatch.setenv("PERMIS_API_RATE_LIMIT_POLICE", "1234")
    monkeypatch.setenv("PERMIS_API_RATE_LIMIT_DEFAULT", "77")
    reloaded = importlib.reload(module)
    try:
        assert reloaded.API_RATE_LIMITS["police"] == 1234
        assert reloaded.API_RATE_LIMIT_DEFAULT == 77
        assert reloaded.API_RATE_LIMITS["feed"] == 600
    finally:
        monkeypatch.undo()
        importlib.reload(module)


def test_a_nul_character_is_refused_before_it_reaches_the_database() -> None:
    # The feed checks its records one by one and rejects a NUL per record (tests/api/test_feed_api.py); the
    # other endpoints refuse a body holding one whole.
    _, key = feed_key()
    body = '{"receipts": [{"delivery": "LRAR-1\\u0000", "kind": "received", "on": "2024-04-05"}]}'
    refused = call("post", "/api/v1/post/receipts", key, body=body)
    assert refused.status_code == 400
    assert refused.json() == {"error": "the body contains a NUL character (\\u0000), which no field accepts"}
    assert call("get", URL + "%00", key).status_code == 400
