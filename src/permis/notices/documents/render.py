"""HTML and CSS to a signed, tagged PDF (PDF/UA-1) with WeasyPrint.

The font configuration and the stylesheet are built once per process: they cost more than the layout of a
one-page letter. Every PDF is French (``lang="fr"``), has a title, real headings and tables with headers, so
WeasyPrint can tag it for screen readers; the signed QR text goes both into the QR code and into the PDF's
information dictionary, and ``signing.sign_pdf`` appends the signature of the file's exact bytes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path
from typing import Any

import segno
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .. import signing

HERE = Path(__file__).resolve().parent
STYLESHEET = HERE / "document.css"

# WeasyPrint logs seven INFO lines per document; the print queue writes thousands of documents a day.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _weasy() -> tuple[Any, Any]:
    """(font configuration, stylesheet), made once per process."""
    if "css" not in _cache:
        with _lock:
            if "css" not in _cache:
                from weasyprint import CSS
                from weasyprint.text.fonts import FontConfiguration

                fonts = FontConfiguration()
                _cache["fonts"] = fonts
                _cache["css"] = CSS(string=STYLESHEET.read_text(encoding="utf-8"), font_config=fonts)
    return _cache["fonts"], _cache["css"]


def qr_data_uri(text: str) -> str:
    """The QR code of a text as a PNG data URI, one pixel per module.

    The stylesheet scales it with ``image-rendering: pixelated`` (no interpolation in the PDF), so the modules
    print as sharp squares; an SVG looks the same but WeasyPrint takes about 70 ms to draw its path.
    """
    return segno.make(text, error="m", micro=False).png_data_uri(border=0, scale=1)


def verify_url() -> str:
    return f"{settings.PUBLIC_URL}/verifier/"


def render(template: str, context: dict[str, Any], *, title: str, payload: dict[str, Any]) -> bytes:
    """A signed PDF of a template; `payload` is signed into the QR code and the metadata."""
    from weasyprint import HTML

    qr_text = signing.sign_payload(payload)
    fonts, css = _weasy()
    with translation.override("fr"):
        html = render_to_string(
            template,
            {
                **context,
                "title": title,
                "qr_text": qr_text,
                "qr_uri": qr_data_uri(qr_text),
                "verify_url": verify_url(),
                "key_id": signing.keys().key_id,
                "official": settings.OFFICIAL_DEPLOYMENT,
                "service_name": settings.SERVICE_NAME,
                "generated_at": timezone.localtime(),
            },
        )
    pdf = HTML(string=html, base_url=str(HERE)).write_pdf(
        stylesheets=[css],
        font_config=fonts,
        pdf_variant="pdf/ua-1",
        custom_metadata=True,
    )
    return signing.sign_pdf(pdf)


def today() -> dt.date:
    return timezone.localdate()
