"""Builders shared by the partner API tests: keys, a centre, licences with offences, a JSON client."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.test import Client

from permis.api.models import ApiKey
from permis.courses.models import CourseCentre
from permis.registry import services
from permis.registry.models import Licence
from tests.registry.factories import holder

APPROVAL = "R2507500010"


def key(*scopes: str, sender: str = "", name: str = "Partenaire") -> str:
    return ApiKey.objects.issue(name=name, sender=sender, scopes=list(scopes))[1]


def centre(approval: str = APPROVAL, **extra: Any) -> CourseCentre:
    values = {
        "name": "Stage Prévention Paris",
        "approval_number": approval,
        "address": "1 rue de la Gare",
        "postcode": "75011",
        "city": "Paris",
        "departement": "75",
        "approved_on": dt.date(2020, 1, 1),
    }
    values.update(extra)
    return CourseCentre.objects.create(**values)


def licence(number: str, *, offences: list[dict] = (), on: dt.date, **who: Any) -> Licence:
    """A licence obtained in 2010 with categories B and A (A valid until 2030), and the offences given."""
    lic = services.register_licence(
        holder=holder(**who),
        number=number,
        dossier_number="D" + number[-11:],
        obtained_on=dt.date(2010, 3, 1),
        categories=[
            {"code": "B", "obtained_on": dt.date(2010, 3, 1)},
            {"code": "A", "obtained_on": dt.date(2012, 6, 1), "expires_on": dt.date(2030, 1, 1)},
        ],
        on=on,
    )
    for index, offence in enumerate(offences):
        services.record_event(
            lic, "offence", offence, source="feed", sender="ANTAI", source_ref=f"{number}-{index}", on=on
        )
    return lic


def call(method: str, url: str, token: str | None = None, body: Any = None, **headers: str):
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    client = Client()
    if method == "get":
        return client.get(url, **headers)
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return getattr(client, method)(url, data, content_type="application/json", **headers)


POINTS_KEYS = {
    "balance",
    "solde",
    "points",
    "cap",
    "plafond",
    "movements",
    "mouvements",
    "raw_balance",
    "change",
    "points_status",
}


def leaks(value: Any, path: str = "$") -> list[str]:
    """Every place in a JSON answer that names a balance, points or movements (keys, or words in strings)."""
    found: list[str] = []
    if isinstance(value, dict):
        for name, item in value.items():
            if str(name).lower() in POINTS_KEYS:
                found.append(f"{path}.{name}")
            found += leaks(item, f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += leaks(item, f"{path}[{index}]")
    elif isinstance(value, str):
        lowered = value.lower()
        if any(word in lowered for word in ("solde", "balance", "mouvement")) or " point" in lowered:
            found.append(f"{path} = {value[:60]!r}")
    return found


# -- the holder's tokens ---------------------------------------------------------------------------------------
REDIRECT = "http://127.0.0.1:9/callback"
SCOPES = "openid given_name family_name preferred_username birthdate gender birthplace birthcountry email"


def sign_in(
    server: Any,
    identity: int = 0,
    client_id: str = "permis-dev",
    secret: str = "permis-dev-secret",  # noqa: S107 (fcdev's development client)
) -> dict[str, Any]:
    """The token endpoint's answer after `identity` signed in at a `permis fcdev` server for `client_id`:
    ``access_token`` (opaque) and ``id_token`` (the JWT the holder's API takes). A new nonce each time, as a
    client sends: two sign-ins within a second are two tokens (the holder's API opens one session per token)."""
    import secrets

    import requests

    params = {
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPES,
        "state": "s",
        "nonce": secrets.token_urlsafe(8),
        "identity": str(identity),
    }
    response = requests.post(f"{server.url}/authorize", data=params, allow_redirects=False, timeout=5)
    code = response.headers["Location"].split("code=")[1].split("&")[0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "client_secret": secret,
    }
    return requests.post(f"{server.url}/token", data=form, timeout=5).json()


_TEST_KEY: list[Any] = []


def holder_token(sub: str) -> str:
    """A token as the provider signs it for this service (issuer, audience, an hour to live) with a test key,
    that key put in the cache of the provider's keys: for tests that call /holder/ without a provider running."""
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.conf import settings
    from django.core.cache import cache
    from jwt.algorithms import RSAAlgorithm

    from permis.api.holder import JWKS_CACHE, JWKS_SECONDS

    if not _TEST_KEY:
        _TEST_KEY.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    private = _TEST_KEY[0]
    jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": "test-key", "alg": "RS256", "use": "sig"})
    cache.set(JWKS_CACHE, {"test-key": jwk}, JWKS_SECONDS)
    now = int(time.time())
    claims = {
        "iss": settings.FRANCECONNECT["ISSUER"],
        "aud": settings.OIDC_RP_CLIENT_ID,
        "sub": sub,
        "iat": now,
        "exp": now + 3600,
    }
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": "test-key"})
