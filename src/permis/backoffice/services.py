"""What agents record, each through the registry's services with the agent's identity (ARCHITECTURE.md, rule 5).

The views only check who asks and what was typed; these functions call ``permis.registry.services.record_event``
(or ``permis.notices.receipts`` for a 48SI receipt) with ``source="agent"`` and ``recorded_by="agent:<login>"``.

Corrections take two agents: ``request_correction`` checks the corrected values against the engine without
writing anything to the file; ``review_correction`` by another agent either appends the ``correction`` event,
with both agents and the reason, or rejects the request with its reason.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from permis.notices.models import Channel, Delivery
from permis.notices.receipts import ReceiptError, record_postal_receipt
from permis.registry.models import Category, Event, EventKind, Licence, Source
from permis.registry.services import RegistryError, engine_document, record_event
from permis.registry.services.categories import set_category
from permis.registry.services.core import checked_history
from permis.rules import InputError

from .models import (
    AgentProfile,
    CategoryChange,
    CorrectionRequest,
    CorrectionStatus,
    HolderCorrectionRequest,
    IntegrityReport,
)


class BackofficeError(RegistryError):
    """A request refused; each problem starts with the field at fault ("on: ...", or "__all__: ...")."""


class CorrectionRefused(BackofficeError):
    """The correction workflow's own refusals (a second agent decides, a request already dealt with...), in
    French: the back office's rules, not the national file's."""


def recorder(profile: AgentProfile) -> str:
    return f"agent:{profile.user.get_username()}"


def _record(profile: AgentProfile, licence: Licence, kind: str, data: dict[str, Any], reason: str) -> Event:
    outcome = record_event(
        licence,
        kind,
        data,
        source=Source.AGENT,
        recorded_by=recorder(profile),
        reason=reason.strip(),
    )
    return outcome.event  # type: ignore[return-value]  # record_event always answers the event it wrote


def record_surrender(profile: AgentProfile, licence: Licence, on: dt.date, reason: str = "") -> Event:
    return _record(profile, licence, EventKind.LICENCE_SURRENDERED, {"on": on.isoformat()}, reason)


def record_suspension(
    profile: AgentProfile, licence: Licence, start: dt.date, end: dt.date, reason: str = ""
) -> Event:
    data = {"from": start.isoformat(), "to": end.isoformat()}
    return _record(profile, licence, EventKind.SUSPENSION, data, reason)


def record_annulment(
    profile: AgentProfile, licence: Licence, on: dt.date, ban_until: dt.date | None, reason: str = ""
) -> Event:
    data: dict[str, Any] = {"on": on.isoformat()}
    if ban_until is not None:
        data["ban_until"] = ban_until.isoformat()
    return _record(profile, licence, EventKind.ANNULMENT, data, reason)


def record_new_licence(
    profile: AgentProfile, licence: Licence, obtained_on: dt.date, route: str, reason: str = ""
) -> Event:
    data = {"obtained_on": obtained_on.isoformat(), "route": route}
    return _record(profile, licence, EventKind.NEW_LICENCE, data, reason)


def registered_48si(licence: Licence):
    """The registered 48SI letters of a licence, sent, with or without their receipt."""
    return (
        Delivery.objects.filter(notice__licence=licence, notice__code="48SI", channel=Channel.REGISTERED)
        .select_related("notice")
        .order_by("-pk")
    )


def record_48si_receipt(profile: AgentProfile, delivery: Delivery, kind: str, on: dt.date) -> Event | None:
    """The avis de réception of a 48SI: through ``notices.receipts``, which records the invalidation."""
    try:
        outcome = record_postal_receipt(delivery, kind=kind, on=on, source=recorder(profile))
    except ReceiptError as error:
        raise BackofficeError(error.problems) from None
    return outcome.event


@transaction.atomic
def record_category(
    profile: AgentProfile,
    licence: Licence,
    *,
    code: str,
    obtained_on: dt.date,
    expires_on: dt.date | None,
    restrictions: str = "",
) -> CategoryChange:
    """A category added or changed (dates, medical validity, restrictions) through the registry's service, with
    the agent and the values before kept in a ``CategoryChange``."""
    old = Category.objects.filter(licence=licence, code=code).first()
    category = set_category(
        licence, code=code, obtained_on=obtained_on, expires_on=expires_on, restrictions=restrictions
    )
    return CategoryChange.objects.create(
        licence=licence,
        code=code,
        before=_category_values(old) if old else None,
        after=_category_values(category),
        recorded_by=recorder(profile),
    )


def _category_values(category: Category) -> dict[str, Any]:
    return {
        "obtained_on": category.obtained_on.isoformat(),
        "expires_on": category.expires_on.isoformat() if category.expires_on else None,
        "restrictions": category.restrictions,
    }


# -- corrections --------------------------------------------------------------------------------------------------
def effective(event: Event) -> dict[str, Any] | None:
    """The event as the engine reads it today ({"kind", "data"}), its last approved correction applied; None
    when a correction made it void."""
    current: dict[str, Any] | None = {"kind": event.kind, "data": event.data}
    for correction in Event.objects.filter(
        licence_id=event.licence_id, kind=EventKind.CORRECTION, corrects=event
    ).order_by("seq"):
        current = correction.data.get("event")
    return copy.deepcopy(current)


def _problems_for(error: InputError, index: int) -> list[str]:
    prefix = f"events[{index}]."
    return [p.replace(prefix, "", 1) if p.startswith(prefix) else f"__all__: {p}" for p in error.problems]


def check_replacement(target: Event, replacement: Mapping[str, Any] | None) -> None:
    """Would the history still read with this correction? Raises BackofficeError naming the field if not."""
    licence = target.licence
    events = list(licence.events.order_by("seq"))
    candidate = Event(
        licence=licence,
        seq=len(events) + 1,
        kind=EventKind.CORRECTION,
        data={"replaces": target.seq, "event": replacement},
    )
    try:
        checked_history(licence, [*events, candidate], target.seq)  # the stored events before it: trusted
    except InputError as error:
        document = engine_document(licence, [*events, candidate])
        index = next((i for i, e in enumerate(document["events"]) if e["id"] == f"e{target.seq}"), -1)
        raise BackofficeError(_problems_for(error, index)) from None


@transaction.atomic
def request_correction(
    profile: AgentProfile,
    target: Event,
    replacement: Mapping[str, Any] | None,
    reason: str,
    *,
    holder_request: HolderCorrectionRequest | None = None,
) -> CorrectionRequest:
    """Agent 1 asks for a correction of `target`: the corrected event (None: the event is void) and why;
    `holder_request`: the holder's request it answers (``permis.backoffice.holder_requests``)."""
    if holder_request is not None:
        from . import holder_requests

        holder_request = HolderCorrectionRequest.objects.select_for_update().get(pk=holder_request.pk)
        holder_requests.check_can_start(holder_request, target.licence)
    problems = []
    if target.kind == EventKind.CORRECTION:
        problems.append(
            "__all__: " + _("Une correction ne se corrige pas : corrigez l’événement qu’elle a remplacé.")
        )
    if not reason.strip():
        problems.append(
            "reason: "
            + _("Dites pourquoi l’événement est corrigé (par exemple la demande du titulaire et sa preuve).")
        )
    if effective(target) is None:
        problems.append("__all__: " + _("L’événement e%(seq)s est déjà sans effet.") % {"seq": target.seq})
    if CorrectionRequest.objects.filter(target=target, status=CorrectionStatus.PENDING).exists():
        problems.append(
            "__all__: "
            + _("Une correction de l’événement e%(seq)s attend déjà sa validation.") % {"seq": target.seq}
        )
    if problems:
        raise CorrectionRefused(problems)
    if replacement is not None:
        replacement = {"kind": replacement["kind"], "data": dict(replacement["data"])}
        if replacement == effective(target):
            raise CorrectionRefused(
                [
                    "__all__: "
                    + _("Les valeurs corrigées sont identiques aux valeurs actuelles : rien à corriger.")
                ]
            )
    check_replacement(target, replacement)
    row = CorrectionRequest.objects.create(
        licence_id=target.licence_id,
        target=target,
        replacement=replacement,
        reason=reason.strip(),
        requested_by=profile.user,
        holder_request=holder_request,
    )
    if holder_request is not None:
        holder_requests.started(holder_request)
    return row


@transaction.atomic
def review_correction(
    profile: AgentProfile, request: CorrectionRequest | int, *, approve: bool, reason: str = ""
) -> CorrectionRequest:
    """Agent 2 decides: approved, the ``correction`` event is appended (append-only, hash-chained); rejected,
    the file is unchanged and the request keeps why. The agent who asked cannot decide."""
    pk = request.pk if isinstance(request, CorrectionRequest) else request
    row = CorrectionRequest.objects.select_for_update().select_related("target", "requested_by").get(pk=pk)
    # Locked too (not joined: FOR UPDATE cannot take the nullable side of an outer join on PostgreSQL).
    asked_by_holder = (
        HolderCorrectionRequest.objects.select_for_update().get(pk=row.holder_request_id)
        if row.holder_request_id is not None
        else None
    )
    problems = []
    if row.status != CorrectionStatus.PENDING:
        problems.append(
            "__all__: "
            + _("La demande de correction %(pk)s a déjà été traitée (%(status)s).")
            % {"pk": row.pk, "status": row.get_status_display()}
        )
    if row.requested_by_id == profile.user_id:
        problems.append(
            "__all__: " + _("Une correction est validée par un second agent, pas par celui qui l’a demandée.")
        )
    if not approve and not reason.strip():
        problems.append("review_reason: " + _("Dites pourquoi la correction est rejetée."))
    if problems:
        raise CorrectionRefused(problems)
    row.reviewed_by = profile.user
    row.reviewed_at = timezone.now()
    row.review_reason = reason.strip()
    if approve:
        asked = row.requested_by.get_username()
        origin = f"demande du titulaire {asked_by_holder.reference}, " if asked_by_holder else ""
        event = record_event(
            row.licence_id,
            EventKind.CORRECTION,
            {"event": row.replacement},
            source=Source.AGENT,
            recorded_by=recorder(profile),
            corrects=row.target,
            reason=f"{row.reason} ({origin}demandée par agent:{asked}, approuvée par {recorder(profile)}"
            + (f" : {row.review_reason})" if row.review_reason else ")"),
        ).event
        row.status, row.event = CorrectionStatus.APPROVED, event
    else:
        row.status = CorrectionStatus.REJECTED
    row.save()
    if asked_by_holder is not None:
        from . import holder_requests

        holder_requests.follow_review(asked_by_holder, profile, row.status)
    return row


# -- integrity reports --------------------------------------------------------------------------------------------
def record_integrity_run(
    *,
    started_at: dt.datetime,
    seconds: float,
    scope: str,
    licences: int,
    events: int,
    access_log_entries: int | None,
    discrepancies: int,
    details: list[str],
) -> IntegrityReport:
    """Keep one run of ``permis verify`` for the supervisors' dashboard (with the first 50 discrepancies)."""
    return IntegrityReport.objects.create(
        started_at=started_at,
        seconds=round(seconds, 3),
        scope=scope[:200],
        licences=licences,
        events=events,
        access_log_entries=access_log_entries,
        discrepancies=discrepancies,
        details=[str(item)[:500] for item in details[:50]],
    )
