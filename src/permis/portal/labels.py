"""French labels (with their English translation) for the codes the rules engine returns, and the rules engine's
own texts in the page's language."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from permis.rules import bareme
from permis.rules.citations import citation
from permis.rules.model import Offence
from permis.rules.notes import note_text

KIND_LABELS: dict[str, Promise] = {
    "initial": _("Capital initial"),
    "withdrawal": _("Retrait de points"),
    "withdrawal_cancelled": _("Retrait annulé"),
    "one_point_restoration": _("Restitution d’un point (6 mois)"),
    "full_restoration": _("Reconstitution du capital"),
    "ten_year_restoration": _("Restitution au bout de 10 ans"),
    "probation_increment": _("Majoration du permis probatoire"),
    "probation_end": _("Fin de la période probatoire"),
    "course_credit": _("Stage de sensibilisation"),
    "invalidation": _("Invalidation (48SI)"),
    "annulment": _("Annulation judiciaire"),
    "new_licence": _("Nouveau permis"),
}

STATUS_LABELS: dict[str, Promise] = {
    "valid": _("Permis valide"),
    "zero_balance": _("Solde nul : le permis reste valide tant que la lettre 48SI n’a pas été reçue"),
    "invalidated": _("Permis invalidé pour solde nul"),
    "annulled": _("Permis annulé par un juge"),
}
# Not a status of the engine: a suspension of the right to drive, whatever the balance (the dashboard's first
# badge while it runs, as the digital licence says it).
SUSPENDED_LABEL = _("Permis suspendu")

LETTER_LABELS: dict[str, Promise] = {
    "48": _("Information sur un retrait de points"),
    # No form here: a 48M goes by registered post, or electronically when the holder chose it (notices.services).
    "48M": _("Retrait de points qui laisse 6 points ou moins : un stage est conseillé"),
    "48N": _("Stage obligatoire à suivre dans les 4 mois (permis probatoire, lettre recommandée)"),
    "48SI": _("Invalidation du permis pour solde nul : le permis doit être remis à la préfecture"),
    "46": _("Information sur une restitution de points"),
    "47": _("Points ajoutés après un stage de sensibilisation"),
}


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def letter_label(code: str) -> str:
    return str(LETTER_LABELS.get(code, ""))


# permis.rules is plain Python, without gettext: its texts (the barème's labels, the citations, the notes) are
# French, the reference, and come with an English version chosen by a `lang` argument.
def rules_language() -> str:
    """The language of permis.rules' texts on this page: "en" when English is active, "fr" otherwise."""
    return "en" if (get_language() or "").startswith("en") else "fr"


def basis_label(basis: str) -> str:
    """A movement's legal basis (a citation of permis.rules.citations, in French) in the page's language."""
    return citation(basis, rules_language())


def offence_label(offence: Offence) -> str | None:
    """The barème's label of an offence in the page's language; None when it was given by its points and class."""
    return bareme.offence_label(offence, rules_language())


def note_label(note: str) -> str:
    """A note of the engine (what it did not count, and why) in the page's language."""
    return note_text(note, rules_language())


# The values of an event as the registry stores them (ENGINE-IO.md, "Input"): its fields, flattened with a dot
# ("speeding.limit_kmh"), and the codes some of them hold. The back office shows them on the file page.
FIELD_LABELS: dict[str, Promise] = {
    "committed_on": _("Date de l’infraction"),
    "final_on": _("Date à laquelle l’infraction est devenue définitive"),
    "decided_on": _("Date de la décision de retrait"),
    "how": _("Devenue définitive par"),
    "points": _("Nombre de points retirés"),
    "class": _("Classe de l’infraction"),
    "speeding.limit_kmh": _("Vitesse maximale autorisée (km/h)"),
    "speeding.retained_kmh": _("Vitesse retenue (km/h)"),
    "natinf": _("Code NATINF"),
    "simultaneous_group": _("Groupe d’infractions simultanées"),
    "offence": _("Infraction annulée"),
    "first_day": _("Premier jour du stage"),
    "last_day": _("Dernier jour du stage"),
    "type": _("Type de stage"),
    "ban_until": _("Interdiction de solliciter un nouveau permis jusqu’au"),
    "from": _("Suspendu à partir du"),
    "to": _("Jusqu’au (inclus)"),
    "obtained_on": _("Date d’obtention du nouveau permis"),
    "route": _("Voie d’accès"),
    "recorded_on": _("Date d’enregistrement"),
    "on": _("Date"),
}

# "on" is the date of the event, whose meaning depends on its kind.
ON_LABELS: dict[str, Promise] = {
    "offence_cancelled": _("Date de l’annulation de l’infraction"),
    "invalidation_notified": _("Date de l’avis de réception"),
    "licence_surrendered": _("Date de remise du permis"),
    "annulment": _("Date à laquelle l’annulation est définitive"),
}

DATE_FIELDS = frozenset(
    {
        "committed_on",
        "final_on",
        "decided_on",
        "first_day",
        "last_day",
        "ban_until",
        "from",
        "to",
        "obtained_on",
    }
    | {"recorded_on", "on"}
)


def field_label(key: str, kind: str = "") -> str:
    """The French label of an event's field ("how" → "Devenue définitive par"); an unknown field as it is."""
    if key == "on" and kind in ON_LABELS:
        return str(ON_LABELS[kind])
    return str(FIELD_LABELS.get(key, key))


def field_value(key: str, value: object) -> str:
    """An event's value as a reader writes it: a date as 21/07/2025, a code by its label
    (how=fine_paid → "Paiement de l’amende forfaitaire"), "—" for none; anything else as it is."""
    # The tables of these codes are the documents' (letters, attestations): one wording for each code.
    from django.utils.text import capfirst

    from permis.notices.documents.facts import CLASS_LABELS, COURSE_LABELS, HOW_LABELS
    from permis.registry.models import Route

    if value is None or value == "":
        return "—"
    if key in DATE_FIELDS and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    codes: dict[str, Any] = {
        "how": HOW_LABELS,
        "class": CLASS_LABELS,
        "type": COURSE_LABELS,
        "route": dict(Route.choices),
    }
    if key in codes and isinstance(value, str) and value in codes[key]:
        return str(capfirst(codes[key][value]))
    return str(value)
