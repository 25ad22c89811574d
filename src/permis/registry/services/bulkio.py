"""Bulk writing for the service layer's batch paths: COPY on PostgreSQL, batched INSERT elsewhere."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import DEFAULT_DB_ALIAS, connection, connections, models


def copy_rows(
    model: type[models.Model], names: Sequence[str], rows: Iterable[Sequence], batch: int = 5000
) -> int:
    """Write rows (values in the order of `names`) into the model's table; returns how many were written."""
    fields = [model._meta.get_field(name) for name in names]
    # The connection itself, not the thread-local proxy `connection`: each value is prepared for it, and going
    # through the proxy for every value was a sixth of `permis demo`'s time.
    db = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    count = 0
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        with (
            connection.connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row([field.get_db_prep_save(value, db) for field, value in zip(fields, row)])
                count += 1
        return count
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608 (names come from the models)
    pending: list[list] = []
    with connection.cursor() as cursor:
        for row in rows:
            pending.append([field.get_db_prep_save(value, db) for field, value in zip(fields, row)])
            if len(pending) >= batch:
                cursor.executemany(sql, pending)
                count += len(pending)
                pending = []
        if pending:
            cursor.executemany(sql, pending)
            count += len(pending)
    return count


def reset_sequences(*models_: type[models.Model]) -> None:
    """After writing explicit ids, move PostgreSQL's id sequences past them."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models_:
            table = model._meta.db_table
            pk = model._meta.pk.column
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE((SELECT MAX({pk}) FROM {table}), 1))",  # noqa: S608
                [table, pk],
            )
