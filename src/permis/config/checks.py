"""The project's own system checks, beside Django's: `permis check --deploy` reports them.

They are registered by ``permis.notices`` (its ``AppConfig.ready``), the app whose documents print what they check.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

# The development default of PERMIS_PUBLIC_URL (permis.config.settings): what a deployment that forgot it has.
DEVELOPMENT_PUBLIC_URL = "http://127.0.0.1:8000"
_HINT = (
    "Set PERMIS_PUBLIC_URL to the service's public https address, e.g. https://permis.example.org "
    "(docs/operations.md)."
)


@register(Tags.security, deploy=True)
def check_public_url(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Outside debug mode, PERMIS_PUBLIC_URL must be the service's public https address.

    It is printed on every letter, attestation and RII, in the verification link and its QR code
    (permis.notices.documents.render), and in emails: a loopback default prints documents whose QR points
    nowhere once they leave the building, and nothing else would tell.
    """
    if settings.DEBUG:
        return []
    value = str(getattr(settings, "PUBLIC_URL", "") or "").strip()
    if not value or value.rstrip("/") == DEVELOPMENT_PUBLIC_URL:
        return [
            Error(
                "PERMIS_PUBLIC_URL is not set: documents and emails would carry verification links and QR "
                f"codes pointing to {DEVELOPMENT_PUBLIC_URL}.",
                hint=_HINT,
                id="permis.E001",
            )
        ]
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:  # an unbalanced [ or a port that is not a number
        parts, host = None, ""
    if parts is None or parts.scheme != "https" or not host:
        return [
            Error(
                f"PERMIS_PUBLIC_URL is {value!r}: the verification links printed on documents must be an "
                "absolute https address.",
                hint=_HINT,
                id="permis.E002",
            )
        ]
    if _is_loopback(host):
        return [
            Error(
                f"PERMIS_PUBLIC_URL is {value!r}: {host} is this machine's own address, which no reader of a "
                "document can reach.",
                hint=_HINT,
                id="permis.E003",
            )
        ]
    return []


def _is_loopback(host: str) -> bool:
    """localhost (and its subdomains, RFC 6761), 127.0.0.0/8, ::1 and the unspecified 0.0.0.0 and ::."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified
