"""Rate limits of the partner API: so many calls per key per minute, by the scope of the endpoint called.

A fixed window of one minute, counted in the database so that every app server shares the count: one statement
per call, ``INSERT ... ON CONFLICT (key, minute) DO UPDATE SET count = count + 1 RETURNING count``, on a table
that PostgreSQL keeps UNLOGGED (no write-ahead log: the commit does not wait for a disk flush). The first call
of a minute also deletes the key's older rows, so the table holds at most two rows per key. A limit of 0 turns
the count off for that scope (no statement at all). Over the limit: 429, ``Retry-After`` (seconds to the next
minute) and ``{"error": ...}`` naming the limit.

The limits are settings (``API_RATE_LIMITS`` per scope, ``API_RATE_LIMIT_DEFAULT``), from the environment
``PERMIS_API_RATE_LIMIT_<SCOPE>`` (docs/access.md). A fixed window lets a key make up to twice its limit across
the turn of a minute; that is the price of one row and one statement per call, and it is enough to stop a
runaway partner system.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.conf import settings
from django.db import connection
from ninja.errors import HttpError

from permis.config.database import prepared_cursor

from .models import ApiKey, key_digest, key_prefix

WINDOW_SECONDS = 60


class TooManyRequests(HttpError):
    """429 with ``Retry-After`` (seconds) and the message (the API's handler, permis.api.v1)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(429, message)
        self.retry_after = retry_after


class RateLimited(TooManyRequests):
    def __init__(self, limit: int, scope: str, retry_after: int):
        super().__init__(
            f"rate limit reached: this key may make {limit} calls a minute to the {scope} endpoints; "
            f"retry in {retry_after} s",
            retry_after,
        )


def limit_for(scope: str) -> int:
    return int(
        getattr(settings, "API_RATE_LIMITS", {}).get(scope, getattr(settings, "API_RATE_LIMIT_DEFAULT", 0))
    )


# The table and column names of ApiRateWindow (a test checks them against the model); values are parameters.
UPSERT = (
    'INSERT INTO "api_apiratewindow" ("key_id", "minute", "count") VALUES (%s, %s, 1) '
    'ON CONFLICT ("key_id", "minute") DO UPDATE SET "count" = "api_apiratewindow"."count" + 1 RETURNING "count"'
)
PRUNE = 'DELETE FROM "api_apiratewindow" WHERE "key_id" = %s AND "minute" < %s'


def hit(key_id: int, now: float | None = None) -> tuple[int, float]:
    """Count one call of the key in the current minute: (the calls so far in this minute, seconds left in it)."""
    now = time.time() if now is None else now
    minute = int(now // WINDOW_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(UPSERT, [key_id, minute])
        count = cursor.fetchone()[0]
        if count == 1:
            cursor.execute(PRUNE, [key_id, minute - 1])
    return count, (minute + 1) * WINDOW_SECONDS - now


def check(key: ApiKey, scope: str) -> None:
    """Let the call through, or raise ``RateLimited`` when the key is over its limit for `scope` this minute."""
    limit = limit_for(scope)
    if limit <= 0:
        return
    count, left = hit(key.pk)
    if count > limit:
        raise RateLimited(limit, scope, max(1, int(left + 0.999)))


# On PostgreSQL, the key's lookup and the count of the call are one statement: the key (by its prefix, live, its
# secret's SHA-256 equal to the stored one, not past its rotation's end), then, only for a key with the scope
# and when the scope is counted, the same upsert as UPSERT. The secret's hash is compared by the database: a
# timing difference could tell an attacker bytes of a SHA-256, which does not help them find a key.
# The columns of ApiKey in the model's order (ApiKey.from_db takes them positionally; a test checks them).
KEY_COLUMNS = (
    "id",
    "name",
    "sender",
    "scopes",
    "prefix",
    "secret_hash",
    "created_at",
    "revoked_at",
    "expires_at",
    "replaced_by_id",
)
AUTHENTICATE_AND_COUNT = (
    'WITH k AS (SELECT "id", "name", "sender", "scopes", "prefix", "secret_hash", "created_at", "revoked_at", '
    '"expires_at", "replaced_by_id" FROM "api_apikey" '
    'WHERE "prefix" = %s AND "revoked_at" IS NULL AND "secret_hash" = %s '
    'AND ("expires_at" IS NULL OR "expires_at" > %s)), '
    'hit AS (INSERT INTO "api_apiratewindow" ("key_id", "minute", "count") '
    'SELECT "id", %s, 1 FROM k WHERE %s AND "scopes" @> %s::jsonb '
    'ON CONFLICT ("key_id", "minute") DO UPDATE SET "count" = "api_apiratewindow"."count" + 1 '
    'RETURNING "count") '
    'SELECT k.*, (SELECT "count" FROM hit) FROM k'
)


def authenticate_and_count(
    token: str, scope: str, now: float | None = None
) -> tuple[ApiKey | None, int, float]:
    """PostgreSQL: (the live key matching `token` or None, this minute's calls of the key counted for `scope`
    (0 when it lacks the scope or the scope has no limit), seconds left in the minute), in one round trip.
    The caller then refuses as ``check`` does: no key 401, no scope 403, over the limit 429."""
    prefix = key_prefix(token)
    if prefix is None:
        return None, 0, 0.0
    now = time.time() if now is None else now
    minute = int(now // WINDOW_SECONDS)
    counted = limit_for(scope) > 0
    digest = key_digest(token)
    with prepared_cursor() as cursor:
        cursor.execute(
            AUTHENTICATE_AND_COUNT,
            [prefix, digest, dt.datetime.fromtimestamp(now, dt.UTC), minute, counted, json.dumps([scope])],
        )
        row = cursor.fetchone()
        if row is None:
            return None, 0, 0.0
        count = row[-1] or 0
        if count == 1:
            cursor.execute(PRUNE, [row[0], minute - 1])
    values = list(row[:-1])
    if isinstance(values[3], str):  # scopes: jsonb, as text or decoded depending on the driver's loaders
        values[3] = json.loads(values[3])
    key = ApiKey.from_db(connection.alias, KEY_COLUMNS, values)
    return key, count, (minute + 1) * WINDOW_SECONDS - now
