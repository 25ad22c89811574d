"""The partner API, version 1, at /api/v1/ (PRODUCT.md, capability 9): one router per resource.

OpenAPI document at /api/v1/openapi.json, documentation page at /api/v1/docs. Every error answers
`{"error": "..."}` with its status code.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from permis.config.access import public

from . import checks, courses, feed, holder, police, post
from .ratelimit import TooManyRequests

api = NinjaAPI(
    title="permis: API des partenaires",
    version="1",
    description="The partners of the national file: the offences feed (ANTAI, courts), the postal partner, "
    "approved course centres, police and gendarmerie, third parties with a share code or an attestation, and "
    "the holder's own mobile application. Authentication: `Authorization: Bearer <key>` (each key has a sender "
    "code and scopes), or for /holder/ an OpenID Connect access token. Documented in docs/api.md.",
    urls_namespace="api-v1",
    docs_url="/docs",
)
api.add_router("/feed/", feed.router)
api.add_router("/post/", post.router)
api.add_router("/courses/", courses.router)
api.add_router("/police/", police.router)
api.add_router("/checks/", checks.router)
api.add_router("/holder/", holder.router)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    response = api.create_response(request, {"error": error.message}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="permis"'
    return response


@api.exception_handler(TooManyRequests)
def _rate_limited(request: HttpRequest, error: TooManyRequests) -> HttpResponse:
    response = api.create_response(request, {"error": error.message}, status=429)
    response["Retry-After"] = str(error.retry_after)
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    return api.create_response(request, {"error": error.message}, status=error.status_code)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, error: ValidationError) -> HttpResponse:
    return api.create_response(request, {"error": "invalid request", "details": error.errors}, status=422)


@public
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under /api/v1/: a JSON 404, like every answer of the API."""
    return api.create_response(request, {"error": f"no such endpoint: /api/v1/{rest}"}, status=404)
