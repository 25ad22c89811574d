"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), with the standard library.

Any authenticator application reads the ``otpauth://`` URI, shown as a QR code (segno). A code is accepted for
the current step and one step either side (clocks drift), and never twice (``totp_last_step``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

from permis.digits import ascii_digits

STEP = 30
DIGITS = 6
ISSUER = "permis"


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def code_at(secret: str, step: int) -> str:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**DIGITS:0{DIGITS}d}"


def now_step(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // STEP)


def matching_step(secret: str, code: str, last_step: int = 0, at: float | None = None) -> int | None:
    """The step the code belongs to (current ±1, later than ``last_step``), or None."""
    code = "".join(code.split())
    if not (ascii_digits(code) and len(code) == DIGITS):  # "²" passes isdigit, compare_digest refuses it
        return None
    current = now_step(at)
    for step in (current, current - 1, current + 1):
        if step > last_step and hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def provisioning_uri(secret: str, account: str) -> str:
    label = quote(f"{ISSUER}:{account}")
    return f"otpauth://totp/{label}?" + urlencode(
        {"secret": secret, "issuer": ISSUER, "algorithm": "SHA1", "digits": DIGITS, "period": STEP}
    )
