"""The seal of every licence (``services.core.identity_seal``), computed for the rows already stored: a file in
service verifies as before, and from now on a change of a licence's numbers, of its holder's identity, of the
licence's fields the engine reads or of its categories made outside the services is found by `permis verify`.

The licences are read by ranges of ids (their holders joined, their categories in one query per range) and each
range's seals are written in one statement (PostgreSQL) rather than one per row: memory and statements stay
bounded by the range whatever the file's size."""

from django.db import migrations, models

from permis.registry.services.core import (
    CATEGORY_SEALED_FIELDS,
    ENGINE_LICENCE_FIELDS,
    IDENTITY_FIELDS,
    identity_seal,
)

BATCH = 2000


def seal_existing(apps, schema_editor) -> None:
    connection = schema_editor.connection
    Licence = apps.get_model("registry", "Licence")
    Category = apps.get_model("registry", "Category")
    licences = Licence.objects.using(connection.alias)
    categories = Category.objects.using(connection.alias)
    columns = (
        "id",
        "number",
        "dossier_number",
        "holder_id",
        *(f"holder__{name}" for name in IDENTITY_FIELDS),
        *ENGINE_LICENCE_FIELDS,
    )
    identity_end = 4 + len(IDENTITY_FIELDS)
    last = 0
    while True:
        rows = list(licences.filter(id__gt=last).order_by("id").values_list(*columns)[:BATCH])
        if not rows:
            return
        first, last = rows[0][0], rows[-1][0]
        held: dict[int, list[tuple]] = {}
        for licence_id, *category in categories.filter(
            licence_id__gte=first, licence_id__lte=last
        ).values_list("licence_id", *CATEGORY_SEALED_FIELDS):
            held.setdefault(licence_id, []).append(category)
        seals = [
            (
                identity_seal(
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    row[4:identity_end],
                    row[identity_end:],
                    held.get(row[0], ()),
                ),
                row[0],
            )
            for row in rows
        ]
        _write(connection, Licence._meta.db_table, seals)


def _write(connection, table: str, seals: list[tuple[str, int]]) -> None:
    """Each (seal, licence id) written in one statement (PostgreSQL), or one prepared statement (SQLite)."""
    quote = connection.ops.quote_name
    table, seal, id_ = quote(table), quote("seal"), quote("id")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET {seal} = v.seal FROM unnest(%s::text[], %s::bigint[]) AS v(seal, id) "  # noqa: S608 - names
                f"WHERE {table}.{id_} = v.id",
                [[row[0] for row in seals], [row[1] for row in seals]],
            )
        else:
            cursor.executemany(f"UPDATE {table} SET {seal} = %s WHERE {id_} = %s", seals)  # noqa: S608 - names


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="licence",
            name="seal",
            field=models.CharField(db_default="", default="", editable=False, max_length=64),
        ),
        migrations.RunPython(seal_existing, migrations.RunPython.noop),
    ]
