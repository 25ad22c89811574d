"""A fresh CSRF token for a page served from the cache, at a fraction of the cost of Django's ``get_token``.

A holder's page kept whole (``permis.portal.dossier.views._render_kept``) renders nothing but this token, so its
cost shows: Django masks the secret with a 32-character string drawn one character at a time from the operating
system's random source (32 ``os.urandom`` calls) and finds each character's position with ``str.index``. This
does the same masking (BREACH protection: a new random mask for each answer, the same secret underneath) with
one draw of random bytes, kept only below the largest multiple of 62 so that every character is equally likely,
and a table of positions. The token is Django's format; Django's middleware checks it
(tests/portal/test_csrf_token.py unmasks thousands with Django's own code and posts one).

When the request has no valid CSRF cookie yet, Django's ``get_token`` makes the secret and its cookie.
"""

from __future__ import annotations

import os

from django.http import HttpRequest
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, get_token

_POSITION = {char: index for index, char in enumerate(CSRF_ALLOWED_CHARS)}
_N = len(CSRF_ALLOWED_CHARS)  # 62
_BELOW = 256 - 256 % _N  # 248: a byte at or above it is dropped, so that byte % 62 is uniform


def _mask() -> str:
    chars: list[str] = []
    while len(chars) < CSRF_SECRET_LENGTH:
        chars.extend(
            CSRF_ALLOWED_CHARS[byte % _N] for byte in os.urandom(CSRF_SECRET_LENGTH + 8) if byte < _BELOW
        )
    return "".join(chars[:CSRF_SECRET_LENGTH])


def fresh_token(request: HttpRequest) -> str:
    """What ``django.middleware.csrf.get_token(request)`` returns: the request's CSRF secret under a new mask,
    the cookie marked to be sent again (as Django does)."""
    secret = request.META.get("CSRF_COOKIE")
    if not secret or len(secret) != CSRF_SECRET_LENGTH:
        return get_token(request)
    request.META["CSRF_COOKIE_NEEDS_UPDATE"] = True
    mask = _mask()
    position = _POSITION
    cipher = "".join(
        CSRF_ALLOWED_CHARS[(position[s] + position[m]) % _N] for s, m in zip(secret, mask, strict=True)
    )
    return mask + cipher
