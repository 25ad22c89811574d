"""Fixtures of the accounts' tests: the development FranceConnect on loopback, the SMTP server, holders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from permis.accounts.fcdev import FcDevServer, Identity
from permis.accounts.identities import NOBODY
from tests.notices.conftest import smtp_server  # noqa: F401  (the fixture, shared)
from tests.registry import factories

CALLBACK = "http://testserver/compte/franceconnect/retour/"


def point_relying_party_at(settings: Any, server: FcDevServer) -> None:
    issuer = server.url
    settings.FRANCECONNECT = {
        "ISSUER": issuer,
        "CLIENT_ID": "permis-dev",
        "CLIENT_SECRET": "permis-dev-secret",
    }
    settings.OIDC_RP_CLIENT_ID = "permis-dev"
    settings.OIDC_RP_CLIENT_SECRET = "permis-dev-secret"
    settings.OIDC_RP_SIGN_ALGO = server.provider.algorithm
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{issuer}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{issuer}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{issuer}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{issuer}/jwks"
    settings.OIDC_OP_LOGOUT_ENDPOINT = f"{issuer}/logout"


@pytest.fixture
def camille() -> Any:
    """A holder with one licence, and the identity FranceConnect gives her."""
    return factories.licence(
        holder=factories.holder(
            birth_name="MARTIN", given_names="Camille Anne", birth_date=dt.date(1979, 4, 12)
        ),
        number="CAM0000000001",
        dossier_number="990000000101",
    )


def identity_for(holder: Any, **changes: str) -> Identity:
    values = {
        "given_name": holder.given_names,
        "family_name": holder.birth_name,
        "birthdate": holder.birth_date.isoformat(),
        "gender": holder.sex,
        "birthplace": holder.birth_place,
        "birthcountry": holder.birth_country,
        "email": holder.email,
    }
    values.update(changes)
    return Identity(**values)


@pytest.fixture
def identities() -> list[Identity]:
    """Filled by each test before the flow starts (the provider reads the list at each visit)."""
    return [NOBODY]


@pytest.fixture
def fc(settings: Any, identities: list[Identity]) -> Iterator[FcDevServer]:
    server = FcDevServer(lambda: identities)
    server.provider.redirect_uris = (CALLBACK, "http://testserver/compte/deconnecte/")
    server.start()
    point_relying_party_at(settings, server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Passwords are hashed with PBKDF2's full cost in production; the tests hash dozens of them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
