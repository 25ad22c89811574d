"""The postal partner's receipts: `POST /api/v1/post/receipts`, the *avis de réception* of registered letters.

The door is thin (ARCHITECTURE.md, rule 8): it checks the key (scope `post`), checks each receipt against a
strict schema, hands it to ``permis.notices.receipts.record_postal_receipt`` (the same service the back office
uses) and answers one outcome per receipt. A bad receipt is rejected on its own, never with the batch; a
receipt sent twice is a duplicate; one that contradicts the receipt on file is rejected with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Literal

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as SchemaError

from permis.notices.models import Channel
from permis.notices.receipts import ReceiptError, find_registered, record_postal_receipt

from .auth import KeyAuth
from .models import Scope

MAX_RECEIPTS = 1000
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits (\d takes any script's)

router = Router(tags=["post"], auth=KeyAuth(Scope.POST))


class ReceiptIn(BaseModel):
    """One receipt: which registered letter, received or not collected, and on which day."""

    model_config = ConfigDict(extra="forbid", strict=True)

    delivery: int | str = Field(
        description="the letter: its delivery id, or the reference printed on it (the print queue's reference)"
    )
    kind: Literal["received", "not_collected"] = Field(
        description="received: the receipt was signed; not_collected: presented and not collected"
    )
    on: str = Field(description="YYYY-MM-DD: the day it was received, or first presented when not collected")


def _batch_schema() -> dict[str, Any]:
    receipt = ReceiptIn.model_json_schema()
    receipt.pop("title", None)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["receipts"],
        "properties": {
            "receipts": {"type": "array", "minItems": 1, "maxItems": MAX_RECEIPTS, "items": receipt}
        },
    }


class ReceiptResultOut(Schema):
    index: int
    delivery: int | None
    outcome: Literal["recorded", "duplicate", "rejected"]
    errors: list[str]


class ReceiptBatchOut(Schema):
    received: int
    recorded: int
    duplicates: int
    rejected: int
    receipts: list[ReceiptResultOut]


class ErrorOut(Schema):
    error: str


@router.post(
    "/receipts",
    response={
        200: ReceiptBatchOut,
        400: ErrorOut,
        401: ErrorOut,
        403: ErrorOut,
        413: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
    },
    summary="Report the receipts of registered letters",
    description=f'A batch of at most {MAX_RECEIPTS} receipts, `{{"receipts": [...]}}`. Idempotent: the same '
    "receipt sent again is a duplicate. A receipt that contradicts the one on file, dated before the letter "
    "was sent or in the future is rejected with its reason. The receipt of a 48SI invalidates the licence "
    "from that day; the answer comes once it is written.",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _batch_schema()}}}
    },
)
def post_receipts(request: HttpRequest) -> dict[str, Any]:
    key = request.auth  # type: ignore[attr-defined]
    source = f"api:{key.name}"[:100]
    results = [_one(raw, index, source) for index, raw in enumerate(_receipts(request))]
    counts = {"recorded": 0, "duplicate": 0, "rejected": 0}
    for result in results:
        counts[result["outcome"]] += 1
    return {
        "received": len(results),
        "recorded": counts["recorded"],
        "duplicates": counts["duplicate"],
        "rejected": counts["rejected"],
        "receipts": results,
    }


def _receipts(request: HttpRequest) -> list[Any]:
    try:
        body = request.body
    except RequestDataTooBig:
        raise HttpError(
            413, f"the body is too large: send at most {MAX_RECEIPTS} receipts a request"
        ) from None
    try:
        data = json.loads(body or b"null")
    except ValueError as error:
        raise HttpError(400, f"the body is not JSON ({error})") from None
    if not isinstance(data, dict) or "receipts" not in data:
        raise HttpError(422, 'receipts: missing; the body must be an object {"receipts": [...]}')
    extra = sorted(set(data) - {"receipts"})
    if extra:
        raise HttpError(422, f'unknown field(s) {", ".join(extra)}: the body is {{"receipts": [...]}}')
    receipts = data["receipts"]
    if not isinstance(receipts, list) or not receipts:
        raise HttpError(422, "receipts: must be a non-empty list of receipts")
    if len(receipts) > MAX_RECEIPTS:
        raise HttpError(413, f"receipts: {len(receipts)} receipts, send at most {MAX_RECEIPTS} a request")
    return receipts


def _one(raw: Any, index: int, source: str) -> dict[str, Any]:
    """One receipt checked by the strict schema, its letter found, then recorded by the service."""
    where = f"receipts[{index}]"
    result: dict[str, Any] = {"index": index, "delivery": None, "outcome": "rejected", "errors": []}
    try:
        receipt = ReceiptIn.model_validate(raw)
    except SchemaError as error:
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "receipt"
            if problem["type"] == "extra_forbidden":
                message = "unknown field"
            elif problem["type"] == "model_type":
                message = "a receipt must be an object with delivery, kind and on"
            elif name == "delivery" and problem["type"] != "missing":
                # A union (int | str) reports each branch: say once what is expected.
                message = "must be the delivery id (a number) or the letter's reference (a string)"
            else:
                message = problem["msg"]
            line = f"{where}: {name}: {message}"
            if line not in result["errors"]:
                result["errors"].append(line)
        return result
    on = _date(receipt.on)
    if on is None:
        result["errors"].append(
            f"{where}: on: {receipt.on!r} is not a date that exists (expected YYYY-MM-DD)"
        )
    delivery = find_registered(receipt.delivery)
    if delivery is not None and (delivery.channel != Channel.REGISTERED or delivery.sent_at is None):
        # A letter the post never carried is answered as an unknown id: one that went by another channel (e-mail,
        # simple letter, the holder's space), and a registered one not handed to the post yet (no sent_at: still
        # planned, being printed, or failed before the print queue). The partner learns nothing of it: not that
        # it exists, nor its kind, its licence or its channel; ids and printed references cannot be probed.
        delivery = None
    if delivery is None:
        result["errors"].append(f"{where}: delivery: no registered letter {receipt.delivery!r}")
    else:
        result["delivery"] = delivery.pk
    if result["errors"]:
        return result
    try:
        outcome = record_postal_receipt(delivery, kind=receipt.kind, on=on, source=source)
    except ReceiptError as error:
        result["errors"] = [f"{where}: {problem}" for problem in error.problems]
        return result
    result["outcome"] = "duplicate" if outcome.duplicate else "recorded"
    return result


def _date(value: str) -> dt.date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None
