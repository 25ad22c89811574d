"""The holder's own file for a mobile application: `GET /api/v1/holder/me` and `/holder/me/movements`.

Authentication: an OpenID Connect access token from the accounts' provider (FranceConnect, or `permis fcdev` in
development), sent as `Authorization: Bearer <token>`. The provider's access tokens are opaque, so the token is
checked by calling its userinfo endpoint (``OIDC_OP_USER_ENDPOINT``) with it; the answer is cached for
``USERINFO_CACHE_SECONDS`` under the token's SHA-256, so a phone refreshing its screen does not call the
provider each time, and a revoked token stops working within that delay. Each refused token counts against the
client's address (``permis.accounts.throttle``, action ``api_token``): past ``API_HOLDER_REFUSED_LIMIT`` within
the throttle window, that address gets 429 with ``Retry-After`` and the provider is not asked, so that a flood
of made-up tokens cannot be relayed to FranceConnect.

The identity then names the file: first the account whose FranceConnect subject it is and that account's
``HolderLink``; else FranceConnect's identity pivot when it designates exactly one holder (the same rule as the
web sign-in, ``permis.accounts.identities.matching_holders``). A token the provider refuses is 401; a valid
identity with no file (or several homonyms) is 403, with what to do.

The holder reading their own file is not an access to log (only reads by others are, PRODUCT.md): nothing
is written to the access log here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.security import HttpBearer

from permis.accounts import throttle
from permis.accounts.identities import matching_holders
from permis.accounts.models import HolderLink
from permis.registry.models import CURRENT_LICENCE_FIRST, Holder, Licence, Movement

from .common import ERRORS, ErrorOut, licence_facts
from .ratelimit import TooManyRequests

logger = logging.getLogger(__name__)
USERINFO_CACHE_SECONDS = 60
REFUSED = "api_token"  # the throttle's action: refused access tokens, by client address
RESPONSES = {**ERRORS, 429: ErrorOut, 503: ErrorOut}


def userinfo(token: str) -> dict[str, Any] | None:
    """The provider's claims for this access token, or None when it refuses the token (cached briefly)."""
    endpoint = getattr(settings, "OIDC_OP_USER_ENDPOINT", "")
    if not settings.FRANCECONNECT.get("ISSUER") or not endpoint:
        raise AuthenticationError(
            message="holder access is not configured on this service (PERMIS_FC_ISSUER)"
        )
    key = "api:holder:userinfo:" + hashlib.sha256(token.encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    try:
        response = requests.get(
            endpoint,
            headers={"Authorization": f"Bearer {token}"},
            timeout=getattr(settings, "OIDC_TIMEOUT", 10),
        )
    except requests.RequestException as error:
        logger.warning("userinfo call failed: %s", error)
        raise HttpError(503, "the identity provider did not answer; try again later") from None
    claims: dict[str, Any] = {}
    if response.status_code == 200:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("sub"):
            claims = body
    cache.set(key, claims, USERINFO_CACHE_SECONDS if claims else 10)
    return claims or None


def holder_of(claims: dict[str, Any]) -> Holder | None:
    """The file this identity designates: its account's link first, else the identity pivot (exactly one)."""
    link = (
        HolderLink.objects.select_related("holder")
        .filter(user__account__franceconnect_sub=claims["sub"])
        .first()
    )
    if link is not None:
        return link.holder
    holders = matching_holders(claims)
    return holders[0] if len(holders) == 1 else None


class HolderToken(HttpBearer):
    """An OpenID Connect access token of the holder: 401 when the provider refuses it, 403 without a file."""

    def __call__(self, request: HttpRequest) -> Any:
        value = request.headers.get(self.header, "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                message="send the header 'Authorization: Bearer <OpenID Connect access token>'"
            )
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Holder:
        wait = throttle.address_wait(REFUSED, request, settings.API_HOLDER_REFUSED_LIMIT)
        if wait:
            raise TooManyRequests(
                f"too many invalid or expired access tokens from this address; retry in {wait} s", wait
            )
        claims = userinfo(token)
        if claims is None:
            throttle.fail(REFUSED, request)
            raise AuthenticationError(message="the access token is invalid or expired")
        holder = holder_of(claims)
        if holder is None:
            raise HttpError(
                403,
                "no licence file is linked to this identity: link it once on the website (Mon espace, "
                "rattacher mon permis), then try again",
            )
        return holder


router = Router(tags=["holder"], auth=HolderToken())


class HolderCategoryOut(Schema):
    code: str
    obtained_on: dt.date
    expires_on: dt.date | None
    restrictions: str
    valid: bool


class LicenceOut(Schema):
    number: str
    dossier_number: str
    obtained_on: dt.date
    probation_end: dt.date | None
    categories: list[HolderCategoryOut]


class MeOut(Schema):
    birth_name: str
    used_name: str
    given_names: str
    birth_date: dt.date
    licence: LicenceOut | None
    balance: int | None = Field(description="the balance of points today (the holder's own)")
    cap: int | None
    status: str | None = Field(description="valid, zero_balance, invalidated or annulled")
    suspended: bool | None
    as_of: dt.date


class MovementOut(Schema):
    on: dt.date
    kind: str
    change: int
    balance: int
    cap: int
    cause: str
    basis: str


class MovementsOut(Schema):
    licence: str
    movements: list[MovementOut]


def _licence(holder: Holder) -> Licence | None:
    return (
        Licence.objects.select_related("holder", "projection")
        .filter(holder=holder)
        .order_by(*CURRENT_LICENCE_FIRST)
        .first()
    )


@router.get(
    "/me",
    response={200: MeOut, **RESPONSES},
    summary="The holder's own file",
    description="Identity, licence, categories, and today's balance, cap and status.",
)
def me(request: HttpRequest) -> dict[str, Any]:
    holder: Holder = request.auth  # type: ignore[attr-defined]
    today = timezone.localdate()
    licence = _licence(holder)
    answer: dict[str, Any] = {
        "birth_name": holder.birth_name,
        "used_name": holder.used_name,
        "given_names": holder.given_names,
        "birth_date": holder.birth_date,
        "licence": None,
        "balance": None,
        "cap": None,
        "status": None,
        "suspended": None,
        "as_of": today,
    }
    if licence is None:
        return answer
    facts = licence_facts(licence, today)
    projection = getattr(licence, "projection", None)
    answer.update(
        {
            "licence": {
                "number": licence.number,
                "dossier_number": licence.dossier_number,
                "obtained_on": licence.obtained_on,
                "probation_end": projection.probation_end if projection else None,
                "categories": [c.as_dict(today) for c in facts.categories],
            },
            "balance": facts.balance,
            "cap": facts.cap,
            "status": facts.status,
            "suspended": facts.suspended,
        }
    )
    return answer


@router.get(
    "/me/movements",
    response={200: MovementsOut, **RESPONSES},
    summary="The movements of the holder's balance",
    description="Every change of balance or cap the engine derived, oldest first, with its legal basis.",
)
def my_movements(request: HttpRequest) -> dict[str, Any]:
    holder: Holder = request.auth  # type: ignore[attr-defined]
    licence = _licence(holder)
    if licence is None:
        raise HttpError(404, "no licence in this holder's file")
    today = timezone.localdate()
    rows = Movement.objects.filter(licence=licence, on__lte=today).order_by("position")
    return {
        "licence": licence.number,
        "movements": [
            {
                "on": m.on,
                "kind": m.kind,
                "change": m.change,
                "balance": m.balance,
                "cap": m.cap,
                "cause": m.cause,
                "basis": m.basis,
            }
            for m in rows
        ],
    }
