"""The reference of a message or letter: our own identifier of one delivery, handed to providers.

It names files (the SMS file backend, the print queue's ``<reference>.pdf``) and is the idempotency key sent to
the SMS provider, so it is restricted to characters that are safe everywhere: letters, digits, dot, dash and
underscore, starting with a letter or digit (so never ``.``, ``..`` or a hidden file), at most 100 characters.
"""

from __future__ import annotations

import re

REFERENCE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_reference(reference: str) -> str:
    """Return ``reference`` unchanged when it is safe as a file name and an idempotency key; ValueError otherwise."""
    if not isinstance(reference, str):
        raise TypeError(f"reference: expected a string, got {type(reference).__name__}")
    if not REFERENCE_PATTERN.fullmatch(reference):
        raise ValueError(
            f"reference {reference!r}: must be 1 to 100 characters among letters, digits, '.', '-' and '_', "
            "starting with a letter or digit (it names a file and is sent as an idempotency key, so no path "
            "separator, space or other character)"
        )
    return reference
