"""Who is calling: `Authorization: Bearer <key>`, a key of `ApiKey` with the scope the endpoint needs.

Every router declares its `KeyAuth(scope)` once (ARCHITECTURE.md, rule 8); tests/api checks no route lacks it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.security import HttpBearer

from . import ratelimit
from .models import ApiKey


def refuse_nul(request: HttpRequest, *, check_body: bool = True) -> None:
    """400 for a NUL character anywhere in the path, the query or (with `check_body`) a JSON body: no field takes one,
    and PostgreSQL stores none (text and jsonb refuse it), so it would otherwise end as a server error deep down.

    A bulk endpoint that checks each record itself passes ``check_body=False``: a NUL then rejects its record alone,
    with the record and the field named, and the others go in (the feed: ``permis.api.feed``)."""
    if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", "") or "%00" in request.path:
        raise HttpError(400, "the address contains a NUL character (%00), which no parameter accepts")
    if not check_body or request.method not in ("POST", "PUT", "PATCH"):
        return
    try:
        body = request.body
    except RequestDataTooBig:
        return  # the endpoint answers 413 itself
    if b"\\u0000" in body or b"\x00" in body:
        raise HttpError(400, "the body contains a NUL character (\\u0000), which no field accepts")


class KeyAuth(HttpBearer):
    """A partner key with `scope`: 401 without a valid key, 403 when the key lacks the scope, 429 over the key's
    rate limit for the scope (permis.api.ratelimit).

    `records_checked`: the router's endpoints check every record of a body themselves, NUL included, and reject
    a bad one alone (ARCHITECTURE.md: bulk work reports per-record errors and goes on); the body is then not
    refused whole for a NUL. The path and the query still are."""

    def __init__(self, scope: str, *, records_checked: bool = False):
        super().__init__()
        self.scope = str(getattr(scope, "value", scope))
        self.records_checked = records_checked

    def __call__(self, request: HttpRequest) -> Any:
        refuse_nul(request, check_body=not self.records_checked)
        value = request.headers.get(self.header, "")
        if not value:
            raise AuthenticationError(message="no key: send the header 'Authorization: Bearer <key>'")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(message="the Authorization header must read 'Bearer <key>'")
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey:
        if connection.vendor == "postgresql":
            return self._authenticate_postgresql(token)
        key = ApiKey.objects.authenticate(token)
        if key is None:
            raise AuthenticationError(message="unknown or revoked key")
        if self.scope not in key.scopes:
            raise AuthorizationError(message=f"this key does not have the {self.scope!r} scope")
        ratelimit.check(key, self.scope)
        return key

    def _authenticate_postgresql(self, token: str) -> ApiKey:
        """The same answers as above in one round trip: the key and its call counted in one statement."""
        key, count, left = ratelimit.authenticate_and_count(token, self.scope)
        if key is None:
            raise AuthenticationError(message="unknown or revoked key")
        if self.scope not in key.scopes:
            raise AuthorizationError(message=f"this key does not have the {self.scope!r} scope")
        limit = ratelimit.limit_for(self.scope)
        if limit > 0 and count > limit:
            raise ratelimit.RateLimited(limit, self.scope, max(1, int(left + 0.999)))
        return key
