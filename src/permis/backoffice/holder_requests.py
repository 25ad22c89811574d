"""A holder's request for a correction (PRODUCT.md, capability 8): asked in the personal space, answered in the
back office.

The holder points at an event of their history (or "autre") and says, in their own words, what is wrong. The
request changes nothing in the file. An agent of the file's département then either starts the two-agent
correction from it (``permis.backoffice.services.request_correction`` with ``holder_request=``: the request is
``in_progress``, and the second agent's decision answers it: approved, ``accepted``; rejected, back to
``pending`` for an agent to take up again) or refuses it with a reason written for the holder.

Nothing here is a file's row: the correction itself is written by the registry's services when approved
(ARCHITECTURE.md, rules 4 and 5).

The holder reads the answer on the requests' page of their space, and is told of it by e-mail once the decision is
committed (``notify_decision``: accepted, or refused with the agent's reason). That e-mail is not a letter the law
makes due, so it does not go through the holder channel (``permis.notices``, whose deliveries each belong to a
``Notice``): it is sent like the accounts' e-mails, with Django's ``send_mail``, and a failure is logged without
undoing the decision.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from permis.accounts.models import HolderLink
from permis.portal.dates import long_date
from permis.registry.models import Event, EventKind, Holder, Licence

from .models import AgentProfile, CorrectionStatus, HolderCorrectionRequest, HolderRequestStatus
from .services import CorrectionRefused, effective

OTHER = "autre"
MESSAGE_MAX = 1000
ANSWER_MAX = 1000
# Requests waiting for an answer that one holder may have at once: enough for any real file, and a bound on what
# one account can pile on the agents' list.
MAX_OPEN = 5
# The reference's letters: no 0/O, 1/I/L, which a holder reading it on the phone would confuse.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
OPEN = (HolderRequestStatus.PENDING, HolderRequestStatus.IN_PROGRESS)

logger = logging.getLogger(__name__)


class HolderRequestError(Exception):
    """A request refused: `field` is the form's field at fault ("" for the whole form), `message` in French."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def new_reference() -> str:
    return "DC-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


def _day(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _effective_events(licence: Licence) -> list[tuple[Event, dict[str, Any] | None]]:
    """Each event of the licence but the corrections, with its values as the engine reads them today (its last
    correction applied; None when made void), in one query."""
    events = list(licence.events.order_by("seq"))
    current: dict[int, dict[str, Any] | None] = {}
    for event in events:
        if event.kind == EventKind.CORRECTION:
            current[event.data["replaces"]] = event.data.get("event")
        else:
            current[event.seq] = {"kind": event.kind, "data": event.data}
    return [(event, current.get(event.seq)) for event in events if event.kind != EventKind.CORRECTION]


def event_label(event: Event, current: dict[str, Any] | None = None) -> str:
    """An event of the history as the holder reads it: what it is and its date (`current`: its values as
    corrected, read when not given)."""
    if current is None:
        current = effective(event) or {"kind": event.kind, "data": event.data}
    data = current.get("data") or {}
    kind = current.get("kind", event.kind)
    what = str(EventKind(kind).label) if kind in EventKind.values else kind
    day = next(
        (
            _day(data.get(key))
            for key in ("committed_on", "first_day", "on", "from", "obtained_on")
            if _day(data.get(key))
        ),
        None,
    )
    if kind == EventKind.OFFENCE and isinstance(data.get("points"), int):
        what = _("%(what)s (%(points)s points)") % {"what": what, "points": data["points"]}
    if day is None:
        return what
    return _("%(what)s du %(date)s") % {"what": what, "date": long_date(day)}


def choices(licence: Licence | None) -> list[tuple[str, str]]:
    """The form's choices: each event a holder may point at (not a correction, not already void), latest first,
    as "e<seq>" (the engine's id, which the history's links carry); then "autre"."""
    rows = []
    if licence is not None:
        rows = [
            (f"e{event.seq}", event_label(event, current))
            for event, current in reversed(_effective_events(licence))
            if current is not None
        ]
    return [*rows, (OTHER, _("Autre chose (un mouvement sans événement, les informations de mon permis…)"))]


def requests_of(holder: Holder):
    """The holder's requests, latest first, with the correction that answered them."""
    return HolderCorrectionRequest.objects.filter(holder=holder).prefetch_related("corrections__target")


@transaction.atomic
def submit(
    holder: Holder, licence: Licence, user: Any, concerned: str, message: str
) -> HolderCorrectionRequest:
    """The holder's request: `concerned` is a choice of ``choices(licence)``, `message` what is wrong."""
    message = message.strip()
    if not message:
        raise HolderRequestError("message", _("Décrivez ce qui est inexact."))
    if len(message) > MESSAGE_MAX:
        raise HolderRequestError(
            "message",
            _("Votre message dépasse %(max)s caractères : raccourcissez-le.") % {"max": MESSAGE_MAX},
        )
    # One holder's requests are taken one at a time (the count and the duplicate check hold under concurrency).
    Holder.objects.select_for_update().filter(pk=holder.pk).first()
    target = None
    subject = _("Autre")
    if concerned != OTHER:
        labels = dict(choices(licence))
        if concerned not in labels:
            raise HolderRequestError("concerned", _("Choisissez un élément de la liste, ou « Autre chose »."))
        target = licence.events.get(seq=int(concerned[1:]))
        subject = labels[concerned][:200]
        waiting = HolderCorrectionRequest.objects.filter(
            holder=holder, target=target, status__in=OPEN
        ).first()
        if waiting is not None:
            raise HolderRequestError(
                "concerned",
                _("Votre demande %(reference)s sur cet élément attend déjà sa réponse.")
                % {"reference": waiting.reference},
            )
    if HolderCorrectionRequest.objects.filter(holder=holder, status__in=OPEN).count() >= MAX_OPEN:
        raise HolderRequestError(
            "",
            _(
                "Vous avez déjà %(count)s demandes en attente de réponse : attendez leur réponse avant d’en "
                "envoyer une autre, ou complétez-les auprès de votre préfecture."
            )
            % {"count": MAX_OPEN},
        )
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return HolderCorrectionRequest.objects.create(
                    reference=new_reference(),
                    holder=holder,
                    licence=licence,
                    target=target,
                    subject=subject,
                    message=message,
                    requested_by=user,
                )
        except IntegrityError:  # the same reference drawn twice (31^8 of them): draw again
            continue
    raise RuntimeError("no free reference after 5 draws")


# -- the agents' side -----------------------------------------------------------------------------------------------
def check_can_start(holder_request: HolderCorrectionRequest, licence: Licence) -> None:
    """A correction may answer this request: a request of this licence, waiting for an agent."""
    if holder_request.licence_id != licence.pk:
        raise CorrectionRefused(["__all__: " + _("Cette demande du titulaire concerne un autre permis.")])
    if holder_request.status != HolderRequestStatus.PENDING:
        raise CorrectionRefused(
            [
                "__all__: "
                + _("La demande du titulaire %(reference)s n’attend plus d’agent (%(status)s).")
                % {"reference": holder_request.reference, "status": holder_request.get_status_display()}
            ]
        )


def started(holder_request: HolderCorrectionRequest) -> None:
    """A correction answering the request was asked for: it now waits for the second agent."""
    holder_request.status = HolderRequestStatus.IN_PROGRESS
    holder_request.save(update_fields=["status"])


def follow_review(holder_request: HolderCorrectionRequest, profile: AgentProfile, status: str) -> None:
    """The second agent decided the correction that answers the request: approved, the request is accepted;
    rejected, it waits again for an agent (who starts another correction or refuses it with a reason)."""
    if status == CorrectionStatus.APPROVED:
        holder_request.status = HolderRequestStatus.ACCEPTED
        holder_request.decided_by = profile.user
        holder_request.decided_at = timezone.now()
        transaction.on_commit(functools.partial(notify_decision, holder_request.pk))
    else:
        holder_request.status = HolderRequestStatus.PENDING
    holder_request.save(update_fields=["status", "decided_by", "decided_at"])


@transaction.atomic
def refuse(
    profile: AgentProfile, holder_request: HolderCorrectionRequest | int, answer: str
) -> HolderCorrectionRequest:
    """An agent refuses the request, with the reason the holder will read."""
    pk = holder_request.pk if isinstance(holder_request, HolderCorrectionRequest) else holder_request
    row = HolderCorrectionRequest.objects.select_for_update().get(pk=pk)
    problems = []
    if row.status != HolderRequestStatus.PENDING:
        problems.append(
            "__all__: "
            + _("La demande %(reference)s n’attend plus de réponse (%(status)s).")
            % {"reference": row.reference, "status": row.get_status_display()}
        )
    answer = answer.strip()
    if not answer:
        problems.append("answer: " + _("Indiquez au titulaire pourquoi sa demande est refusée."))
    elif len(answer) > ANSWER_MAX:
        problems.append("answer: " + _("La réponse dépasse %(max)s caractères.") % {"max": ANSWER_MAX})
    if problems:
        raise CorrectionRefused(problems)
    row.status = HolderRequestStatus.REFUSED
    row.answer = answer
    row.decided_by = profile.user
    row.decided_at = timezone.now()
    row.save()
    transaction.on_commit(functools.partial(notify_decision, row.pk))
    return row


# -- telling the holder ---------------------------------------------------------------------------------------------
def recipient(row: HolderCorrectionRequest) -> str:
    """Where the answer is mailed: the address of the account that sent the request while it is still linked to
    the file (FranceConnect's, or the local account's verified one); otherwise the address the préfecture
    recorded in the file; "" when there is neither. An account no longer linked is not told of the file."""
    account = row.requested_by
    if account.email and HolderLink.objects.filter(user=account, holder_id=row.holder_id).exists():
        return account.email
    return row.holder.email or ""


def notify_decision(pk: int) -> None:
    """Run once the decision is committed (``transaction.on_commit``): an e-mail telling the holder that request
    `pk` was accepted, or refused with the agent's reason, and where to read it in their space.

    In French whatever the deciding agent's language. It says the request's reference, its dates and the reason
    the agent wrote for the holder: nothing of the file the holder does not already know, not the element
    concerned (an offence, its points). Any failure (no server, an address refused) is logged: the decision is
    committed and stays; the holder reads it in their space anyway."""
    try:
        row = HolderCorrectionRequest.objects.select_related("holder", "requested_by").get(pk=pk)
        address = recipient(row)
        if not address:
            logger.info("holder request %s: no e-mail address for the holder, the answer is not mailed", pk)
            return
        with translation.override("fr"):
            context = {
                "accepted": row.status == HolderRequestStatus.ACCEPTED,
                "reference": row.reference,
                "requested_on": long_date(timezone.localdate(row.requested_at)),
                "decided_on": long_date(timezone.localdate(row.decided_at)),
                "answer": row.answer,
                "url": settings.PUBLIC_URL + reverse("demarches:correction", args=[row.pk]),
                "public_url": settings.PUBLIC_URL,
            }
            subject = _("Réponse à votre demande de correction %(reference)s") % {"reference": row.reference}
            body = render_to_string("backoffice/email/holder_request_decided.txt", context).strip() + "\n"
        send_mail(subject, body, None, [address])
    except Exception:  # the decision is committed: a mail server down must not turn it into an error page
        logger.exception(
            "the e-mail telling the holder of the answer to holder request %s could not be sent", pk
        )
