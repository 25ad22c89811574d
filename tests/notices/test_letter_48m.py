"""The 48M is a registered letter (RULES.md, "Engine defaults for the uncertain points", `letter_48m`: "sent as
48M (registered) instead of 48"; §6, its form: "Registered letter"). By post it is planned, printed, dated and
shown as one; an electronic holder has it in the account, as the 48 it replaces (only the 48N and 48SI go by post
whatever the holder chose: PRODUCT.md §5). The label, the plan and the document say the same."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from permis.notices import legal, services
from permis.notices.documents import render_letter
from permis.notices.models import Delivery, DeliveryStatus
from permis.notices.receipts import record_postal_receipt
from permis.portal.demarches.views import _letter
from permis.portal.labels import LETTER_LABELS
from permis.registry.models import Event, Notice
from tests.notices.document_helpers import notice_for
from tests.notices.legal_helpers import delivery, notice, paris
from tests.notices.test_documents import text_of
from tests.registry.factories import holder, licence

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ADDRESS = {"address": "12 rue des Lilas", "postal_code": "75011", "city": "PARIS"}
REGISTERED_HEADER = "LETTRE RECOMMANDÉE AVEC AVIS DE RÉCEPTION"


def channels(item: Notice) -> list[str]:
    return sorted(Delivery.objects.filter(notice=item).values_list("channel", flat=True))


def test_a_48m_by_post_is_planned_as_a_registered_letter_an_electronic_one_follows_the_choice() -> None:
    by_post = licence(holder=holder(**ADDRESS, notice_channel="post"))
    online = licence(holder=holder(**ADDRESS, notice_channel="electronic", email="c@example.fr"))
    due = dt.date(2026, 3, 1)
    letters = {
        (lic.holder.notice_channel, code): Notice.objects.create(
            licence=lic, code=code, cause=code, due_on=due
        )
        for lic in (by_post, online)
        for code in ("48", "48M", "48N")
    }
    services.plan_deliveries(now=NOW)
    assert channels(letters["post", "48M"]) == ["registered"]  # instead of the simple letter, not both
    assert channels(letters["post", "48"]) == ["post"]
    assert channels(letters["post", "48N"]) == ["registered"]
    assert channels(letters["electronic", "48M"]) == ["account", "email"]  # as the 48
    assert channels(letters["electronic", "48"]) == ["account", "email"]
    assert channels(letters["electronic", "48N"]) == ["account", "email", "registered"]
    assert sorted(services.POSTAL_REGISTERED_CODES) == ["48M", "48N", "48SI"]
    assert sorted(services.REGISTERED_CODES) == ["48N", "48SI"]


def test_the_48m_sent_by_post_is_printed_and_queued_as_a_registered_letter(settings, tmp_path: Path) -> None:
    settings.PRINT_QUEUE_DIR = tmp_path
    letter = notice_for("48M")  # a licence left at 6 points; its holder gets letters by post (the default)
    owner = letter.licence.holder
    owner.address = "12 rue des Lilas"  # one line: the print queue refuses a line break in a line
    owner.save(update_fields=["address"])
    assert REGISTERED_HEADER in text_of(render_letter(letter))  # before planning: as it will go
    services.plan_deliveries(now=NOW)
    services.deliver_due(worker="w1", batch=50, now=NOW)
    row = Delivery.objects.get(notice=letter)
    assert (row.channel, row.status) == ("registered", DeliveryStatus.DELIVERED), row.last_error
    assert REGISTERED_HEADER in text_of(Path(row.document_path).read_bytes())
    with (tmp_path / "2026-03-02" / "manifest.csv").open(encoding="utf-8") as manifest:
        (line,) = list(csv.DictReader(manifest))
    assert (line["code"], line["registered"], line["reference"]) == ("48M", "1", row.provider_ref)
    assert REGISTERED_HEADER in text_of(render_letter(letter))  # the copy the holder or an agent downloads


def test_an_electronic_holders_48m_is_not_printed_as_a_registered_letter() -> None:
    letter = notice_for("48M")
    owner = letter.licence.holder
    owner.notice_channel, owner.email = "electronic", "c@example.fr"
    owner.save(update_fields=["notice_channel", "email"])
    assert "LETTRE RECOMMANDÉE" not in text_of(render_letter(letter))
    services.plan_deliveries(now=NOW)
    assert channels(letter) == ["account", "email"]
    assert "LETTRE RECOMMANDÉE" not in text_of(render_letter(letter))


def test_the_receipt_of_a_48m_sent_by_post_is_the_day_it_was_notified() -> None:
    letter = notice("48M")
    registered = delivery(letter, "registered", sent_at=paris(2024, 4, 2, 9))
    shown = _letter(letter)
    assert (shown.legal_channel, shown.received_on) == ("registered", None)  # "pas encore connue"
    outcome = record_postal_receipt(
        registered, kind="not_collected", on=dt.date(2024, 4, 4), source="api:Poste"
    )
    assert outcome.event is None and not Event.objects.filter(kind="invalidation_notified").exists()
    assert legal.received_on(letter) == dt.date(2024, 4, 4)
    shown = _letter(Notice.objects.get(pk=letter.pk))
    assert (shown.legal_channel, shown.received_on) == ("registered", dt.date(2024, 4, 4))


def test_the_legal_channel_of_each_letter() -> None:
    assert legal.legal_channel("48M", ["registered"]) == "registered"
    assert legal.legal_channel("48M", ["account", "email"]) == "account"
    assert legal.legal_channel("48", ["post"]) == ""
    assert legal.legal_channel("48", []) == ""
    assert legal.legal_channel("48SI", []) == "registered"  # even before it is planned
    assert legal.legal_channel("48N", ["account", "email", "registered"]) == "registered"


def test_the_labels_say_registered_only_where_it_always_is() -> None:
    for code, label in LETTER_LABELS.items():
        if "recommandée" in str(label):
            assert code in services.REGISTERED_CODES, (code, str(label))
    assert (
        str(LETTER_LABELS["48M"]) == "Retrait de points qui laisse 6 points ou moins : un stage est conseillé"
    )
