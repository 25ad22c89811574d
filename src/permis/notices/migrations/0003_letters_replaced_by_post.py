"""Letters whose e-mail alert failed and that went by post were left `failed` before the roll-up learnt that the
postal letter takes the e-mail's place (``permis.notices.services.replaced_by_post``): bring them in line, by the
same rule as ``_roll_up`` (written out here with the historical models, as a migration must)."""

from __future__ import annotations

from collections import defaultdict

from django.db import migrations

REGISTERED_CODES = ("48N", "48SI")  # registered from the start: their postal letter replaces nothing
POSTAL = ("post", "registered")


def forwards(apps, schema_editor) -> None:
    Notice = apps.get_model("registry", "Notice")
    Delivery = apps.get_model("notices", "Delivery")
    candidates = list(
        Notice.objects.filter(status="failed")
        .exclude(code__in=REGISTERED_CODES)
        .filter(deliveries__channel="email", deliveries__status="failed")
        .values_list("pk", flat=True)
        .distinct()
    )
    for start in range(0, len(candidates), 1000):
        chunk = candidates[start : start + 1000]
        rows = defaultdict(list)
        for notice_id, channel, status in Delivery.objects.filter(notice_id__in=chunk).values_list(
            "notice_id", "channel", "status"
        ):
            rows[notice_id].append((channel, status))
        targets = defaultdict(list)
        for notice_id, found in rows.items():
            posted = any(channel in POSTAL for channel, _status in found)
            if not posted:
                continue  # no postal letter took the e-mail's place: a failure indeed
            statuses = {
                status for channel, status in found if not (channel == "email" and status == "failed")
            }
            if "failed" in statuses:
                continue
            if statuses == {"delivered"}:
                target = "delivered"
            elif "temporary_failure" in statuses:
                target = "temporary_failure"
            else:
                target = "sending"
            targets[target].append(notice_id)
        for target, members in targets.items():
            Notice.objects.filter(pk__in=members, status="failed").update(status=target)


class Migration(migrations.Migration):
    dependencies = [("notices", "0002_address_confirmation"), ("registry", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
