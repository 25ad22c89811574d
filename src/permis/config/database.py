"""A cursor for the few statements on the hot paths of the partner checks (docs/performance.md, "Partner checks").

Django's PostgreSQL backend sends every statement with its values written into the text (psycopg's client-side
binding), so PostgreSQL parses and plans it anew each time: for the checks' reads that planning cost more of the
server's time than the reads themselves (0.2 ms of planning for 0.08 ms of execution). ``prepared_cursor`` gives
a cursor of the same connection whose statements are sent with server-side binding (the values apart) and
prepared: PostgreSQL parses and plans each of them once per connection (psycopg keeps the prepared statements of
a connection, up to 100, and drops them with it). It is Django's connection and transaction, wrapped as Django wraps
its own cursors: the statements appear in ``connection.queries`` and ``CaptureQueriesContext`` and its errors are
Django's. The rest of the project keeps Django's cursors; a pooler in transaction mode (PgBouncer) in front of
PostgreSQL would need psycopg's ``prepare_threshold`` turned off.
"""

from __future__ import annotations

from functools import cache

from django.db import DEFAULT_DB_ALIAS, connections

NEVER_BY_ITSELF = 1 << 30


@cache
def _cursor_class():
    from psycopg import Cursor

    class PreparingCursor(Cursor):
        """psycopg's server-side-binding cursor, every statement prepared (Django's connections set psycopg's
        automatic ``prepare_threshold`` to None)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):  # type: ignore[override]
            return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)

        def _convert_query(self, query, params=None):  # type: ignore[no-untyped-def]
            # Kept, as psycopg's executemany() and client-side cursors keep it, for Django's query log
            # (connection.queries, CaptureQueriesContext): the statement as sent, with $1, $2… for its values.
            self._query = super()._convert_query(query, params)
            return self._query

    return PreparingCursor


def prepared_cursor():
    """A cursor with server-side binding and prepared statements on Django's default connection (PostgreSQL)."""
    db = connections[
        DEFAULT_DB_ALIAS
    ]  # the connection itself: `connection` is a proxy, looked up at each use
    db.close_if_health_check_failed()
    if db.connection is None:
        db.ensure_connection()
    raw = db.connection
    if raw.prepare_threshold is None:
        # Django's connections say None, which psycopg takes as "never prepare", even when asked to. A threshold
        # too high to reach lets this cursor prepare its statements and nothing else: Django's own cursors bind
        # on the client side and never prepare, and the few server-binding ones never run a statement that often.
        raw.prepare_threshold = NEVER_BY_ITSELF
    with db.wrap_database_errors:
        # Django's own _cursor() does the same with the backend's client-side-binding cursor.
        return db._prepare_cursor(_cursor_class()(raw))
