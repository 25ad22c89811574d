"""Third parties (an employer, a car renter): check a share code or an attestation's QR (L225-5, L223-7).

Scope ``third_party``. The answer says whether the licence exists, its categories and whether it is valid today,
nothing else: never the points, the history or the address (tests/api/test_no_points_leak.py walks every answer).
A share code is checked by ``permis.audit.services.check_share``, which logs the use on the holder's access
log; an attestation's QR by ``permis.notices.signing.verify``, logged here when it names a licence of the file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict

from permis.audit.models import Channel, Purpose, Role
from permis.audit.services import SHARE_SHOWN, AuditError, check_share, log_access

from .auth import KeyAuth
from .common import (
    ERRORS,
    answer,
    check_qr,
    document_kind,
    find_licence,
    refuse_unknown_query,
    request_id,
)
from .models import ApiKey, Scope

router = Router(tags=["third parties"], auth=KeyAuth(Scope.THIRD_PARTY))

PublicStatus = Literal["valid", "suspended", "invalidated", "annulled"]


class ShareIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    code: str = Field(min_length=1, max_length=40, description="the code the holder gave, e.g. ABCD-EFGH-JK")
    purpose: str = Field("", max_length=300, description="why it is checked (kept on the holder's log)")


class ThirdPartyCategoryOut(Schema):
    code: str
    obtained_on: dt.date
    expires_on: dt.date | None
    restrictions: str


class ShareCheckOut(Schema):
    holder_name: str
    licence_number: str
    status: PublicStatus
    status_label: str
    valid: bool = Field(description="the holder may drive today")
    categories: list[ThirdPartyCategoryOut]
    checked_on: dt.date
    share_expires_at: dt.datetime


class AttestationIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    qr: str = Field(min_length=1, max_length=4000, description="the text of the QR code, as scanned")
    purpose: str = Field("", max_length=300)


class AttestationCheckOut(Schema):
    outcome: Literal["valid", "expired", "revoked", "tampered", "unknown_key"]
    title: str
    message: str
    document: Literal["attestation", "digital_licence"] | None
    holder_name: str | None
    licence_number: str | None
    status: PublicStatus | None = Field(description="the state the document asserts")
    valid: bool = Field(
        description="the document is authentic, in date and still true, and the licence valid"
    )
    categories: list[ThirdPartyCategoryOut]
    issued_on: dt.date | None
    valid_until: dt.date | None


def _requester(key: ApiKey) -> str:
    return f"{key.name} (clé {key.prefix})"


@router.post(
    "/share",
    response={200: ShareCheckOut, **ERRORS},
    summary="Check a share code",
    description="The holder's name, licence number, categories and validity today. An unknown, expired or "
    "revoked code answers 404 without saying which. Each answered check is on the holder's access log.",
)
def check_share_code(request: HttpRequest, body: ShareIn) -> HttpResponse:
    refuse_unknown_query(request)
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    try:
        found = check_share(
            body.code, requester_label=_requester(key), purpose=body.purpose, request_id=request_id(request)
        )
    except AuditError as error:
        raise HttpError(422, f"{error.field}: {error.message}") from None
    if found is None:
        raise HttpError(404, "code: invalid or expired share code")
    return answer(
        request,
        {
            "holder_name": found.holder_name,
            "licence_number": found.licence_number,
            "status": found.status,
            "status_label": found.status_label,
            "valid": found.valid,
            "categories": [
                {
                    "code": c.code,
                    "obtained_on": c.obtained_on,
                    "expires_on": c.expires_on,
                    "restrictions": c.restrictions,
                }
                for c in found.categories
            ],
            "checked_on": found.checked_on,
            "share_expires_at": found.share_expires_at,
        },
    )


def _day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@router.post(
    "/attestation",
    response={200: AttestationCheckOut, **ERRORS},
    summary="Check the QR code of an attestation of driving rights or a digital licence",
    description="valid, expired, revoked (the licence's state changed since it was issued), tampered or "
    "unknown_key, with a message to read. The QR of a letter or a statement (RII) is refused with 422: "
    "those carry points, which a third party may not read (L223-7).",
)
def check_attestation(request: HttpRequest, body: AttestationIn) -> dict[str, Any]:
    refuse_unknown_query(request)
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    with transaction.atomic():
        verdict = check_qr(body.qr)
        payload = verdict.payload or {}
        kind = document_kind(verdict.payload)
        if kind not in (None, "attestation", "digital_licence"):
            raise HttpError(
                422,
                f"qr: this QR code is a {kind}, not an attestation of driving rights: a third party checks "
                "an attestation or a digital licence",
            )
        shown = verdict.outcome in ("valid", "expired", "revoked")
        answer: dict[str, Any] = {
            "outcome": str(verdict.outcome),
            "title": verdict.title,
            "message": str(verdict.message),
            "document": kind,
            "holder_name": payload.get("name") if shown else None,
            "licence_number": payload.get("licence") if shown else None,
            "status": payload.get("status") if shown else None,
            "valid": verdict.valid and payload.get("status") == "valid",
            "categories": [
                {"code": c[0], "obtained_on": c[1], "expires_on": c[2] or None, "restrictions": c[3]}
                for c in (payload.get("cats") or [])
                if isinstance(c, list) and len(c) == 4
            ]
            if shown
            else [],
            "issued_on": _day(payload.get("issued")) if shown else None,
            "valid_until": _day(payload.get("valid_until")) if shown else None,
        }
        licence = find_licence(str(payload.get("licence", ""))) if shown else None
        if licence is not None:
            log_access(
                actor=f"key:{key.prefix}",
                actor_label=key.name,
                role=Role.THIRD_PARTY,
                holder=licence.holder_id,
                licence=licence.pk,
                purpose=Purpose.DRIVING_RIGHTS_CHECK,
                purpose_detail=body.purpose.strip(),
                shown=["attestation (code QR)", *SHARE_SHOWN],
                channel=Channel.API,
                request_id=request_id(request),
            )
    return answer
