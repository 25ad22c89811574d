"""A holder's contact details and channel of notice: the one service that changes them (ARCHITECTURE.md, rule 5).

A holder's identity comes from the file (and, later, from FranceConnect); their email address, phone number and
how they want to receive letters are theirs to change. The change itself is recorded by the caller with its
reason: ``permis.notices.preferences`` appends a ``NoticePreference`` (with the text the holder accepted) in the
same transaction. This module only checks the values and writes the holder's row, locked.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from ..models import Holder, NoticeChannel
from .core import RegistryError

_UNCHANGED: object = object()


@transaction.atomic
def update_contact(
    holder: Holder | int,
    *,
    email: str | object = _UNCHANGED,
    phone: str | object = _UNCHANGED,
    notice_channel: str | object = _UNCHANGED,
    sms_alerts: bool | object = _UNCHANGED,
) -> Holder:
    """Change some of a holder's contact fields (the others stay as they are) and answer the updated row.

    `phone` must already be normalised by the caller (E.164, see ``permis.notices.channels.sms``); an empty
    string clears an email or phone. Raises RegistryError, naming each field, when a value is not acceptable.
    """
    holder_id = holder.pk if isinstance(holder, Holder) else holder
    try:
        row = Holder.objects.select_for_update().get(pk=holder_id)
    except Holder.DoesNotExist:
        raise RegistryError([f"holder: no holder with id {holder_id}"]) from None
    problems = []
    changes: dict[str, object] = {}
    if email is not _UNCHANGED:
        email = str(email).strip()
        if email:
            try:
                validate_email(email)
            except ValidationError:
                problems.append(f"email: {email!r} is not an email address")
        if len(email) > Holder._meta.get_field("email").max_length:
            problems.append("email: too long (at most 254 characters)")
        changes["email"] = email
    if phone is not _UNCHANGED:
        phone = str(phone).strip()
        if len(phone) > Holder._meta.get_field("phone").max_length:
            problems.append(f"phone: {phone!r} is too long (at most 20 characters)")
        changes["phone"] = phone
    if notice_channel is not _UNCHANGED:
        if notice_channel not in NoticeChannel.values:
            problems.append(
                f"notice_channel: {notice_channel!r} is not one of {', '.join(NoticeChannel.values)}"
            )
        changes["notice_channel"] = notice_channel
    if sms_alerts is not _UNCHANGED:
        if not isinstance(sms_alerts, bool):
            problems.append(f"sms_alerts: {sms_alerts!r} is not true or false")
        changes["sms_alerts"] = sms_alerts
    if problems:
        raise RegistryError(problems)
    for name, value in changes.items():
        setattr(row, name, value)
    if changes:
        row.save(update_fields=list(changes))
    if isinstance(holder, Holder):
        for name, value in changes.items():
            setattr(holder, name, value)
    return row
