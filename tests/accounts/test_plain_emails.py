"""The accounts' e-mails are plain text: what they quote (an account's label, a login, a link) is sent as is,
never HTML-escaped (a name such as N'Diaye must not arrive as N&#x27;Diaye)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template.loader import render_to_string

QUOTED = "Compte FranceConnect de Aïssata N'Diaye & <fils>"


@pytest.mark.parametrize(
    ("template", "context"),
    [
        (
            "accounts/email/linked.txt",
            {"account": QUOTED, "at": dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC), "access_log": ""},
        ),
        ("accounts/email/exists.txt", {"login": QUOTED, "reset": "https://example.fr/?a=1&b=2"}),
        ("accounts/email/verify.txt", {"link": "https://example.fr/compte/verifier/?a=1&b='2'"}),
        (
            "accounts/email/password_reset.txt",
            {"protocol": "https", "domain": "d'exemple.fr", "uid": "MQ", "token": "x"},
        ),
    ],
)
def test_what_an_email_quotes_is_sent_as_is(template: str, context: dict) -> None:
    body = render_to_string(template, context)
    assert "&#x27;" not in body and "&amp;" not in body and "&lt;" not in body
    quoted = next(v for v in context.values() if isinstance(v, str) and ("'" in v or "&" in v))
    assert quoted in body
