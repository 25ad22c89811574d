"""A signed-in request in one database round trip: the session, its account and the account's file.

Without this, a holder's page made three: Django's session, then Django's user, then the file
(``access.linked_file``), each through the ORM; on a page kept whole in the cache those three were most of its
cost (docs/performance.md, "Citizen portal"). Here the session engine's ``load`` reads, in one hand-written
statement (docs/adr/0003-one-query-signed-in-pages.md), the session row and, joined to it through the record
of the account that opened it (``AccountSession``, written at login for "log out everywhere"): the user, the
holder linked to the account, the holder's current licence (``CURRENT_LICENCE_FIRST``) and its projection. It
keeps them on the session as ``signed_in``; ``get_user`` (the authentication middleware below) and
``@holder_required`` take them from there instead of asking again.

Nothing of the checks changes, only where the rows come from:

- the session is read only if it has not expired, as Django's database engine does (same row, same test);
- the user is the one whose id the session holds: a stashed user of another id is ignored (and Django's backend
  asked); the backend's own test still applies (``ModelBackend``: the account is active), then the session's
  authentication hash is checked exactly as ``django.contrib.auth.get_user`` does (a new password ends the
  session);
- "log out everywhere" deletes the session rows, so the statement finds nothing;
- the file is the one linked to that same user id, read in the same statement, and only if that user is a
  holders' account (an ``Account`` row): an agent's user never has a file here, whatever ``HolderLink`` says.

A session with no ``AccountSession`` record (opened before the record existed), a backend other than the two the
site uses, or an asynchronous request, takes Django's usual path: the same answer, more queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.auth.middleware import auser
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import DEFAULT_DB_ALIAS, connections, models, router
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from permis.config.database import prepared_cursor
from permis.registry.models import CURRENT_LICENCE_FIRST, Holder, Licence, Projection

from .models import Account, AccountSession, HolderLink

File = tuple[Holder, Licence | None]


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What the session's statement read besides the session: the account that opened it (None when the session
    has no record of it) and that account's file (None when the account is not linked)."""

    user: Any
    file: File | None


class _Part:
    """One model's columns in the statement: their SQL, and how a row's values become an instance."""

    def __init__(self, model: type[models.Model], alias: str, connection: Any) -> None:
        quote = connection.ops.quote_name
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.names = [field.attname for field in self.fields]
        self.sql = ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)
        # The ORM's own conversions of each column (SQLite's dates and booleans, JSON...), as its compiler
        # applies them to a select_related row.
        self.converters: list[tuple[int, list[Callable[..., Any]], Any]] = []
        for index, field in enumerate(self.fields):
            column = field.get_col(alias)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                self.converters.append((index, found, column))
        self.pk_index = self.fields.index(model._meta.pk)

    def build(self, values: Sequence[Any], db: str, connection: Any) -> models.Model | None:
        if values[self.pk_index] is None:  # the LEFT JOIN found no row
            return None
        values = list(values)
        for index, found, column in self.converters:
            for convert in found:
                values[index] = convert(values[index], column, connection)
        return self.model.from_db(db, self.names, values)


# The tables as Django names them (``TABLES``; a test checks they are the models' tables); the column lists come
# from the models, the order of a holder's licences from CURRENT_LICENCE_FIRST. The same text runs on SQLite and
# PostgreSQL. Only the session key and the time are values, both passed as parameters.
SQL = """\
SELECT s."session_data", {user}, {holder}, {licence}, {projection}
FROM "django_session" s
LEFT JOIN "accounts_accountsession" a ON a."session_key" = s."session_key"
LEFT JOIN "auth_user" u ON u."id" = a."user_id"
LEFT JOIN "accounts_holderlink" k ON k."user_id" = u."id"
    AND EXISTS (SELECT 1 FROM "accounts_account" x WHERE x."user_id" = u."id")
LEFT JOIN "registry_holder" h ON h."id" = k."holder_id"
LEFT JOIN "registry_licence" l ON l."id" = (
    SELECT c."id" FROM "registry_licence" c WHERE c."holder_id" = h."id" ORDER BY {current_licence_first} LIMIT 1
)
LEFT JOIN "registry_projection" p ON p."licence_id" = l."id"
WHERE s."session_key" = %s AND s."expire_date" > %s
"""


def tables() -> dict[str, type[models.Model]]:
    """Each table the statement names, and its model."""
    return {
        "django_session": SessionStore.get_model_class(),
        "accounts_accountsession": AccountSession,
        "accounts_account": Account,
        "auth_user": get_user_model(),
        "accounts_holderlink": HolderLink,
        "registry_holder": Holder,
        "registry_licence": Licence,
        "registry_projection": Projection,
    }


class _Statement:
    """The statement's text and its row's parts, made once per database from the models."""

    def __init__(self, connection: Any) -> None:
        self.parts = [
            _Part(get_user_model(), "u", connection),
            _Part(Holder, "h", connection),
            _Part(Licence, "l", connection),
            _Part(Projection, "p", connection),
        ]
        self.sql = SQL.format(
            user=self.parts[0].sql,
            holder=self.parts[1].sql,
            licence=self.parts[2].sql,
            projection=self.parts[3].sql,
            current_licence_first=", ".join(
                _order_column(Licence, name, connection.ops.quote_name) for name in CURRENT_LICENCE_FIRST
            ),
        )

    def read(self, session_key: str, db: str) -> tuple[str, SignedIn] | None:
        """(the session's encoded data, what was read with it), or None: no such session, or expired."""
        connection = connections[db]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        # On PostgreSQL, prepared once per connection: planning the seven tables' join cost the server more than
        # running it (permis.config.database).
        prepared = connection.vendor == "postgresql" and db == DEFAULT_DB_ALIAS
        with prepared_cursor() if prepared else connection.cursor() as cursor:
            cursor.execute(self.sql, [session_key, now])
            row = cursor.fetchone()
        if row is None:
            return None
        objects = []
        start = 1
        for part in self.parts:
            objects.append(part.build(row[start : start + len(part.fields)], db, connection))
            start += len(part.fields)
        user, holder, licence, projection = objects
        if holder is None:
            return row[0], SignedIn(user, None)
        if licence is not None:
            # What select_related("holder", "projection") leaves on the licence: no query to reach either.
            Licence._meta.get_field("holder").set_cached_value(licence, holder)
            Licence._meta.get_field("projection").set_cached_value(licence, projection)
            if projection is not None:
                Projection._meta.get_field("licence").set_cached_value(projection, licence)
        return row[0], SignedIn(user, (holder, licence))  # type: ignore[arg-type]


def _order_column(model: type[models.Model], name: str, quote: Callable[[str], str]) -> str:
    """One item of a model's ordering ("-obtained_on", "pk") as SQL on the alias ``c``."""
    descending = name.startswith("-")
    name = name.lstrip("-")
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    return f"c.{quote(field.column)} {'DESC' if descending else 'ASC'}"


_statements: dict[str, _Statement] = {}


class SessionStore(DatabaseSessionStore):
    """Django's database sessions, read with the account and its file (``signed_in``) in the same statement."""

    signed_in: SignedIn | None = None

    def load(self) -> dict[str, Any]:
        self.signed_in = None
        db = router.db_for_read(self.model)
        statement = _statements.get(db)
        if statement is None:
            statement = _statements[db] = _Statement(connections[db])
        found = statement.read(self.session_key, db)  # type: ignore[arg-type]  # load() is called with a key
        if found is None:
            self._session_key = None  # as Django's engine does: a new session will have a new key
            return {}
        data, self.signed_in = found
        return self.decode(data)

    def flush(self) -> None:
        self.signed_in = None  # signed out: nothing read with the old session may serve this request any more
        super().flush()


def _backend_user(backend: Any, user_id: Any, session: Any) -> Any:
    """``backend.get_user(user_id)``, without its query when the session's statement read that user.

    Only for the two backends whose ``get_user`` is known: ModelBackend's (the user if it may authenticate: an
    active account) and mozilla-django-oidc's (the user). Any other asks the backend.
    """
    signed_in = getattr(session, "signed_in", None)
    user = None if signed_in is None else signed_in.user
    if user is None or user.pk != user_id:
        return backend.get_user(user_id)
    kind = type(backend)
    if isinstance(backend, ModelBackend) and kind.get_user is ModelBackend.get_user:
        return user if backend.user_can_authenticate(user) else None
    if isinstance(backend, OIDCAuthenticationBackend) and kind.get_user is OIDCAuthenticationBackend.get_user:
        return user
    return backend.get_user(user_id)


def get_user(request: HttpRequest) -> Any:
    """``django.contrib.auth.get_user`` (Django 5.2), line for line, but for where the user comes from
    (``_backend_user``): the same backend test, the same session hash check, the same fallbacks. On a Django
    upgrade, compare it with the new ``django.contrib.auth.get_user``."""
    user = None
    try:
        user_id = auth._get_user_session_key(request)
        backend_path = request.session[BACKEND_SESSION_KEY]
    except KeyError:
        pass
    else:
        if backend_path in settings.AUTHENTICATION_BACKENDS:
            backend = load_backend(backend_path)
            user = _backend_user(backend, user_id, request.session)
            # Verify the session
            if hasattr(user, "get_session_auth_hash"):
                session_hash = request.session.get(HASH_SESSION_KEY)
                if not session_hash:
                    session_hash_verified = False
                else:
                    session_auth_hash = user.get_session_auth_hash()
                    session_hash_verified = constant_time_compare(session_hash, session_auth_hash)
                if not session_hash_verified:
                    # If the current secret does not verify the session, try with the fallback secrets and
                    # stop when a matching one is found.
                    if session_hash and any(
                        constant_time_compare(session_hash, fallback_auth_hash)
                        for fallback_auth_hash in user.get_session_auth_fallback_hash()
                    ):
                        request.session.cycle_key()
                        request.session[HASH_SESSION_KEY] = session_auth_hash
                    else:
                        request.session.flush()
                        user = None
    return user or AnonymousUser()


def _cached_user(request: HttpRequest) -> Any:
    if not hasattr(request, "_cached_user"):
        request._cached_user = get_user(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined]


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    """Django's, with ``request.user`` from ``get_user`` above (the user read with the session)."""

    def process_request(self, request: HttpRequest) -> None:
        if not hasattr(request, "session"):
            super().process_request(request)  # Django's error: the session middleware must come first
        request.user = SimpleLazyObject(partial(_cached_user, request))  # type: ignore[assignment]
        request.auser = partial(auser, request)  # type: ignore[attr-defined]
