"""The texts of the email and the SMS that tell a holder a letter is waiting in the personal account.

Versioned templates. Each text lives in ``templates/notices/messages/<kind>/<name>@<version>.<language>.txt``
(the email's subject beside it in ``....subject.txt``). A change of wording is a new version (``letter@2``):
the old files stay, so that what a delivery row names in ``Delivery.template`` (for example
``email/letter@1.fr``) can always be read again, and the row keeps the rendered subject and body exactly as
sent anyway.

What the messages say, and what they do not. An email or an SMS is not a secure channel: it can be read by
whoever shares the mailbox or sees the phone's lock screen, and it travels through servers the State does not
run. So they say only that a new letter about the driving licence is in the personal account, when it was put
there, how long before it is deemed received, a reference, and the link. Never the points withdrawn, the balance,
the offence, nor even the kind of letter: the code alone can say too much (a 48SI means the licence is no longer
valid). The letter itself, with all of that, is read in the account after signing in (FranceConnect).
The email also tells the holder how to reach the account without the link, the usual advice against phishing.

Which date counts (``email/letter@2``). A 48N or 48SI is notified by its registered letter, not by the account
(``legal.legal_channel``): for those the email says that the letter also comes by registered post and that its
receipt counts, instead of the R223-3-1 rule (first opening, or the legal delay). It names no code, and says no
more than the registered letter's own notice of arrival in the letter box. ``letter@1`` said the R223-3-1
rule for every letter, the 48N and 48SI included (kept for the rows that name it).

Plain text only (no HTML alternative): it is readable by every mail client and screen reader, has no remote
image or tracking pixel, and keeps each message small for the throughput target.

The SMS stays within the GSM-7 alphabet and under 160 characters (one SMS, not a concatenated one), which the
tests check for both languages.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from django.conf import settings
from django.template.loader import get_template
from django.utils import formats, translation

from permis.registry.models import Holder, Notice

from .legal import REGISTERED_CODES, deemed_after_days

EMAIL_TEMPLATE = "email/letter@2"
SMS_TEMPLATE = "sms/letter@1"
LANGUAGES = ("fr", "en")
# Where the holder reads letters in the personal account (served by the account pages).
ACCOUNT_LETTERS_PATH = "/mon-espace/courriers/"

# The GSM 03.38 basic character set (one septet each) and its extension table (two septets each).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"


@dataclass(frozen=True)
class Rendered:
    """A message as it is sent: the template and version it came from, its subject (emails) and body."""

    template: str
    subject: str
    body: str


def language_of(value: str) -> str:
    return value if value in LANGUAGES else "fr"


def account_url() -> str:
    return settings.PUBLIC_URL + ACCOUNT_LETTERS_PATH


def reference(notice: Notice) -> str:
    """The letter's reference, the same in the email, the SMS and the account (no personal data in it)."""
    return f"L{notice.pk:09d}"


def holder_name(holder: Holder) -> str:
    return f"{holder.given_names} {holder.used_name or holder.birth_name}".strip()


def _context(notice: Notice, holder: Holder, made_available_on: dt.date) -> dict[str, object]:
    return {
        "name": holder_name(holder),
        **_day_context(made_available_on, translation.get_language(), settings.PUBLIC_URL),
        "reference": reference(notice),
        # Notified by its registered letter, whatever the holder chose (legal.legal_channel): the email says so.
        "registered": notice.code in REGISTERED_CODES,
    }


@functools.lru_cache(maxsize=64)
def _day_context(made_available_on: dt.date, language: str | None, public_url: str) -> dict[str, object]:
    """What every message of a day says alike (a sender writes thousands a day): computed once per day,
    language and public address."""
    return {
        "made_available_on": formats.date_format(made_available_on, "j F Y"),
        "deemed_after_days": deemed_after_days(made_available_on),
        "account_url": public_url + ACCOUNT_LETTERS_PATH,
        "public_url": public_url,
    }


def render_email(notice: Notice, holder: Holder, *, made_available_on: dt.date, language: str) -> Rendered:
    """The email saying that a letter is in the account (see the module's docstring for what it leaves out)."""
    language = language_of(language)
    name = f"{EMAIL_TEMPLATE}.{language}"
    with translation.override(language):
        context = _context(notice, holder, made_available_on)
        subject = get_template(f"notices/messages/{name}.subject.txt").render(context)
        body = get_template(f"notices/messages/{name}.txt").render(context)
    return Rendered(template=name, subject=" ".join(subject.split()), body=body.strip() + "\n")


def render_sms(notice: Notice, holder: Holder, *, made_available_on: dt.date, language: str) -> Rendered:
    """The SMS: one GSM-7 message under 160 characters."""
    language = language_of(language)
    name = f"{SMS_TEMPLATE}.{language}"
    with translation.override(language):
        body = get_template(f"notices/messages/{name}.txt").render(
            _context(notice, holder, made_available_on)
        )
    return Rendered(template=name, subject="", body=" ".join(body.split()))


def gsm7_septets(text: str) -> int | None:
    """How many GSM-7 septets the text takes, or None when a character is outside the GSM-7 alphabet."""
    count = 0
    for char in text:
        if char in GSM7_BASIC:
            count += 1
        elif char in GSM7_EXTENDED:
            count += 2
        else:
            return None
    return count
