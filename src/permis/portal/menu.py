"""The side menu of the holder's space: one list for every page of the space, whoever builds them.

A name that does not reverse (a page not written yet, or an app not installed) is skipped, so the menu never
breaks a page; the pages appear as soon as their URLs exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.urls import NoReverseMatch, get_urlconf, reverse
from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

MENU: list[tuple[str, Promise]] = [
    ("dossier:dashboard", _("Mon solde de points")),
    ("dossier:history", _("Historique")),
    ("dossier:forecast", _("Prévisions")),
    ("dossier:simulator", _("Simuler une infraction ou un stage")),
    ("demarches:notices", _("Mes courriers")),
    ("demarches:preferences", _("Mes notifications")),
    ("demarches:documents", _("Mes documents")),
    ("demarches:courses", _("Stages de récupération de points")),
    ("dossier:digital_licence", _("Mon permis numérique")),
    ("demarches:share", _("Partager mon droit à conduire")),
    ("demarches:access_log", _("Consultations de mon dossier")),
    ("demarches:corrections", _("Demander une correction")),
]


@dataclass(frozen=True)
class Entry:
    name: str
    label: str
    url: str


@lru_cache(maxsize=8)
def _entries(language: str, urlconf: str) -> tuple[Entry, ...]:
    entries = []
    for name, label in MENU:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        entries.append(Entry(name, str(label), url))
    return tuple(entries)


def entries() -> tuple[Entry, ...]:
    """The menu's entries whose page exists, in the current language (computed once per language)."""
    return _entries(get_language() or "fr", str(get_urlconf() or settings.ROOT_URLCONF))
