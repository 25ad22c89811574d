"""Signatures: the QR text and the whole PDF, keys from the settings, rotation, and every kind of verdict."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from permis.notices import signing
from permis.notices.signing import Outcome

PAYLOAD = {"doc": "attestation", "licence": "123456789012", "name": "Camille MARTIN", "issued": "2026-01-10"}


def new_key(key_id: str) -> tuple[str, str]:
    return signing.generate_key(key_id)


def test_a_signed_text_verifies_and_says_its_facts_without_the_registry() -> None:
    text = signing.sign_payload({**PAYLOAD, "valid_until": "2026-05-10"})
    assert text.startswith("PERMIS1.dev.")
    verdict = signing.verify(text, on=dt.date(2026, 2, 1), registry_lookup=False)
    assert verdict.outcome is Outcome.VALID and verdict.valid
    assert verdict.payload["licence"] == "123456789012" and verdict.payload["v"] == 1
    assert not verdict.registry_checked
    assert "n’a pas pu être consultée" in str(verdict.message)
    assert ("Numéro de permis", "123456789012") in verdict.facts


def test_the_payload_is_canonical_json() -> None:
    assert signing.canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    text = signing.sign_payload({"b": 1, "a": "é"})
    _, _, body, _ = signing.parse(text)
    assert body == '{"a":"é","b":1,"v":1}'.encode()


def test_one_changed_character_of_the_qr_text_is_tampered() -> None:
    text = signing.sign_payload(PAYLOAD)
    head, key_id, payload, signature = text.split(".")
    for i in (0, len(payload) // 2, len(payload) - 1):
        changed = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1 :]
        verdict = signing.verify(f"{head}.{key_id}.{changed}.{signature}", registry_lookup=False)
        assert verdict.outcome is Outcome.TAMPERED, i
    changed_sig = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BA")
    assert signing.verify(f"{head}.{key_id}.{payload}.{changed_sig}", registry_lookup=False).outcome is (
        Outcome.TAMPERED
    )


@pytest.mark.parametrize(
    "text",
    ["", "garbage", "PERMIS1.dev.x", "PERMIS2.dev.e30.AA", "PERMIS1.dev.!!!.AA", "PERMIS1.d.e.v.e30.AA"],
)
def test_malformed_texts_are_tampered(text: str) -> None:
    verdict = signing.verify(text, registry_lookup=False)
    assert verdict.outcome is Outcome.TAMPERED
    assert verdict.detail


def test_a_text_pasted_over_several_lines_still_verifies() -> None:
    text = signing.sign_payload(PAYLOAD)
    wrapped = "\n".join(text[i : i + 60] for i in range(0, len(text), 60))
    assert signing.verify(wrapped, registry_lookup=False).valid


def test_past_its_validity_the_document_is_expired() -> None:
    text = signing.sign_payload({**PAYLOAD, "valid_until": "2026-05-10"})
    assert signing.verify(text, on=dt.date(2026, 5, 10), registry_lookup=False).valid
    verdict = signing.verify(text, on=dt.date(2026, 5, 11), registry_lookup=False)
    assert verdict.outcome is Outcome.EXPIRED
    assert "11 mai 2026" in str(verdict.message)


def test_a_digital_licence_qr_expires_at_its_signed_minute_not_at_the_end_of_the_day() -> None:
    now = dt.datetime(2026, 5, 10, 12, 0, tzinfo=dt.UTC)
    text = signing.sign_payload({**PAYLOAD, "exp": (now + dt.timedelta(minutes=10)).isoformat()})
    with time_machine.travel(now + dt.timedelta(minutes=9), tick=False):
        assert signing.verify(text, registry_lookup=False).valid
    with time_machine.travel(now + dt.timedelta(minutes=11), tick=False):
        verdict = signing.verify(text, registry_lookup=False)
    assert verdict.outcome is Outcome.EXPIRED
    naive = signing.sign_payload({**PAYLOAD, "exp": "2026-05-10T12:10:00"})
    assert signing.verify(naive, registry_lookup=False).outcome is Outcome.TAMPERED


def test_key_rotation_keeps_old_documents_verifiable_and_an_unknown_key_is_named() -> None:
    old_private, old_public = new_key("k2025")
    new_private, new_public = new_key("k2026")
    with override_settings(SIGNING_KEY=old_private, VERIFY_KEYS=[]):
        old_text = signing.sign_payload(PAYLOAD)
        old_pdf = signing.sign_pdf(b"%PDF-1.7\n%%EOF\n")
    assert old_text.startswith("PERMIS1.k2025.")
    with override_settings(SIGNING_KEY=new_private, VERIFY_KEYS=[old_public]):
        assert signing.verify(old_text, registry_lookup=False).valid
        assert signing.sign_payload(PAYLOAD).startswith("PERMIS1.k2026.")
        _, key_id, _ = signing.split_pdf(old_pdf)
        assert key_id == "k2025"
    with override_settings(SIGNING_KEY=new_private, VERIFY_KEYS=[]):
        verdict = signing.verify(old_text, registry_lookup=False)
        assert verdict.outcome is Outcome.UNKNOWN_KEY
        assert verdict.key_id == "k2025"
        assert signing.verify_pdf(old_pdf).outcome is Outcome.UNKNOWN_KEY


def test_a_key_with_a_known_id_but_other_bytes_is_tampered() -> None:
    private, _ = new_key("dev")
    with override_settings(SIGNING_KEY=private):
        text = signing.sign_payload(PAYLOAD)
    assert signing.verify(text, registry_lookup=False).outcome is Outcome.TAMPERED


@pytest.mark.parametrize(
    ("signing_key", "verify_keys", "says"),
    [
        ("no-colon", [], "key-id:base64"),
        ("bad id!:" + base64.b64encode(bytes(32)).decode(), [], "key id"),
        ("k1:%%%", [], "not valid base64"),
        ("k1:" + base64.b64encode(bytes(16)).decode(), [], "16 bytes"),
        ("", ["k2:" + base64.b64encode(bytes(31)).decode()], "PERMIS_VERIFY_KEYS"),
    ],
)
def test_malformed_keys_stop_with_the_variable_and_the_reason(
    signing_key: str, verify_keys: list[str], says: str
) -> None:
    with (
        override_settings(SIGNING_KEY=signing_key, VERIFY_KEYS=verify_keys),
        pytest.raises(ImproperlyConfigured, match=says),
    ):
        signing.keys()


def test_the_development_key_is_derived_from_the_secret_key() -> None:
    assert signing.keys().development and signing.keys().key_id == "dev"
    first = signing.sign_payload(PAYLOAD)
    with override_settings(SECRET_KEY="another-secret-for-the-test"):
        assert signing.verify(first, registry_lookup=False).outcome is Outcome.TAMPERED


def test_a_whole_file_signature_catches_one_changed_byte_anywhere() -> None:
    body = b"%PDF-1.7\n" + b"x" * 200 + b"\n%%EOF\n"
    signed = signing.sign_pdf(body)
    assert signed.startswith(body) and signed.splitlines()[-1].startswith(b"%PERMIS-SIGNATURE dev ")
    for position in (0, 5, 100, len(body) - 3):
        changed = bytearray(signed)
        changed[position] ^= 0x01
        assert signing.verify_pdf(bytes(changed)).outcome is Outcome.TAMPERED, position
    # Signed but without a payload in its metadata: not a document of this service.
    assert signing.verify_pdf(signed).outcome is Outcome.TAMPERED


@pytest.mark.parametrize("data", [b"", b"hello", b"%PDF-1.7\n%PERMIS-SIGNATURE x\n"])
def test_files_without_a_valid_signature_line_are_tampered(data: bytes) -> None:
    assert signing.verify_pdf(data).outcome is Outcome.TAMPERED


def test_a_pdf_without_any_signature_is_unsigned_not_forged() -> None:
    verdict = signing.verify_pdf(b"%PDF-1.7\n" + b"x" * 200 + b"\n%%EOF\n")
    assert verdict.outcome is Outcome.UNSIGNED and not verdict.valid
    assert verdict.title == "Document non signé par ce service"
    assert "ne porte pas de signature de ce service" in str(verdict.message)
    # The signature line removed from a signed file: unsigned too (nothing proves it, nothing claims it).
    signed = signing.sign_pdf(b"%PDF-1.7\n" + b"x" * 200 + b"\n%%EOF\n")
    assert signing.verify_pdf(signed[: signed.rindex(b"%PERMIS-SIGNATURE")]).outcome is Outcome.UNSIGNED


def test_generated_keys_load() -> None:
    private, public = signing.generate_key("k1")
    with override_settings(SIGNING_KEY=private, VERIFY_KEYS=[public]):
        assert signing.keys().key_id == "k1"
    with pytest.raises(ValueError, match="key id"):
        signing.generate_key("bad.id")
