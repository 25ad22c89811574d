"""The holder's own file for a mobile application: `GET /api/v1/holder/me` and `/holder/me/movements`.

Authentication: a token the accounts' provider (FranceConnect, or `permis fcdev` in development) signed for
this service, sent as `Authorization: Bearer <token>`: the ID token the application received when the holder
signed in through this service's client, or a JWT access token (RFC 9068) if the provider issues them. It is
checked here, as the website's sign-in checks its ID token (``permis.accounts.oidc``): the signature with the
provider's key (``OIDC_OP_JWKS_ENDPOINT``, kept an hour, fetched again at most once a minute for a key it does
not know), the algorithm (``OIDC_RP_SIGN_ALGO``), the issuer (``PERMIS_FC_ISSUER``), the audience (this
service's client, ``PERMIS_FC_CLIENT_ID``: a token the provider gave another application is refused), the
expiry and the issue time. The provider's opaque access tokens are refused: they say nothing of whom they
were issued to, and its userinfo endpoint does not either (review of issue 6, A7), so any application a
holder signed in to could have read their file with one.

A refused token is 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750) and counts against
the client's address (``permis.accounts.throttle``, action ``api_token``): past ``API_HOLDER_REFUSED_LIMIT``
within the throttle window, that address gets 429 with ``Retry-After``.

The token's subject then names the file: the account whose FranceConnect subject it is (pairwise: this
client's), through its ``HolderLink``; the website's FranceConnect sign-in makes both at the first visit. A
token carrying the identity pivot may also name it (``permis.accounts.identities.matching_holders``, exactly
one holder). A valid token with no file is 403, with what to do.

The holder reading their own file is not an access to log (only reads by others are, PRODUCT.md): nothing
is written to the access log here.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import jwt
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
REFUSED = "api_token"  # the throttle's action: refused tokens, by client address
RESPONSES = {**ERRORS, 429: ErrorOut, 503: ErrorOut}
JWKS_CACHE = "api:holder:jwks"
JWKS_SECONDS = 3600
JWKS_REFETCH_SECONDS = 60  # a token naming an unknown key fetches the keys again, at most this often
LEEWAY_SECONDS = 30  # clock skew allowed on exp and iat, as the website's sign-in


class InvalidToken(AuthenticationError):
    """A refused token: 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` (v1.py)."""

    def __init__(self, why: str) -> None:
        super().__init__(message=f"the access token is refused: {why}")
        self.description = why


def _provider_keys(*, again: bool = False) -> dict[str, dict[str, Any]]:
    """The provider's signing keys by kid (its JWKS), kept ``JWKS_SECONDS``; 503 when it does not answer."""
    keys = None if again else cache.get(JWKS_CACHE)
    if keys is not None:
        return keys
    try:
        response = requests.get(settings.OIDC_OP_JWKS_ENDPOINT, timeout=getattr(settings, "OIDC_TIMEOUT", 10))
        response.raise_for_status()
        published = response.json().get("keys", [])
    except (requests.RequestException, ValueError, AttributeError) as error:
        logger.warning("the provider's keys could not be read: %s", error)
        raise HttpError(503, "the identity provider did not answer; try again later") from None
    keys = {str(k.get("kid", "")): k for k in published if isinstance(k, dict)}
    cache.set(JWKS_CACHE, keys, JWKS_SECONDS)
    return keys


def _signing_key(kid: str, algorithm: str) -> Any:
    keys = _provider_keys()
    if kid not in keys and cache.add(JWKS_CACHE + ":refetched", True, JWKS_REFETCH_SECONDS):
        keys = _provider_keys(again=True)  # the provider may have rolled its key
    if kid not in keys:
        raise InvalidToken("it is not signed by a key of the identity provider")
    try:
        return jwt.PyJWK(keys[kid], algorithm).key
    except jwt.PyJWKError:
        raise InvalidToken("it is not signed by a key of the identity provider") from None


def verified_claims(token: str) -> dict[str, Any]:
    """The claims of a token the provider signed for this service, or InvalidToken saying why not."""
    issuer = settings.FRANCECONNECT.get("ISSUER")
    client_id = settings.OIDC_RP_CLIENT_ID
    if not issuer or not client_id:
        raise AuthenticationError(
            message="holder access is not configured on this service (PERMIS_FC_ISSUER)"
        )
    algorithm = settings.OIDC_RP_SIGN_ALGO
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken(
            "it is not a token signed by the identity provider (send the ID token received at sign-in)"
        ) from None
    if header.get("alg") != algorithm:
        raise InvalidToken(f"it is signed with {header.get('alg')!r}, not {algorithm}")
    key = _signing_key(str(header.get("kid", "")), algorithm)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=client_id,
            issuer=issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("it has expired: sign in again") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken(
            f"it was issued to another application, not to this service ({client_id})"
        ) from None
    except jwt.InvalidIssuerError:
        raise InvalidToken(f"it was issued by another provider, not {issuer}") from None
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"it is not valid ({error})") from None
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        # OpenID Connect Core 3.1.3.7: with several audiences, the authorised party must be this client
        raise InvalidToken(f"it was issued to another application, not to this service ({client_id})")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidToken("it names no subject")
    return claims


def holder_of(claims: dict[str, Any]) -> Holder | None:
    """The file this identity designates: its account's link first, else the identity pivot when the token
    carries it (a provider's JWT access token may; FranceConnect's ID token does not) and it designates
    exactly one holder, as at the website's sign-in."""
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
    """A token the provider signed for this service: 401 when refused, 403 without a linked file."""

    def __call__(self, request: HttpRequest) -> Any:
        value = request.headers.get(self.header, "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                message="send the header 'Authorization: Bearer <OpenID Connect token>'"
            )
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Holder:
        wait = throttle.address_wait(REFUSED, request, settings.API_HOLDER_REFUSED_LIMIT)
        if wait:
            raise TooManyRequests(
                f"too many invalid or expired access tokens from this address; retry in {wait} s", wait
            )
        try:
            claims = verified_claims(token)
        except InvalidToken:
            throttle.fail(REFUSED, request)
            raise
        holder = holder_of(claims)
        if holder is None:
            raise HttpError(
                403,
                "no licence file is linked to this identity: sign in once on the website with FranceConnect "
                "and link it (Mon espace, rattacher mon permis), then try again",
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
