"""The development provider speaks OpenID Connect as FranceConnect does, over real HTTP on loopback."""

from __future__ import annotations

import base64
import time

import jwt
import pytest
import requests

from permis.accounts.fcdev import FcDevServer, Identity

PERSON = Identity(
    given_name="Camille Anne",
    family_name="MARTIN",
    birthdate="1979-04-12",
    gender="female",
    birthplace="75056",
    preferred_username="DURAND",
    email="camille@example.fr",
)
REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture(params=["RS256", "ES256"])
def server(request: pytest.FixtureRequest, tmp_path):
    with FcDevServer([PERSON], algorithm=request.param, key_file=tmp_path / "key.pem") as running:
        yield running


def authorize(server: FcDevServer, **overrides: str) -> requests.Response:
    params = {
        "client_id": "permis-dev",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid given_name family_name preferred_username birthdate gender birthplace birthcountry email",
        "state": "st4te",
        "nonce": "n0nce",
        "acr_values": "eidas1",
        "identity": "0",
        **overrides,
    }
    return requests.post(f"{server.url}/authorize", data=params, allow_redirects=False, timeout=5)


def code_of(response: requests.Response) -> str:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    assert "state=st4te" in location
    return location.split("code=")[1].split("&")[0]


def token(server: FcDevServer, code: str, *, basic: bool = False, secret: str = "permis-dev-secret", **extra):  # noqa: S107
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    headers = {}
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(f"permis-dev:{secret}".encode()).decode()
    else:
        data.update(client_id="permis-dev", client_secret=secret)
    return requests.post(f"{server.url}/token", data=data, headers=headers, timeout=5)


def test_discovery_and_keys(server: FcDevServer) -> None:
    config = requests.get(f"{server.url}/.well-known/openid-configuration", timeout=5).json()
    assert config["issuer"] == server.url
    assert config["end_session_endpoint"] == f"{server.url}/logout"
    assert config["id_token_signing_alg_values_supported"] == [server.provider.algorithm]
    keys = requests.get(config["jwks_uri"], timeout=5).json()["keys"]
    assert keys[0]["kid"] == server.provider.kid and keys[0]["alg"] == server.provider.algorithm


def test_the_page_lists_the_identities() -> None:
    with FcDevServer([PERSON]) as server:
        page = requests.get(
            f"{server.url}/authorize",
            params={
                "client_id": "permis-dev",
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "scope": "openid",
                "state": "s",
                "nonce": "n",
            },
            timeout=5,
        )
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text and "Camille Anne MARTIN" in page.text
    assert 'name="state" value="s"' in page.text


@pytest.mark.parametrize("basic", [False, True])
def test_code_flow_gives_a_signed_id_token_and_the_claims(server: FcDevServer, basic: bool) -> None:
    answer = token(server, code_of(authorize(server)), basic=basic)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    key = jwt.PyJWK(requests.get(f"{server.url}/jwks", timeout=5).json()["keys"][0])
    claims = jwt.decode(
        body["id_token"],
        key,
        algorithms=[server.provider.algorithm],
        audience="permis-dev",
        issuer=server.url,
    )
    assert claims["nonce"] == "n0nce" and claims["acr"] == "eidas1"
    assert claims["exp"] > time.time()
    info = requests.get(
        f"{server.url}/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5
    ).json()
    assert info == {**PERSON.claims(), "sub": claims["sub"]}


def test_scopes_limit_the_claims(server: FcDevServer) -> None:
    body = token(server, code_of(authorize(server, scope="openid given_name"))).json()
    info = requests.get(
        f"{server.url}/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5
    ).json()
    assert set(info) == {"sub", "given_name"}


def test_a_code_works_once_and_only_for_its_client_and_redirect(server: FcDevServer) -> None:
    code = code_of(authorize(server))
    assert token(server, code, secret="wrong").status_code == 401
    assert token(server, code, redirect_uri="http://127.0.0.1:9/other").status_code == 400
    # the code was consumed by the first authenticated attempt
    assert token(server, code).json() == {"error": "invalid_grant"}
    assert token(server, "made-up").json() == {"error": "invalid_grant"}


def test_requests_without_state_or_nonce_or_from_unknown_clients_are_refused(server: FcDevServer) -> None:
    missing = authorize(server, nonce="")
    assert missing.status_code == 302 and "error=invalid_request" in missing.headers["Location"]
    assert authorize(server, client_id="intruder").status_code == 400
    assert authorize(server, redirect_uri="https://evil.example/cb").status_code == 400
    cancelled = authorize(server, cancel="1")
    assert "error=access_denied" in cancelled.headers["Location"]


def test_userinfo_needs_a_valid_token(server: FcDevServer) -> None:
    assert (
        requests.get(
            f"{server.url}/userinfo", headers={"Authorization": "Bearer nope"}, timeout=5
        ).status_code
        == 401
    )


def test_logout_returns_to_the_client_with_the_state(server: FcDevServer) -> None:
    id_token = token(server, code_of(authorize(server))).json()["id_token"]
    back = requests.get(
        f"{server.url}/logout",
        params={
            "id_token_hint": id_token,
            "state": "bye",
            "post_logout_redirect_uri": "http://127.0.0.1:9/out",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert back.status_code == 302 and back.headers["Location"] == "http://127.0.0.1:9/out?state=bye"
    forged = requests.get(
        f"{server.url}/logout",
        params={"id_token_hint": "x.y.z", "post_logout_redirect_uri": "http://127.0.0.1:9/out"},
        allow_redirects=False,
        timeout=5,
    )
    assert forged.status_code == 400


def test_the_key_file_is_reused(tmp_path) -> None:
    with FcDevServer([PERSON], key_file=tmp_path / "k.pem") as first:
        kid = first.provider.kid
    with FcDevServer([PERSON], key_file=tmp_path / "k.pem") as second:
        assert second.provider.kid == kid


def test_it_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FcDevServer([PERSON], host="0.0.0.0")  # noqa: S104


def test_the_command_refuses_to_run_outside_debug_mode(settings) -> None:
    from django.core.management import CommandError, call_command

    settings.DEBUG = False
    with pytest.raises(CommandError, match="développement"):
        call_command("fcdev", "--port", "0")
