"""FranceConnect signs a holder in through the real provider; the identity pivot links the file when it
designates exactly one holder."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousOperation
from django.test import Client
from django.urls import reverse

from permis.accounts.fcdev import FcDevServer, Identity
from permis.accounts.identities import NOBODY, matching_holders
from permis.accounts.models import HolderLink
from permis.accounts.oidc import FranceConnectBackend
from tests.registry import factories

from .conftest import identity_for

pytestmark = pytest.mark.django_db


def sign_in_with_franceconnect(client: Client, fc: FcDevServer, choice: int, next_url: str = "") -> Any:
    start = client.get(reverse("accounts:fc_login") + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302 and start["Location"].startswith(fc.url + "/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(start["Location"]).query).items()}
    assert params["state"] and params["nonce"] and params["acr_values"] == "eidas1"
    page = requests.get(start["Location"], timeout=5)
    assert page.status_code == 200
    chosen = requests.post(
        f"{fc.url}/authorize", data={**params, "identity": str(choice)}, allow_redirects=False, timeout=5
    )
    callback = urlsplit(chosen.headers["Location"])
    return client.get(f"{callback.path}?{callback.query}")


def test_one_matching_holder_is_linked_automatically(
    client: Client, fc: FcDevServer, identities, camille
) -> None:
    identities[:] = [identity_for(camille.holder, given_name="camille   anne", family_name="Martin")]
    answer = sign_in_with_franceconnect(client, fc, 0)
    assert answer.status_code == 302 and answer["Location"] == reverse("accounts:home")
    link = HolderLink.objects.get()
    assert link.holder == camille.holder and link.method == "franceconnect"
    assert link.user.account.franceconnect_sub.endswith("v1") and not link.user.has_usable_password()
    home = client.get(reverse("accounts:home"))
    assert home.status_code == 302 and home["Location"] != reverse("accounts:link")
    # the second visit finds the same account
    client.logout()
    sign_in_with_franceconnect(client, fc, 0)
    assert User.objects.count() == 1 and HolderLink.objects.count() == 1


def test_the_next_page_is_kept(client: Client, fc: FcDevServer, identities, camille) -> None:
    identities[:] = [identity_for(camille.holder)]
    answer = sign_in_with_franceconnect(client, fc, 0, next_url="/compte/securite/")
    assert answer["Location"] == "/compte/securite/"


def test_no_matching_holder_goes_to_the_linking_form(
    client: Client, fc: FcDevServer, identities, camille
) -> None:
    identities[:] = [NOBODY]
    answer = sign_in_with_franceconnect(client, fc, 0)
    assert answer.status_code == 302
    assert not HolderLink.objects.exists()
    page = client.get(reverse("accounts:link"))
    assert "ne correspond à aucun permis" in page.content.decode()


def test_two_matching_holders_go_to_the_linking_form(client: Client, fc: FcDevServer, identities) -> None:
    twin = {
        "birth_name": "HOMONYME",
        "given_names": "Dominique",
        "birth_date": dt.date(1975, 6, 15),
        "sex": "male",
        "birth_place": "69123",
    }
    first = factories.licence(holder=factories.holder(**twin))
    factories.licence(holder=factories.holder(**twin))
    identities[:] = [identity_for(first.holder)]
    sign_in_with_franceconnect(client, fc, 0)
    assert not HolderLink.objects.exists()
    assert "correspond à plusieurs dossiers" in client.get(reverse("accounts:link")).content.decode()


def test_a_different_birth_place_is_not_the_same_person(camille) -> None:
    claims = identity_for(camille.holder).claims()
    assert matching_holders(claims) == [camille.holder]
    assert matching_holders({**claims, "birthplace": "69123"}) == []
    assert matching_holders({**claims, "gender": "male"}) == []
    assert matching_holders({**claims, "birthdate": "not a date"}) == []


def test_id_tokens_for_another_audience_or_issuer_or_expired_are_refused(fc: FcDevServer) -> None:
    backend = FranceConnectBackend()

    def signed(**claims: Any) -> str:
        base = {"iss": fc.url, "sub": "x", "aud": "permis-dev", "exp": 9_999_999_999, "iat": 1}
        return jwt.encode(
            {**base, **claims}, fc.provider.private_key, algorithm="RS256", headers={"kid": fc.provider.kid}
        )

    good = signed()
    key = backend.retrieve_matching_jwk(good)
    assert backend.get_payload_data(good, key)["sub"] == "x"
    for bad, reason in (
        (signed(aud="someone-else"), "Audience"),
        (signed(iss="http://evil"), "issuer"),
        (signed(exp=10), "expired"),
    ):
        with pytest.raises(SuspiciousOperation, match=reason):
            backend.get_payload_data(bad, key)
    unsigned = jwt.encode(
        {"iss": fc.url, "sub": "x", "aud": "permis-dev", "exp": 9_999_999_999, "iat": 1},
        "k" * 32,
        algorithm="HS256",
    )
    with pytest.raises(SuspiciousOperation, match="HS256"):
        backend.get_payload_data(unsigned, key)


def test_a_replayed_callback_does_not_sign_in(client: Client, fc: FcDevServer, identities, camille) -> None:
    identities[:] = [identity_for(camille.holder)]
    start = client.get(reverse("accounts:fc_login"))
    params = {k: v[0] for k, v in parse_qs(urlsplit(start["Location"]).query).items()}
    chosen = requests.post(
        f"{fc.url}/authorize", data={**params, "identity": "0"}, allow_redirects=False, timeout=5
    )
    callback = urlsplit(chosen.headers["Location"])
    other = Client()
    answer = other.get(f"{callback.path}?{callback.query}")  # a browser without the state in its session
    assert answer.status_code == 302 and answer["Location"] == reverse("accounts:fc_failed")
    assert "_auth_user_id" not in other.session


def test_logout_ends_the_franceconnect_session(client: Client, fc: FcDevServer, identities, camille) -> None:
    identities[:] = [identity_for(camille.holder)]
    sign_in_with_franceconnect(client, fc, 0)
    out = client.post(reverse("accounts:logout"))
    assert out.status_code == 302 and out["Location"].startswith(fc.url + "/logout?")
    query = parse_qs(urlsplit(out["Location"]).query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/compte/deconnecte/"]
    back = requests.get(out["Location"], allow_redirects=False, timeout=5)
    assert back.headers["Location"].startswith("http://testserver/compte/deconnecte/?state=")
    assert "_auth_user_id" not in client.session


def test_without_an_issuer_franceconnect_is_off(client: Client, settings) -> None:
    settings.FRANCECONNECT = {"ISSUER": "", "CLIENT_ID": "", "CLIENT_SECRET": ""}
    page = client.get(reverse("accounts:login")).content.decode()
    assert "FranceConnect" not in page


def test_identity_claims_are_required() -> None:
    backend = FranceConnectBackend()
    full = {**Identity("A", "B", "2000-01-01", "male").claims(), "sub": "s"}
    assert backend.verify_claims(full)
    assert not backend.verify_claims({**full, "birthdate": ""})


def test_the_development_identities_cover_one_none_and_two(camille) -> None:
    from permis.accounts.identities import demo_identities, ensure_demo_homonyms

    assert ensure_demo_homonyms() is True
    assert ensure_demo_homonyms() is False  # once
    found = demo_identities()
    assert found[0] == NOBODY
    assert len(matching_holders(found[0].claims())) == 0
    assert len(matching_holders(found[1].claims())) == 2
