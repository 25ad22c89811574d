"""Confirming the email address of electronic notice before letters go there (RULES.md §6, R223-3-1).

A letter sent electronically is deemed received some days after it is made available, even if never opened; the
email that says it is there is what the presumption rests on. An address typed wrong would make a holder deemed
notified of letters they never heard of. So a choice of electronic notice that names an address not yet proven
to be the holder's changes nothing at once: it is kept pending (``AddressConfirmation``, with the text the holder
accepted, in the language shown) and an email with a single-use link goes to that address. Letters keep coming
as before (by post for a holder who was by post) until the link is followed; following it records the choice
exactly as asked, through ``permis.notices.preferences.set_preferences``.

The link works only for the holder who asked, signed in (the portal's ``@holder_required`` view): following it
proves that the person who controls the holder's account also reads the mailbox. A link that worked without
sign-in would let whoever receives the email (the owner of the address typed wrong, precisely) switch a stranger
to electronic notice with one click. The link carries a random token; only a keyed digest of it is stored (Django's
``salted_hmac`` under this purpose's key, as for share codes and application sessions), it expires after ``MAX_AGE`` (three days, like the
account's email verification link), serves once, and a newer choice replaces a pending one (any choice recorded
by ``set_preferences``, in or out, closes the pending request).

Decision: which addresses are proven, and used at once as before:

- the verified address of the local account the holder is signed in with (the account's email verification link
  proved it; a local account cannot sign in before that);
- an address this holder already confirmed with such a link;
- the address letters already go to: a holder already on electronic notice who keeps the same address (to change
  the SMS alerts, say) changes no destination, so there is nothing to confirm.

Not proven: the email FranceConnect passes on. It is the contact address of the holder's account at the identity
provider (tax, health insurance, La Poste...): FranceConnect certifies the identity (names, birth), not that
address, which may be old, shared or never checked; ``permis.accounts.oidc`` marks FranceConnect accounts
"verified" because they need no verification to sign in, not because their address was proven. One link is a
small price beside a presumption of notification.

Choices recorded by a préfecture agent at the counter (``recorded_by="agent:<login>"``) would go straight to
``set_preferences``: the holder is there to read the address back. No such path exists in the code today.
Opting out (back to the post) needs no confirmation: it sends letters to the address of the file, by post.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable
from typing import cast

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from permis.registry.models import Holder, NoticeChannel

from . import preferences
from .models import AddressConfirmation, ConfirmationStatus, NoticePreference

MAX_AGE = dt.timedelta(days=3)
TOKEN_BYTES = 32  # secrets.token_urlsafe: 43 characters


class ConfirmationError(Exception):
    """A link that confirms nothing. `reason`: "invalid" (unknown, damaged, or another holder's: the same answer,
    which says nothing of other holders), "expired", "used", "replaced"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def token_digest(token: str) -> str:
    """What is stored of a link's token: a keyed hash (a long random token needs no slow hash)."""
    return salted_hmac("permis.notices.address-confirmation:", token, algorithm="sha256").hexdigest()


def _same(a: str, b: str) -> bool:
    return bool(a) and a.strip().casefold() == b.strip().casefold()


def is_proven(holder: Holder, email: str, proven: Iterable[str] = ()) -> bool:
    """Whether letters may go to `email` for `holder` without a confirmation link (the module's decision).

    `proven`: the addresses the caller knows to be the holder's (the signed-in local account's verified address).
    """
    if any(_same(email, address) for address in proven):
        return True
    if holder.notice_channel == NoticeChannel.ELECTRONIC and _same(email, holder.email):
        return True
    return AddressConfirmation.objects.filter(
        holder=holder, status=ConfirmationStatus.CONFIRMED, email__iexact=email.strip()
    ).exists()


def request(
    holder: Holder,
    *,
    sms: bool,
    email: str,
    phone: str | None,
    accepted_text_version: str,
    recorded_by: str,
    language: str = "fr",
    mail: Callable[[AddressConfirmation, str], None] | None = None,
) -> tuple[AddressConfirmation, str]:
    """Keep a choice of electronic notice pending until `email` is confirmed; answer the row and the token.

    The choice is checked as ``set_preferences`` would record it (PreferenceError, nothing written); the text
    accepted is kept as shown today. `mail(row, token)` sends the link (the token is never stored). Once it has
    gone, a pending request of the holder is replaced; if it fails, the new request is closed and the error
    raised, and an earlier link, already in the holder's mailbox, keeps working. Without `mail` the caller sends
    the link itself, the earlier request already replaced.
    """
    preferences.set_preferences(
        holder,
        electronic=True,
        sms=sms,
        email=email,
        phone=phone,
        accepted_text_version=accepted_text_version,
        recorded_by=recorded_by,
        language=language,
        check_only=True,
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    with transaction.atomic():
        if mail is None:
            replace_pending(holder, now)
        row = AddressConfirmation.objects.create(
            holder=holder,
            email=email.strip(),
            sms=sms,
            phone=holder.phone if phone is None else phone.strip(),
            text_version=accepted_text_version,
            language=language,
            accepted_text=preferences.consent_text(accepted_text_version, language),
            recorded_by=recorded_by.strip(),
            token_digest=token_digest(token),
            expires_at=now + MAX_AGE,
        )
    if mail is not None:
        try:
            mail(row, token)
        except BaseException:
            AddressConfirmation.objects.filter(pk=row.pk).update(
                status=ConfirmationStatus.REPLACED, closed_at=timezone.now()
            )
            raise
        replace_pending(holder, now, keep=row.pk)
    return row, token


def replace_pending(holder: Holder, now: dt.datetime | None = None, *, keep: int | None = None) -> None:
    """Close the holder's pending requests, if any (but `keep`): a newer choice replaces them."""
    AddressConfirmation.objects.filter(holder=holder, status=ConfirmationStatus.PENDING).exclude(
        pk=keep
    ).update(status=ConfirmationStatus.REPLACED, closed_at=now or timezone.now())


def pending(holder: Holder) -> AddressConfirmation | None:
    """The holder's request still waiting for its link, if any (an expired one is not)."""
    return (
        AddressConfirmation.objects.filter(
            holder=holder, status=ConfirmationStatus.PENDING, expires_at__gt=timezone.now()
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def find(token: str, holder: Holder) -> AddressConfirmation:
    """The holder's request that `token` confirms, still pending and not expired; else ConfirmationError."""
    row = AddressConfirmation.objects.filter(token_digest=token_digest(token), holder=holder).first()
    if row is None:
        raise ConfirmationError("invalid")
    if row.status == ConfirmationStatus.CONFIRMED:
        raise ConfirmationError("used")
    if row.status == ConfirmationStatus.REPLACED:
        raise ConfirmationError("replaced")
    if row.expires_at <= timezone.now():
        raise ConfirmationError("expired")
    return row


def confirm(token: str, holder: Holder) -> NoticePreference:
    """Record the pending choice `token` confirms, exactly as asked, and close it (once: of two requests that
    follow the same link, the second gets "used").

    The text is the one accepted when the holder asked; if the text in force now reads differently (the legal
    delay it names has changed), set_preferences would store another text than the one accepted: refused then
    as "expired", and the holder chooses again on the page that shows the new text.
    """
    with transaction.atomic():
        row = find(token, holder)
        if preferences.consent_text(row.text_version, row.language) != row.accepted_text:
            raise ConfirmationError("expired")
        closed = AddressConfirmation.objects.filter(pk=row.pk, status=ConfirmationStatus.PENDING).update(
            status=ConfirmationStatus.CONFIRMED, closed_at=timezone.now()
        )
        if closed != 1:
            raise ConfirmationError("used")
        recorded = preferences.set_preferences(
            holder,
            electronic=True,
            sms=row.sms,
            email=row.email,
            phone=row.phone,
            accepted_text_version=row.text_version,
            recorded_by=row.recorded_by,
            language=row.language,
        )
        AddressConfirmation.objects.filter(pk=row.pk).update(preference=recorded)
        return cast(NoticePreference, recorded)  # not check_only: the row recorded
