"""French labels (with their English translation) for the codes the rules engine returns."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

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

LETTER_LABELS: dict[str, Promise] = {
    "48": _("Information sur un retrait de points"),
    "48M": _("Retrait de points qui laisse 6 points ou moins : un stage est conseillé (lettre recommandée)"),
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
