"""The account's security page lists the mobile applications kept signed in (``AppSession``) and ends them one
by one; another account's session answers as an unknown one."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from permis.accounts import app_sessions
from permis.accounts.models import Account, AppSession, HolderLink
from tests.registry import factories

pytestmark = pytest.mark.django_db
PAGE = "/compte/securite/"


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
    row, token = app_sessions.open_session(user.pk, camille.holder, "iPhone de Camille")
    with time_machine.travel(timezone.now() - dt.timedelta(days=31)):
        app_sessions.open_session(user.pk, camille.holder, "Vieille tablette")  # unused 31 days: ended
    ended, _ = app_sessions.open_session(user.pk, camille.holder, "iPad rendu")
    app_sessions.revoke(user.pk, ended.pk)
    client = signed_in(user)
    page = client.get(PAGE).content.decode()
    assert "Applications connectées" in page and '<table id="app-sessions">' in page
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
    row, token = app_sessions.open_session(camille_user.pk, camille.holder, "iPhone de Camille")
    client = signed_in(other)
    for session_id in (row.pk, row.pk + 100):
        assert client.post(f"/compte/securite/applications/{session_id}/deconnecter/").status_code == 404
    assert "iPhone de Camille" not in client.get(PAGE).content.decode()
    assert app_sessions.authenticate(token) is not None
