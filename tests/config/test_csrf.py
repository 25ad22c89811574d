"""permis.config.csrf.fresh_token: Django's CSRF token, masked faster, still read by Django's middleware."""

from __future__ import annotations

from collections import Counter

from django.middleware.csrf import (
    CSRF_ALLOWED_CHARS,
    CSRF_SECRET_LENGTH,
    _get_new_csrf_string,
    _unmask_cipher_token,
)
from django.test import RequestFactory

from permis.config.csrf import fresh_token


def _request(secret: str | None):
    request = RequestFactory().get("/")
    if secret is not None:
        request.META["CSRF_COOKIE"] = secret
    return request


def test_every_token_unmasks_to_the_secret_with_djangos_own_code() -> None:
    secret = _get_new_csrf_string()
    request = _request(secret)
    tokens = [fresh_token(request) for _ in range(2000)]
    assert all(len(token) == 2 * CSRF_SECRET_LENGTH for token in tokens)
    assert all(set(token) <= set(CSRF_ALLOWED_CHARS) for token in tokens)
    assert {_unmask_cipher_token(token) for token in tokens} == {secret}
    assert len(set(tokens)) == len(tokens)  # a new mask each time (BREACH)
    assert request.META["CSRF_COOKIE_NEEDS_UPDATE"] is True  # the cookie is sent again, as get_token does


def test_the_masks_draw_every_character_about_equally() -> None:
    request = _request(_get_new_csrf_string())
    counts = Counter("".join(fresh_token(request)[:CSRF_SECRET_LENGTH] for _ in range(3100)))
    assert set(counts) == set(CSRF_ALLOWED_CHARS)
    expected = 3100 * CSRF_SECRET_LENGTH / len(CSRF_ALLOWED_CHARS)  # 1,600 each
    assert all(abs(n - expected) < 0.15 * expected for n in counts.values()), counts.most_common(3)


def test_without_a_cookie_djangos_get_token_makes_the_secret() -> None:
    request = _request(None)
    token = fresh_token(request)
    assert _unmask_cipher_token(token) == request.META["CSRF_COOKIE"]
    assert len(request.META["CSRF_COOKIE"]) == CSRF_SECRET_LENGTH
