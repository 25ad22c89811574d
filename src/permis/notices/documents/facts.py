"""What the documents say, read from the registry: a licence's state on a date, a letter's facts, the payloads.

The registry is read, never written: the engine answers from the licence's history exactly as
``permis.registry.services.core`` builds it (``engine_document``), so a document always agrees with the
balance and the letters the registry derived.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from permis.registry.communes import place_label
from permis.registry.models import Category, FeedRecord, Licence, Movement, Notice
from permis.registry.services.core import engine_document
from permis.rules import Timeline, parse_history
from permis.rules.model import Course, Evaluation, History, Offence

from ..signing import state_fingerprint

ATTESTATION_MONTHS = 4

# The state a third party may read (L225-5: existence, categories, validity), on the attestation and /verifier/:
# never why a licence was invalidated, which would tell its points (L223-7).
PUBLIC_STATUS_LABELS = {
    "valid": _("Valide"),
    "suspended": _("Suspendu"),
    "invalidated": _("Invalidé"),
    "annulled": _("Annulé par décision de justice"),
}
# The state as the holder's own record (the RII, L225-3) says it, with its points.
STATUS_LABELS = {
    **PUBLIC_STATUS_LABELS,
    "zero_balance": _("Valide (solde de points nul : la lettre 48SI n’a pas encore été reçue)"),
    "invalidated": _("Invalidé (solde de points nul)"),
}
CLASS_LABELS = {
    "C1": _("contravention de 1re classe"),
    "C2": _("contravention de 2e classe"),
    "C3": _("contravention de 3e classe"),
    "C4": _("contravention de 4e classe"),
    "C5": _("contravention de 5e classe"),
    "D": _("délit"),
}
HOW_LABELS = {
    "fine_paid": _("paiement de l’amende forfaitaire"),
    "majoree_title": _("émission du titre exécutoire de l’amende forfaitaire majorée"),
    "composition_penale": _("exécution d’une composition pénale"),
    "conviction": _("condamnation devenue définitive"),
}
COURSE_LABELS = {
    "voluntary": _("stage volontaire"),
    "mandatory": _("stage obligatoire (lettre 48N)"),
    "judicial": _("stage imposé par l’autorité judiciaire"),
}
DOC_LABELS = {
    "letter": _("Lettre d’information"),
    "attestation": _("Attestation des droits à conduire"),
    "rii": _("Relevé d’information intégral"),
}


def day(value: dt.date | str | None) -> str:
    """A date as a French reader writes it (23 novembre 2026)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    text = date_format(value, "j F Y")
    french_first = value.day == 1 and text.startswith("1 ") and get_language() in (None, "fr")
    return "1er" + text[1:] if french_first else text


def add_months(start: dt.date, months: int) -> dt.date:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(start.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


# -- a licence's state -----------------------------------------------------------------------------------------
@dataclass
class State:
    """A licence as the engine sees it on a date, with its categories."""

    licence: Licence
    on: dt.date
    history: History
    evaluation: Evaluation
    raw_events: dict[str, dict[str, Any]]
    categories: list[dict[str, Any]] = field(default_factory=list)

    @property
    def public_status(self) -> str:
        """The state a third party may see (L225-5): a zero balance is still a valid licence."""
        status = self.evaluation.status
        if status in ("valid", "zero_balance"):
            return "suspended" if self.evaluation.suspended else "valid"
        return status

    @property
    def fingerprint(self) -> str:
        status = self.evaluation.status
        return state_fingerprint(
            "valid" if status == "zero_balance" else status, self.evaluation.suspended, self.categories
        )


def licence_state(licence: Licence, on: dt.date) -> State:
    events = list(licence.events.order_by("seq"))
    document = engine_document(licence, events)
    history = parse_history(document, trusted=len(document["events"]))  # stored: checked when written
    timeline = Timeline(history)
    evaluation = timeline.at(max(on, timeline.first_day))
    categories = [
        {
            "code": c.code,
            "obtained_on": c.obtained_on.isoformat(),
            "expires_on": c.expires_on.isoformat() if c.expires_on else "",
            "restrictions": c.restrictions,
        }
        for c in Category.objects.filter(licence=licence).order_by("obtained_on", "code")
    ]
    raw = {item["id"]: item for item in document["events"]}
    return State(licence, on, history, evaluation, raw, categories)


def holder_name(licence: Licence) -> str:
    holder = licence.holder
    name = holder.used_name or holder.birth_name
    born = ""
    if (
        holder.used_name
    ):  # the birth name after the used one (gettext outside the f-string: xgettext skips those)
        word = gettext("née") if holder.sex == "female" else gettext("né")
        born = f" ({word} {holder.birth_name})"
    return f"{holder.given_names} {name.upper()}{born}"


def address_lines(licence: Licence) -> list[str]:
    holder = licence.holder
    name = holder.used_name or holder.birth_name
    title = "Madame" if holder.sex == "female" else "Monsieur"
    lines = [f"{title} {holder.given_names} {name.upper()}"]
    lines += [part.strip() for part in holder.address.split("\n") if part.strip()]
    city = f"{holder.postal_code} {holder.city.upper()}".strip()
    if city:
        lines.append(city)
    return lines


# -- describing events -----------------------------------------------------------------------------------------
def offence_description(offence: Offence) -> str:
    if offence.label:
        return offence.label
    if offence.speeding:
        limit, retained = offence.speeding
        return gettext(
            "Excès de vitesse : %(retained)s km/h retenus pour une vitesse maximale de %(limit)s km/h"
        ) % {
            "retained": retained,
            "limit": limit,
        }
    return str(CLASS_LABELS.get(offence.offence_class, offence.offence_class)).capitalize()


def offence_places(licence: Licence, events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Engine id -> the place of each offence of `events` (the engine's items of the licence's history) that
    has one, as it came: from the event, or else from the feed's receipt of the record that brought it (the feed
    keeps ``place`` there, not in the event: docs/feed.md). One query for all the offences, none when every
    place is already known."""
    events = list(events)
    places = {item["id"]: str(item["place"]) for item in events if item.get("place")}
    missing = [
        int(item["id"][1:]) for item in events if item["kind"] == "offence" and item["id"] not in places
    ]
    if missing:
        rows = FeedRecord.objects.filter(
            event__licence=licence, event__seq__in=missing, outcome=FeedRecord.Outcome.ACCEPTED
        ).values_list("event__seq", "payload")
        for seq, payload in rows:
            if isinstance(payload, dict) and payload.get("place"):
                places[f"e{seq}"] = str(payload["place"])
    return places


def offence_facts(offence: Offence, raw: Mapping[str, Any], place: str = "") -> dict[str, Any]:
    """What a document says of an offence. `place`: where it was committed, as the feed sent it
    (``offence_places``), written for a reader ("Dijon (21231)", ``place_label``); "" when the feed gave none,
    which the documents print as "non communiqué"."""
    return {
        "id": offence.id,
        "description": offence_description(offence),
        "described": bool(offence.label or offence.speeding),
        "natinf": offence.natinf or raw.get("natinf") or "",
        "article": offence.article or "",
        "class": str(CLASS_LABELS.get(offence.offence_class, offence.offence_class)),
        "committed_on": offence.committed_on,
        "final_on": offence.final_on,
        "how": str(HOW_LABELS.get(offence.how or "", "")),
        "place": place_label(place),
        "points": offence.points,
        "recorded_on": offence.recorded_on,
    }


def event_description(event: Any, raw: Mapping[str, Any]) -> str:
    if isinstance(event, Offence):
        return offence_description(event)
    if isinstance(event, Course):
        return gettext(
            "Stage de sensibilisation à la sécurité routière (%(type)s) du %(first)s au %(last)s"
        ) % {
            "type": COURSE_LABELS.get(event.type, event.type),
            "first": day(event.first_day),
            "last": day(event.last_day),
        }
    kind = getattr(event, "kind", "")
    labels = {
        "offence_cancelled": gettext("Annulation du retrait lié à l’infraction %(offence)s"),
        "invalidation_notified": gettext("Lettre 48SI reçue ou présentée (invalidation)"),
        "licence_surrendered": gettext("Permis remis à la préfecture"),
        "annulment": gettext("Annulation judiciaire du permis"),
        "suspension": gettext("Suspension du droit de conduire"),
        "new_licence": gettext("Nouveau permis obtenu"),
    }
    text = labels.get(kind, kind)
    return text % {"offence": raw.get("offence", "")} if "%(" in text else text


# -- a letter ------------------------------------------------------------------------------------------------
WITHDRAWAL_CODES = {"48", "48M", "48N", "48SI"}


def letter_issued(notice: Notice) -> dt.date:
    """The day a letter is issued, printed as its date: the day the registry made it due (the Notice's row was
    written then, and stays: a letter printed again carries the same date). Its legal dates (the withdrawal's or
    restoration's day, the infraction's, the "date de valeur") are printed in their own lines. A letter is never
    dated before the decision it reports."""
    from django.utils import timezone

    made = timezone.localdate(notice.created_at) if notice.created_at else notice.due_on
    return max(made, notice.due_on)


def _movement_for(notice: Notice, movements: list[Movement]) -> Movement | None:
    """The movement a letter reports: the change of its cause on its date (a 46 of full restoration has none)."""
    same_day = [m for m in movements if m.on == notice.due_on]
    if notice.code in WITHDRAWAL_CODES:
        wanted = {"withdrawal"}
    elif notice.code == "47":
        wanted = {"course_credit"}
    else:
        wanted = {"one_point_restoration", "full_restoration", "ten_year_restoration", "probation_end"}
    matching = [m for m in same_day if m.kind in wanted and (m.cause or "") == (notice.cause or "")]
    if matching:
        return matching[-1]
    matching = [m for m in same_day if m.kind in wanted]
    return matching[-1] if matching else None


def letter_facts(notice: Notice) -> dict[str, Any]:
    """Everything a letter says, from the registry: the cause, the movement, the balance after it."""
    licence = notice.licence
    state = licence_state(licence, notice.due_on)
    movements = list(Movement.objects.filter(licence=licence).order_by("position"))
    movement = _movement_for(notice, movements)
    by_id = {event.id: event for event in state.history.events}
    cause = by_id.get(notice.cause) if notice.cause else None
    raw_cause = state.raw_events.get(notice.cause, {})
    # The places of the offences this letter names (its cause; a 48SI's withdrawals too), in one query.
    named = {notice.cause} if notice.code != "48SI" else set(state.raw_events)
    places = offence_places(licence, [item for item in state.raw_events.values() if item["id"] in named])
    before = [m for m in movements if m.on <= notice.due_on]
    if movement is not None:
        balance, change, kind, basis = movement.balance, movement.change, movement.kind, movement.basis
    else:
        balance = before[-1].balance if before else state.evaluation.balance
        change, kind, basis = 0, "", ""
    facts: dict[str, Any] = {
        "code": notice.code,
        "due_on": notice.due_on,
        "cause": notice.cause,
        "change": change,
        "points": abs(change),
        "balance": balance,
        "kind": kind,
        "basis": basis,
        "offence": offence_facts(cause, raw_cause, places.get(notice.cause, ""))
        if isinstance(cause, Offence)
        else None,
        "course": cause if isinstance(cause, Course) else None,
        "probationary": state.evaluation.probation is not None,
        "cap": movement.cap if movement is not None else state.evaluation.cap,
    }
    if notice.code == "48N":
        facts["course_deadline_months"] = 4
    if notice.code == "48SI":
        facts["withdrawals"] = [
            {
                "on": m.on,
                "points": -m.change,
                "balance": m.balance,
                "offence": offence_facts(
                    by_id[m.cause], state.raw_events.get(m.cause, {}), places.get(m.cause, "")
                )
                if isinstance(by_id.get(m.cause), Offence)
                else None,
            }
            for m in before
            if m.kind == "withdrawal"
        ]
        earlier = [m.on for m in movements if m.kind == "invalidation" and m.on < notice.due_on]
        facts["waiting_one_year"] = bool(earlier) and add_months(earlier[-1], 60) >= notice.due_on
    return facts


# -- payloads ------------------------------------------------------------------------------------------------
def identity(licence: Licence) -> dict[str, Any]:
    return {
        "licence": licence.number,
        "name": holder_name(licence),
        "born": licence.holder.birth_date.isoformat(),
    }


def letter_payload(notice: Notice, facts: Mapping[str, Any], issued: dt.date) -> dict[str, Any]:
    payload = {
        "doc": "letter",
        "ref": f"L{notice.pk}",
        "code": notice.code,
        "issued": issued.isoformat(),
        "due": notice.due_on.isoformat(),
        "cause": notice.cause,
        "change": facts["change"],
        "balance": facts["balance"],
        **identity(notice.licence),
    }
    offence = facts.get("offence")
    if offence:
        payload["committed"] = offence["committed_on"].isoformat()
        payload["final"] = offence["final_on"].isoformat()
    return payload


def attestation_payload(state: State, issued: dt.date) -> dict[str, Any]:
    return {
        "doc": "attestation",
        "issued": issued.isoformat(),
        "valid_until": add_months(issued, ATTESTATION_MONTHS).isoformat(),
        "status": state.public_status,
        "cats": [[c["code"], c["obtained_on"], c["expires_on"], c["restrictions"]] for c in state.categories],
        "st": state.fingerprint,
        **identity(state.licence),
    }


def rii_payload(state: State, issued: dt.date, entries: int) -> dict[str, Any]:
    return {
        "doc": "rii",
        "issued": issued.isoformat(),
        "status": state.evaluation.status,
        "balance": state.evaluation.balance,
        "entries": entries,
        "st": state.fingerprint,
        **identity(state.licence),
    }


def payload_facts(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The payload's facts as (label, value) lines for a person; never points for an attestation."""
    doc = payload.get("doc", "")
    lines: list[tuple[str, str]] = [(gettext("Document"), str(DOC_LABELS.get(doc, doc)))]
    if doc == "letter":
        lines.append((gettext("Lettre"), str(payload.get("code", ""))))
    lines += [
        (gettext("Titulaire"), str(payload.get("name", ""))),
        (gettext("Date de naissance"), _safe_day(payload.get("born"))),
        (gettext("Numéro de permis"), str(payload.get("licence", ""))),
        (gettext("Émis le"), _safe_day(payload.get("issued"))),
    ]
    if payload.get("valid_until"):
        lines.append((gettext("Valable jusqu’au"), _safe_day(payload.get("valid_until"))))
    if doc == "attestation":
        status = payload.get("status", "")
        lines.append((gettext("État du permis"), str(PUBLIC_STATUS_LABELS.get(status, status))))
        for code, obtained, expires, restrictions in payload.get("cats", []):
            text = gettext("obtenue le %(date)s") % {"date": _safe_day(obtained)}
            if expires:
                text += ", " + gettext("valable jusqu’au %(date)s") % {"date": _safe_day(expires)}
            if restrictions:
                text += ", " + gettext("mentions : %(codes)s") % {"codes": restrictions}
            lines.append((gettext("Catégorie %(code)s") % {"code": code}, text))
    elif doc == "letter":
        code = str(payload.get("code", ""))
        if code in WITHDRAWAL_CODES:
            due_label = gettext("Date du retrait de points")
        elif code == "47":
            due_label = gettext("Date de l’ajout de points")
        else:
            due_label = gettext("Date de la restitution de points")
        lines.append((due_label, _safe_day(payload.get("due"))))
        if payload.get("final"):
            lines.append((gettext("Infraction commise le"), _safe_day(payload.get("committed"))))
            lines.append((gettext("Date de valeur"), _safe_day(payload.get("final"))))
        change = payload.get("change", 0)
        if change:
            lines.append(
                (gettext("Points retirés") if change < 0 else gettext("Points restitués"), str(abs(change)))
            )
        lines.append((gettext("Nouveau solde"), str(payload.get("balance", ""))))
    elif doc == "rii":
        status = payload.get("status", "")
        lines.append((gettext("État du permis"), str(STATUS_LABELS.get(status, status))))
        lines.append((gettext("Solde de points"), str(payload.get("balance", ""))))
        lines.append((gettext("Lignes du relevé"), str(payload.get("entries", ""))))
    return lines


def _safe_day(value: Any) -> str:
    try:
        return day(value)
    except (TypeError, ValueError):
        return str(value)


def registry_check(payload: Mapping[str, Any], on: dt.date) -> tuple[bool, str]:
    """(checked, reason): whether the registry answered, and why the document no longer holds ("" if it does)."""
    try:
        licence = Licence.objects.select_related("holder").filter(number=payload.get("licence", "")).first()
        if licence is None:
            return True, gettext("ce numéro de permis n’est plus dans le fichier national")
        if payload.get("doc") == "letter":
            exists = Notice.objects.filter(
                licence=licence,
                code=payload.get("code"),
                cause=payload.get("cause", ""),
                due_on=payload.get("due"),
            ).exists()
            if not exists:
                return True, gettext("cette lettre n’est plus dans le dossier du permis")
            events = list(licence.events.order_by("seq"))
            cause = payload.get("cause")
            if cause and payload.get("code") in WITHDRAWAL_CODES:
                document = engine_document(licence, events)
                ids = {item["id"] for item in document["events"]}
                cancelled = any(
                    item["kind"] == "offence_cancelled" and item.get("offence") == cause
                    for item in document["events"]
                )
                if cause not in ids or cancelled:
                    return True, gettext("l’infraction a été annulée depuis")
            return True, ""
        if payload.get("doc") == "rii":
            return True, _rii_change(licence, payload, on)
        state = licence_state(licence, on)
        if state.fingerprint == payload.get("st"):
            return True, ""
        signed_status = payload.get("status")
        now = state.public_status
        if signed_status and signed_status != now:
            return True, gettext("état du permis : %(now)s") % {"now": PUBLIC_STATUS_LABELS.get(now, now)}
        return True, gettext("les catégories, leur validité ou une suspension ont changé")
    except DatabaseError:
        return False, ""


def _rii_change(licence: Licence, payload: Mapping[str, Any], on: dt.date) -> str:
    """Why an RII no longer describes the file on `on` ("" if it still does). An RII states the balance and every
    line of the record, so any change counts: the state, the categories, a suspension, the balance, a line added
    (an offence, a movement, a letter). The reason never gives the present balance: the page is public."""
    from .builders import rii_context

    _context, state, entries = rii_context(licence, on)
    signed_status = payload.get("status")
    status = state.evaluation.status
    if _validity(signed_status) != _validity(
        status
    ):  # valid, invalidated or annulled: what a third party sees
        now = state.public_status
        return gettext("état du permis : %(now)s") % {"now": PUBLIC_STATUS_LABELS.get(now, now)}
    unchanged = (
        state.fingerprint == payload.get("st")
        and signed_status == status
        and payload.get("balance") == state.evaluation.balance
        and payload.get("entries") == entries
    )
    if unchanged:
        return ""
    return gettext("le solde de points, l’état du permis ou les lignes du relevé ont changé")


def _validity(status: Any) -> Any:
    return "valid" if status == "zero_balance" else status
