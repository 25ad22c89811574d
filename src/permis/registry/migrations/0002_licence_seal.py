"""The identity seal of every licence (``services.core.identity_seal``), computed for the rows already stored:
a file in service verifies as before, and from now on a change of a licence's numbers or of its holder's
identity made outside the services is found by `permis verify`."""

from django.db import migrations, models

from permis.registry.services.core import IDENTITY_FIELDS, identity_seal

BATCH = 2000


def seal_existing(apps, schema_editor) -> None:
    Licence = apps.get_model("registry", "Licence")
    columns = (
        "id",
        "number",
        "dossier_number",
        "holder_id",
        *(f"holder__{name}" for name in IDENTITY_FIELDS),
    )
    last = 0
    while True:
        rows = list(
            Licence.objects.using(schema_editor.connection.alias)
            .filter(id__gt=last)
            .order_by("id")
            .values_list(*columns)[:BATCH]
        )
        if not rows:
            return
        Licence.objects.using(schema_editor.connection.alias).bulk_update(
            [Licence(id=row[0], seal=identity_seal(row[0], row[1], row[2], row[3], row[4:])) for row in rows],
            ["seal"],
        )
        last = rows[-1][0]


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
