"""The holder's own file with a token the accounts' provider (here a real `permis fcdev`) signed for this service:
its signature, issuer, audience and expiry checked, so that a token given to another application is refused."""

from __future__ import annotations

import datetime as dt
import json
import time

import jwt
import pytest
import requests
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache

from permis.accounts.fcdev import FcDevServer
from permis.accounts.identities import NOBODY, identity_of
from permis.accounts.models import Account, HolderLink, LinkMethod
from permis.audit.models import AccessLog
from permis.registry.models import Movement, Projection
from permis.registry.services import today
from tests.api.partners import call, key, licence, sign_in
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db


@pytest.fixture
def lic():
    return licence("HOL000000001", offences=[offence("2025-01-10", "2025-02-01", 3)], on=today())


CLIENTS = {"permis-dev": "permis-dev-secret", "autre-appli": "autre-secret"}


@pytest.fixture
def provider(lic, settings):
    """`permis fcdev` with this service's client and another application's."""
    cache.clear()
    identities = [identity_of(lic.holder), NOBODY]
    with FcDevServer(identities, clients=CLIENTS) as server:
        settings.FRANCECONNECT = {"ISSUER": server.url, "CLIENT_ID": "permis-dev", "CLIENT_SECRET": "s"}
        settings.OIDC_RP_CLIENT_ID = "permis-dev"
        settings.OIDC_RP_SIGN_ALGO = "RS256"
        settings.OIDC_OP_USER_ENDPOINT = f"{server.url}/userinfo"
        settings.OIDC_OP_JWKS_ENDPOINT = f"{server.url}/jwks"
        yield server
    cache.clear()


def subject(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sub"]


def signed_in(server: FcDevServer, lic, identity: int = 0, client: str = "permis-dev") -> str:
    """The ID token of `identity` signed in for `client`, its subject's account linked to the file as the
    website's FranceConnect sign-in links it."""
    token = sign_in(server, identity, client, CLIENTS[client])["id_token"]
    user = User.objects.create(username=f"fc-{subject(token)[:40]}")
    Account.objects.create(user=user, franceconnect_sub=subject(token))
    HolderLink.objects.create(user=user, holder=lic.holder, method=LinkMethod.FRANCECONNECT)
    return token


def refused(response, why: str) -> None:
    assert response.status_code == 401, response.content
    assert response.json() == {"error": f"the access token is refused: {why}"}
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="permis", error="invalid_token", error_description="')


def test_the_holder_reads_their_file_and_movements(provider, lic) -> None:
    token = signed_in(provider, lic)
    response = call("get", "/api/v1/holder/me", token)
    assert response.status_code == 200, response.content
    body = response.json()
    projection = Projection.objects.get(licence=lic)
    assert body["birth_name"] == "MARTIN" and body["licence"]["number"] == "HOL000000001"
    assert (body["balance"], body["cap"], body["status"]) == (
        projection.balance,
        projection.cap,
        projection.status,
    )
    assert [c["code"] for c in body["licence"]["categories"]] == ["B", "A"]
    movements = call("get", "/api/v1/holder/me/movements", token).json()
    assert movements["licence"] == "HOL000000001"
    assert len(movements["movements"]) == Movement.objects.filter(licence=lic, on__lte=today()).count() > 0
    assert AccessLog.objects.count() == 0  # the holder's own reads are not accesses by others


def test_a_token_issued_to_another_application_is_refused(provider, lic) -> None:
    """The review's A7: the same person, signed in at another client of the provider. Even with that client's
    subject linked to the file, its token does not open it: it was not issued to this service."""
    token = signed_in(provider, lic, client="autre-appli")
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "autre-appli"
    refused(
        call("get", "/api/v1/holder/me", token),
        "it was issued to another application, not to this service (permis-dev)",
    )
    refused(
        call("get", "/api/v1/holder/me/movements", token),
        "it was issued to another application, not to this service (permis-dev)",
    )
    # Its opaque access token, which the provider's userinfo accepts, is refused too: it names no audience.
    access = sign_in(provider, 0, "autre-appli", CLIENTS["autre-appli"])["access_token"]
    assert requests.get(
        f"{provider.url}/userinfo", headers={"Authorization": f"Bearer {access}"}, timeout=5
    ).ok
    refused(
        call("get", "/api/v1/holder/me", access),
        "it is not a token signed by the identity provider (send the ID token received at sign-in)",
    )


def test_an_expired_token_is_refused(provider, lic) -> None:
    token = signed_in(provider, lic)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert call("get", "/api/v1/holder/me", token).status_code == 200
    with time_machine.travel(expires + 31, tick=False):  # past the 30 s allowed for clocks' drift
        refused(call("get", "/api/v1/holder/me", token), "it has expired: sign in again")


def test_a_token_of_another_provider_or_forged_is_refused(provider, lic, tmp_path) -> None:
    token = signed_in(provider, lic)
    claims = jwt.decode(token, options={"verify_signature": False})
    # Another provider with its own key: its key is not this provider's.
    with FcDevServer([identity_of(lic.holder)], clients=CLIENTS) as other:
        foreign = sign_in(other)["id_token"]
    refused(call("get", "/api/v1/holder/me", foreign), "it is not signed by a key of the identity provider")
    # Forged: unsigned, or signed with HS256 and the provider's public key as the secret.
    unsigned = jwt.encode(claims, None, algorithm="none")
    refused(call("get", "/api/v1/holder/me", unsigned), "it is signed with 'none', not RS256")
    forged = jwt.encode({**claims, "exp": int(time.time()) + 600}, "s" * 32, algorithm="HS256")
    refused(call("get", "/api/v1/holder/me", forged), "it is signed with 'HS256', not RS256")
    # A changed claim breaks the signature.
    head, body, signature = token.split(".")
    other_body = jwt.utils.base64url_encode(json.dumps({**claims, "sub": "someone-else"}).encode()).decode()
    refused(
        call("get", "/api/v1/holder/me", f"{head}.{other_body}.{signature}"),
        "it is not valid (Signature verification failed)",
    )
    # The same key but another issuer (a provider sharing the key file).
    key_file = tmp_path / "k.pem"
    with (
        FcDevServer([identity_of(lic.holder)], clients=CLIENTS, key_file=key_file) as first,
        FcDevServer([identity_of(lic.holder)], clients=CLIENTS, key_file=key_file) as second,
    ):
        from django.conf import settings

        settings.FRANCECONNECT = {**settings.FRANCECONNECT, "ISSUER": first.url}
        settings.OIDC_OP_JWKS_ENDPOINT = f"{first.url}/jwks"
        cache.clear()
        assert first.provider.kid == second.provider.kid
        assert call("get", "/api/v1/holder/me", sign_in(first)["id_token"]).status_code == 200  # same subject
        refused(
            call("get", "/api/v1/holder/me", sign_in(second)["id_token"]),
            f"it was issued by another provider, not {first.url}",
        )


def test_the_provider_keys_are_read_once_then_kept(provider, lic) -> None:
    token = signed_in(provider, lic)
    assert call("get", "/api/v1/holder/me", token).status_code == 200
    provider.stop()  # the provider is gone: its keys, kept, still check the token
    assert call("get", "/api/v1/holder/me", token).status_code == 200


def test_bad_or_missing_tokens_are_401(provider) -> None:
    response = call("get", "/api/v1/holder/me")
    assert response.status_code == 401 and "Bearer" in response.json()["error"]
    assert response["WWW-Authenticate"] == 'Bearer realm="permis"'  # no token sent: no error code (RFC 6750)
    refused(
        call("get", "/api/v1/holder/me", "not-a-token"),
        "it is not a token signed by the identity provider (send the ID token received at sign-in)",
    )


def test_an_identity_without_a_file_is_403(provider) -> None:
    token = sign_in(provider, identity=1)["id_token"]
    response = call("get", "/api/v1/holder/me", token)
    assert response.status_code == 403 and "no licence file" in response.json()["error"]


def test_a_valid_token_whose_account_is_not_linked_is_403(provider, lic) -> None:
    """FranceConnect's ID token carries no identity pivot: the file is the one the account links."""
    response = call("get", "/api/v1/holder/me", sign_in(provider)["id_token"])
    assert response.status_code == 403 and "sign in once on the website" in response.json()["error"]


def test_partner_keys_do_not_open_the_holder_door(provider) -> None:
    response = call("get", "/api/v1/holder/me", key("police", "police_balance", "third_party"))
    assert response.status_code == 401


def test_an_address_that_sends_many_bad_tokens_is_held_off(provider, lic, settings):
    from django.utils import timezone

    settings.API_HOLDER_REFUSED_LIMIT = 3
    good = signed_in(provider, lic)
    assert call("get", "/api/v1/holder/me", good, REMOTE_ADDR="10.9.9.10").status_code == 200
    for n in range(3):
        assert call("get", "/api/v1/holder/me", f"made-up-{n}", REMOTE_ADDR="10.9.9.9").status_code == 401
    held = call("get", "/api/v1/holder/me", "made-up-3", REMOTE_ADDR="10.9.9.9")
    assert held.status_code == 429, held.content
    assert held.json()["error"].startswith("too many invalid or expired access tokens from this address")
    assert 1 <= int(held["Retry-After"]) <= 15 * 60
    # Even a good token waits: the address is held off before any token is looked at.
    assert call("get", "/api/v1/holder/me", good, REMOTE_ADDR="10.9.9.9").status_code == 429
    # Another address is not held off.
    assert call("get", "/api/v1/holder/me", good, REMOTE_ADDR="10.9.9.10").status_code == 200
    # The window over, the address is let through again.
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        assert call("get", "/api/v1/holder/me", "made-up-4", REMOTE_ADDR="10.9.9.9").status_code == 401


def test_a_made_up_key_id_fetches_the_keys_again_at_most_once_a_minute(provider, lic, monkeypatch) -> None:
    from permis.api import holder

    calls = []
    real = holder.requests.get
    monkeypatch.setattr(holder.requests, "get", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    token = signed_in(provider, lic)
    assert call("get", "/api/v1/holder/me", token).status_code == 200
    _head, body, signature = token.split(".")
    for n in range(5):  # the provider's own token, its header naming a key the provider never had
        header = {"alg": "RS256", "typ": "JWT", "kid": f"k{n}"}
        made_up = f"{jwt.utils.base64url_encode(json.dumps(header).encode()).decode()}.{body}.{signature}"
        refused(
            call("get", "/api/v1/holder/me", made_up), "it is not signed by a key of the identity provider"
        )
    assert calls == [f"{provider.url}/jwks", f"{provider.url}/jwks"]  # the first read, one more for k0


def test_the_limit_can_be_turned_off(provider, settings):
    settings.API_HOLDER_REFUSED_LIMIT = 0
    for n in range(25):
        assert call("get", "/api/v1/holder/me", f"made-up-{n}", REMOTE_ADDR="10.9.9.11").status_code == 401
