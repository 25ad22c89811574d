"""The back office's copy of a letter (``/gestion/dossiers/<pk>/lettre.pdf?lettre=<id>``): bad ids are a 404, and
only a letter actually shown is written to the access log."""

from __future__ import annotations

import pytest

from permis.audit.models import AccessLog
from permis.registry import services as registry
from permis.registry.models import Notice
from tests.registry.factories import offence

from .helpers import agent, client_for, file_in, open_with_purpose

pytestmark = pytest.mark.django_db


@pytest.fixture
def opened():
    lic = file_in("75011")
    registry.record_event(
        lic,
        "offence",
        offence("2024-01-10", "2024-02-01", 3, "C4"),
        source="feed",
        sender="T",
        source_ref="L1",
    )
    client = client_for(agent())
    open_with_purpose(client, lic, "holder_request")
    return client, lic, Notice.objects.get(licence=lic)


@pytest.mark.parametrize("value", ["²", "³", "٣", "1²", "-1", "0", "", "abc", "9" * 30, "1.0", " 1"])
def test_a_letter_id_that_is_not_ascii_digits_or_names_no_letter_is_a_404_and_logs_nothing(
    opened, value
) -> None:
    client, lic, _notice = opened
    before = AccessLog.objects.count()
    response = client.get(f"/gestion/dossiers/{lic.pk}/lettre.pdf", {"lettre": value})
    assert response.status_code == 404
    assert AccessLog.objects.count() == before


def test_another_files_letter_is_a_404_and_logs_nothing(opened) -> None:
    client, _lic, notice = opened
    other = file_in("75012")
    open_with_purpose(client, other)
    before = AccessLog.objects.count()
    assert client.get(f"/gestion/dossiers/{other.pk}/lettre.pdf", {"lettre": notice.pk}).status_code == 404
    assert AccessLog.objects.count() == before


def test_the_letter_shown_is_logged_once(opened) -> None:
    client, lic, notice = opened
    before = AccessLog.objects.count()
    response = client.get(f"/gestion/dossiers/{lic.pk}/lettre.pdf", {"lettre": notice.pk})
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert AccessLog.objects.count() == before + 1
    assert AccessLog.objects.order_by("-at", "-seq").first().shown == ["lettre envoyée (PDF)"]


def test_an_event_id_that_is_not_ascii_digits_is_a_404_and_logs_nothing(opened) -> None:
    client, lic, _notice = opened
    before = AccessLog.objects.count()
    for value in ("²", "9" * 30):
        assert client.get(f"/gestion/dossiers/{lic.pk}/corriger/", {"evenement": value}).status_code == 404
    assert AccessLog.objects.count() == before
