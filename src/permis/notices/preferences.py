"""Opting in and out of electronic notice and SMS alerts, with the exact text the holder accepted.

L223-3 al. 3 and R223-3-1 let a holder ask for the letters to come electronically, after accepting the
conditions and acknowledging how the appeal delays are then computed (RULES.md §6). Every choice, in or out, is
recorded the same way: one ``NoticePreference`` row (append-only) with the text accepted, word for word, in the
language it was shown, and the holder's row updated, in one transaction. In the portal, a choice of electronic
notice at an address not yet proven to be the holder's waits for that address's confirmation first
(``permis.notices.confirmation``); any choice recorded here replaces such a pending one.

The texts are versioned files, ``templates/notices/consent/<kind>@<n>.<language>.txt``: ``electronic@n`` to opt
in, ``post@n`` to opt out. A published version is never edited: a change is a new version, and the portal
shows ``current_version(kind)``. The texts name the R223-3-1 delay, taken from the legal parameter in force on
the day of acceptance (``{deemed_after_days}`` in the file), so the stored text says exactly what was shown.

Decision: SMS alerts go with electronic notice only. An SMS says that a letter is in the account; a holder who
receives letters by post has nothing to be alerted about, and the law provides no notice by SMS. So ``sms=True``
needs ``electronic=True`` and a phone number; opting out of electronic notice ends the SMS alerts too.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from permis.registry.models import Holder, NoticeChannel
from permis.registry.services import RegistryError, today
from permis.registry.services.holders import update_contact

from .channels.sms import is_mobile, normalise_phone
from .legal import LegalError, deemed_after_days
from .models import AddressConfirmation, ConfirmationStatus, NoticePreference

TEXTS = Path(__file__).parent / "templates" / "notices" / "consent"
LANGUAGES = ("fr", "en")
KINDS = ("electronic", "post")
_VERSION = re.compile(r"^(?P<kind>[a-z]+)@(?P<number>[1-9][0-9]*)$")


class PreferenceError(LegalError):
    """A choice of channels that is refused; `problems` names each field and says why ("field: reason").

    The reasons a holder can fix (email, phone, SMS) are in the active language, French or English, ready for
    the portal's form (`by_field`); the others are the caller's mistakes and stay in English, like the API's.
    """

    @property
    def by_field(self) -> dict[str, list[str]]:
        fields: dict[str, list[str]] = {}
        for problem in self.problems:
            name, _sep, reason = problem.partition(": ")
            fields.setdefault(name, []).append(reason)
        return fields


@lru_cache(maxsize=64)
def _raw_text(version: str, language: str) -> str:
    path = TEXTS / f"{version}.{language}.txt"
    return path.read_text(encoding="utf-8").strip() + "\n"


def versions(kind: str) -> list[str]:
    """The published versions of a kind of text, oldest first (e.g. ["electronic@1", "electronic@2"])."""
    found = set()
    for path in TEXTS.glob(f"{kind}@*.*.txt"):
        version = path.name.split(".", 1)[0]
        if _VERSION.match(version):
            found.add(version)
    return sorted(found, key=lambda v: int(v.split("@")[1]))


def current_version(kind: str) -> str:
    """The version the portal shows today: the latest one ("electronic" to opt in, "post" to opt out)."""
    published = versions(kind)
    if not published:
        raise LookupError(f"no text of kind {kind!r} under {TEXTS}")
    return published[-1]


def consent_text(version: str, language: str = "fr", on=None) -> str:
    """The text of `version` in `language` as shown on `on` (default today), the legal delay filled in."""
    if language not in LANGUAGES:
        raise PreferenceError([f"language: {language!r} is not one of {', '.join(LANGUAGES)}"])
    match = _VERSION.match(version)
    if match is None or match["kind"] not in KINDS or not (TEXTS / f"{version}.{language}.txt").is_file():
        known = ", ".join(v for kind in KINDS for v in versions(kind))
        raise PreferenceError(
            [f"accepted_text_version: {version!r} is not a published text in {language!r} (known: {known})"]
        )
    return _raw_text(version, language).replace("{deemed_after_days}", str(deemed_after_days(on or today())))


def set_preferences(
    holder: Holder,
    *,
    electronic: bool,
    sms: bool,
    email: str | None,
    phone: str | None,
    accepted_text_version: str,
    recorded_by: str,
    language: str = "fr",
    check_only: bool = False,
) -> NoticePreference | None:
    """Record the holder's choice of channels and the text accepted, and update the holder, in one transaction.

    `email` and `phone` are the holder's contact details as they stand after the choice: a value replaces the
    holder's, an empty string clears it, None keeps the one on file. `accepted_text_version` is the version of
    the text the holder was shown and accepted (``electronic@n`` to opt in, ``post@n`` to opt out), in
    `language`. `recorded_by` says who recorded it ("holder:<id>" from the portal, "agent:<login>" at a
    préfecture counter). Raises PreferenceError naming every field that is not acceptable; nothing is written
    then. `check_only`: only the checks, nothing written, None answered (the portal reports these problems
    together with its form's own, such as the consent box not ticked, instead of in a second round).
    """
    problems: list[str] = []
    if not isinstance(electronic, bool):
        problems.append(f"electronic: {electronic!r} is not true or false")
    if not isinstance(sms, bool):
        problems.append(f"sms: {sms!r} is not true or false")
    if not recorded_by or not recorded_by.strip():
        problems.append("recorded_by: say who records the choice (e.g. holder:<id> or agent:<login>)")
    elif len(recorded_by) > NoticePreference._meta.get_field("recorded_by").max_length:
        problems.append("recorded_by: at most 100 characters")
    if language not in LANGUAGES:
        problems.append(f"language: {language!r} is not one of {', '.join(LANGUAGES)}")

    new_email = holder.email if email is None else email.strip()
    if new_email:
        try:
            validate_email(new_email)
        except ValidationError:
            problems.append(
                "email: " + _("« %(email)s » n’est pas une adresse électronique.") % {"email": new_email}
            )
    if electronic is True and not new_email:
        problems.append(
            "email: "
            + _(
                "La notification électronique demande une adresse électronique : un courriel signale chaque lettre."
            )
        )

    new_phone = holder.phone if phone is None else phone.strip()
    if phone is not None and new_phone:
        try:
            new_phone = normalise_phone(new_phone)
        except ValueError as error:
            problems.append(f"phone: {error}")
    if sms is True:
        if not new_phone:
            problems.append("phone: " + _("Les alertes par SMS demandent un numéro de téléphone mobile."))
        elif new_phone.startswith("+") and not is_mobile(new_phone):
            problems.append(
                "phone: "
                + _(
                    "Le numéro %(phone)s n’est pas un numéro de mobile (06 ou 07) : il ne peut pas recevoir de SMS."
                )
                % {"phone": new_phone}
            )
        if electronic is not True:
            problems.append(
                "sms: "
                + _(
                    "Les alertes par SMS vont avec la notification électronique : elles signalent qu’une lettre "
                    "est dans votre espace personnel."
                )
            )

    kind = "electronic" if electronic is True else "post"
    text = ""
    if language in LANGUAGES:
        match = _VERSION.match(accepted_text_version or "")
        if match is not None and match["kind"] in KINDS and match["kind"] != kind:
            problems.append(
                f"accepted_text_version: {accepted_text_version!r} is the text to "
                f"{'opt in' if match['kind'] == 'electronic' else 'opt out'}; this choice needs a {kind}@n text"
            )
        else:
            try:
                text = consent_text(accepted_text_version, language)
            except PreferenceError as error:
                problems.extend(error.problems)
    if problems:
        raise PreferenceError(problems)
    if check_only:
        return None

    channel = NoticeChannel.ELECTRONIC if electronic else NoticeChannel.POST
    with transaction.atomic():
        try:
            update_contact(holder, email=new_email, phone=new_phone, notice_channel=channel, sms_alerts=sms)
        except RegistryError as error:
            raise PreferenceError(error.problems) from None
        # A choice recorded replaces the holder's choice waiting for an address's confirmation, if any
        # (permis.notices.confirmation): its link must not undo this one later.
        AddressConfirmation.objects.filter(holder=holder, status=ConfirmationStatus.PENDING).update(
            status=ConfirmationStatus.REPLACED, closed_at=timezone.now()
        )
        return NoticePreference.objects.create(
            holder=holder,
            electronic=electronic,
            sms=sms,
            email=new_email,
            phone=new_phone,
            accepted_text=text,
            text_version=accepted_text_version,
            recorded_by=recorded_by.strip(),
        )


def history(holder: Holder) -> list[NoticePreference]:
    """The holder's choices, oldest first."""
    return list(NoticePreference.objects.filter(holder=holder).order_by("recorded_at", "pk"))
