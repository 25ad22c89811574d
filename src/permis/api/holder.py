"""The holder's own file for a mobile application: `GET /api/v1/holder/me`, `/holder/me/movements` and the rest.

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

A mobile application need not send the holder through the provider again each time its token expires (a
FranceConnect ID token lives minutes): with one, it opens an application session (``POST /holder/sessions``) and
receives a token of its own, ``pas_…``, that every endpoint takes in the provider's token's place until the
holder signs out of the application (``DELETE /holder/sessions/current``), ends it from the portal's security
page or logs out everywhere, or it is unused ``API_APP_SESSION_IDLE_DAYS`` (30) or ``API_APP_SESSION_MAX_DAYS``
(90) old (``permis.accounts.app_sessions``: only a keyed hash kept, its account still linked to the file and
active at each use). The prefix says which check to run; a refused session token is the same 401 and counts
against the same throttle. Opening a session takes the provider's token, never another session's: a session
cannot outlive its end by opening the next. One provider token opens one session (a second try: 409), an account
keeps at most ``app_sessions.MAX_ACTIVE`` (10) that work (one more ends the least recently used), and once the
account's sessions were ended ("log out everywhere", a new password) a provider token issued before is refused at
every endpoint with the same 401: the website's own sign-in token, left in a shared computer's history by the
provider's logout address, opens nothing after "log out everywhere".

The token's subject then names the file: the account whose FranceConnect subject it is (pairwise: this
client's), through its ``HolderLink``; the website's FranceConnect sign-in makes both at the first visit. A
token carrying the identity pivot may also name it (``permis.accounts.identities.matching_holders``, exactly
one holder), unless the subject's account is inactive: that account's tokens reach no file. A valid token with no
file, or an inactive account's, is 403, with the same words (what to do).

The holder reading their own file is not an access to log (only reads by others are, PRODUCT.md): nothing
is written to the access log here.

Beyond the file, the application shows what the portal's personal space shows, read by the portal's own code so
that the two never differ: the letters and their legal dates (``permis.portal.demarches.views``), a letter's PDF,
whose first download notifies an electronic letter as its first opening in the portal does (R223-3-1), the
forecast (``permis.portal.dossier``), who read the file (``permis.audit.services.accesses_of``) and the share
codes (``create_share``, ``revoke_share``, the portal's durations). The texts meant for the holder (a letter's
title, a reason, a role) are the portal's, in French: the service's language outside the English pages' /en/.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

import jwt
import requests
from django.conf import settings
from django.core.cache import cache
from django.core.paginator import EmptyPage, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.security import HttpBearer
from pydantic import AfterValidator, BeforeValidator, Strict, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from permis.accounts import app_sessions, throttle
from permis.accounts.identities import matching_holders
from permis.accounts.models import Account, AppSession, HolderLink
from permis.audit import services as audit
from permis.notices.documents import render_letter
from permis.notices.models import Delivery
from permis.portal.demarches import views as portal
from permis.portal.demarches.forms import SHARE_DAYS
from permis.portal.dossier import state
from permis.portal.dossier.views import _forecast_items
from permis.registry.models import CURRENT_LICENCE_FIRST, Holder, Licence, Movement

from .auth import refuse_nul
from .common import ERRORS, STRICT, ErrorOut, licence_facts, refuse_unknown_query
from .ratelimit import TooManyRequests

logger = logging.getLogger(__name__)
REFUSED = "api_token"  # the throttle's action: refused tokens, by client address
RESPONSES = {**ERRORS, 429: ErrorOut, 503: ErrorOut}
JWKS_CACHE = "api:holder:jwks"
JWKS_SECONDS = 3600
JWKS_REFETCH_SECONDS = 60  # a token naming an unknown key fetches the keys again, at most this often
LEEWAY_SECONDS = 30  # clock skew allowed on exp and iat, as the website's sign-in


NO_FILE = (
    "no licence file is linked to this identity: sign in once on the website with FranceConnect and link it "
    "(Mon espace, rattacher mon permis), then try again"
)


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


def account_of(claims: dict[str, Any]) -> Account | None:
    """The account whose FranceConnect subject the token carries, with its user and its link and file if any (one
    query)."""
    return (
        Account.objects.select_related("user__holder_link__holder")
        .filter(franceconnect_sub=claims["sub"])
        .first()
    )


def link_of(account: Account) -> HolderLink | None:
    try:
        return account.user.holder_link
    except HolderLink.DoesNotExist:
        return None


def holder_of(claims: dict[str, Any], link: HolderLink | None) -> Holder | None:
    """The file this identity designates: its account's link (`link_of`) first, else the identity pivot when
    the token carries it (a provider's JWT access token may; FranceConnect's ID token does not) and it
    designates exactly one holder, as at the website's sign-in."""
    if link is not None:
        return link.holder
    holders = matching_holders(claims)
    return holders[0] if len(holders) == 1 else None


class HolderToken(HttpBearer):
    """A token the provider signed for this service, or an application session's: 401 when refused, 403
    without a linked file.

    Sets ``request.app_session`` (the session whose token was sent, else None), ``request.holder_link`` (the
    link of the provider token's account, else None) and ``request.provider_claims`` (the provider token's
    verified claims, else None). ``provider_only``: an application session's token is refused with 403 (opening
    a session takes the provider's word: one session may not renew itself past its absolute end by opening the
    next)."""

    def __init__(self, *, provider_only: bool = False) -> None:
        super().__init__()
        self.provider_only = provider_only

    def __call__(self, request: HttpRequest) -> Any:
        refuse_nul(request)  # as the partners' keys do: PostgreSQL stores no NUL, so it would end as a 500
        value = request.headers.get(self.header, "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                message="send the header 'Authorization: Bearer <OpenID Connect token>'"
            )
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Holder:
        request.app_session = request.holder_link = request.provider_claims = None  # type: ignore[attr-defined]
        if self.provider_only and app_sessions.is_app_token(token):
            raise HttpError(
                403,
                "an application session cannot open another: send the token the identity provider signed "
                "(sign in again through FranceConnect)",
            )
        wait = throttle.address_wait(REFUSED, request, settings.API_HOLDER_REFUSED_LIMIT)
        if wait:
            raise TooManyRequests(
                f"too many invalid or expired access tokens from this address; retry in {wait} s", wait
            )
        if app_sessions.is_app_token(token):
            return self._app_session(request, token)
        try:
            claims = verified_claims(token)
        except InvalidToken:
            throttle.fail(REFUSED, request)
            raise
        account = account_of(claims)
        if account is not None and app_sessions.issued_before_reset(account, claims):
            throttle.fail(REFUSED, request)
            raise InvalidToken(
                "it was issued before the account's sessions were ended (log out everywhere, or a new "
                "password): sign in again"
            )
        if account is not None and not account.user.is_active:
            # A disabled account's identity reaches no file, not even by the pivot; its sessions are refused too.
            raise HttpError(403, NO_FILE)
        link = None if account is None else link_of(account)
        request.holder_link, request.provider_claims = link, claims  # type: ignore[attr-defined]
        holder = holder_of(claims, link)
        if holder is None:
            raise HttpError(403, NO_FILE)
        return holder

    def _app_session(self, request: HttpRequest, token: str) -> Holder:
        row = app_sessions.authenticate(token)
        if row is None:
            throttle.fail(REFUSED, request)
            raise InvalidToken(
                "it is not an open application session (unknown, expired or signed out): sign in again"
            )
        request.app_session = row  # type: ignore[attr-defined]
        return row.holder


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
    refuse_unknown_query(request)
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
    refuse_unknown_query(request)
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


# -- what the portal's personal space shows -----------------------------------------------------------------------
# The same reads as the portal's pages (permis.portal.demarches.views, permis.portal.dossier): the API only puts
# their answers in JSON, so that the application and the website never say different things.
PAGE_PARAMETERS = frozenset({"page"})
PageNumber = Query(1, ge=1, description="the page, from 1")


class PageOut(Schema):
    page: int
    pages: int = Field(description="the number of pages (at least 1)")
    count: int = Field(description="the number of items on all pages")


def _page(rows: QuerySet, per_page: int, number: int) -> Any:
    """Page `number` of `rows`, as the portal pages them; 404 past the last page."""
    paginator = Paginator(rows, per_page)
    try:
        return paginator.page(number)
    except EmptyPage:
        raise HttpError(404, f"page: there is no page {number} (pages: {paginator.num_pages})") from None


def _page_facts(page: Any) -> dict[str, int]:
    return {"page": page.number, "pages": page.paginator.num_pages, "count": page.paginator.count}


# -- letters ------------------------------------------------------------------------------------------------------
class DeliveryOut(Schema):
    channel: str = Field(description="post, registered, account, email or sms")
    channel_label: str
    status: str
    status_label: str = Field(description="the delivery's state as the holder reads it")
    sent_at: dt.datetime | None


class AccountCopyOut(Schema):
    made_available_at: dt.datetime | None = Field(description="put in the holder's space")
    first_opened_at: dt.datetime | None = Field(description="the first download of its PDF (portal or API)")


class ReceiptOut(Schema):
    on: dt.date
    kind: str = Field(description="the postal receipt: delivered, or first presented and not collected...")
    label: str


class LetterOut(Schema):
    id: int
    code: str = Field(description="the letter's code: 48, 48M, 48N, 48SI...")
    title: str
    dated: dt.date
    licence: str = Field(description="the number of the licence the letter is about")
    legal_channel: Literal["registered", "account"] | None = Field(
        description="the channel whose date is the notification: the registered letter's receipt, or the "
        "electronic notice (first opening, or else the end of the legal delay); null for a simple letter, "
        "information with no legal date"
    )
    notified_on: dt.date | None = Field(description="the legal day of notification, null while not known")
    notified_on_is_latest: bool = Field(
        description="notified_on is still to come: the day the letter will be deemed received unless its PDF "
        "is opened before"
    )
    opening_notifies: bool = Field(
        description="downloading the PDF now notifies the letter (an electronic letter not opened yet): the "
        "time limits to appeal run from that day"
    )
    sent_by_post_instead: bool = Field(
        description="the email alert failed for good before the letter was opened: it went by post, and its "
        "copy in the holder's space no longer dates it"
    )
    account: AccountCopyOut | None = Field(description="the copy in the holder's space, if any")
    receipt: ReceiptOut | None = Field(description="the registered letter's postal receipt, once known")
    deliveries: list[DeliveryOut]
    pdf: str = Field(description="the address of the letter's PDF (same token)")


class LettersOut(PageOut):
    letters: list[LetterOut]


def _letter_out(request: HttpRequest, letter: portal.Letter) -> dict[str, Any]:
    notice, account, registered = letter.notice, letter.account, letter.registered
    receipt = None
    if registered is not None and registered.receipt_on is not None:
        receipt = {
            "on": registered.receipt_on,
            "kind": registered.receipt_kind,
            "label": str(registered.get_receipt_kind_display()),
        }
    return {
        "id": notice.pk,
        "code": notice.code,
        "title": letter.label,
        "dated": notice.due_on,
        "licence": notice.licence.number,
        "legal_channel": letter.legal_channel or None,
        "notified_on": letter.received_on,
        "notified_on_is_latest": letter.notified_later,
        "opening_notifies": letter.opening_notifies,
        "sent_by_post_instead": letter.sent_by_post_instead,
        "account": None
        if account is None
        else {"made_available_at": account.made_available_at, "first_opened_at": account.first_opened_at},
        "receipt": receipt,
        "deliveries": [_delivery_out(delivery, words) for delivery, words in letter.rows],
        "pdf": request.build_absolute_uri(reverse("api-v1:my_letter_pdf", args=[notice.pk])),
    }


def _delivery_out(delivery: Delivery, words: str) -> dict[str, Any]:
    return {
        "channel": delivery.channel,
        "channel_label": str(delivery.get_channel_display()),
        "status": delivery.status,
        "status_label": words,
        "sent_at": delivery.sent_at,
    }


@router.get(
    "/letters",
    response={200: LettersOut, **RESPONSES},
    summary="The holder's letters",
    description=f"The letters sent about the holder's licences, newest first, {portal.NOTICES_PER_PAGE} a page, "
    "with the dates the law reads and how each was delivered; each with the address of its PDF. Listing them "
    "opens none: only downloading a letter's PDF does.",
)
def my_letters(request: HttpRequest, page: int = PageNumber) -> dict[str, Any]:
    refuse_unknown_query(request, PAGE_PARAMETERS)
    holder: Holder = request.auth  # type: ignore[attr-defined]
    current = _page(portal._holder_notices(holder), portal.NOTICES_PER_PAGE, page)
    notices = list(current.object_list)
    notified = portal._invalidations_notified(notices)
    return {
        **_page_facts(current),
        "letters": [_letter_out(request, portal._letter(notice, notified)) for notice in notices],
    }


PDF_ANSWER = {
    "responses": {
        200: {
            "description": "The letter (PDF)",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


@router.get(
    "/letters/{notice_id}/pdf",
    response=RESPONSES,
    openapi_extra=PDF_ANSWER,
    summary="A letter's PDF",
    description="The letter itself. Its first download is the holder's first opening of the letter, exactly "
    "as in the portal: an electronic letter (legal_channel account) not opened yet is notified that day "
    "(R223-3-1), and the time limits to appeal run from it. Another holder's letter answers 404, as an "
    "unknown one.",
)
def my_letter_pdf(request: HttpRequest, notice_id: int) -> HttpResponse:
    refuse_unknown_query(request)
    holder: Holder = request.auth  # type: ignore[attr-defined]
    notice = portal._holder_notices(holder).filter(pk=notice_id).first()
    if notice is None:
        raise HttpError(404, f"no letter {notice_id} among this holder's letters")
    # Made before the opening is recorded: a letter that could not be produced has not been opened.
    document = render_letter(notice, language=portal._language())
    portal._record_opening(notice)
    filename = portal._letter(notice).filename
    return portal._pdf(document, filename, download=True)


# -- forecast -----------------------------------------------------------------------------------------------------
class ForecastChangeOut(Schema):
    on: dt.date
    kind: str
    label: str
    change: int = Field(description="the change of the balance shown that day")
    balance: int = Field(description="the balance from that day")
    cap: int
    reason: str = Field(description="why, in words")
    basis: str = Field(description="the article of the law")
    unless: str | None = Field(description="what would cancel it; null when nothing would")


class ForecastOut(Schema):
    licence: str
    as_of: dt.date
    changes: list[ForecastChangeOut]


FORECAST_FIELDS = tuple(ForecastChangeOut.model_fields)


@router.get(
    "/forecast",
    response={200: ForecastOut, **RESPONSES},
    summary="The coming changes of the balance",
    description="The portal's forecast: each dated change to come of the current licence's balance or cap, "
    "soonest first, with why and what would cancel it; assuming no new offence. Empty when nothing is to come.",
)
def my_forecast(request: HttpRequest) -> dict[str, Any]:
    refuse_unknown_query(request)
    holder: Holder = request.auth  # type: ignore[attr-defined]
    licence = _licence(holder)
    if licence is None:
        raise HttpError(404, "no licence in this holder's file")
    today = timezone.localdate()
    line = state.timeline_of(licence)
    items = _forecast_items(line, line.evaluation_at(today))
    return {
        "licence": licence.number,
        "as_of": today,
        "changes": [{name: item[name] for name in FORECAST_FIELDS} for item in items],
    }


# -- who read the file --------------------------------------------------------------------------------------------
class AccessEntryOut(Schema):
    at: dt.datetime
    who: str = Field(description="the reader, as the access log names them")
    role: str
    role_label: str
    channel: str
    channel_label: str
    purpose: str
    purpose_label: str
    purpose_detail: str = Field(description="the reason's details, as the reader gave them (in French)")
    shown: list[str] = Field(description="what the reader was shown")


class AccessLogOut(PageOut):
    entries: list[AccessEntryOut]


@router.get(
    "/access-log",
    response={200: AccessLogOut, **RESPONSES},
    summary="Who read the holder's file",
    description=f"Every read of the file by anyone but the holder (agents, police, course centres, third "
    f"parties with a share code...), newest first, {portal.ACCESS_PER_PAGE} a page: who, when, in which "
    "role, through which door, why, and what they were shown. The log is append-only.",
)
def my_access_log(request: HttpRequest, page: int = PageNumber) -> dict[str, Any]:
    refuse_unknown_query(request, PAGE_PARAMETERS)
    holder: Holder = request.auth  # type: ignore[attr-defined]
    current = _page(audit.accesses_of(holder), portal.ACCESS_PER_PAGE, page)
    return {
        **_page_facts(current),
        "entries": [
            {
                "at": entry.at,
                "who": portal.actor_in_words(entry.actor_label)[0],
                "role": entry.role,
                "role_label": str(entry.get_role_display()),
                "channel": entry.channel,
                "channel_label": str(entry.get_channel_display()),
                "purpose": entry.purpose,
                "purpose_label": str(entry.get_purpose_display()),
                "purpose_detail": entry.purpose_detail,
                "shown": [str(portal.SHOWN_LABELS.get(item, item)) for item in entry.shown],
            }
            for entry in current.object_list
        ],
    }


# -- share codes --------------------------------------------------------------------------------------------------
SHARE_USES_SHOWN = 20  # the latest uses listed with each code, as the portal lists them


class ShareUseOut(Schema):
    at: dt.datetime
    who: str = Field(description="the name and purpose the checker gave, as typed")
    purpose_detail: str


class ShareCodeOut(Schema):
    id: int
    hint: str = Field(description="the code's last two characters: the code itself is never kept")
    label: str
    state: Literal["active", "expired", "revoked"]
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    uses: int = Field(description="how many times a third party checked it")
    last_used_at: dt.datetime | None
    recent_uses: list[ShareUseOut] = Field(description=f"the latest {SHARE_USES_SHOWN} checks")


class ShareCodesOut(Schema):
    durations: list[int] = Field(description="the durations, in days, a new code may have")
    share_codes: list[ShareCodeOut] = Field(description="newest first, whatever their state")


class ShareCodeCreatedOut(ShareCodeOut):
    code: str = Field(description="the code to give, shown this once: only its keyed hash is kept")


def _portal_duration(days: int) -> int:
    if days not in SHARE_DAYS:
        raise PydanticCustomError(
            "share_days", "a share code lasts {choices} days", {"choices": ", ".join(map(str, SHARE_DAYS))}
        )
    return days


# The portal's choices of duration (its form's), exactly: a JSON integer (not `true`, nor "7") among them.
ShareDays = Annotated[
    int,
    Strict(),
    AfterValidator(_portal_duration),
    WithJsonSchema({"type": "integer", "enum": SHARE_DAYS}),
]


class ShareCodeIn(Schema):
    model_config = STRICT

    days: ShareDays = Field(description="how long the code lasts, in days")
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] = Field(
        "", description="for whom (a name for the holder only, never shown to the checker)"
    )


def _share_out(holder: Holder, summary: audit.ShareSummary) -> dict[str, Any]:
    share = summary.share
    uses = audit.share_uses(holder, share.pk)[:SHARE_USES_SHOWN]
    return {
        "id": share.pk,
        "hint": share.hint,
        "label": share.label,
        "state": summary.state,
        "created_at": share.created_at,
        "expires_at": share.expires_at,
        "revoked_at": share.revoked_at,
        "uses": summary.uses,
        "last_used_at": summary.last_used_at,
        "recent_uses": [
            {"at": use.at, "who": use.actor_label, "purpose_detail": use.purpose_detail} for use in uses
        ],
    }


def _summary(holder: Holder, share_id: int) -> audit.ShareSummary:
    return next(summary for summary in audit.shares_of(holder) if summary.share.pk == share_id)


@router.get(
    "/share-codes",
    response={200: ShareCodesOut, **RESPONSES},
    summary="The holder's share codes",
    description="Every code the holder made, as the portal lists them: active, expired or revoked, with how "
    "often and by whom each was checked. A code lets a third party check the licence's existence, "
    "categories and validity, never its points.",
)
def my_share_codes(request: HttpRequest) -> dict[str, Any]:
    refuse_unknown_query(request)
    holder: Holder = request.auth  # type: ignore[attr-defined]
    return {
        "durations": list(SHARE_DAYS),
        "share_codes": [_share_out(holder, summary) for summary in audit.shares_of(holder)],
    }


@router.post(
    "/share-codes",
    response={201: ShareCodeCreatedOut, **RESPONSES},
    summary="Make a share code",
    description=f"A new code, lasting one of {', '.join(map(str, SHARE_DAYS))} days (the portal's choices), "
    "with an optional label for the holder. The answer carries the code, this once (it is not kept, only its "
    "hash): give it to the person who checks the licence.",
)
def create_share_code(request: HttpRequest, body: ShareCodeIn, response: HttpResponse) -> Status:
    refuse_unknown_query(request)
    holder: Holder = request.auth  # type: ignore[attr-defined]
    try:
        share, code = audit.create_share(holder, body.days, body.label)
    except audit.AuditError as error:
        raise HttpError(422, f"{error.field}: {error.message}") from None
    response["Cache-Control"] = "private, no-store"  # the code, in clear, this once
    return Status(201, {**_share_out(holder, _summary(holder, share.pk)), "code": code})


@router.delete(
    "/share-codes/{share_id}",
    response={200: ShareCodeOut, **RESPONSES},
    summary="Revoke a share code",
    description="The code stops working at once; revoking it again changes nothing. Another holder's code "
    "answers 404, as an unknown one.",
)
def revoke_share_code(request: HttpRequest, share_id: int) -> dict[str, Any]:
    refuse_unknown_query(request)
    holder: Holder = request.auth  # type: ignore[attr-defined]
    try:
        share = audit.revoke_share(holder, share_id)
    except audit.AuditError:
        raise HttpError(404, f"no share code {share_id} among this holder's codes") from None
    return _share_out(holder, _summary(holder, share.pk))


# -- application sessions -----------------------------------------------------------------------------------------
# The provider's tokens live minutes: the application opens a session with one, then sends the session's token
# (permis.accounts.app_sessions). The sessions are the account's: the portal's security page lists them too.
class AppSessionOut(Schema):
    id: int
    device: str = Field(description="the label the application gave, for the holder to recognise it")
    created_at: dt.datetime
    last_used_at: dt.datetime = Field(description="the latest use, to the minute")
    expires_at: dt.datetime = Field(
        description=f"when it ends unless used again: {settings.API_APP_SESSION_IDLE_DAYS} days after its last "
        f"use, at most {settings.API_APP_SESSION_MAX_DAYS} days after it opened (this service's settings)"
    )


class AppSessionsOut(Schema):
    sessions: list[AppSessionOut] = Field(
        description="the account's sessions that still work, latest used first"
    )


class AppSessionCreatedOut(Schema):
    id: int
    token: str = Field(
        description="the session's token, shown this once (only its keyed hash is kept): send it as "
        "'Authorization: Bearer <token>' to every /holder/ endpoint"
    )
    expires_at: dt.datetime = Field(description="when it ends unless used again (see the list's expires_at)")


def _printable(value: Any) -> Any:
    """Text the security page can show as typed: no control character (line break, tab), no invisible format
    character (a direction override would turn the label around), no space but the plain one. Checked before
    the trimming, which would quietly drop those at the ends (U+0085, a line break, is white space too)."""
    if isinstance(value, str) and not value.isprintable():
        raise PydanticCustomError(
            "printable",
            "must be printable text: no control or invisible character (line break, tab, direction mark...)",
        )
    return value


# A NUL is refused with the whole body before (refuse_nul, in HolderToken): 400, as everywhere.
Device = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80), BeforeValidator(_printable)
]


class AppSessionIn(Schema):
    model_config = STRICT

    device: Device = Field(description="the device, as the holder will recognise it: 'iPhone de Camille'")


def _session_out(row: AppSession) -> dict[str, Any]:
    return {
        "id": row.pk,
        "device": row.device,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "expires_at": row.ends_at,
    }


def _account(request: HttpRequest) -> int:
    """The user id of the account the call speaks for: its session's, or the provider token's; 403 for a token
    that names the file by the identity pivot alone (no account: nothing to keep a session on)."""
    row = request.app_session  # type: ignore[attr-defined]
    if row is not None:
        return row.user_id
    link = request.holder_link  # type: ignore[attr-defined]
    if link is None:
        raise HttpError(
            403,
            "application sessions belong to an account: sign in once on the website with FranceConnect and "
            "link the file (Mon espace, rattacher mon permis), then try again",
        )
    return link.user_id


@router.post(
    "/sessions",
    auth=HolderToken(provider_only=True),
    response={201: AppSessionCreatedOut, 409: ErrorOut, **RESPONSES},
    summary="Open an application session",
    description="Keeps the application signed in: with a token the identity provider signed for this service "
    "(not a session's token: 403), a session whose token the application then sends instead, until the holder "
    f"signs out, it is unused for {settings.API_APP_SESSION_IDLE_DAYS} days, or {settings.API_APP_SESSION_MAX_DAYS}"
    " days after it opened. The token is in the answer this once. One provider token opens one session (again: "
    f"409). An account keeps at most {app_sessions.MAX_ACTIVE} sessions: opening one more ends the least "
    "recently used. The holder sees and ends the sessions in the portal (Sécurité du compte) too.",
)
def open_app_session(request: HttpRequest, body: AppSessionIn, response: HttpResponse) -> Status:
    refuse_unknown_query(request)
    holder: Holder = request.auth  # type: ignore[attr-defined]
    user_id = _account(request)
    try:
        row, token = app_sessions.open_session(
            user_id,
            holder,
            body.device,
            request.provider_claims,  # type: ignore[attr-defined]
        )
    except app_sessions.AlreadyOpened:
        raise HttpError(
            409,
            "this identity provider token has already opened an application session: sign in again through "
            "FranceConnect to open another",
        ) from None
    logger.info("account %s: application session %s opened", user_id, row.pk)
    response["Cache-Control"] = "private, no-store"  # the token, in clear, this once
    return Status(201, {"id": row.pk, "token": token, "expires_at": row.ends_at})


@router.get(
    "/sessions",
    response={200: AppSessionsOut, **RESPONSES},
    summary="The account's application sessions",
    description="The sessions that still work (never their tokens): the device, when each opened, its latest "
    "use and when it ends unless used again.",
)
def my_app_sessions(request: HttpRequest) -> dict[str, Any]:
    refuse_unknown_query(request)
    return {"sessions": [_session_out(row) for row in app_sessions.active(_account(request))]}


@router.delete(
    "/sessions/current",
    response={204: None, **RESPONSES},
    summary="Sign out of the application",
    description="Ends the session whose token was sent: it is refused from now on. A call with the provider's "
    "token has no session to end: 404.",
)
def close_app_session(request: HttpRequest) -> Status:
    refuse_unknown_query(request)
    row = request.app_session  # type: ignore[attr-defined]
    if row is None:
        raise HttpError(404, "no application session: this call was made with the identity provider's token")
    app_sessions.revoke(row.user_id, row.pk)
    logger.info("account %s: application session %s closed by the application", row.user_id, row.pk)
    return Status(204, None)
