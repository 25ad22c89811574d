"""Police and gendarmerie: check a licence by its number or by the digital licence's QR (PRODUCT.md, capability 9).

Scope ``police``: identity, categories, validity, status and suspension, never the points. Scope
``police_balance`` (a separate key grant, L225-4): the same answer with the balance, at its own path, so a key
without it cannot ask for it by mistake. Every answered check is written to the holder's access log (role
police, the purpose stated by the officer, what was shown) before the answer is sent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict

from permis.audit.models import Channel, Role
from permis.audit.services import log_access

from .auth import KeyAuth
from .common import (
    ERRORS,
    LicenceFacts,
    answer,
    check_qr,
    document_kind,
    find_licence,
    licence_facts,
    read_facts,
    refuse_unknown_query,
    request_id,
)
from .models import ApiKey, Scope

router = Router(tags=["police"], auth=KeyAuth(Scope.POLICE))

PoliceP = Literal["roadside_check", "judicial_inquiry"]
SHOWN = ["identité", "numéro de permis", "catégories", "validité", "suspension"]


class CheckQuery(Schema):
    model_config = ConfigDict(extra="forbid")

    purpose: PoliceP = Field(description="why the licence is checked: roadside_check or judicial_inquiry")
    purpose_detail: str = Field("", max_length=300, description="e.g. the report's number; kept in the log")


# ninja reads the query parameters it knows and drops the others, whatever the schema's `extra`: the checks
# refuse the others themselves (a misspelt `purpose_detial` would lose the report's number without a word).
CHECK_PARAMETERS = frozenset(CheckQuery.model_fields)


class HolderOut(Schema):
    birth_name: str
    used_name: str
    given_names: str
    birth_date: dt.date


class CategoryOut(Schema):
    code: str
    obtained_on: dt.date
    expires_on: dt.date | None
    restrictions: str
    valid: bool = Field(description="the category's medical or administrative validity has not ended")


class LicenceCheckOut(Schema):
    number: str
    holder: HolderOut
    obtained_on: dt.date
    status: Literal["valid", "suspended", "invalidated", "annulled"]
    valid: bool = Field(description="the holder may drive today (not suspended, invalidated or annulled)")
    suspended: bool
    suspension: dict[str, dt.date] | None = Field(description='{"from": ..., "to": ...} when suspended')
    categories: list[CategoryOut]
    checked_on: dt.date


class LicenceBalanceOut(LicenceCheckOut):
    balance: int = Field(description="the balance of points today (L225-4)")
    cap: int = Field(description="the most points the licence can have today (6, 8, 10 or 12)")
    points_status: Literal["valid", "zero_balance", "invalidated", "annulled"]


class QrIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    qr: str = Field(min_length=1, max_length=4000, description="the text of the QR code, as scanned")
    purpose: PoliceP
    purpose_detail: str = Field("", max_length=300)


class QrCheckOut(Schema):
    outcome: Literal["valid", "expired", "revoked", "tampered", "unknown_key"]
    title: str
    message: str
    document: str | None = Field(description="attestation, digital_licence, letter or rii")
    licence: LicenceCheckOut | None = Field(
        description="the licence's state in the national file today, when the QR names a licence of the file"
    )


def _check(facts: LicenceFacts) -> dict[str, Any]:
    licence = facts.licence
    return {
        "number": licence.number,
        "holder": facts.identity(),
        "obtained_on": licence.obtained_on,
        "status": facts.public_status,
        "valid": facts.valid,
        "suspended": facts.suspended,
        "suspension": {"from": facts.suspension[0], "to": facts.suspension[1]} if facts.suspension else None,
        "categories": [category.as_dict(facts.on) for category in facts.categories],
        "checked_on": facts.on,
    }


def _log(request: HttpRequest, facts: LicenceFacts, purpose: str, detail: str, shown: list[str]) -> None:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    log_access(
        actor=f"key:{key.prefix}",
        actor_label=key.name,
        role=Role.POLICE,
        holder=facts.licence.holder_id,
        licence=facts.licence.pk,
        purpose=purpose,
        purpose_detail=detail,
        shown=shown,
        channel=Channel.API,
        request_id=request_id(request),
    )


def _read(request: HttpRequest, number: str, query: CheckQuery, *, balance: bool) -> LicenceFacts:
    """Read, then log: no transaction around both, the log's own is enough (a failed append fails the request
    before anything is shown) and two fewer round trips keep the chain's lock short (docs/performance.md)."""
    refuse_unknown_query(request, CHECK_PARAMETERS)
    facts = read_facts(number, timezone.localdate())
    if facts is None:
        raise HttpError(404, f"number: no licence numbered {number!r} in the national file")
    _log(
        request, facts, query.purpose, query.purpose_detail, [*SHOWN, "solde de points"] if balance else SHOWN
    )
    return facts


@router.get(
    "/licences/{number}",
    response={200: LicenceCheckOut, **ERRORS},
    summary="Check a licence by its number",
    description="Identity, categories, validity, status and suspension today; never the points (use the "
    "`police_balance` scope's endpoint for those). Logged on the holder's access log with the purpose.",
)
def check_licence(request: HttpRequest, number: str, query: Query[CheckQuery]) -> HttpResponse:
    return answer(request, _check(_read(request, number, query, balance=False)))


@router.get(
    "/licences/{number}/balance",
    response={200: LicenceBalanceOut, **ERRORS},
    auth=KeyAuth(Scope.POLICE_BALANCE),
    summary="Check a licence and its balance of points (L225-4)",
    description="The same answer as the check by number, with the balance, the cap and the engine's status "
    "(zero_balance included). Needs a key with the `police_balance` scope.",
)
def check_licence_balance(request: HttpRequest, number: str, query: Query[CheckQuery]) -> dict[str, Any]:
    facts = _read(request, number, query, balance=True)
    return {**_check(facts), "balance": facts.balance, "cap": facts.cap, "points_status": facts.status}


@router.post(
    "/qr",
    response={200: QrCheckOut, **ERRORS},
    summary="Check the QR code of a digital licence or an attestation",
    description="The signature, the date and the registry: valid, expired, revoked (the licence's state has "
    "changed since), tampered or unknown_key, with a message to read out. When the QR names a licence of the "
    "file (valid, expired or revoked), its state today comes with it, never the points.",
)
def check_qr_code(request: HttpRequest, body: QrIn) -> dict[str, Any]:
    refuse_unknown_query(request)
    with transaction.atomic():
        verdict = check_qr(body.qr)
        answer: dict[str, Any] = {
            "outcome": str(verdict.outcome),
            "title": verdict.title,
            "message": str(verdict.message),
            "document": document_kind(verdict.payload),
            "licence": None,
        }
        if verdict.payload and verdict.outcome in ("valid", "expired", "revoked"):
            licence = find_licence(str(verdict.payload.get("licence", "")))
            if licence is not None:
                facts = licence_facts(licence, timezone.localdate())
                _log(request, facts, body.purpose, body.purpose_detail, ["code QR", *SHOWN])
                answer["licence"] = _check(facts)
    return answer
