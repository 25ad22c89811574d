"""The account's security page lists the mobile applications kept signed in (``AppSession``) and ends them one
by one; another account's session answers as an unknown one. "Log out everywhere" from the portal ends the
provider token of the portal's own sign-in for the holder's API too."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from permis.accounts import app_sessions
from permis.accounts.fcdev import FcDevServer
from permis.accounts.models import Account, AppSession, HolderLink
from tests.api.partners import call
from tests.registry import factories

from .conftest import identity_for
from .test_franceconnect import sign_in_with_franceconnect

pytestmark = pytest.mark.django_db
PAGE = "/compte/securite/"
_NONCES = itertools.count()


def provider_claims() -> dict[str, Any]:
    """The claims of a provider token, a new one each time (one token opens one session)."""
    return {"sub": "s", "iat": int(timezone.now().timestamp()), "nonce": str(next(_NONCES))}


def holder_account(username: str, holder: Any) -> User:
    user = User.objects.create_user(username, email=f"{username}@example.fr")
    Account.objects.create(user=user, franceconnect_sub=f"sub-{username}")
    HolderLink.objects.create(user=user, holder=holder, method="franceconnect")
    return user


def signed_in(user: User, **options: Any) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def test_the_security_page_lists_the_applications_and_ends_one(camille: Any) -> None:
    user = holder_account("camille", camille.holder)
    row, token = app_sessions.open_session(user.pk, camille.holder, "iPhone de Camille", provider_claims())
    with time_machine.travel(timezone.now() - dt.timedelta(days=31)):
        app_sessions.open_session(
            user.pk, camille.holder, "Vieille tablette", provider_claims()
        )  # unused 31 days: ended
    ended, _ = app_sessions.open_session(user.pk, camille.holder, "iPad rendu", provider_claims())
    app_sessions.revoke(user.pk, ended.pk)
    client = signed_in(user)
    page = client.get(PAGE).content.decode()
    assert "Applications connectées" in page and '<table id="app-sessions">' in page
    assert '<th scope="col">Fin de la session, sauf nouvelle utilisation</th>' in page
    assert '<th scope="row">iPhone de Camille</th>' in page
    assert "Vieille tablette" not in page and "iPad rendu" not in page and token not in page
    action = f"/compte/securite/applications/{row.pk}/deconnecter/"
    assert f'action="{action}"' in page
    assert re.search(r'Déconnecter<span class="fr-sr-only"> iPhone de Camille</span></button>', page)

    assert client.get(action).status_code == 405  # a POST only
    assert signed_in(user, enforce_csrf_checks=True).post(action).status_code == 403  # CSRF
    assert AppSession.objects.get(pk=row.pk).revoked_at is None
    response = client.post(action, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    page = response.content.decode()
    assert "L’application « iPhone de Camille » est déconnectée." in page
    assert "Aucune application n’est connectée à votre compte." in page
    assert AppSession.objects.get(pk=row.pk).revoked_at is not None
    assert app_sessions.authenticate(token) is None
    assert client.post(action).status_code == 302  # again: nothing changes


def test_another_accounts_session_answers_as_an_unknown_one(camille: Any) -> None:
    theirs = factories.licence(number="OTH0000000001", dossier_number="990000000102")
    camille_user = holder_account("camille", camille.holder)
    other = holder_account("dominique", theirs.holder)
    row, token = app_sessions.open_session(
        camille_user.pk, camille.holder, "iPhone de Camille", provider_claims()
    )
    client = signed_in(other)
    for session_id in (row.pk, row.pk + 100):
        assert client.post(f"/compte/securite/applications/{session_id}/deconnecter/").status_code == 404
    assert "iPhone de Camille" not in client.get(PAGE).content.decode()
    assert app_sessions.authenticate(token) is not None


def test_log_out_everywhere_refuses_the_provider_token_of_the_portals_sign_in(
    fc: FcDevServer, identities: list[Any], camille: Any
) -> None:
    """The portal's FranceConnect ID token lives minutes and ends in the provider's logout address (so in a
    shared computer's history): after "log out everywhere" it opens neither the file nor an application session
    at the holder's API."""
    cache.clear()  # the provider's keys of another test's server
    identities[:] = [identity_for(camille.holder)]
    client = Client()
    sign_in_with_franceconnect(client, fc, 0)
    token = client.session["oidc_id_token"]
    assert (
        call("get", "/api/v1/holder/me", token).status_code == 200
    )  # the portal's token, at the holder's API
    out = client.post("/compte/deconnexion/partout/")
    assert out.status_code == 302 and parse_qs(urlsplit(out["Location"]).query)["id_token_hint"] == [token]
    why = (
        "the access token is refused: it was issued before the account's sessions were ended (log out "
        "everywhere, or a new password): sign in again"
    )
    for method, path in [("post", "/sessions"), ("get", "/me")]:
        response = call(method, f"/api/v1/holder{path}", token, {"device": "Ordinateur partagé"})
        assert response.status_code == 401 and response.json() == {"error": why}, response.content
    assert not AppSession.objects.exists()
    cache.clear()
