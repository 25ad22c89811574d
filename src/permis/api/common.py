"""What the partner routers share: the error schema, the request id, and the fast read of a licence's state.

The police and third-party checks must answer in a few milliseconds (docs/performance.md): ``licence_facts``
reads the licence, its holder and its projection in one query and the categories in a second; the engine runs
only when the projection does not hold today (the daily run has not passed since its ``next_change_on``) or to
date a suspension. What a reader may see is decided by the caller: ``LicenceFacts`` carries the balance, and
only the police-balance door (L225-4) and the holder's own door copy it into an answer.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Schema
from ninja.errors import HttpError
from pydantic import BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from permis.config.database import prepared_cursor
from permis.registry.models import Category, Holder, Licence, Projection


class ErrorOut(Schema):
    error: str


# The request bodies' schemas: exact JSON types (pydantic's strict mode: "23000" is not a number, "yes" not a
# boolean) and no unknown field, as the feed's (docs/feed.md). A date is the one string a JSON body can carry it
# in, `YYYY-MM-DD`: `Day` reads that string into a date before the strict check (which, from Python, takes
# date objects only), and leaves anything else to be refused by it.
STRICT = ConfigDict(extra="forbid", strict=True)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits (\d takes any script's)


def _iso_day(value: Any) -> Any:
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "date_value", "{value} is not a day of the calendar", {"value": value}
            ) from None
    if isinstance(value, str):
        raise PydanticCustomError("date_format", "a date is written YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_iso_day)]


def refuse_unknown_query(request: HttpRequest, allowed: frozenset[str] = frozenset()) -> None:
    """422 naming the query parameters an endpoint does not take: ninja reads only the ones it knows, so a
    misspelt `purpose_detial` would otherwise be dropped without a word. A set difference on the parsed query:
    nothing a check's time would notice (docs/performance.md)."""
    unknown = request.GET.keys() - allowed
    if unknown:
        takes = f"it takes {', '.join(sorted(allowed))}" if allowed else "it takes none"
        raise HttpError(422, f"{', '.join(sorted(unknown))}: unknown query parameter ({takes})")


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def answer(request: HttpRequest, data: dict) -> HttpResponse:
    """The 200 answer of a hot check (police, share code), rendered by the API's own renderer without passing
    through its response schema again: `data` is built field by field to that schema by the endpoint, and
    validating it a second time cost a fifth of a check's Python time (docs/performance.md, "Partner checks").
    tests/api/test_check_facts.py holds each such answer equal to its schema's validation, key for key."""
    from .v1 import api  # the routers are imported by v1: not at this module's import

    return api.create_response(request, data, status=200)


def request_id(request: HttpRequest) -> str:
    """The caller's X-Request-ID (kept with the access-log entry), or a new one."""
    given = request.headers.get("X-Request-ID", "").strip()
    return given[:64] if given else uuid.uuid4().hex


@dataclass(frozen=True)
class CategoryFacts:
    code: str
    obtained_on: dt.date
    expires_on: dt.date | None
    restrictions: str

    def as_dict(self, on: dt.date) -> dict[str, object]:
        return {
            "code": self.code,
            "obtained_on": self.obtained_on,
            "expires_on": self.expires_on,
            "restrictions": self.restrictions,
            "valid": self.expires_on is None or self.expires_on >= on,
        }


@dataclass(frozen=True)
class LicenceFacts:
    """A licence on a day, for the checks. ``status`` is the engine's (valid, zero_balance, invalidated,
    annulled); ``public_status`` what a reader without the points sees (a zero balance before the 48SI is
    notified is still a valid licence, RULES.md §9)."""

    licence: Licence
    on: dt.date
    status: str
    suspended: bool
    suspension: tuple[dt.date, dt.date] | None
    balance: int
    cap: int
    categories: tuple[CategoryFacts, ...]

    @property
    def public_status(self) -> str:
        if self.status in ("valid", "zero_balance"):
            return "suspended" if self.suspended else "valid"
        return self.status

    @property
    def valid(self) -> bool:
        """May the holder drive today: not invalidated, not annulled, not suspended."""
        return self.public_status == "valid"

    def identity(self) -> dict[str, object]:
        holder = self.licence.holder
        return {
            "birth_name": holder.birth_name,
            "used_name": holder.used_name,
            "given_names": holder.given_names,
            "birth_date": holder.birth_date,
        }


def normalised_number(number: str) -> str | None:
    """A licence number as typed, without spaces and upper-cased; None when it cannot be one (empty, too long)."""
    number = "".join(number.split()).upper()
    return number if number and len(number) <= 19 else None


def find_licence(number: str) -> Licence | None:
    """The licence by its number (spaces ignored), with its holder and projection: one query."""
    number = normalised_number(number)
    if number is None:
        return None
    return Licence.objects.select_related("holder", "projection").filter(number=number).first()


def _fresh(projection: Projection | None, on: dt.date) -> bool:
    return (
        projection is not None
        and projection.as_of <= on
        and (projection.next_change_on is None or projection.next_change_on > on)
    )


def licence_facts(
    licence: Licence, on: dt.date, categories: tuple[CategoryFacts, ...] | None = None
) -> LicenceFacts:
    """The licence's state on `on`: from the projection when it holds that day, else from the engine.
    `categories`, when the caller has read them already (``read_facts``), spares their query."""
    try:
        projection = licence.projection
    except Projection.DoesNotExist:
        projection = None
    suspension = None
    if _fresh(projection, on) and not projection.suspended:  # type: ignore[union-attr]
        status, suspended = projection.status, False  # type: ignore[union-attr]
        balance, cap = projection.balance, projection.cap  # type: ignore[union-attr]
    else:
        from permis.notices.documents.facts import licence_state

        if licence.get_deferred_fields():  # read by read_facts with the checks' columns only: the whole row
            holder = licence.holder
            licence = Licence.objects.get(pk=licence.pk)
            licence.holder = holder

        state = licence_state(licence, on)
        evaluation = state.evaluation
        status, suspended = evaluation.status, evaluation.suspended
        balance, cap = evaluation.balance, evaluation.cap
        if suspended:
            windows = [
                (event.start, event.end)
                for event in state.history.events
                if getattr(event, "kind", "") == "suspension" and event.start <= on <= event.end
            ]
            suspension = max(windows) if windows else None
    if categories is None:
        categories = tuple(
            CategoryFacts(code, obtained, expires, restrictions or "")
            for code, obtained, expires, restrictions in Category.objects.filter(licence=licence)
            .order_by("obtained_on", "code")
            .values_list("code", "obtained_on", "expires_on", "restrictions")
        )
    return LicenceFacts(licence, on, status, suspended, suspension, balance, cap, categories)


# -- the checks' one-statement read (PostgreSQL) ------------------------------------------------------------------
# A police or share-code check must cost about a millisecond (issue 6: 1,000 a second on two cores), and through
# the ORM each query costs more than that in compiling alone. On PostgreSQL the licence, its holder, its
# projection and its categories are one hand-written statement whose rows become the same model instances,
# with only the columns a check shows (the others are deferred: read if touched, which licence_facts avoids).
# SQLite keeps the ORM's queries; tests run the checks on both and compare.
HOLDER_COLUMNS = ("id", "birth_name", "used_name", "given_names", "birth_date")
LICENCE_COLUMNS = ("id", "holder_id", "number", "obtained_on")
PROJECTION_COLUMNS = ("licence_id", "balance", "cap", "status", "suspended", "next_change_on", "as_of")
FACTS_SELECT = (
    'SELECT l."id", l."holder_id", l."number", l."obtained_on", '
    'h."birth_name", h."used_name", h."given_names", h."birth_date", '
    'p."licence_id", p."balance", p."cap", p."status", p."suspended", p."next_change_on", p."as_of", '
    '(SELECT json_agg(json_build_array(c."code", c."obtained_on", c."expires_on", c."restrictions") '
    'ORDER BY c."obtained_on", c."code") FROM "registry_category" c WHERE c."licence_id" = l."id") '
)
FACTS_BY_NUMBER = (
    FACTS_SELECT + 'FROM "registry_licence" l JOIN "registry_holder" h ON h."id" = l."holder_id" '
    'LEFT JOIN "registry_projection" p ON p."licence_id" = l."id" WHERE l."number" = %s'
)


def facts_from_row(row: tuple, on: dt.date) -> LicenceFacts:
    """The LicenceFacts of one row of FACTS_SELECT (its first 16 columns). ``Model.from_db`` takes the values of
    the columns it is given in the model's field order, which the *_COLUMNS tuples follow (a test checks it)."""
    alias = connection.alias
    licence = Licence.from_db(alias, LICENCE_COLUMNS, row[0:4])
    licence.holder = Holder.from_db(alias, HOLDER_COLUMNS, (row[1], *row[4:8]))
    if row[8] is None:
        Licence.projection.related.set_cached_value(licence, None)  # type: ignore[attr-defined]
    else:
        licence.projection = Projection.from_db(alias, PROJECTION_COLUMNS, row[8:15])
    cats = row[15]
    if isinstance(cats, str):
        cats = json.loads(cats)
    categories = tuple(
        CategoryFacts(
            code,
            dt.date.fromisoformat(obtained),
            dt.date.fromisoformat(expires) if expires else None,
            restr or "",
        )
        for code, obtained, expires, restr in cats or ()
    )
    return licence_facts(licence, on, categories)


def read_facts(number: str, on: dt.date) -> LicenceFacts | None:
    """``licence_facts(find_licence(number), on)``, or None when no licence has that number: one statement on
    PostgreSQL, the ORM's two or three elsewhere."""
    if connection.vendor != "postgresql":
        licence = find_licence(number)
        return None if licence is None else licence_facts(licence, on)
    number = normalised_number(number)
    if number is None:
        return None
    with prepared_cursor() as cursor:
        cursor.execute(FACTS_BY_NUMBER, [number])
        row = cursor.fetchone()
    return None if row is None else facts_from_row(row, on)


def check_qr(text: str, on: dt.date | None = None):
    """``permis.notices.signing.verify`` plus the digital licence's minute of expiry: its QR is valid a few
    minutes (``exp``, signed), while ``verify`` compares only the day (``valid_until``)."""
    from django.utils import timezone

    from permis.notices.signing import Outcome, Verdict, verify

    verdict = verify(text, on=on)
    payload = verdict.payload or {}
    if verdict.outcome is Outcome.VALID and payload.get("use") == "digital_licence" and payload.get("exp"):
        try:
            expires = dt.datetime.fromisoformat(str(payload["exp"]))
        except ValueError:
            expires = None
        if expires is None or expires.tzinfo is None or expires <= timezone.now():
            return Verdict(
                Outcome.EXPIRED,
                _(
                    "Ce permis numérique était authentique mais son code QR a expiré : demandez au titulaire "
                    "d’afficher un code à jour."
                ),
                verdict.payload,
                verdict.key_id,
                registry_checked=verdict.registry_checked,
                detail=f"digital licence expired at {payload.get('exp')}",
                facts=verdict.facts,
            )
    return verdict


def document_kind(payload: dict | None) -> str | None:
    """attestation, digital_licence, letter or rii (None when the QR text could not be read)."""
    if not payload:
        return None
    if payload.get("use") == "digital_licence":
        return "digital_licence"
    return str(payload.get("doc") or "") or None
