"""The holder's own file with an OpenID Connect access token of the accounts' provider (here `permis fcdev`)."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth.models import User
from django.core.cache import cache

from permis.accounts.fcdev import FcDevServer
from permis.accounts.identities import NOBODY, identity_of
from permis.accounts.models import Account, HolderLink, LinkMethod
from permis.audit.models import AccessLog
from permis.registry.models import Movement, Projection
from permis.registry.services import today
from tests.api.partners import call, licence
from tests.registry.factories import offence

pytestmark = pytest.mark.django_db
REDIRECT = "http://127.0.0.1:9/callback"
SCOPES = "openid given_name family_name preferred_username birthdate gender birthplace birthcountry email"


@pytest.fixture
def lic():
    return licence("HOL000000001", offences=[offence("2025-01-10", "2025-02-01", 3)], on=today())


@pytest.fixture
def provider(lic, settings):
    cache.clear()
    identities = [identity_of(lic.holder), NOBODY]
    with FcDevServer(identities) as server:
        settings.FRANCECONNECT = {"ISSUER": server.url, "CLIENT_ID": "permis-dev", "CLIENT_SECRET": "s"}
        settings.OIDC_OP_USER_ENDPOINT = f"{server.url}/userinfo"
        yield server
    cache.clear()


def access_token(server: FcDevServer, identity: int = 0) -> str:
    params = {
        "client_id": "permis-dev",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPES,
        "state": "s",
        "nonce": "n",
        "identity": str(identity),
    }
    response = requests.post(f"{server.url}/authorize", data=params, allow_redirects=False, timeout=5)
    code = response.headers["Location"].split("code=")[1].split("&")[0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "permis-dev",
        "client_secret": "permis-dev-secret",
    }
    return requests.post(f"{server.url}/token", data=form, timeout=5).json()["access_token"]


def test_the_holder_reads_their_file_and_movements(provider, lic) -> None:
    token = access_token(provider)
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


def test_a_token_is_checked_once_then_cached_briefly(provider) -> None:
    token = access_token(provider)
    assert call("get", "/api/v1/holder/me", token).status_code == 200
    provider.stop()  # the provider is gone: the cached userinfo answers for a minute
    assert call("get", "/api/v1/holder/me", token).status_code == 200


def test_bad_or_missing_tokens_are_401(provider) -> None:
    response = call("get", "/api/v1/holder/me")
    assert response.status_code == 401 and "Bearer" in response.json()["error"]
    response = call("get", "/api/v1/holder/me", "not-a-token")
    assert response.status_code == 401 and response.json() == {
        "error": "the access token is invalid or expired"
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_identity_without_a_file_is_403(provider) -> None:
    response = call("get", "/api/v1/holder/me", access_token(provider, identity=1))
    assert response.status_code == 403 and "no licence file" in response.json()["error"]


def test_the_account_link_names_the_file_when_the_pivot_does_not(provider, lic) -> None:
    token = access_token(provider, identity=1)  # NOBODY: no holder by the pivot
    sub = requests.get(
        f"{provider.url}/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).json()["sub"]
    user = User.objects.create(username="fc")
    Account.objects.create(user=user, franceconnect_sub=sub)
    HolderLink.objects.create(user=user, holder=lic.holder, method=LinkMethod.LICENCE_FORM)
    assert call("get", "/api/v1/holder/me", token).json()["licence"]["number"] == "HOL000000001"


def test_partner_keys_do_not_open_the_holder_door(provider) -> None:
    from tests.api.partners import key

    assert call("get", "/api/v1/holder/me", key("police", "police_balance", "third_party")).status_code == 401


def test_an_address_that_sends_many_bad_tokens_is_held_off_without_asking_the_provider(provider, settings):
    import datetime as dt

    import time_machine
    from django.utils import timezone

    settings.API_HOLDER_REFUSED_LIMIT = 3
    good = access_token(provider)
    assert call("get", "/api/v1/holder/me", good, REMOTE_ADDR="10.9.9.10").status_code == 200  # now cached
    for n in range(3):
        assert call("get", "/api/v1/holder/me", f"made-up-{n}", REMOTE_ADDR="10.9.9.9").status_code == 401
    provider.stop()  # from now on, a call that reached the provider would answer 503
    held = call("get", "/api/v1/holder/me", "made-up-3", REMOTE_ADDR="10.9.9.9")
    assert held.status_code == 429, held.content
    assert held.json()["error"].startswith("too many invalid or expired access tokens from this address")
    assert 1 <= int(held["Retry-After"]) <= 15 * 60
    # Even a good token waits: the address is held off before any token is looked at.
    assert call("get", "/api/v1/holder/me", good, REMOTE_ADDR="10.9.9.9").status_code == 429
    # Another address is not held off (the good token's claims are still cached).
    assert call("get", "/api/v1/holder/me", good, REMOTE_ADDR="10.9.9.10").status_code == 200
    # The window over, the address is let through again.
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        cache.clear()  # and the provider, stopped, now answers nothing: 503, not 429
        assert call("get", "/api/v1/holder/me", "made-up-4", REMOTE_ADDR="10.9.9.9").status_code == 503


def test_the_limit_can_be_turned_off(provider, settings):
    settings.API_HOLDER_REFUSED_LIMIT = 0
    for n in range(25):
        assert call("get", "/api/v1/holder/me", f"made-up-{n}", REMOTE_ADDR="10.9.9.11").status_code == 401
