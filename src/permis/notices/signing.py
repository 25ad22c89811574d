"""Signatures of the documents the service issues (letters, attestation of driving rights, RII).

Anyone holding a document can check it offline with the service's public key: the QR code printed on it
carries the facts and their signature, and the PDF file carries a signature of its exact bytes.

The QR text (docs/documents.md)::

    PERMIS1.<key-id>.<base64url(payload)>.<base64url(signature)>

- ``PERMIS1`` names the format (version 1); ``key-id`` is the signing key's name (letters, digits, ``_``, ``-``);
- ``payload`` is the canonical JSON of the facts: sorted keys, no whitespace, UTF-8 (``ensure_ascii=False``),
  with a ``v`` field (the payload's version);
- ``signature`` is the Ed25519 signature of the ASCII text ``PERMIS1.<key-id>.<base64url(payload)>``, so the
  version and the key id are signed too. Base64url is written without padding.

The whole file: after WeasyPrint writes the PDF, ``sign_pdf`` appends one comment line after ``%%EOF``::

    %PERMIS-SIGNATURE <key-id> <base64url(signature of the bytes before this line)>

PDF readers ignore a comment after the end of the file, so the document still opens everywhere; one changed
byte anywhere before the line breaks the signature. The QR text is also stored in the PDF's information
dictionary (``/permisqr``), so the facts can be checked from the file alone.

Keys come from the settings: ``SIGNING_KEY`` (``key-id:base64 of the 32-byte raw Ed25519 private key``) signs;
``VERIFY_KEYS`` (``key-id:base64 of the 32-byte raw public key``, a list) are the public keys still accepted,
and the current key's public half is always accepted. After a rotation the old public key stays in
``VERIFY_KEYS`` so that the documents it signed keep verifying.

Development key: when ``SIGNING_KEY`` is empty a key is derived from ``SECRET_KEY`` (key id ``dev``). The
settings refuse to start without ``PERMIS_SIGNING_KEY`` when ``PERMIS_DEBUG`` is false, so an empty key at run
time means a development (or test) process; documents signed with it are worthless anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

PREFIX = "PERMIS1"
PAYLOAD_VERSION = 1
DEV_KEY_ID = "dev"
PDF_MARK = b"%PERMIS-SIGNATURE "
PDF_DOMAIN = b"PERMIS-PDF1\n"  # signed before the file's bytes, so a file signature is never a QR signature
PDF_METADATA_KEY = "permisqr"  # WeasyPrint keeps the lower-cased letters and digits of a <meta> name
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


# -- keys -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Keys:
    """The signing key and every public key accepted, by key id."""

    key_id: str
    private: Ed25519PrivateKey
    public: dict[str, Ed25519PublicKey]
    development: bool


def _b64decode(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    if "-" in text or "_" in text:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)


def _split_key(variable: str, item: str) -> tuple[str, bytes]:
    key_id, sep, encoded = item.strip().partition(":")
    if not sep:
        raise ImproperlyConfigured(f"{variable}: {item[:12]!r}… must be written key-id:base64")
    if not _KEY_ID.match(key_id):
        raise ImproperlyConfigured(
            f"{variable}: the key id {key_id!r} must be 1 to 32 letters, digits, '_' or '-'"
        )
    try:
        raw = _b64decode(encoded)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{variable}: the key {key_id!r} is not valid base64") from None
    if len(raw) != 32:
        raise ImproperlyConfigured(
            f"{variable}: the key {key_id!r} is {len(raw)} bytes long; an Ed25519 key is 32 raw bytes"
        )
    return key_id, raw


def _public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@functools.lru_cache(maxsize=8)
def _load(signing_key: str, verify_keys: tuple[str, ...], secret_key: str) -> Keys:
    development = not signing_key
    if development:
        seed = hashlib.sha256(b"permis-development-signing-key:" + secret_key.encode()).digest()
        key_id, private = DEV_KEY_ID, Ed25519PrivateKey.from_private_bytes(seed)
    else:
        key_id, raw = _split_key("PERMIS_SIGNING_KEY", signing_key)
        private = Ed25519PrivateKey.from_private_bytes(raw)
    public: dict[str, Ed25519PublicKey] = {}
    for item in verify_keys:
        if not item.strip():
            continue
        other_id, raw = _split_key("PERMIS_VERIFY_KEYS", item)
        if other_id in public and _public_raw(public[other_id]) != raw:
            raise ImproperlyConfigured(f"PERMIS_VERIFY_KEYS: the key id {other_id!r} is given twice")
        public[other_id] = Ed25519PublicKey.from_public_bytes(raw)
    own = private.public_key()
    if key_id in public and _public_raw(public[key_id]) != _public_raw(own):
        raise ImproperlyConfigured(
            f"PERMIS_VERIFY_KEYS: the key id {key_id!r} is the signing key's but its public key differs "
            "(give each new key a new id)"
        )
    public[key_id] = own
    return Keys(key_id, private, public, development)


def keys() -> Keys:
    """The configured keys (read once per distinct setting, so tests can override the settings)."""
    verify = settings.VERIFY_KEYS
    if isinstance(verify, str):
        verify = verify.split(",")
    return _load(settings.SIGNING_KEY or "", tuple(verify or ()), settings.SECRET_KEY)


def generate_key(key_id: str = "") -> tuple[str, str]:
    """A new key: the PERMIS_SIGNING_KEY value and the matching PERMIS_VERIFY_KEYS item."""
    key_id = key_id or dt.datetime.now(dt.UTC).strftime("k%Y%m%d")
    if not _KEY_ID.match(key_id):
        raise ValueError(f"the key id {key_id!r} must be 1 to 32 letters, digits, '_' or '-'")
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return (
        f"{key_id}:{base64.b64encode(raw).decode()}",
        f"{key_id}:{base64.b64encode(_public_raw(private.public_key())).decode()}",
    )


# -- payload and QR text --------------------------------------------------------------------------------------
def canonical(payload: Mapping[str, Any]) -> bytes:
    """The one byte string a payload is signed as: sorted keys, no whitespace, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_payload(payload: Mapping[str, Any]) -> str:
    """The QR text of a payload, signed with the current key (the version field is added)."""
    current = keys()
    body = {**payload, "v": PAYLOAD_VERSION}
    head = f"{PREFIX}.{current.key_id}.{b64url(canonical(body))}"
    return f"{head}.{b64url(current.private.sign(head.encode('ascii')))}"


def state_fingerprint(status: str, suspended: bool, categories: list[Mapping[str, Any]]) -> str:
    """A short fingerprint of what an attestation asserts: the state, the suspension, the categories.

    When the registry's current fingerprint differs from the one signed, the document is "revoked".
    """
    items = sorted(
        [
            c["code"],
            str(c.get("obtained_on") or ""),
            str(c.get("expires_on") or ""),
            c.get("restrictions") or "",
        ]
        for c in categories
    )
    data = {"status": status, "suspended": bool(suspended), "categories": items}
    return hashlib.sha256(canonical(data)).hexdigest()[:24]


# -- verification ---------------------------------------------------------------------------------------------
class Outcome(enum.StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    TAMPERED = "tampered"
    UNSIGNED = "unsigned"  # a PDF that carries no signature of this service at all (verify_pdf only)
    UNKNOWN_KEY = "unknown_key"


OUTCOME_TITLES: dict[Outcome, Promise] = {
    Outcome.VALID: _("Document authentique"),
    Outcome.EXPIRED: _("Document expiré"),
    Outcome.REVOKED: _("Document révoqué"),
    Outcome.TAMPERED: _("Document falsifié ou illisible"),
    Outcome.UNSIGNED: _("Document non signé par ce service"),
    Outcome.UNKNOWN_KEY: _("Clé de signature inconnue"),
}


@dataclass
class Verdict:
    """What a check found. ``message`` says, in words a person can act on, what it means and what to do."""

    outcome: Outcome
    message: str | Promise
    payload: dict[str, Any] | None = None
    key_id: str | None = None
    registry_checked: bool = False
    detail: str = ""  # the technical reason, for logs and the command's output
    facts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.outcome is Outcome.VALID

    @property
    def title(self) -> str:
        return str(OUTCOME_TITLES[self.outcome])


def _tampered(detail: str, key_id: str | None = None) -> Verdict:
    return Verdict(
        Outcome.TAMPERED,
        _(
            "La signature ne correspond pas au contenu : le document a été modifié, ou le texte du code QR est "
            "incomplet. Ne vous fiez pas à ce document ; demandez à son titulaire d’en télécharger un nouveau."
        ),
        key_id=key_id,
        detail=detail,
    )


def _unsigned(detail: str) -> Verdict:
    return Verdict(
        Outcome.UNSIGNED,
        _(
            "Ce PDF ne porte pas de signature de ce service : il n’a pas été émis par ce service, ou il a été "
            "enregistré de nouveau (imprimé en PDF, converti…) et a perdu sa signature. Rien ne prouve ce qu’il "
            "dit : demandez à son titulaire le fichier téléchargé depuis son espace, ou vérifiez le texte de son "
            "code QR."
        ),
        detail=detail,
    )


def _unknown_key(key_id: str) -> Verdict:
    return Verdict(
        Outcome.UNKNOWN_KEY,
        _(
            "Ce document est signé par une clé que ce service ne connaît pas : il n’a pas été émis par ce "
            "service, ou par une clé retirée. Ne vous y fiez pas sans l’avoir fait confirmer par la préfecture."
        ),
        key_id=key_id,
        detail=f"no public key with id {key_id!r}",
    )


def parse(text: str) -> tuple[str, str, bytes, bytes]:
    """(head, key id, payload bytes, signature) of a QR text; ValueError says what is wrong."""
    text = "".join(text.split())  # a QR text pasted over several lines
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(f"expected 4 parts separated by dots, found {len(parts)}")
    prefix, key_id, payload, signature = parts
    if prefix != PREFIX:
        raise ValueError(f"unknown format {prefix[:20]!r} (expected {PREFIX})")
    if not _KEY_ID.match(key_id):
        raise ValueError("the key id is not valid")
    try:
        payload_bytes = _b64url_decode(payload)
        signature_bytes = _b64url_decode(signature)
    except (ValueError, binascii.Error):
        raise ValueError("the payload or the signature is not base64url") from None
    return f"{prefix}.{key_id}.{payload}", key_id, payload_bytes, signature_bytes


def verify(text: str, *, on: dt.date | None = None, registry_lookup: bool = True) -> Verdict:
    """Check a QR text: its signature, its validity date and, when the registry answers, whether it still holds.

    ``on`` is the day of the check (today by default). With ``registry_lookup=False`` (or when the registry is
    unreachable) a well-signed document in date is "valid" with ``registry_checked`` false, which the message
    says: the signature is proven, the licence's present state is not.
    """
    from django.utils import timezone

    on = on or timezone.localdate()
    try:
        head, key_id, payload_bytes, signature = parse(text)
    except ValueError as error:
        return _tampered(f"malformed QR text: {error}")
    public = keys().public.get(key_id)
    if public is None:
        return _unknown_key(key_id)
    try:
        public.verify(signature, head.encode("ascii"))
    except InvalidSignature:
        return _tampered("the signature does not match the payload", key_id)
    try:
        payload = json.loads(payload_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _tampered("the signed payload is not JSON", key_id)
    if not isinstance(payload, dict) or payload.get("v") != PAYLOAD_VERSION:
        return _tampered(f"unknown payload version {payload.get('v') if isinstance(payload, dict) else None}")
    from permis.notices.documents.facts import payload_facts

    facts = payload_facts(payload)
    valid_until = payload.get("valid_until")
    if valid_until:
        try:
            expired = on > dt.date.fromisoformat(valid_until)
        except (TypeError, ValueError):
            return _tampered("valid_until is not a date", key_id)
        if expired:
            return Verdict(
                Outcome.EXPIRED,
                _(
                    "Ce document était authentique mais il n’est plus valable depuis le %(date)s. Demandez à son "
                    "titulaire d’en télécharger un nouveau."
                )
                % {"date": _french_date(dt.date.fromisoformat(valid_until) + dt.timedelta(days=1))},
                payload,
                key_id,
                detail=f"valid until {valid_until}, checked on {on.isoformat()}",
                facts=facts,
            )
    expires_at = payload.get("exp")
    if expires_at is not None:
        # A digital licence's QR lives minutes, not days: its signed instant of expiry is checked to the second.
        try:
            instant = dt.datetime.fromisoformat(str(expires_at))
        except ValueError:
            return _tampered("exp is not a date and time", key_id)
        if instant.tzinfo is None:
            return _tampered("exp has no time zone", key_id)
        if instant <= timezone.now():
            return Verdict(
                Outcome.EXPIRED,
                _(
                    "Ce code QR était authentique mais il a expiré : demandez au titulaire d’afficher un code "
                    "à jour."
                ),
                payload,
                key_id,
                detail=f"expired at {instant.isoformat()}",
                facts=facts,
            )
    checked = False
    if registry_lookup:
        from permis.notices.documents.facts import registry_check

        checked, reason = registry_check(payload, on)
        if reason:
            issued = _issued(payload)
            if payload.get("doc") == "letter":
                message = _(
                    "La signature est valide : cette lettre a bien été émise par ce service le %(issued)s et n’a "
                    "pas été modifiée. Mais le dossier a changé depuis (%(reason)s) : elle n’y correspond plus."
                )
            else:
                message = _(
                    "La signature est valide : ce document a bien été émis par ce service le %(issued)s et n’a "
                    "pas été modifié. Mais la situation du permis a changé depuis cette date (%(reason)s) : il ne "
                    "correspond plus à la situation actuelle. Demandez-en un nouveau à son titulaire."
                )
            return Verdict(
                Outcome.REVOKED,
                message % {"issued": issued, "reason": reason},
                payload,
                key_id,
                registry_checked=True,
                detail=f"revoked: {reason}",
                facts=facts,
            )
    if checked and payload.get("doc") == "letter":
        # A letter tells what happened on its dates, not the present balance: it is on file, not "current".
        message = _(
            "La signature est valide et cette lettre figure bien au dossier du permis, telle qu’elle a été émise. "
            "Elle décrit la situation aux dates qu’elle indique, pas la situation actuelle du permis."
        )
    elif checked:
        message = _(
            "La signature est valide et le document correspond à la situation actuelle du permis dans le fichier "
            "national."
        )
    else:
        message = _(
            "La signature est valide : le document a bien été émis par ce service et n’a pas été modifié. La "
            "situation actuelle du permis n’a pas pu être consultée ; elle peut avoir changé depuis l’émission."
        )
    return Verdict(Outcome.VALID, message, payload, key_id, registry_checked=checked, facts=facts)


def _issued(payload: Mapping[str, Any]) -> str:
    """The day a document says it was issued, as a French reader writes it ("1er mai 2024")."""
    from permis.notices.documents.facts import day

    try:
        return day(str(payload.get("issued", "")))
    except ValueError:
        return str(payload.get("issued", ""))


def _french_date(day: dt.date) -> str:
    from django.utils.formats import date_format

    return date_format(day, "j F Y")


# -- the whole PDF file -----------------------------------------------------------------------------------------
def sign_pdf(pdf: bytes) -> bytes:
    """The PDF with one trailing comment line that signs every byte before it."""
    current = keys()
    if not pdf.endswith(b"\n"):
        pdf += b"\n"
    signature = current.private.sign(PDF_DOMAIN + pdf)
    return pdf + PDF_MARK + f"{current.key_id} {b64url(signature)}\n".encode("ascii")


class UnsignedPDF(ValueError):
    """A PDF without any signature line of this service (not a damaged one: none at all)."""


def split_pdf(data: bytes) -> tuple[bytes, str, bytes]:
    """(signed bytes, key id, signature) of a signed PDF; ValueError when the file is not a PDF or its signature
    line is malformed, UnsignedPDF (a ValueError) when the PDF carries no signature line."""
    if not data.startswith(b"%PDF-"):
        raise ValueError("not a PDF file (it does not start with %PDF-)")
    position = data.rfind(b"\n" + PDF_MARK)
    if position < 0:
        raise UnsignedPDF("the PDF carries no %PERMIS-SIGNATURE line")
    signed = data[: position + 1]
    line = data[position + 1 + len(PDF_MARK) :].rstrip(b"\r\n")
    try:
        key_id, encoded = line.decode("ascii").split(" ")
        signature = _b64url_decode(encoded)
    except (UnicodeDecodeError, ValueError, binascii.Error):
        raise ValueError("the %PERMIS-SIGNATURE line is malformed") from None
    if data[position + 1 + len(PDF_MARK) + len(line) :].strip(b"\r\n"):
        raise ValueError("bytes follow the %PERMIS-SIGNATURE line")
    return signed, key_id, signature


def pdf_qr_text(data: bytes) -> str | None:
    """The QR text stored in a PDF's information dictionary, or None."""
    import io

    import pypdf
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        info = reader.metadata or {}
        value = info.get("/" + PDF_METADATA_KEY)
    except (PyPdfError, ValueError, KeyError, TypeError):
        return None
    return str(value) if value else None


def verify_pdf(data: bytes, *, on: dt.date | None = None, registry_lookup: bool = True) -> Verdict:
    """Check a PDF: the signature of its exact bytes first (one changed byte is "tampered"; no signature line at
    all is "unsigned", not a forgery), then its facts."""
    try:
        signed, key_id, signature = split_pdf(data)
    except UnsignedPDF as error:
        return _unsigned(str(error))
    except ValueError as error:
        return _tampered(str(error))
    public = keys().public.get(key_id)
    if public is None:
        return _unknown_key(key_id)
    try:
        public.verify(signature, PDF_DOMAIN + signed)
    except InvalidSignature:
        return _tampered("the file's signature does not match its bytes", key_id)
    text = pdf_qr_text(signed)
    if text is None:
        return _tampered("the signed PDF carries no QR payload in its metadata", key_id)
    return verify(text, on=on, registry_lookup=registry_lookup)
