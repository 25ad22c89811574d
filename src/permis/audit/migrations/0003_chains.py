"""The access log in several chains: a `chain` number on each entry, `seq` unique within its chain, one head per chain.

The existing entries and the existing head (id 1) become chain 0, whose genesis is the single chain's: they verify
as before. The column is added with a default, which PostgreSQL (11+) writes into the table's catalogue instead of
rewriting the rows, so no UPDATE touches the log and the append-only trigger of 0002 stays as it is (ALTER TABLE
fires no row trigger anyway). Django then drops the column's default: new entries always name their chain.

The single head was created with the explicit id 1, which left PostgreSQL's id sequence behind it: the sequence is
moved past the existing rows so that heads of new chains get fresh ids.
"""

from django.db import migrations, models

RESET_SEQUENCE = (
    "SELECT setval(pg_get_serial_sequence('audit_chainhead', 'id'), "
    "(SELECT COALESCE(MAX(id), 0) + 1 FROM audit_chainhead), false)"
)


def reset_head_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESET_SEQUENCE, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_trigger"),
        ("registry", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="accesslog",
            options={
                "ordering": ["chain", "seq"],
                "verbose_name": "consultation du dossier",
                "verbose_name_plural": "consultations du dossier",
            },
        ),
        migrations.AddField(
            model_name="accesslog",
            name="chain",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="holder_id % AUDIT_CHAINS when the entry was written",
                verbose_name="chaîne",
            ),
        ),
        migrations.AddField(
            model_name="chainhead",
            name="chain",
            field=models.PositiveSmallIntegerField(default=0, unique=True, verbose_name="chaîne"),
        ),
        migrations.AlterField(
            model_name="accesslog",
            name="seq",
            field=models.PositiveBigIntegerField(
                help_text="position in its chain: 1, 2, 3…", verbose_name="numéro d'ordre"
            ),
        ),
        migrations.AddConstraint(
            model_name="accesslog",
            constraint=models.UniqueConstraint(fields=("chain", "seq"), name="accesslog_chain_seq"),
        ),
        migrations.RunPython(reset_head_sequence, migrations.RunPython.noop, elidable=False),
    ]
