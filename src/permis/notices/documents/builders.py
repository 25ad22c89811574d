"""The three kinds of document: what each one gathers from the registry before it is laid out and signed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from permis.registry.models import Licence, Movement, Notice
from permis.rules.model import Course, Offence

from . import facts as f
from .render import render

LETTER_TITLES = {
    "48": "Lettre 48 : information sur un retrait de points",
    "48M": "Lettre 48M : retrait de points, votre solde est de 6 points ou moins",
    "48N": "Lettre 48N : stage de sensibilisation obligatoire (permis probatoire)",
    "48SI": "Lettre 48SI : invalidation de votre permis de conduire pour solde de points nul",
    "46": "Lettre 46 : restitution de points",
    "47": "Lettre 47 : points ajoutés après un stage de sensibilisation",
}
KIND_TEXT = {
    "one_point_restoration": "restitution d’un point six mois après la date de valeur de l’infraction "
    "(article L223-6, alinéa 3, du code de la route)",
    "full_restoration": "reconstitution de votre capital de points, faute de nouvelle infraction pendant le "
    "délai légal (article L223-6, alinéas 1 et 2)",
    "ten_year_restoration": "restitution des points retirés pour une contravention des quatre premières "
    "classes, dix ans après sa date de valeur (article L223-6, dernier alinéa)",
    "probation_end": "fin de la période probatoire de votre permis (article R223-1)",
}


def letter(notice: Notice, *, registered: bool | None = None) -> bytes:
    notice = Notice.objects.select_related("licence__holder").get(pk=notice.pk)
    if registered is None:
        from permis.notices.services import goes_registered

        registered = goes_registered(notice)
    licence = notice.licence
    data = f.letter_facts(notice)
    issued = f.letter_issued(notice)  # the letter's date; its legal date (due_on) is in its body
    payload = f.letter_payload(notice, data, issued)
    context: dict[str, Any] = {
        "doc": "letter",
        "notice": notice,
        "licence": licence,
        "holder": licence.holder,
        "name": f.holder_name(licence),
        "address": f.address_lines(licence),
        "code": notice.code,
        "facts": data,
        "kind_text": KIND_TEXT.get(data["kind"], ""),
        "issued": f.day(issued),
        "later": issued > notice.due_on,  # issued after its legal date: the balance printed is that day's
        "reference": payload["ref"],
        # The 48N and 48SI always; a 48M sent by post (permis.notices.services.POSTAL_REGISTERED_CODES).
        "registered": registered,
        "heading": LETTER_TITLES.get(notice.code, "Lettre " + notice.code),
    }
    if notice.code == "48N":
        context["fine"] = "135"
    return render(
        "notices/documents/letter.html",
        context,
        title=f"{LETTER_TITLES.get(notice.code, 'Lettre ' + notice.code)} ({licence.number})",
        payload=payload,
    )


def attestation(licence: Licence, on: dt.date) -> bytes:
    licence = Licence.objects.select_related("holder").get(pk=licence.pk)
    state = f.licence_state(licence, on)
    payload = f.attestation_payload(state, on)
    context = {
        "doc": "attestation",
        "licence": licence,
        "holder": licence.holder,
        "name": f.holder_name(licence),
        "state": state,
        "status_label": f.PUBLIC_STATUS_LABELS.get(state.public_status, state.public_status),
        "categories": [
            {**c, "obtained": f.day(c["obtained_on"]), "expires": f.day(c["expires_on"])}
            for c in state.categories
        ],
        "issued": f.day(on),
        "valid_until": f.day(payload["valid_until"]),
        "reference": f"A{licence.number}-{on:%Y%m%d}",
    }
    return render(
        "notices/documents/attestation.html",
        context,
        title=f"Attestation des droits à conduire ({licence.number})",
        payload=payload,
    )


def rii_context(licence: Licence, on: dt.date) -> tuple[dict[str, Any], f.State, int]:
    state = f.licence_state(licence, on)
    places = f.offence_places(licence, state.raw_events.values())  # one query for every offence
    offences, courses, measures = [], [], []
    for event in state.history.events:
        raw = state.raw_events.get(event.id, {})
        if isinstance(event, Offence):
            offences.append(f.offence_facts(event, raw, places.get(event.id, "")))
        elif isinstance(event, Course):
            courses.append(
                {
                    "first_day": event.first_day,
                    "last_day": event.last_day,
                    "type": f.COURSE_LABELS.get(event.type, event.type),
                }
            )
        else:
            when = (
                getattr(event, "on", None)
                or getattr(event, "start", None)
                or getattr(event, "obtained_on", None)
            )
            measures.append({"on": when, "text": f.event_description(event, raw)})
    offences.sort(key=lambda o: (o["committed_on"], o["id"]))
    courses.sort(key=lambda c: c["first_day"])
    measures.sort(key=lambda m: m["on"] or dt.date.min)
    movements = [m for m in Movement.objects.filter(licence=licence).order_by("position") if m.on <= on]
    by_id = {o["id"]: o for o in offences}
    movement_rows = [
        {
            "on": m.on,
            "kind": _kind_label(m.kind),
            "change": m.change,
            "balance": m.balance,
            "cap": m.cap,
            "cause": by_id[m.cause]["description"] if m.cause in by_id else "",
            "basis": m.basis,
        }
        for m in movements
    ]
    notices = list(Notice.objects.filter(licence=licence, due_on__lte=on).order_by("due_on", "pk"))
    letters = [{"code": n.code, "on": n.due_on, "label": _letter_label(n.code)} for n in notices]
    entries = len(offences) + len(courses) + len(measures) + len(movement_rows) + len(letters)
    evaluation = state.evaluation
    context = {
        "doc": "rii",
        "licence": licence,
        "holder": licence.holder,
        "name": f.holder_name(licence),
        "address": f.address_lines(licence),
        "state": state,
        "status_label": f.STATUS_LABELS.get(evaluation.status, evaluation.status),
        "suspended": evaluation.suspended,
        "balance": evaluation.balance,
        "cap": evaluation.cap,
        "probation": evaluation.probation,
        "categories": [
            {**c, "obtained": f.day(c["obtained_on"]), "expires": f.day(c["expires_on"])}
            for c in state.categories
        ],
        "offences": offences,
        "courses": courses,
        "measures": measures,
        "movements": movement_rows,
        "letters": letters,
        "issued": f.day(on),
        "reference": f"R{licence.number}-{on:%Y%m%d}",
        "generated": timezone.localtime(),
    }
    return context, state, entries


def rii(licence: Licence, on: dt.date) -> bytes:
    licence = Licence.objects.select_related("holder").get(pk=licence.pk)
    context, state, entries = rii_context(licence, on)
    return render(
        "notices/documents/rii.html",
        context,
        title=f"Relevé d’information intégral ({licence.number})",
        payload=f.rii_payload(state, on, entries),
    )


def _kind_label(kind: str) -> str:
    from permis.portal.labels import kind_label

    return kind_label(kind)


def _letter_label(code: str) -> str:
    from permis.portal.labels import letter_label

    return letter_label(code)
