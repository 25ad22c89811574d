"""Numbers as people and partners type them: ASCII digits only.

``str.isdigit`` also takes "²" (which ``int()`` refuses, a crash) and "٣" (which ``int()`` reads as 3, a wrong
row): every door that reads an id, a code or a count from text asks these instead.
"""

from __future__ import annotations

import re

_ID = re.compile(r"[0-9]{1,18}")


def ascii_digits(text: str) -> bool:
    """Whether `text` is one or more of the digits 0-9 and nothing else."""
    return text.isascii() and text.isdigit()


def ascii_id(text: str) -> bool:
    """Whether `text` can be a row's id: 1 to 18 digits 0-9 (more is beyond the database's integers)."""
    return bool(_ID.fullmatch(text))
