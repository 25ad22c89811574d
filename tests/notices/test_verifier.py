"""The public /verifier/ page and `permis verify-document`: every verdict, and every bad input."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.utils import timezone, translation

from permis.notices import signing
from permis.notices.documents import render_attestation, render_letter

from .document_helpers import licence_with, notice_for

pytestmark = pytest.mark.django_db

URL = "/verifier/"


@pytest.fixture
def attestation_pdf() -> bytes:
    return render_attestation(licence_with("48"), dt.date(2024, 4, 1))


def pdf_upload(data: bytes, content_type: str = "application/pdf", name: str = "attestation.pdf"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def post(client: Client, **data):
    return client.post(URL, data)


@time_machine.travel(dt.datetime(2024, 4, 2, 10, tzinfo=dt.UTC))
def test_a_valid_attestation_uploaded_shows_its_facts_and_no_points(
    client: Client, attestation_pdf: bytes
) -> None:
    page = client.get(URL)
    assert page.status_code == 200
    assert "csrfmiddlewaretoken" in page.content.decode()
    response = post(client, document=pdf_upload(attestation_pdf))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-outcome="valid"' in body and "Document authentique" in body
    assert "Attestation des droits à conduire" in body and "Catégorie B" in body
    assert "Valable jusqu’au" in body
    assert "solde" not in body.lower().split("ce que le document atteste")[1].split("</table>")[0]


@time_machine.travel(dt.datetime(2024, 4, 2, 10, tzinfo=dt.UTC))
def test_the_qr_text_pasted_gives_the_same_answer(client: Client, attestation_pdf: bytes) -> None:
    text = signing.pdf_qr_text(attestation_pdf)
    wrapped = "\n".join(text[i : i + 50] for i in range(0, len(text), 50))
    body = post(client, qr_text=wrapped).content.decode()
    assert 'data-outcome="valid"' in body


def test_expired_revoked_tampered_and_unknown_key(client: Client, attestation_pdf: bytes) -> None:
    text = signing.pdf_qr_text(attestation_pdf)
    with time_machine.travel(dt.datetime(2024, 9, 1, 10, tzinfo=dt.UTC)):
        assert 'data-outcome="expired"' in post(client, qr_text=text).content.decode()
    changed = bytearray(attestation_pdf)
    changed[len(changed) // 2] ^= 0x20
    with time_machine.travel(dt.datetime(2024, 4, 2, 10, tzinfo=dt.UTC)):
        body = post(client, document=pdf_upload(bytes(changed))).content.decode()
        assert 'data-outcome="tampered"' in body and "Document falsifié" in body
        head, key, payload, sig = text.split(".")
        body = post(client, qr_text=f"{head}.{key}.{payload[:-1]}{'B' if payload[-1] != 'B' else 'C'}.{sig}")
        assert 'data-outcome="tampered"' in body.content.decode()
        other, _ = signing.generate_key("k-other")
        with override_settings(SIGNING_KEY=other):
            assert 'data-outcome="unknown_key"' in post(client, qr_text=text).content.decode()


def test_a_revoked_letter(client: Client) -> None:
    notice = notice_for("48")
    text = signing.pdf_qr_text(render_letter(notice))
    from .document_helpers import record

    record(notice.licence, "offence_cancelled", {"offence": notice.cause, "on": "2024-04-10"}, "2024-04-11")
    with time_machine.travel(dt.datetime(2024, 4, 12, 10, tzinfo=dt.UTC)):
        body = post(client, qr_text=text).content.decode()
    assert 'data-outcome="revoked"' in body and "annulée" in body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Collez le texte du code QR ou déposez le fichier PDF"),
        ({"qr_text": "   "}, "Collez le texte du code QR ou déposez le fichier PDF"),
        ({"qr_text": "hello world"}, "devrait commencer par PERMIS1."),
        ({"qr_text": "PERMIS1:abc"}, "avec un point après PERMIS1"),
        ({"qr_text": "PERMIS1:é€"}, "avec un point après PERMIS1"),
        ({"qr_text": "PERMIS1"}, "avec un point après PERMIS1"),
        ({"qr_text": "PERMIS1." + "A" * 5000}, "trop long"),
        ({"document": ("notes.txt", b"hello", "text/plain")}, "n’est pas un PDF"),
        ({"document": ("fake.pdf", b"GIF89a....", "application/pdf")}, "n’est pas un PDF"),
        ({"document": ("empty.pdf", b"", "application/pdf")}, "vide"),
        (
            {"document": ("huge.pdf", b"%PDF-" + b"0" * (6 * 1024 * 1024), "application/pdf")},
            "la limite est de 5 Mo",
        ),
    ],
)
def test_bad_inputs_are_refused_on_the_field_with_a_reason(client: Client, data: dict, message: str) -> None:
    if "document" in data:
        name, content, content_type = data["document"]
        data = {"document": SimpleUploadedFile(name, content, content_type=content_type)}
    response = post(client, **data)
    body = response.content.decode()
    assert response.status_code == 400
    assert message in body
    assert "data-outcome" not in body


def test_a_qr_text_starting_with_permis1_is_not_told_to_start_with_it(client: Client) -> None:
    body = post(client, qr_text="PERMIS1:abc").content.decode()
    assert "devrait commencer par PERMIS1" not in body


def test_a_pdf_without_our_signature_is_unsigned_not_forged(client: Client) -> None:
    """A PDF that never carried a signature (any other PDF) is not called forged (L3)."""
    other = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    response = post(client, document=pdf_upload(other, name="brochure.pdf"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-outcome="unsigned"' in body and "Document non signé par ce service" in body
    assert "ne porte pas de signature de ce service" in body
    assert "falsifié" not in body


def test_the_command_says_a_pdf_without_our_signature_is_unsigned(tmp_path: Path) -> None:
    path = tmp_path / "other.pdf"
    path.write_bytes(b"%PDF-1.4\n%%EOF\n")
    code, out, _ = run(str(path))
    assert code == 1 and out.startswith("unsigned: Document non signé par ce service")
    code, out, _ = run(str(path), "--json")
    assert code == 1 and '"outcome": "unsigned"' in out


def test_a_signed_pdf_and_a_qr_text_together_are_refused(client: Client, attestation_pdf: bytes) -> None:
    response = post(
        client, qr_text=signing.pdf_qr_text(attestation_pdf), document=pdf_upload(attestation_pdf)
    )
    assert response.status_code == 400 and "pas les deux" in response.content.decode()


def test_head_is_answered_like_get(client: Client) -> None:
    assert client.head(URL).status_code == client.get(URL).status_code == 200
    assert client.put(URL).status_code == 405


def test_csrf_is_required() -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post(URL, {"qr_text": "PERMIS1.x.y.z"}).status_code == 403


def test_the_english_page() -> None:
    with translation.override("fr"):  # the middleware activates English for the thread; put French back after
        body = Client().get("/en/verifier/").content.decode()
    assert '<html lang="en"' in body and "Check a document" in body


# -- the command ---------------------------------------------------------------------------------------------------
def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify-document", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code)
    except CommandError as error:
        code, err = error.returncode, io.StringIO(str(error))
    return code, out.getvalue(), err.getvalue()


def test_the_command_checks_a_file_and_a_text(tmp_path: Path, attestation_pdf: bytes) -> None:
    path = tmp_path / "attestation.pdf"
    path.write_bytes(attestation_pdf)
    code, out, _ = run(str(path), "--on", "2024-04-02")
    assert code == 0 and out.startswith("valid: Document authentique")
    assert "registry checked: yes" in out and "Catégorie B" in out
    code, out, _ = run(signing.pdf_qr_text(attestation_pdf), "--on", "2024-09-01")
    assert code == 1 and out.startswith("expired:")
    code, out, _ = run(str(path), "--on", "2024-04-02", "--offline", "--json")
    assert code == 0 and '"registry_checked": false' in out
    text_file = tmp_path / "qr.txt"
    text_file.write_text(signing.pdf_qr_text(attestation_pdf) + "\n")
    assert run(str(text_file), "--on", "2024-04-02")[0] == 0


def test_the_command_catches_one_changed_byte(tmp_path: Path, attestation_pdf: bytes) -> None:
    changed = bytearray(attestation_pdf)
    changed[1000] ^= 0x01
    path = tmp_path / "changed.pdf"
    path.write_bytes(bytes(changed))
    code, out, _ = run(str(path), "--on", "2024-04-02")
    assert code == 1 and out.startswith("tampered:")


@pytest.mark.parametrize("content", [None, b"", b"just some words", b"\x00\xff\x00binary"])
def test_the_command_says_unreadable_input(tmp_path: Path, content: bytes | None) -> None:
    if content is None:
        argument = str(tmp_path / "missing.pdf")
    else:
        (tmp_path / "input").write_bytes(content)
        argument = str(tmp_path / "input")
    code, _, err = run(argument)
    assert code == 2, err
    assert err


def test_the_command_says_a_garbage_qr_text_is_tampered() -> None:
    assert run("PERMIS1.dev.garbage.garbage")[0] == 1
    assert run("")[0] == 2


def test_keys_generate_prints_both_lines() -> None:
    out = io.StringIO()
    call_command("keys", "generate", "--id", "k2027", stdout=out, stderr=io.StringIO())
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("PERMIS_SIGNING_KEY=k2027:") and lines[1].startswith(
        "PERMIS_VERIFY_KEYS=k2027:"
    )
    private, public = lines[0].split("=", 1)[1], lines[1].split("=", 1)[1]
    with override_settings(SIGNING_KEY=private, VERIFY_KEYS=[public]):
        assert signing.keys().key_id == "k2027"
    with pytest.raises(CommandError, match="key id"):
        call_command("keys", "generate", "--id", "bad id", stdout=io.StringIO(), stderr=io.StringIO())


def test_the_document_command_writes_each_kind(tmp_path: Path) -> None:
    notice = notice_for("48")
    out = io.StringIO()
    call_command("document", "letter", str(notice.pk), "--out", str(tmp_path / "l.pdf"), stdout=out)
    call_command(
        "document",
        "attestation",
        notice.licence.number,
        "--on",
        "2024-04-01",
        "--out",
        str(tmp_path / "a.pdf"),
        stdout=out,
    )
    call_command("document", "rii", notice.licence.number, "--out", str(tmp_path / "r.pdf"), stdout=out)
    for name in ("l.pdf", "a.pdf", "r.pdf"):
        assert signing.verify_pdf((tmp_path / name).read_bytes(), registry_lookup=False).outcome in (
            signing.Outcome.VALID,
            signing.Outcome.EXPIRED,
        )
    with pytest.raises(CommandError, match="no Notice with id 999999"):
        call_command("document", "letter", "999999", "--out", str(tmp_path / "x.pdf"))
    lic = notice.licence
    later = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    for kind in ("attestation", "rii"):  # a document states what the file holds, on a day it could hold it
        with pytest.raises(CommandError, match=f"--on: {later} is after today"):
            call_command("document", kind, lic.number, "--on", later, "--out", str(tmp_path / "f.pdf"))
        before = (lic.obtained_on - dt.timedelta(days=1)).isoformat()
        with pytest.raises(CommandError, match=f"--on: {before} is before the licence was obtained"):
            call_command("document", kind, lic.number, "--on", before, "--out", str(tmp_path / "f.pdf"))
    assert not (tmp_path / "f.pdf").exists()
    with pytest.raises(CommandError, match="no licence numbered 'NOPE1'"):
        call_command("document", "rii", "NOPE1", "--out", str(tmp_path / "x.pdf"))


def test_the_command_refuses_a_huge_file_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as file:
        file.write(b"%PDF-1.7\n")
        file.truncate(21 * 1024 * 1024)  # sparse: nothing is written
    code, _, err = run(str(huge))
    assert code == 2 and "larger than 20 MB" in err
