"""A second-factor code of superscript or other non-ASCII digits is a wrong code, not a crash."""

from __future__ import annotations

import pytest

from permis.accounts import totp


@pytest.mark.parametrize("code", ["²²²²²²", "٣٣٣٣٣٣", "12345²", "１２３４５６"])
def test_a_code_of_non_ascii_digits_matches_no_step(code: str) -> None:
    assert totp.matching_step(totp.new_secret(), code) is None
