"""The documents the service issues, as signed and tagged PDFs (docs/documents.md).

- ``render_letter(notice)``: the letter a Notice makes due (48, 48M, 48N, 48SI, 46, 47), RULES.md §6;
- ``render_attestation(licence, on)``: the attestation of driving rights (no points: L223-7), valid 4 months;
- ``render_rii(licence, on)``: the relevé d'information intégral (the holder's full record, L225-3).

Each is written in French whatever the language of the page that asks for it (its facts included: an offence's
class, a place), and returns the complete PDF bytes, signed (``permis.notices.signing``), with a QR code that ``/verifier/`` and
``permis verify-document`` check.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.utils import translation

if TYPE_CHECKING:
    from permis.registry.models import Licence, Notice

__all__ = ["render_attestation", "render_letter", "render_rii"]


def render_letter(notice: Notice, *, language: str = "fr", registered: bool | None = None) -> bytes:
    """The signed PDF of a letter. Letters are administrative acts written in French (loi n° 94-665); the
    ``language`` argument is accepted for the callers' sake and only "fr" is produced. ``registered``: whether it
    is printed as a registered letter; by default, as its deliveries (or the holder's choice) make it
    (``permis.notices.services.goes_registered``)."""
    from .builders import letter

    with translation.override("fr"):  # its facts too (a class, a place), whatever the page's language
        return letter(notice, registered=registered)


def render_attestation(licence: Licence, on: dt.date) -> bytes:
    from .builders import attestation

    with translation.override("fr"):
        return attestation(licence, on)


def render_rii(licence: Licence, on: dt.date) -> bytes:
    from .builders import rii

    with translation.override("fr"):
        return rii(licence, on)
