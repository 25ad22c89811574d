"""A signed-in page reads its session, its account and the account's file in one statement
(permis.accounts.signed_in, docs/adr/0003-one-query-signed-in-pages.md): every check of Django's own path still
holds. Run on SQLite and, with DATABASE_URL=postgres://..., on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import inspect
import re

import pytest
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains

from permis.accounts import sessions, signed_in
from permis.accounts.access import linked_file
from permis.accounts.models import Account, AccountSession, HolderLink
from permis.accounts.signed_in import SQL, SessionStore, tables
from permis.registry.models import Holder, Licence
from tests.registry.factories import holder as make_holder
from tests.registry.factories import licence as make_licence

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.portal.dossier_urls")]

DASHBOARD = "dossier:dashboard"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()  # kept pages are keyed by ids, which repeat from test to test


def _licence(birth_name: str = "MARTIN", given_names: str = "Camille", **fields) -> Licence:
    return make_licence(
        dt.date(2015, 3, 1),
        on=dt.date(2024, 1, 1),
        holder=make_holder(birth_name=birth_name, given_names=given_names, email=f"{given_names}@example.fr"),
        **fields,
    )


def _account(username: str, holder: Holder | None = None):
    user = get_user_model().objects.create_user(username, password="a long enough password")
    Account.objects.create(user=user)  # a holders' account: only those see a file
    if holder is not None:
        HolderLink.objects.create(user=user, holder=holder, method="licence_form")
    return user


def _signed_in(user, backend: str | None = None) -> Client:
    client = Client()
    client.force_login(user, backend=backend)
    return client


def _session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _goes_to_login(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


def test_the_session_engine_is_the_one_that_reads_the_account_with_the_session() -> None:
    assert settings.SESSION_ENGINE == "permis.accounts.signed_in"
    assert "permis.accounts.signed_in.AuthenticationMiddleware" in settings.MIDDLEWARE


def test_a_signed_in_holders_dashboard_is_one_statement() -> None:
    lic = _licence()
    client = _signed_in(_account("camille", lic.holder))
    client.get(reverse(DASHBOARD))  # computes and keeps the page
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(DASHBOARD))
    assertContains(response, 'id="balance"')
    assertContains(response, "Camille")
    assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]


def test_the_file_read_with_the_session_is_the_one_the_orm_reads() -> None:
    """Same holder, same current licence (CURRENT_LICENCE_FIRST), same projection as ``linked_file``."""
    lic = _licence()
    newer = make_licence(dt.date(2020, 6, 1), on=dt.date(2024, 1, 1), holder=lic.holder)
    user = _account("camille", lic.holder)
    client = _signed_in(user)
    store = SessionStore(_session_key(client))
    store.load()
    assert store.signed_in is not None and store.signed_in.user == user
    holder, licence = store.signed_in.file  # type: ignore[misc]
    expected_holder, expected = linked_file(user.pk)  # type: ignore[misc]
    assert licence == newer == expected and holder == expected_holder
    assert [getattr(holder, f.attname) for f in Holder._meta.concrete_fields] == [
        getattr(expected_holder, f.attname) for f in Holder._meta.concrete_fields
    ]
    assert [getattr(licence, f.attname) for f in Licence._meta.concrete_fields] == [
        getattr(expected, f.attname) for f in Licence._meta.concrete_fields
    ]
    projection, expected_projection = licence.projection, expected.projection
    assert [getattr(projection, f.attname) for f in type(projection)._meta.concrete_fields] == [
        getattr(expected_projection, f.attname) for f in type(projection)._meta.concrete_fields
    ]
    with CaptureQueriesContext(connection) as queries:
        assert licence.holder is holder and licence.projection.licence is licence
    assert queries.captured_queries == []


def test_an_expired_session_is_refused() -> None:
    lic = _licence()
    client = _signed_in(_account("camille", lic.holder))
    Session.objects.filter(session_key=_session_key(client)).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    assert _goes_to_login(client.get(reverse(DASHBOARD)))


def test_a_new_password_ends_the_session() -> None:
    lic = _licence()
    user = _account("camille", lic.holder)
    client = _signed_in(user)
    assert client.get(reverse(DASHBOARD)).status_code == 200
    user.set_password("another long enough password")
    user.save()
    assert _goes_to_login(client.get(reverse(DASHBOARD)))
    assert not Session.objects.filter(session_key=_session_key(client)).exists()  # flushed, as Django does


def test_an_inactive_account_is_refused() -> None:
    lic = _licence()
    user = _account("camille", lic.holder)
    client = _signed_in(user)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert _goes_to_login(client.get(reverse(DASHBOARD)))


def test_log_out_everywhere_ends_the_session() -> None:
    lic = _licence()
    user = _account("camille", lic.holder)
    first, second = _signed_in(user), _signed_in(user)
    assert first.get(reverse(DASHBOARD)).status_code == 200
    assert sessions.end_all(user) == 2
    assert _goes_to_login(first.get(reverse(DASHBOARD)))
    assert _goes_to_login(second.get(reverse(DASHBOARD)))


def test_a_holder_sees_only_the_file_linked_to_the_account() -> None:
    camille, lucien = _licence(), _licence("DURAND", "Lucien")
    client = _signed_in(_account("camille", camille.holder))
    _signed_in(_account("lucien", lucien.holder))
    response = client.get(reverse(DASHBOARD))
    assertContains(response, "Camille")
    assertNotContains(response, "Lucien")


def test_a_session_recorded_for_another_account_still_shows_only_its_own_file() -> None:
    """The statement joins the account through the session's record; the user the session holds decides. A record
    that disagrees (it cannot, short of a bug) makes the read ignored, never another holder's file shown."""
    camille, lucien = _licence(), _licence("DURAND", "Lucien")
    client = _signed_in(_account("camille", camille.holder))
    lucien_account = _account("lucien", lucien.holder)
    AccountSession.objects.filter(session_key=_session_key(client)).update(user=lucien_account)
    response = client.get(reverse(DASHBOARD))
    assertContains(response, "Camille")
    assertNotContains(response, "Lucien")


def test_a_session_without_its_record_takes_django_s_usual_path() -> None:
    lic = _licence()
    client = _signed_in(_account("camille", lic.holder))
    AccountSession.objects.all().delete()
    client.get(reverse(DASHBOARD))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(DASHBOARD))
    assertContains(response, "Camille")
    assert len(queries.captured_queries) == 3  # the session, then the user, then the file


def test_a_holder_without_a_licence_gets_the_no_licence_page_in_one_statement() -> None:
    holder = make_holder()
    holder.save()
    client = _signed_in(_account("camille", holder))
    client.get(reverse(DASHBOARD))  # the first request touches the session (its idle expiry)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(DASHBOARD))
    assert response.status_code == 200
    assert "portal/dossier/no_licence.html" in [t.name for t in response.templates]
    assert len(queries.captured_queries) == 1


def test_an_account_without_a_file_goes_to_the_linking_page() -> None:
    client = _signed_in(_account("nolink"))
    response = client.get(reverse(DASHBOARD))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:link")


def test_a_franceconnect_session_is_read_in_one_statement_too() -> None:
    lic = _licence()
    client = _signed_in(_account("camille", lic.holder), backend="permis.accounts.oidc.FranceConnectBackend")
    client.get(reverse(DASHBOARD))
    with CaptureQueriesContext(connection) as queries:
        assertContains(client.get(reverse(DASHBOARD)), "Camille")
    assert len(queries.captured_queries) == 1


def test_a_session_of_a_backend_no_longer_configured_is_refused(settings) -> None:
    lic = _licence()
    client = _signed_in(_account("camille", lic.holder), backend="permis.accounts.oidc.FranceConnectBackend")
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    assert _goes_to_login(client.get(reverse(DASHBOARD)))


def test_an_unknown_or_forged_session_key_is_no_session() -> None:
    lic = _licence()
    _signed_in(_account("camille", lic.holder))
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    assert _goes_to_login(client.get(reverse(DASHBOARD)))
    store = SessionStore("x" * 32)
    assert store.load() == {} and store.signed_in is None and store.session_key is None


def test_the_statement_names_the_models_tables_and_columns() -> None:
    for table, model in tables().items():
        assert model._meta.db_table == table
    columns = {field.column for model in tables().values() for field in model._meta.concrete_fields}
    named = re.findall(r'\w\."(\w+)"', SQL)
    assert named and set(named) <= columns


def _code(function) -> str:
    """A function's body without its docstring, comments and whitespace."""
    body = inspect.getsource(function).split('"""', 2)[2]
    return "".join("".join(line.split("#")[0] for line in body.splitlines()).split())


def test_get_user_is_django_s_but_for_where_the_user_comes_from() -> None:
    """``signed_in.get_user`` is a copy of Django's: a Django upgrade that changes the original fails here."""
    django_s = _code(auth.get_user).replace("from.modelsimportAnonymousUser", "")
    ours = (
        _code(signed_in.get_user)
        .replace("auth._get_user_session_key", "_get_user_session_key")
        .replace("_backend_user(backend,user_id,request.session)", "backend.get_user(user_id)")
    )
    assert ours == django_s


@pytest.mark.postgres
def test_on_postgresql_the_statement_is_prepared_once_per_connection() -> None:
    """permis.config.database.prepared_cursor: PostgreSQL plans the seven tables' join once per connection."""
    lic = _licence()
    client = _signed_in(_account("camille", lic.holder))
    for _ in range(2):
        assert client.get(reverse(DASHBOARD)).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert sum('FROM "django_session"' in sql for sql in prepared) == 1
