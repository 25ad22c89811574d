"""The partner API, version 1, at /api/v1/ (PRODUCT.md, capability 9): one router per resource.

OpenAPI document at /api/v1/openapi.json, documentation page at /api/v1/docs. Every error answers
`{"error": "..."}` with its status code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from inspect import iscoroutinefunction
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from django.views.decorators.csrf import csrf_exempt
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
    "code and scopes), or for /holder/ a token the identity provider signed for this service (the ID token of the sign-in: its audience, issuer, expiry and signature are checked), or the token of an application session opened with it (`pas_...`, POST /holder/sessions). Documented in docs/api.md.",
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
    challenge = 'Bearer realm="permis"'
    if isinstance(error, holder.InvalidToken):  # RFC 6750, 3.1: a token was sent and is refused
        description = (
            error.description.encode("ascii", "replace").decode().replace("\\", "").replace('"', "'")
        )
        challenge += f', error="invalid_token", error_description="{description}"'
    response["WWW-Authenticate"] = challenge
    return response


@api.exception_handler(TooManyRequests)
def _rate_limited(request: HttpRequest, error: TooManyRequests) -> HttpResponse:
    response = api.create_response(request, {"error": error.message}, status=429)
    response["Retry-After"] = str(error.retry_after)
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    return api.create_response(request, {"error": error.message}, status=error.status_code)


SOURCES = ("body", "query", "path", "header", "cookie", "form", "file")


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """The field a validation error is about, as the caller wrote it: `attendees[0].attended`, `purpose`.
    ninja's location starts with the source (body, query, path) and, for a body, the endpoint's parameter."""
    parts = list(loc)
    if parts and parts[0] in SOURCES:
        source = parts.pop(0)
        if source == "body" and len(parts) > 1:
            parts.pop(0)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, error: ValidationError) -> HttpResponse:
    """422, the error naming each field and what is wrong with it (an unknown field, a string for a number),
    and pydantic's own list in `details`."""
    problems = []
    for problem in error.errors:
        message = (
            "unknown field" if problem.get("type") == "extra_forbidden" else problem.get("msg", "invalid")
        )
        problems.append(f"{field_name(problem.get('loc', ()))}: {message}")
    text = "; ".join(dict.fromkeys(problems)) or "invalid request"
    return api.create_response(request, {"error": text, "details": error.errors}, status=422)


@public
@csrf_exempt  # a POST to an unknown path is told it is unknown, in JSON, not refused by Django's CSRF page
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under /api/v1/, and the root itself: a JSON 404, like every answer of the API."""
    return api.create_response(
        request,
        {"error": f"no such endpoint: /api/v1/{rest}" + ("" if rest else " (the endpoints: /api/v1/docs)")},
        status=404,
    )


def _json_not_allowed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """ninja answers a method an endpoint does not take with a plain-text 405; the API answers it in JSON, with
    the same Allow header, like its other errors."""

    @wraps(view)  # keeps csrf_exempt and the access declarations
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code != 405 or response.get("Content-Type", "").startswith("application/json"):
            return response
        allowed = response.get("Allow", "")
        answer = api.create_response(
            request, {"error": f"method {request.method} not allowed here (allowed: {allowed})"}, status=405
        )
        answer["Allow"] = allowed
        return answer

    return wrapped


def urls() -> tuple[list[Any], str, str]:
    """The API's URL patterns (``api.urls``), each endpoint answering a wrong method in JSON."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if not isinstance(pattern, URLPattern):
            continue
        if pattern.name == "api-root":  # ninja's root answers Django's HTML 404 page
            pattern.callback = not_found
        elif not isinstance(pattern.callback, partial) and not iscoroutinefunction(pattern.callback):
            pattern.callback = _json_not_allowed(
                pattern.callback
            )  # the endpoints (the OpenAPI views are partials)
    return patterns, app_name, namespace
