"""The infraction feed over HTTP: `POST /api/v1/feed/offences`, a batch of records with the meaning of the file
feed (docs/feed.md), and `GET /api/v1/feed/offences/{sender_ref}`, what became of a record.

The door is thin (ARCHITECTURE.md, rule 8): it checks the key (scope `feed`, the key's sender code is the
records' sender), checks each record against a strict schema, hands the batch to the per-record path of the
service layer, and answers one outcome per record. A bad record is rejected on its own, never with the batch.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as SchemaError

from permis.registry.models import FeedRecord
from permis.registry.services import today
from permis.registry.services.feed import FeedItem, new_batch_name, parse_record, submit

from .auth import KeyAuth
from .models import Scope

MAX_RECORDS = 1000

# The records are checked one by one as the file feed checks them (a NUL character, "\u0000", makes its field
# not printable): a record holding one is rejected alone, the batch goes on. A body that is not JSON is a 400.
router = Router(tags=["feed"], auth=KeyAuth(Scope.FEED, records_checked=True))


class OffenceRecordIn(BaseModel):
    """One record: an offence (the default kind) or the cancellation of one (docs/feed.md)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    sender: str | None = Field(None, max_length=50, description="defaults to the key's sender; must match it")
    sender_ref: str = Field(min_length=1, max_length=100, description="the sender's own reference, unique")
    kind: Literal["offence", "cancellation"] = "offence"
    licence_number: str | None = Field(None, max_length=40)
    dossier_number: str | None = Field(None, max_length=40)
    natinf: str | None = Field(None, max_length=10, description="a NATINF code of the barème")
    points: int | None = Field(None, description="with class, in place of natinf")
    offence_class: Literal["C1", "C2", "C3", "C4", "C5", "D"] | None = Field(None, alias="class")
    speeding_limit_kmh: int | None = None
    speeding_retained_kmh: int | None = None
    committed_on: str | None = Field(None, description="YYYY-MM-DD")
    final_on: str | None = Field(None, description="YYYY-MM-DD, the day the offence became final")
    decided_on: str | None = Field(None, description="YYYY-MM-DD, optional")
    how: Literal["fine_paid", "majoree_title", "composition_penale", "conviction"] | None = None
    simultaneous_group: str | None = Field(None, max_length=50)
    place: str | None = Field(None, max_length=100)
    cancels: str | None = Field(
        None, max_length=100, description="cancellation: the sender_ref of the offence"
    )
    cancelled_on: str | None = Field(None, description="cancellation: YYYY-MM-DD")


def _batch_schema() -> dict[str, Any]:
    record = OffenceRecordIn.model_json_schema(by_alias=True)
    record.pop("title", None)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["records"],
        "properties": {"records": {"type": "array", "minItems": 1, "maxItems": MAX_RECORDS, "items": record}},
    }


class RecordOut(Schema):
    index: int
    sender_ref: str
    outcome: Literal["accepted", "duplicate", "rejected"]
    errors: list[str]


class BatchOut(Schema):
    batch: str
    received: int
    accepted: int
    duplicates: int
    rejected: int
    records: list[RecordOut]


class ErrorOut(Schema):
    error: str


class ReceiptOut(Schema):
    received_at: dt.datetime
    batch: str
    outcome: str
    errors: list[str]


@router.post(
    "/offences",
    response={
        200: BatchOut,
        400: ErrorOut,
        401: ErrorOut,
        403: ErrorOut,
        413: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
    },
    summary="Send definitive offences and cancellations",
    description=f'A batch of at most {MAX_RECORDS} records, `{{"records": [...]}}`, each with the columns of '
    "the file feed. Idempotent on (sender, sender_ref). The answer gives each record's outcome (accepted, "
    "duplicate, rejected) and its errors; the balance is up to date when the answer comes.",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _batch_schema()}}}
    },
)
def post_offences(request: HttpRequest) -> dict[str, Any]:
    key = request.auth  # type: ignore[attr-defined]
    if not key.sender:
        raise HttpError(
            403, "this key has no sender code: the feed needs one (permis apikey create --sender)"
        )
    records = _records(request)
    on = today()
    items = [_item(raw, index, key.sender, on) for index, raw in enumerate(records)]
    batch = new_batch_name("api", key.name)
    results = submit(items, batch=batch, on=on)
    counts = dict.fromkeys(FeedRecord.Outcome.values, 0)
    for result in results:
        counts[result.outcome] += 1
    return {
        "batch": batch,
        "received": len(results),
        "accepted": counts["accepted"],
        "duplicates": counts["duplicate"],
        "rejected": counts["rejected"],
        "records": [
            {"index": item.position, "sender_ref": r.sender_ref, "outcome": r.outcome, "errors": r.errors}
            for item, r in zip(items, results)
        ],
    }


@router.get(
    "/offences/{sender_ref}",
    response={200: list[ReceiptOut], 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 429: ErrorOut},
    summary="What became of a record sent (the latest receipts first)",
)
def get_offence(request: HttpRequest, sender_ref: str) -> list[dict[str, Any]]:
    key = request.auth  # type: ignore[attr-defined]
    rows = list(
        FeedRecord.objects.filter(sender=key.sender, source_ref=sender_ref)
        .order_by("-received_at", "-pk")
        .values("received_at", "batch", "outcome", "errors")[:20]
    )
    if not rows or not key.sender:
        raise HttpError(404, f"no record {sender_ref!r} received from {key.sender or 'this key'}")
    return rows


def _records(request: HttpRequest) -> list[Any]:
    try:
        body = request.body
    except RequestDataTooBig:
        raise HttpError(413, f"the body is too large: send at most {MAX_RECORDS} records a request") from None
    try:
        data = json.loads(body or b"null")
    except ValueError as error:
        raise HttpError(400, f"the body is not JSON ({error})") from None
    if not isinstance(data, dict) or "records" not in data:
        raise HttpError(422, 'the body must be an object {"records": [...]}')
    extra = sorted(set(data) - {"records"})
    if extra:
        raise HttpError(422, f'unknown field(s) {", ".join(extra)}: the body is {{"records": [...]}}')
    records = data["records"]
    if not isinstance(records, list) or not records:
        raise HttpError(422, "records must be a non-empty list of records")
    if len(records) > MAX_RECORDS:
        raise HttpError(413, f"{len(records)} records: send at most {MAX_RECORDS} a request")
    return records


def _item(raw: Any, index: int, sender: str, on: dt.date) -> FeedItem:
    """The record checked by the strict schema (types, unknown fields) and then as the file feed checks it."""
    item = parse_record(raw, index, where="records", sender=sender, on=on)
    try:
        OffenceRecordIn.model_validate(raw)
    except SchemaError as error:
        checks = item.errors
        item.errors = []
        named = set()
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"]) or "record"
            named.add(name)
            message = "unknown field" if problem["type"] == "extra_forbidden" else problem["msg"]
            item.error(name, message)
        prefix = f"{item.label}: "
        for check in checks:  # the feed's own findings on the fields the schema did not reject
            name = check[len(prefix) :].split(": ", 1)[0] if check.startswith(prefix) else ""
            if name not in named and "unknown field" not in check:
                item.errors.append(check)
    return item
