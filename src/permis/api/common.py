"""What the partner routers share: the error schema, the request id, and the fast read of a licence's state.

The police and third-party checks must answer in a few milliseconds (docs/performance.md): ``licence_facts``
reads the licence, its holder and its projection in one query and the categories in a second; the engine runs
only when the projection does not hold today (the daily run has not passed since its ``next_change_on``) or to
date a suspension. What a reader may see is decided by the caller: ``LicenceFacts`` carries the balance, and
only the police-balance door (L225-4) and the holder's own door copy it into an answer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Schema

from permis.registry.models import Category, Licence, Projection


class ErrorOut(Schema):
    error: str


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


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


def find_licence(number: str) -> Licence | None:
    """The licence by its number (spaces ignored), with its holder and projection: one query."""
    number = "".join(number.split()).upper()
    if not number or len(number) > 19:
        return None
    return Licence.objects.select_related("holder", "projection").filter(number=number).first()


def _fresh(projection: Projection | None, on: dt.date) -> bool:
    return (
        projection is not None
        and projection.as_of <= on
        and (projection.next_change_on is None or projection.next_change_on > on)
    )


def licence_facts(licence: Licence, on: dt.date) -> LicenceFacts:
    """The licence's state on `on`: from the projection when it holds that day, else from the engine."""
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
    categories = tuple(
        CategoryFacts(code, obtained, expires, restrictions or "")
        for code, obtained, expires, restrictions in Category.objects.filter(licence=licence)
        .order_by("obtained_on", "code")
        .values_list("code", "obtained_on", "expires_on", "restrictions")
    )
    return LicenceFacts(licence, on, status, suspended, suspension, balance, cap, categories)


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
