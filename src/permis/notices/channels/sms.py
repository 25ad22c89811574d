"""SMS: a message, the French phone numbers it goes to, and the providers that carry it.

An SMS only tells the holder that a letter is waiting in their personal account: it is an alert, never the
notice itself, so it is short and it is one SMS.

**Length rule: refused, not split.** A text must fit in one SMS: at most 160 characters when every character
is in the GSM 03.38 alphabet (GSM-7; the characters of its extension table, such as ``€``, ``[`` or ``{``,
count twice), otherwise at most 70 UTF-16 code units (UCS-2; ``ê``, ``â``, ``î``, ``ô``, ``û``, ``ç`` and
``œ`` are *not* GSM-7, so one of them makes the whole text UCS-2). A longer text is refused with
``SmsTextTooLong``, saying the encoding, the length and the limit. We do not split into a concatenated SMS
because: what was sent is kept exactly as sent and must be one message with one provider id; concatenated
parts are billed each and can arrive apart or out of order on some handsets; and a text too long is a
template's mistake that its tests should catch (``sms_length`` says how long a text is), not something to
paper over at sending time.

**Backends**, chosen by ``settings.SMS_BACKEND`` (``PERMIS_SMS_BACKEND``) through ``get_sms_backend()``:

- ``file`` (development): one JSON file per message, ``<SMS_DIR>/<reference>.json``;
- ``http``: a provider's JSON API at ``SMS_URL``, authenticated by ``SMS_TOKEN``.

Both are idempotent on the message's reference: sending the same reference again does not send a second SMS
(the file backend finds its file; the HTTP backend sends the reference as ``Idempotency-Key``, which the
provider honours) and returns the same provider id.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from permis.notices.channels.errors import PermanentFailure, TemporaryFailure
from permis.notices.channels.references import check_reference

# --- Phone numbers -------------------------------------------------------------------------------------------

# The overseas départements have their own country codes; in the French national format their numbers are
# ordinary 10-digit numbers whose first three significant digits say which département (ARCEP's plan).
OVERSEAS_PREFIXES: dict[str, str] = {
    "590": "590",  # Guadeloupe, Saint-Barthélemy, Saint-Martin: fixed
    "690": "590",  # ... mobile
    "691": "590",
    "594": "594",  # Guyane: fixed
    "694": "594",  # ... mobile
    "596": "596",  # Martinique: fixed
    "696": "596",  # ... mobile
    "697": "596",
    "262": "262",  # La Réunion: fixed
    "263": "262",
    "692": "262",  # ... mobile
    "693": "262",
    "269": "262",  # Mayotte: fixed
    "639": "262",  # ... mobile
}
COUNTRY_CODES = ("33", "262", "590", "594", "596")
COUNTRY_NAMES = {
    "33": _("France métropolitaine"),
    "262": _("La Réunion et Mayotte"),
    "590": _("Guadeloupe"),
    "594": _("Guyane"),
    "596": _("Martinique"),
}
# What people put between digits: spaces (also the non-breaking ones of word processors), dots, dashes,
# slashes and the parentheses of "+33 (0)6 ...".
_SEPARATORS = re.compile(r"[\s.\-/()\u00a0\u202f]")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def normalise_phone(raw: str) -> str:
    """A French phone number as written by people, in E.164: ``"06 12 34 56 78"`` → ``"+33612345678"``.

    Accepted: the national format (``06 12 34 56 78``, ``06.12.34.56.78``, ``0612345678``), the international
    one (``+33 6 12 34 56 78``, ``+33 (0)6 12 34 56 78``, ``0033 6 12 34 56 78``), for metropolitan France
    and the overseas départements (Guadeloupe +590, Martinique +596, Guyane +594, La Réunion and Mayotte +262;
    ``06 90 12 34 56`` → ``+590690123456``). Fixed lines are accepted as well as mobiles (``is_mobile`` tells
    them apart). Anything else raises ``ValueError`` whose message (French, translated) says why, fit to show
    to the holder who typed it.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(gettext("Le numéro de téléphone est vide."))
    compact = _SEPARATORS.sub("", raw.strip())
    if not re.fullmatch(r"\+?[0-9]+", compact):
        raise ValueError(
            gettext(
                "Le numéro de téléphone « %(raw)s » contient d’autres caractères que des chiffres, des espaces, "
                "des points, des tirets et un « + » initial."
            )
            % {"raw": raw.strip()}
        )
    if compact.startswith("+") or compact.startswith("00"):
        international = compact[1:] if compact.startswith("+") else compact[2:]
        country = next((code for code in COUNTRY_CODES if international.startswith(code)), None)
        if country is None:
            raise ValueError(
                gettext(
                    "Le numéro « %(raw)s » n’est pas un numéro français : seuls les indicatifs +33 (France "
                    "métropolitaine), +262, +590, +594 et +596 (outre-mer) sont acceptés."
                )
                % {"raw": raw.strip()}
            )
        significant = international[len(country) :]
        if len(significant) == 10 and significant.startswith("0"):
            significant = significant[
                1:
            ]  # "+33 (0)6 ...": the national trunk 0 written after the country code
    elif compact.startswith("0"):
        if len(compact) != 10:
            raise ValueError(
                gettext(
                    "Le numéro « %(raw)s » a %(count)d chiffres : un numéro français en a 10 (par exemple "
                    "06 12 34 56 78)."
                )
                % {"raw": raw.strip(), "count": len(compact)}
            )
        significant = compact[1:]
        country = OVERSEAS_PREFIXES.get(significant[:3], "33")
    else:
        raise ValueError(
            gettext(
                "Le numéro « %(raw)s » doit commencer par 0 (par exemple 06 12 34 56 78) ou par l’indicatif du "
                "pays (par exemple +33 6 12 34 56 78)."
            )
            % {"raw": raw.strip()}
        )
    if len(significant) != 9:
        raise ValueError(
            gettext(
                "Le numéro « %(raw)s » n’a pas le bon nombre de chiffres : après l’indicatif +%(country)s, il en "
                "faut 9 (par exemple +33 6 12 34 56 78)."
            )
            % {"raw": raw.strip(), "country": country}
        )
    if significant[0] == "8":
        raise ValueError(
            gettext(
                "Le numéro « %(raw)s » est un numéro de service (08) : donnez un numéro de téléphone personnel."
            )
            % {"raw": raw.strip()}
        )
    if significant[0] == "0":
        raise ValueError(gettext("Le numéro « %(raw)s » n’existe pas en France.") % {"raw": raw.strip()})
    expected = OVERSEAS_PREFIXES.get(significant[:3], "33")
    if country != expected:
        raise ValueError(
            gettext(
                "Le numéro « %(raw)s » est un numéro de %(place)s : son indicatif est +%(expected)s, pas "
                "+%(country)s."
            )
            % {"raw": raw.strip(), "place": COUNTRY_NAMES[expected], "expected": expected, "country": country}
        )
    return f"+{country}{significant}"


def is_mobile(number: str) -> bool:
    """Whether a number returned by ``normalise_phone`` is a mobile's (06, 07, and the overseas 06xx): only
    those receive SMS reliably."""
    for country in COUNTRY_CODES:
        if number.startswith(f"+{country}"):
            return number[len(country) + 1 :][:1] in {"6", "7"}
    return False


# --- Text length ---------------------------------------------------------------------------------------------

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + one septet: two each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7_LIMIT = 160
UCS2_LIMIT = 70


@dataclass(frozen=True)
class SmsLength:
    """How a text would be encoded in one SMS, how many units it takes and how many fit."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    limit: int

    @property
    def fits(self) -> bool:
        return self.units <= self.limit


def sms_length(text: str) -> SmsLength:
    """The encoding a text needs and its length in that encoding (see the module's length rule)."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        units = sum(2 if char in GSM7_EXTENSION else 1 for char in text)
        return SmsLength("GSM-7", units, GSM7_LIMIT)
    return SmsLength("UCS-2", len(text.encode("utf-16-le")) // 2, UCS2_LIMIT)


class SmsTextTooLong(ValueError):
    """The text does not fit in one SMS (see the module's length rule: refused, never split)."""


def check_sms_text(text: str) -> str:
    """Return ``text`` when it fits in one SMS; ``SmsTextTooLong`` (a ValueError) saying by how much otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("SMS text: empty")
    length = sms_length(text)
    if not length.fits:
        hint = ""
        if length.encoding == "UCS-2":
            outside = sorted({char for char in text if char not in GSM7_BASIC and char not in GSM7_EXTENSION})
            hint = f" (UCS-2 because of {''.join(outside)[:20]!r}, which GSM-7 lacks)"
        raise SmsTextTooLong(
            f"SMS text: {length.units} {length.encoding} characters{hint}, one SMS holds at most "
            f"{length.limit}; longer texts are refused, not split: shorten the template"
        )
    return text


# --- The message -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsMessage:
    """One SMS: its recipient in E.164 (``normalise_phone``), its text (one SMS long), and our reference for it.

    The reference identifies the delivery (e.g. ``"delivery-123"``): it is the idempotency key sent to the
    provider, so sending the same message twice sends it once. Construction checks all three (ValueError).
    """

    to: str
    text: str
    reference: str

    def __post_init__(self) -> None:
        if not isinstance(self.to, str) or not E164.fullmatch(self.to):
            raise ValueError(f"SMS recipient {self.to!r}: not in E.164 (+ and digits); use normalise_phone()")
        check_sms_text(self.text)
        check_reference(self.reference)


# --- Backends --------------------------------------------------------------------------------------------------


@runtime_checkable
class SmsBackend(Protocol):
    """Hands one SMS to a provider; returns the provider's id of it.

    Raises ``TemporaryFailure`` when trying again later may succeed, ``PermanentFailure`` when it cannot.
    Idempotent on ``message.reference``.
    """

    def send(self, message: SmsMessage) -> str: ...


def get_sms_backend() -> SmsBackend:
    """The backend named by ``settings.SMS_BACKEND`` (``PERMIS_SMS_BACKEND``), read at each call."""
    name = settings.SMS_BACKEND
    if name == "file":
        return FileSmsBackend(Path(settings.SMS_DIR), sender=settings.SMS_SENDER)
    if name == "http":
        if not settings.SMS_URL:
            raise ImproperlyConfigured("PERMIS_SMS_URL is empty, and PERMIS_SMS_BACKEND=http needs it")
        if not settings.SMS_TOKEN:
            raise ImproperlyConfigured("PERMIS_SMS_TOKEN is empty, and PERMIS_SMS_BACKEND=http needs it")
        return HttpSmsBackend(settings.SMS_URL, token=settings.SMS_TOKEN, sender=settings.SMS_SENDER)
    raise ImproperlyConfigured(f"PERMIS_SMS_BACKEND={name!r}: must be 'file' or 'http'")


class FileSmsBackend:
    """Development backend: each SMS is a JSON file ``<directory>/<reference>.json``, written atomically.

    The file holds ``id`` (``"file-<reference>"``), ``to``, ``text``, ``sender``, ``reference`` and
    ``written_at`` (UTC, ISO 8601). Sending a reference again returns the id already written; sending a
    *different* message under an existing reference is a ``PermanentFailure`` (a reference is one delivery).
    """

    def __init__(self, directory: Path, *, sender: str = "PERMIS") -> None:
        self.directory = Path(directory)
        self.sender = sender

    def path_for(self, reference: str) -> Path:
        return self.directory / f"{check_reference(reference)}.json"

    def send(self, message: SmsMessage) -> str:
        path = self.path_for(message.reference)
        message_id = f"file-{message.reference}"
        record = {
            "id": message_id,
            "to": message.to,
            "text": message.text,
            "sender": self.sender,
            "reference": message.reference,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if path.exists():
            return self._already_sent(path, message)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(
                prefix=f".{message.reference}.", suffix=".tmp", dir=self.directory
            )
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                    json.dump(record, file, ensure_ascii=False, indent=2)
                    file.write("\n")
                    file.flush()
                    os.fsync(file.fileno())
                try:
                    # A hard link never replaces an existing file: of two writers of one reference, one wins.
                    os.link(temporary, path)
                except FileExistsError:
                    return self._already_sent(path, message)
            finally:
                os.unlink(temporary)
        except OSError as error:
            raise TemporaryFailure(
                f"SMS file backend: cannot write {path}: {error.strerror or error}"
            ) from error
        return message_id

    def _already_sent(self, path: Path, message: SmsMessage) -> str:
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise TemporaryFailure(f"SMS file backend: cannot read {path}: {error}") from error
        if existing.get("to") != message.to or existing.get("text") != message.text:
            raise PermanentFailure(
                f"SMS reference {message.reference!r} was already used for another message (to "
                f"{existing.get('to')!r}) in {path}: a reference identifies one delivery"
            )
        return str(existing["id"])


class HttpSmsBackend:
    """A provider's JSON API over HTTP(S), with the standard library only.

    Request: ``POST <url>`` with the JSON body ``{"to", "text", "sender", "reference"}`` and the headers
    ``Authorization: Bearer <token>`` and ``Idempotency-Key: <reference>`` (the provider answers a repeated key
    with the first answer, so a retry after a lost answer does not send twice). Answer: a 2xx with a JSON body
    whose ``id`` (or ``message_id``) is the provider's id of the SMS.

    Failures: no answer within ``timeout`` seconds, a connection that fails or breaks, 408, 425, 429 and 5xx
    are ``TemporaryFailure`` (429 and 503 carry the ``Retry-After`` seconds when given); a 2xx without an id
    is a ``TemporaryFailure`` too (the retry with the same key gets the answer again); a redirect and every
    other 4xx are ``PermanentFailure``. Messages quote the status and the start of the provider's answer; the
    token never appears in them (it is masked even if the provider echoes it).
    """

    RETRYABLE_STATUSES = frozenset({408, 425, 429})
    ANSWER_EXCERPT = 300

    def __init__(self, url: str, *, token: str, sender: str = "PERMIS", timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ImproperlyConfigured(f"PERMIS_SMS_URL={url!r}: must be an http:// or https:// address")
        if parts.username or parts.password:
            raise ImproperlyConfigured(
                "PERMIS_SMS_URL must not carry credentials: put the token in PERMIS_SMS_TOKEN"
            )
        self.url = url
        self.token = token
        self.sender = sender
        self.timeout = timeout
        self._parts = parts
        # Where we post, for error messages: scheme, host, port and path, never a query string.
        self._where = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"

    def send(self, message: SmsMessage) -> str:
        body = json.dumps(
            {"to": message.to, "text": message.text, "sender": self.sender, "reference": message.reference},
            ensure_ascii=False,
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": message.reference,
            "User-Agent": "permis-sms/1",
        }
        path = self._parts.path or "/"
        if self._parts.query:
            path = f"{path}?{self._parts.query}"
        connection_class = (
            http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(self._parts.hostname, self._parts.port, timeout=self.timeout)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            status, reason = response.status, response.reason
            retry_after = response.getheader("Retry-After")
            answer = response.read(64 * 1024)
        except TimeoutError as error:
            raise TemporaryFailure(
                f"SMS provider at {self._where} did not answer within {self.timeout:g} s ({message.reference})"
            ) from error
        except (OSError, http.client.HTTPException) as error:
            raise TemporaryFailure(
                f"SMS provider at {self._where} could not be reached: {self._clean(str(error) or type(error).__name__)}"
            ) from error
        finally:
            connection.close()
        said = self._excerpt(answer)
        if 200 <= status < 300:
            try:
                provider_id = json.loads(answer.decode("utf-8")) if answer else {}
                provider_id = provider_id.get("id") or provider_id.get("message_id")
            except (ValueError, AttributeError):
                provider_id = None
            if not provider_id or not isinstance(provider_id, str | int):
                raise TemporaryFailure(
                    f"SMS provider at {self._where} answered {status} {reason} without a message id: {said}"
                )
            return str(provider_id)
        text = f"SMS provider at {self._where} answered {status} {reason}: {said}"
        if status in self.RETRYABLE_STATUSES or status >= 500:
            raise TemporaryFailure(text, retry_after=_seconds(retry_after))
        if 300 <= status < 400:
            raise PermanentFailure(f"{text} (a redirect: check PERMIS_SMS_URL)")
        raise PermanentFailure(text)

    def _clean(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text

    def _excerpt(self, answer: bytes) -> str:
        text = answer.decode("utf-8", errors="replace").strip()
        text = " ".join(text.split())
        if len(text) > self.ANSWER_EXCERPT:
            text = text[: self.ANSWER_EXCERPT] + "…"
        return self._clean(text) or "(empty answer)"


def _seconds(retry_after: str | None) -> float | None:
    """The ``Retry-After`` header as seconds, when given as seconds (an HTTP date is ignored)."""
    if retry_after is None:
        return None
    try:
        return max(0.0, float(retry_after.strip()))
    except ValueError:
        return None
