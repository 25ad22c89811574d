"""The holder's own file with a token the accounts' provider (here a real `permis fcdev`) signed for this service:
its signature, issuer, audience and expiry checked, so that a token given to another application is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time

import jwt
import pytest
import requests
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from permis.accounts import app_sessions
from permis.accounts.fcdev import FcDevServer
from permis.accounts.identities import NOBODY, identity_of
from permis.accounts.models import Account, AppSession, Failure, HolderLink, LinkMethod
from permis.api.holder import REFUSED
from permis.audit import services as audit
from permis.audit.models import AccessLog, ShareCode
from permis.notices import legal
from permis.notices import services as notice_services
from permis.notices.models import Channel, Delivery
from permis.registry.models import Holder, Movement, Notice, Projection
from permis.registry.services import today
from tests.api.partners import call, key, leaks, licence, sign_in
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
    for path in ("/api/v1/holder/me?fields=all", "/api/v1/holder/me/movements?since=2020-01-01"):
        unknown = call("get", path, token)  # a misspelt or imagined parameter is not dropped without a word
        assert (
            unknown.status_code == 422
            and "unknown query parameter (it takes none)" in unknown.json()["error"]
        )


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


# -- what the portal's personal space shows, through the API -----------------------------------------------------
def electronic(*licences) -> list[Notice]:
    """The licences' holders take letters in their space; each licence's letter made available there two hours
    ago."""
    Holder.objects.filter(pk__in=[lic.holder_id for lic in licences]).update(notice_channel="electronic")
    notices = [Notice.objects.filter(licence=lic).get() for lic in licences]
    notice_services.plan_deliveries()
    for notice in notices:
        legal.make_available(
            Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT),
            timezone.now() - dt.timedelta(hours=2),
        )
    return notices


@pytest.fixture
def other():
    """Another holder, who lost other points."""
    return licence(
        "HOL000000002",
        offences=[offence("2025-03-10", "2025-04-01", 2)],
        on=today(),
        birth_name="DURAND",
        given_names="Dominique",
    )


def test_the_holder_reads_their_letters_and_downloading_one_notifies_it(provider, lic, other) -> None:
    notice, _theirs = electronic(lic, other)
    token = signed_in(provider, lic)
    response = call("get", "/api/v1/holder/letters", token)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["page"], body["pages"], body["count"]) == (1, 1, 1)  # the other holder's letter is not there
    (letter,) = body["letters"]
    assert (letter["id"], letter["code"], letter["licence"]) == (notice.pk, "48", lic.number)
    assert letter["title"] == "Information sur un retrait de points"
    assert letter["legal_channel"] == "account" and letter["opening_notifies"] is True
    assert letter["account"]["first_opened_at"] is None and letter["notified_on_is_latest"] is True
    assert {d["channel"] for d in letter["deliveries"]} >= {"account", "email"}
    assert letter["pdf"] == f"http://testserver/api/v1/holder/letters/{notice.pk}/pdf"
    account = Delivery.objects.get(notice=notice, channel=Channel.ACCOUNT)
    assert account.first_opened_at is None  # listing the letters opens none of them

    pdf = call("get", f"/api/v1/holder/letters/{notice.pk}/pdf", token)
    assert pdf.status_code == 200, pdf.content
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert pdf["Cache-Control"] == "private, no-store"
    assert pdf["Content-Disposition"] == f'attachment; filename="lettre-48-{notice.due_on}-{notice.pk}.pdf"'
    account.refresh_from_db()
    first = account.first_opened_at
    assert first is not None and account.deemed_received_on == legal.legal_day(first)  # notified (R223-3-1)
    letter = call("get", "/api/v1/holder/letters", token).json()["letters"][0]
    assert letter["opening_notifies"] is False and letter["notified_on"] == legal.legal_day(first).isoformat()
    assert call("get", f"/api/v1/holder/letters/{notice.pk}/pdf", token).status_code == 200
    account.refresh_from_db()
    assert account.first_opened_at == first  # the first opening stands
    beyond = call("get", "/api/v1/holder/letters?page=2", token)
    assert beyond.status_code == 404 and beyond.json() == {"error": "page: there is no page 2 (pages: 1)"}
    download = call("get", f"/api/v1/holder/letters/{notice.pk}/pdf?download=1", token)
    assert download.status_code == 422
    assert download.json() == {"error": "download: unknown query parameter (it takes none)"}
    assert AccessLog.objects.count() == 0


def test_another_holders_letter_answers_as_an_unknown_one_and_is_not_opened(provider, lic, other) -> None:
    _ours, theirs = electronic(lic, other)
    token = signed_in(provider, lic)
    response = call("get", f"/api/v1/holder/letters/{theirs.pk}/pdf", token)
    unknown = call("get", f"/api/v1/holder/letters/{theirs.pk + 1000}/pdf", token)
    assert response.status_code == unknown.status_code == 404
    assert response.json() == {"error": f"no letter {theirs.pk} among this holder's letters"}
    assert unknown.json() == {"error": f"no letter {theirs.pk + 1000} among this holder's letters"}
    assert Delivery.objects.get(notice=theirs, channel=Channel.ACCOUNT).first_opened_at is None
    assert other.number.encode() not in response.content


def test_a_letter_that_cannot_be_produced_is_not_opened(provider, lic, other, monkeypatch) -> None:
    ours, _theirs = electronic(lic, other)
    token = signed_in(provider, lic)

    def broken(*args, **kwargs):
        raise OSError("no fonts")

    monkeypatch.setattr("permis.api.holder.render_letter", broken)
    with pytest.raises(OSError, match="no fonts"):  # the test client re-raises what would be a 500
        call("get", f"/api/v1/holder/letters/{ours.pk}/pdf", token)
    assert Delivery.objects.get(notice=ours, channel=Channel.ACCOUNT).first_opened_at is None


def test_the_forecast_is_the_portals_for_the_holders_own_licence(provider, lic, other) -> None:
    from permis.portal.dossier import state
    from permis.portal.dossier.views import _forecast_items

    token = signed_in(provider, lic)
    response = call("get", "/api/v1/holder/forecast", token)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["licence"] == lic.number and body["as_of"] == today().isoformat()
    line = state.timeline_of(lic)
    shown = _forecast_items(line, line.evaluation_at(today()))
    assert [(c["on"], c["change"], c["balance"], c["reason"]) for c in body["changes"]] == [
        (item["on"].isoformat(), item["change"], item["balance"], item["reason"]) for item in shown
    ]
    (restoration,) = body["changes"]
    # The 3 points lost come back three years after the offence became final, if nothing else happens.
    assert (restoration["kind"], restoration["change"], restoration["balance"]) == ("full_restoration", 3, 12)
    assert restoration["unless"] and restoration["basis"]
    assert set(restoration) == {
        "on", "kind", "label", "change", "balance", "cap", "reason", "basis", "unless"
    }  # fmt: skip
    # Nothing of the other holder's (2 points lost, restored on another day): only the holder's own licence.
    assert other.number not in response.content.decode() and "2028-04-01" not in response.content.decode()


def test_the_access_log_shows_who_read_the_file_page_by_page(provider, lic, other) -> None:
    token = signed_in(provider, lic)
    empty = call("get", "/api/v1/holder/access-log", token).json()
    assert empty == {"page": 1, "pages": 1, "count": 0, "entries": []}
    for n in range(26):
        audit.log_access(
            actor="key:police01",
            actor_label=f"Brigade {n}",
            role="police",
            holder=lic.holder,
            licence=lic,
            purpose="roadside_check",
            purpose_detail=f"PV {n}",
            shown=["identité", "solde"],
            channel="api",
        )
    audit.log_access(
        actor="key:police01",
        actor_label="Brigade de l'autre",
        role="police",
        holder=other.holder,
        purpose="roadside_check",
        shown=["identité"],
        channel="api",
    )
    first = call("get", "/api/v1/holder/access-log", token).json()
    assert (first["page"], first["pages"], first["count"], len(first["entries"])) == (1, 2, 26, 25)
    newest = first["entries"][0]
    assert newest == {
        "at": newest["at"],
        "who": "Brigade 25",
        "role": "police",
        "role_label": "Police ou gendarmerie",
        "channel": "api",
        "channel_label": "Interface de programmation (API)",
        "purpose": "roadside_check",
        "purpose_label": "Contrôle routier",
        "purpose_detail": "PV 25",
        "shown": ["identité", "solde de points"],
    }
    second = call("get", "/api/v1/holder/access-log?page=2", token).json()
    assert [e["who"] for e in second["entries"]] == ["Brigade 0"]
    assert "Brigade de l'autre" not in json.dumps(first) + json.dumps(second)
    beyond = call("get", "/api/v1/holder/access-log?page=3", token)
    assert beyond.status_code == 404 and beyond.json() == {"error": "page: there is no page 3 (pages: 2)"}
    assert call("get", "/api/v1/holder/access-log?page=0", token).status_code == 422
    unknown = call("get", "/api/v1/holder/access-log?pgae=2", token)
    assert unknown.status_code == 422
    assert unknown.json() == {"error": "pgae: unknown query parameter (it takes page)"}
    assert AccessLog.objects.count() == 27  # the holder reading their log is not a read by someone else


def test_the_holder_makes_lists_and_revokes_share_codes_as_in_the_portal(provider, lic, other) -> None:
    token = signed_in(provider, lic)
    theirs, _their_code = audit.create_share(other.holder, 7)
    assert call("get", "/api/v1/holder/share-codes", token).json() == {
        "durations": [1, 3, 7, 14, 30],
        "share_codes": [],
    }
    made = call("post", "/api/v1/holder/share-codes", token, {"days": 7, "label": "  Loueur  "})
    assert made.status_code == 201, made.content
    assert made["Cache-Control"] == "private, no-store"
    created = made.json()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{2}", created["code"])
    assert (created["label"], created["state"], created["uses"]) == ("Loueur", "active", 0)
    assert created["hint"] == created["code"][-2:]
    share = ShareCode.objects.get(pk=created["id"])
    assert share.holder_id == lic.holder_id and share.expires_at - share.created_at == dt.timedelta(days=7)
    # A third party checks it: the holder sees who, and the checker never the points.
    check = audit.check_share(created["code"], requester_label="Loueur Dupont", purpose="location")
    assert check is not None and not leaks(check.__dict__ | {"categories": []})
    (listed,) = call("get", "/api/v1/holder/share-codes", token).json()["share_codes"]
    assert (listed["id"], listed["uses"], "code" in listed) == (share.pk, 1, False)
    assert listed["recent_uses"][0]["who"] == f"Loueur Dupont (code …{share.hint})"
    assert listed["recent_uses"][0]["purpose_detail"] == "location"

    revoked = call("delete", f"/api/v1/holder/share-codes/{share.pk}", token)
    assert revoked.status_code == 200, revoked.content
    assert revoked.json()["state"] == "revoked" and revoked.json()["revoked_at"]
    assert audit.check_share(created["code"], requester_label="Loueur Dupont") is None
    assert call("delete", f"/api/v1/holder/share-codes/{share.pk}", token).status_code == 200  # again
    # Another holder's code: the same answer as an unknown one, and it still works.
    for share_id in (theirs.pk, theirs.pk + 1000):
        response = call("delete", f"/api/v1/holder/share-codes/{share_id}", token)
        assert response.status_code == 404
        assert response.json() == {"error": f"no share code {share_id} among this holder's codes"}
    assert ShareCode.objects.get(pk=theirs.pk).revoked_at is None
    assert [c["id"] for c in call("get", "/api/v1/holder/share-codes", token).json()["share_codes"]] == [
        share.pk
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"days": 5}, "days: a share code lasts 1, 3, 7, 14, 30 days"),
        ({"days": 31}, "days: a share code lasts 1, 3, 7, 14, 30 days"),
        ({"days": "7"}, "days: Input should be a valid integer"),
        ({"days": True}, "days: Input should be a valid integer"),
        ({"days": 7.0}, "days: Input should be a valid integer"),
        ({"days": 7, "label": "x" * 81}, "label: String should have at most 80 characters"),
        ({"days": 7, "holder": 1}, "holder: unknown field"),
        ({}, "days: Field required"),
    ],
)
def test_a_share_code_the_portal_would_refuse_is_refused(provider, lic, body, error) -> None:
    token = signed_in(provider, lic)
    response = call("post", "/api/v1/holder/share-codes", token, body)
    assert response.status_code == 422, response.content
    assert response.json()["error"] == error
    assert not ShareCode.objects.exists()


def test_a_nul_character_is_refused_with_400_not_a_server_error(provider, lic) -> None:
    """PostgreSQL stores no NUL: refused at the door, as the partners' API does (the review's finding 1)."""
    token = signed_in(provider, lic)
    response = call("post", "/api/v1/holder/share-codes", token, {"days": 7, "label": "Loueur\u0000X"})
    assert response.status_code == 400
    assert response.json() == {"error": "the body contains a NUL character (\\u0000), which no field accepts"}
    assert call("get", "/api/v1/holder/letters?page=1%00", token).status_code == 400
    assert not ShareCode.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/holder/letters"),
        ("get", "/api/v1/holder/letters/1/pdf"),
        ("get", "/api/v1/holder/forecast"),
        ("get", "/api/v1/holder/access-log"),
        ("get", "/api/v1/holder/share-codes"),
        ("post", "/api/v1/holder/share-codes"),
        ("delete", "/api/v1/holder/share-codes/1"),
    ],
)
def test_the_holders_space_takes_the_same_tokens(provider, lic, method, path) -> None:
    response = call(method, path, body={"days": 7})
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="permis"'
    refused(
        call(method, path, signed_in(provider, lic, client="autre-appli"), {"days": 7}),
        "it was issued to another application, not to this service (permis-dev)",
    )
    assert not ShareCode.objects.exists()


# -- application sessions -----------------------------------------------------------------------------------------
def moment(text: str) -> dt.datetime:
    """A moment of an answer, to the millisecond (as the API writes them)."""
    return dt.datetime.fromisoformat(text)


def same(text: str, when: dt.datetime) -> bool:
    return abs(moment(text) - when) < dt.timedelta(milliseconds=1)


UNPRINTABLE = "must be printable text: no control or invisible character (line break, tab, direction mark...)"


def opened(provider_token: str, device: str = "iPhone de Camille") -> str:
    """An application session opened with the provider's token: its token."""
    response = call("post", "/api/v1/holder/sessions", provider_token, {"device": device})
    assert response.status_code == 201, response.content
    return response.json()["token"]


def test_an_application_session_keeps_the_holder_signed_in_after_the_providers_token_expired(
    provider, lic
) -> None:
    token = signed_in(provider, lic)
    response = call("post", "/api/v1/holder/sessions", token, {"device": "  iPhone de Camille  "})
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "private, no-store"
    created = response.json()
    assert set(created) == {"id", "token", "expires_at"} and created["token"].startswith("pas_")
    row = AppSession.objects.get()
    assert (row.pk, row.device, row.holder_id) == (created["id"], "iPhone de Camille", lic.holder_id)
    assert row.user == HolderLink.objects.get().user
    assert row.expires_at - row.created_at == dt.timedelta(days=90)
    assert same(created["expires_at"], row.created_at + dt.timedelta(days=30))
    # Only a keyed hash of the token is kept: no column holds it, and its plain SHA-256 is not the hash either.
    assert row.token_hash == app_sessions.token_hash(created["token"])
    assert row.token_hash != hashlib.sha256(created["token"].encode()).hexdigest()
    stored = json.dumps(list(AppSession.objects.values()), default=str)
    assert created["token"] not in stored and created["token"][4:] not in stored

    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    with time_machine.travel(expires + 31, tick=False):
        refused(call("get", "/api/v1/holder/me", token), "it has expired: sign in again")
        me = call("get", "/api/v1/holder/me", created["token"])
        assert me.status_code == 200, me.content
        assert me.json()["licence"]["number"] == lic.number
        for path in ("/me/movements", "/letters", "/forecast", "/access-log", "/share-codes", "/sessions"):
            assert call("get", f"/api/v1/holder{path}", created["token"]).status_code == 200, path
        shared = call("post", "/api/v1/holder/share-codes", created["token"], {"days": 7})
        assert shared.status_code == 201 and ShareCode.objects.get().holder_id == lic.holder_id
        # A session does not open another: that takes the provider's word (else it would outlive its end).
        again = call("post", "/api/v1/holder/sessions", created["token"], {"device": "Autre"})
        assert again.status_code == 403 and "sign in again through FranceConnect" in again.json()["error"]
        assert AppSession.objects.count() == 1


def test_the_last_use_is_recorded_at_most_once_a_minute(provider, lic) -> None:
    token = opened(signed_in(provider, lic))
    opened_at = AppSession.objects.get().last_used_at
    with time_machine.travel(opened_at + dt.timedelta(seconds=59), tick=False):
        assert call("get", "/api/v1/holder/me", token).status_code == 200
    assert AppSession.objects.get().last_used_at == opened_at  # no write within the minute
    later = opened_at + dt.timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        assert call("get", "/api/v1/holder/me", token).status_code == 200
        (listed,) = call("get", "/api/v1/holder/sessions", token).json()["sessions"]
    assert AppSession.objects.get().last_used_at == later
    assert same(listed["last_used_at"], later) and same(listed["expires_at"], later + dt.timedelta(days=30))


def test_a_session_unused_too_long_or_past_its_end_is_refused(provider, lic) -> None:
    idle = opened(signed_in(provider, lic), "Tablette")
    start = AppSession.objects.get().created_at
    with time_machine.travel(start + dt.timedelta(days=30, seconds=1), tick=False):
        refused(
            call("get", "/api/v1/holder/me", idle),
            "it is not an open application session (unknown, expired or signed out): sign in again",
        )
    # Used every 29 days, a session still ends 90 days after it opened.
    used = opened(sign_in(provider)["id_token"], "Téléphone")
    start = AppSession.objects.get(device="Téléphone").created_at
    for day in (29, 58, 87):
        with time_machine.travel(start + dt.timedelta(days=day), tick=False):
            assert call("get", "/api/v1/holder/me", used).status_code == 200, day
    with time_machine.travel(start + dt.timedelta(days=90, seconds=1), tick=False):
        refused(
            call("get", "/api/v1/holder/me", used),
            "it is not an open application session (unknown, expired or signed out): sign in again",
        )


def test_signing_out_of_the_application_ends_its_session_only(provider, lic) -> None:
    token = signed_in(provider, lic)
    ours, kept = opened(token, "iPhone"), opened(sign_in(provider)["id_token"], "iPad")
    listed = call("get", "/api/v1/holder/sessions", ours).json()["sessions"]
    assert [s["device"] for s in listed] == ["iPad", "iPhone"]  # the latest used first
    assert set(listed[0]) == {"id", "device", "created_at", "last_used_at", "expires_at"}  # never the token
    assert ours not in json.dumps(listed) and kept not in json.dumps(listed)
    out = call("delete", "/api/v1/holder/sessions/current", ours)
    assert out.status_code == 204, out.content
    assert AppSession.objects.get(device="iPhone").revoked_at is not None
    refused(
        call("get", "/api/v1/holder/me", ours),
        "it is not an open application session (unknown, expired or signed out): sign in again",
    )
    assert call("delete", "/api/v1/holder/sessions/current", ours).status_code == 401
    assert [s["device"] for s in call("get", "/api/v1/holder/sessions", kept).json()["sessions"]] == ["iPad"]
    # With the provider's token there is no session to end.
    none = call("delete", "/api/v1/holder/sessions/current", token)
    assert none.status_code == 404 and "identity provider's token" in none.json()["error"]


def test_a_session_whose_account_is_unlinked_or_inactive_is_refused(provider, lic) -> None:
    token = opened(signed_in(provider, lic))
    link = HolderLink.objects.get()
    link.delete()
    why = "it is not an open application session (unknown, expired or signed out): sign in again"
    refused(call("get", "/api/v1/holder/me", token), why)
    HolderLink.objects.create(user=link.user, holder=lic.holder, method=LinkMethod.FRANCECONNECT)
    assert call("get", "/api/v1/holder/me", token).status_code == 200  # linked again to the same file
    User.objects.filter(pk=link.user_id).update(is_active=False)
    refused(call("get", "/api/v1/holder/me", token), why)


NO_FILE = (
    "no licence file is linked to this identity: sign in once on the website with FranceConnect and link it "
    "(Mon espace, rattacher mon permis), then try again"
)


def test_an_inactive_accounts_provider_token_reaches_no_file(provider, lic) -> None:
    """A disabled account's identity opens neither the file nor a session (which would never work): 403, as an
    identity with no file, even when the token also carries the identity pivot."""
    token = signed_in(provider, lic)
    user = HolderLink.objects.get().user
    User.objects.filter(pk=user.pk).update(is_active=False)
    for method, path in [("get", "/me"), ("get", "/sessions"), ("post", "/sessions")]:
        response = call(method, f"/api/v1/holder{path}", token, {"device": "iPhone"})
        assert response.status_code == 403, (path, response.content)
        assert response.json() == {"error": NO_FILE}
    assert not AppSession.objects.exists()

    from tests.api import partners

    partners.holder_token("primes-the-test-key")
    pivot = {k: v for k, v in identity_of(lic.holder).__dict__.items() if k != "note"}
    now = int(time.time())
    claims = {"iss": provider.url, "aud": "permis-dev", "sub": subject(token), "iat": now, "exp": now + 600}
    with_pivot = jwt.encode(
        {**claims, **pivot}, partners._TEST_KEY[0], algorithm="RS256", headers={"kid": "test-key"}
    )
    response = call("get", "/api/v1/holder/me", with_pivot)
    assert response.status_code == 403 and response.json() == {"error": NO_FILE}
    User.objects.filter(pk=user.pk).update(is_active=True)
    assert call("get", "/api/v1/holder/me", with_pivot).status_code == 200


def test_another_holder_neither_sees_nor_ends_the_holders_sessions(provider, lic, other) -> None:
    ours = opened(signed_in(provider, lic), "iPhone de Camille")
    theirs = opened(signed_in(provider, other, identity=1), "Android de Dominique")
    assert [s["device"] for s in call("get", "/api/v1/holder/sessions", theirs).json()["sessions"]] == [
        "Android de Dominique"
    ]
    assert call("get", "/api/v1/holder/me", theirs).json()["birth_name"] == "DURAND"
    assert call("delete", "/api/v1/holder/sessions/current", theirs).status_code == 204
    assert call("get", "/api/v1/holder/me", ours).status_code == 200  # theirs ended, ours not
    # From the portal: another account's session answers as an unknown one, and stays open.
    mine = AppSession.objects.get(device="iPhone de Camille")
    client = Client()
    client.force_login(User.objects.get(pk=AppSession.objects.get(device="Android de Dominique").user_id))
    assert client.post(f"/compte/securite/applications/{mine.pk}/deconnecter/").status_code == 404
    assert "iPhone de Camille" not in client.get("/compte/securite/").content.decode()
    assert call("get", "/api/v1/holder/me", ours).status_code == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "device: Field required"),
        ({"device": ""}, "device: String should have at least 1 character"),
        ({"device": "   "}, "device: String should have at least 1 character"),
        ({"device": "x" * 81}, "device: String should have at most 80 characters"),
        ({"device": 7}, "device: Input should be a valid string"),
        ({"device": "iPhone", "holder": 1}, "holder: unknown field"),
        *(
            ({"device": device}, f"device: {UNPRINTABLE}")
            for device in ("a\u202eb", "\u0085x", "x\n\ty", "iPhone\n", "iPhone\u00a0X", "\u200bx", "x\u2028")
        ),
    ],
)
def test_a_session_with_a_bad_device_is_refused(provider, lic, body, error) -> None:
    response = call("post", "/api/v1/holder/sessions", signed_in(provider, lic), body)
    assert response.status_code == 422, response.content
    assert response.json()["error"] == error
    assert not AppSession.objects.exists()


def test_a_device_with_a_nul_character_is_400(provider, lic) -> None:
    token = signed_in(provider, lic)
    response = call("post", "/api/v1/holder/sessions", token, {"device": "iPhone\u0000"})
    assert response.status_code == 400
    assert response.json() == {"error": "the body contains a NUL character (\\u0000), which no field accepts"}
    assert not AppSession.objects.exists()
    ok = call("post", "/api/v1/holder/sessions", token, {"device": "x" * 80})
    assert ok.status_code == 201


def test_a_session_needs_an_account_linked_to_the_file(provider, lic) -> None:
    """A token naming the file by the identity pivot alone (a provider's JWT access token may carry it) opens
    the file, but has no account to keep a session on."""
    from tests.api import partners

    partners.holder_token("primes-the-test-key")
    pivot = {k: v for k, v in identity_of(lic.holder).__dict__.items() if k != "note"}
    now = int(time.time())
    claims = {"iss": provider.url, "aud": "permis-dev", "sub": "no-account", "iat": now, "exp": now + 600}
    token = jwt.encode(
        {**claims, **pivot}, partners._TEST_KEY[0], algorithm="RS256", headers={"kid": "test-key"}
    )
    assert call("get", "/api/v1/holder/me", token).status_code == 200
    for method in ("post", "get"):
        response = call(method, "/api/v1/holder/sessions", token, {"device": "iPhone"})
        assert response.status_code == 403, response.content
        assert response.json()["error"].startswith("application sessions belong to an account")
    assert not AppSession.objects.exists()


def test_refused_session_tokens_count_against_the_address(provider, lic, settings) -> None:
    settings.API_HOLDER_REFUSED_LIMIT = 2
    good = opened(signed_in(provider, lic))
    for n in range(2):
        bad = call("get", "/api/v1/holder/me", f"pas_made-up-{n}", REMOTE_ADDR="10.9.9.12")
        assert bad.status_code == 401 and bad["WWW-Authenticate"].startswith('Bearer realm="permis", error=')
    held = call("get", "/api/v1/holder/me", good, REMOTE_ADDR="10.9.9.12")
    assert held.status_code == 429 and int(held["Retry-After"]) >= 1
    assert call("get", "/api/v1/holder/me", good, REMOTE_ADDR="10.9.9.13").status_code == 200


ENDED = "it was issued before the account's sessions were ended (log out everywhere, or a new password): sign in again"


def test_log_out_everywhere_and_a_new_password_end_the_application_sessions_and_the_provider_tokens(
    provider, lic
) -> None:
    """Ending the sessions ends the applications' too, and the provider tokens issued until then (one may be left
    behind, valid minutes) no longer open the file nor a session: at every endpoint, a refused token (401,
    counted). A token of a sign-in after that works."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    token = signed_in(provider, lic)
    first = opened(token)
    kept = sign_in(provider)["id_token"]  # a second token of the same sign-in moment, not used yet
    user = HolderLink.objects.get().user
    client = Client()
    client.force_login(user)
    assert client.post("/compte/deconnexion/partout/").status_code == 302
    assert call("get", "/api/v1/holder/me", first).status_code == 401
    assert AppSession.objects.get().revoked_at is not None
    for stale in (token, kept):
        for method, path in [
            ("post", "/sessions"),
            ("get", "/me"),
            ("get", "/sessions"),
            ("get", "/letters"),
        ]:
            refused(call(method, f"/api/v1/holder{path}", stale, {"device": "iPhone"}), ENDED)
    assert AppSession.objects.count() == 1 and Account.objects.get(user=user).sessions_reset_at is not None
    assert Failure.objects.filter(key=f"{REFUSED}:address:127.0.0.1").count() == 1 + 8  # the session's, these

    with time_machine.travel(timezone.now() + dt.timedelta(seconds=1)):  # a new sign-in, a second later
        second = opened(sign_in(provider)["id_token"])
        assert call("get", "/api/v1/holder/me", second).status_code == 200
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        browser = Client()
        link = browser.get(f"/compte/mot-de-passe/{uid}/{default_token_generator.make_token(user)}/")
        assert link.status_code == 302
        password = "un mot de passe tout neuf 2026"
        response = browser.post(link["Location"], {"new_password1": password, "new_password2": password})
        assert response.status_code == 302, response.content
        assert call("get", "/api/v1/holder/me", second).status_code == 401
        refused(
            call("post", "/api/v1/holder/sessions", sign_in(provider)["id_token"], {"device": "X"}), ENDED
        )


def test_one_provider_token_opens_one_session(provider, lic) -> None:
    token = signed_in(provider, lic)
    first = opened(token, "iPhone")
    for device in ("iPhone", "Autre"):
        again = call("post", "/api/v1/holder/sessions", token, {"device": device})
        assert again.status_code == 409, again.content
        assert again.json() == {
            "error": "this identity provider token has already opened an application session: sign in again "
            "through FranceConnect to open another"
        }
    # Nor once that session is ended; and the same claims written another way are the same token.
    assert call("delete", "/api/v1/holder/sessions/current", first).status_code == 204
    assert call("post", "/api/v1/holder/sessions", token, {"device": "iPhone"}).status_code == 409
    # Base64's padding, which the token's check accepts (as some issuers send it), spells the same token anew.
    respelt = token + "=" * (-len(token.rsplit(".", 1)[1]) % 4)
    assert respelt != token and call("get", "/api/v1/holder/me", respelt).status_code == 200
    assert call("post", "/api/v1/holder/sessions", respelt, {"device": "iPhone"}).status_code == 409
    assert AppSession.objects.count() == 1
    claims = jwt.decode(token, options={"verify_signature": False})
    assert AppSession.objects.get().provider_token_hash == app_sessions.provider_token_hash(claims)
    # Another sign-in opens another.
    assert opened(sign_in(provider)["id_token"], "iPad").startswith("pas_")


def test_an_account_keeps_at_most_ten_sessions_the_least_recently_used_ends(provider, lic) -> None:
    start = timezone.now()
    tokens = []
    for n in range(10):
        with time_machine.travel(start + dt.timedelta(minutes=n), tick=False):
            provider_token = signed_in(provider, lic) if n == 0 else sign_in(provider)["id_token"]
            tokens.append(opened(provider_token, f"Appareil {n}"))
    with time_machine.travel(start + dt.timedelta(minutes=20), tick=False):
        assert call("get", "/api/v1/holder/me", tokens[0]).status_code == 200  # the first, used again
    with time_machine.travel(start + dt.timedelta(minutes=30), tick=False):
        eleventh = opened(sign_in(provider)["id_token"], "Appareil 10")
        listed = call("get", "/api/v1/holder/sessions", eleventh).json()["sessions"]
    assert len(listed) == 10
    assert "Appareil 1" not in [s["device"] for s in listed]  # the least recently used: the second opened
    assert AppSession.objects.get(device="Appareil 1").revoked_at is not None
    refused(
        call("get", "/api/v1/holder/me", tokens[1]),
        "it is not an open application session (unknown, expired or signed out): sign in again",
    )
    assert call("get", "/api/v1/holder/me", tokens[0]).status_code == 200
    # Sessions that no longer work do not count: one signed out leaves room for the next without ending another.
    assert call("delete", "/api/v1/holder/sessions/current", tokens[2]).status_code == 204
    with time_machine.travel(start + dt.timedelta(minutes=31), tick=False):
        opened(sign_in(provider)["id_token"], "Appareil 11")
    assert AppSession.objects.filter(revoked_at__isnull=True).count() == 10
    assert set(AppSession.objects.filter(revoked_at__isnull=False).values_list("device", flat=True)) == {
        "Appareil 1",
        "Appareil 2",
    }
    assert app_sessions.MAX_ACTIVE == 10  # as documented
