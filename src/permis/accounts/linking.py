"""Which file an account may be linked to, and what every link leaves behind (docs/accounts.md, "Linking").

A link opens the whole file to the account (balance, history, letters, documents, share codes), so the numbers
printed on the licence are not enough: anyone holding the card, or a copy of it, knows them. The account must
also prove it is the holder's:

- an account signed in with FranceConnect: the identity FranceConnect certified at this sign-in (kept in the
  session, ``IDENTITY``) must be the holder's (``identities.same_person``: birth name, first given name, birth
  date; the same comparison the automatic link makes, minus the parts a form cannot need);
- a local account: its verified email address must be the one the holder's file holds.

Every link (automatic or by the form) is written to the holder's access log ("Consultations de mon dossier":
role ``account_link``, channel ``portal``), and the holder is told by email at the address of the file.

An account has one link (``HolderLink.user`` is unique). Two requests of the same account may race to make it (a
double click, two tabs, two FranceConnect returns): the database refuses the second link, ``link`` then answers
the link the first request made (``made`` False), and only the first request writes the access log and mails.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from permis.audit.models import Channel, Purpose, Role
from permis.audit.services import log_access
from permis.registry.models import Holder, Licence

from .identities import same_person
from .models import Account, HolderLink, LinkMethod

logger = logging.getLogger(__name__)

# Session key: the identity pivot FranceConnect certified when this session signed in (``remember_identity``).
IDENTITY = "permis_fc_identity"
PIVOT = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry")
# What the access log says the account reads: everything, from now on.
SHOWN = ["dossier complet"]


def stash_identity(user: User, claims: dict[str, Any]) -> None:
    """Called by the FranceConnect backend: the certified pivot rides on the user until the login signal."""
    user._permis_fc_identity = {name: str(claims.get(name) or "") for name in PIVOT}  # type: ignore[attr-defined]


def remember_identity(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    """user_logged_in: keep in the session the identity FranceConnect certified for this sign-in.

    Done after Django's login (which may flush the session when another account was signed in) so that it
    survives it; a sign-in without FranceConnect leaves none.
    """
    session = getattr(request, "session", None)
    if session is None:
        return
    identity = getattr(user, "_permis_fc_identity", None)
    if identity:
        session[IDENTITY] = identity
    else:
        session.pop(IDENTITY, None)


def refusal(request: HttpRequest, account: Account, holder: Holder | None) -> str:
    """Why this account may not be linked to ``holder``'s file (a message for the person), or "" if it may.

    ``holder`` is the file the numbers designate, or None when they designate none (or several). Every refusal
    reads the same for one account, whatever was wrong: the numbers, or the proof that the file is the
    account's (``proves_holder``). Saying which would tell that the numbers are a licence's, and the page would
    confirm any set of numbers found on a card or a photocopy (issue 5: no message reveals whether a licence
    exists).
    """
    if account.franceconnect_sub and not request.session.get(IDENTITY):
        # A fact of this session, not of the numbers: asked whatever they are.
        return _(
            "Pour rattacher votre permis, reconnectez-vous avec FranceConnect : votre identité doit être "
            "vérifiée lors de cette connexion."
        )
    if holder is not None and proves_holder(request, account, holder):
        return ""
    if holder is not None:
        logger.info(
            "account %s: the numbers typed designate holder %s, who is not the account's",
            account.user_id,
            holder.pk,
        )
    return refused(account)


def proves_holder(request: HttpRequest, account: Account, holder: Holder) -> bool:
    """Whether the account proves it is ``holder``'s: FranceConnect's identity certified at this sign-in is the
    holder's, or the local account's verified address is the one the file holds. Reads nothing more than the
    holder and the account already loaded (a refusal costs what wrong numbers cost)."""
    if account.franceconnect_sub:
        identity = request.session.get(IDENTITY)
        return bool(identity) and same_person(holder, identity, whole_pivot=False)
    address = (account.user.email or "").strip().casefold()
    on_file = (holder.email or "").strip().casefold()
    return account.email_verified_at is not None and bool(address) and address == on_file


def refused(account: Account) -> str:
    """The one message of a refused link: what to check on the card, and what else the account must have to
    prove the file is its own (the kind of account is the person's own knowledge, not the file's)."""
    check = _(
        "Ces informations ne permettent pas de rattacher un permis à votre compte. Vérifiez le format, le numéro "
        "de permis, le numéro de dossier (NEPH) et votre date de naissance, tels qu’ils figurent sur votre permis."
    )
    if account.franceconnect_sub:
        proof = _(
            "Le permis doit aussi être celui de l’identité certifiée par FranceConnect : si tout est exact et "
            "qu’il s’agit bien de votre permis, contactez votre préfecture ou l’ANTS pour faire corriger votre "
            "identité."
        )
    else:
        proof = _(
            "Votre compte doit aussi utiliser l’adresse électronique enregistrée par la préfecture dans votre "
            "dossier : si vous en utilisez une autre, connectez-vous avec FranceConnect pour rattacher votre "
            "permis."
        )
    return f"{check} {proof}"


def link(
    request: HttpRequest | None,
    user: User,
    holder: Holder,
    method: str,
    *,
    licence: Licence | None = None,
) -> tuple[HolderLink, bool]:
    """Link ``user`` to ``holder``'s file: the link and its entry in the access log in one transaction, then
    the email to the holder (its failure is logged, the link stays).

    Answers (the account's link, made): ``made`` is False when another request of the account made a link first
    (to this file or another one): that link is answered, and nothing is logged or mailed a second time.
    """
    if licence is None:
        licence = holder.licences.order_by("-obtained_on", "-pk").first()
    label = _actor_label(user, method)
    try:
        with transaction.atomic():
            made = HolderLink.objects.create(user=user, holder=holder, method=method)
            log_access(
                actor=f"user:{user.pk}",
                actor_label=label,
                role=Role.ACCOUNT_LINK,
                holder=holder,
                licence=licence,
                purpose=Purpose.HOLDER_REQUEST,
                shown=SHOWN,
                channel=Channel.PORTAL,
                request_id=(request.headers.get("X-Request-Id", "") if request is not None else ""),
            )
    except IntegrityError:
        # The unique link per account: a concurrent request committed its link after this one checked there was
        # none (the insert waited for it, then failed). Its entry and its email are the only ones: the rollback
        # took this request's entry back with the link.
        first = HolderLink.objects.filter(user=user).first()
        if first is None:
            raise  # another constraint than the account's one link: a real error
        logger.info(
            "account %s: already linked to holder %s by a concurrent request (this one asked for holder %s)",
            user.pk,
            first.holder_id,
            holder.pk,
        )
        return first, False
    logger.info("account %s linked to holder %s (%s)", user.pk, holder.pk, method)
    _notify(request, holder, label, made)
    return made, True


def _actor_label(user: User, method: str) -> str:
    """How the holder's access log names the account (stored French text, like every entry's author)."""
    if method == LinkMethod.FRANCECONNECT:
        name = " ".join(part for part in (user.first_name, user.last_name) if part)
        return f"Compte FranceConnect de {name} (rattaché automatiquement, identité vérifiée)"[:200]
    account = Account.objects.filter(user=user).first()
    if account is not None and account.franceconnect_sub:
        name = " ".join(part for part in (user.first_name, user.last_name) if part)
        return f"Compte FranceConnect de {name} (numéros du permis saisis, identité vérifiée)"[:200]
    return f"Compte personnel {user.email} (numéros du permis saisis, adresse vérifiée)"[:200]


def _notify(request: HttpRequest | None, holder: Holder, label: str, made: HolderLink) -> None:
    """An email to the address of the file: a link the holder did not make is the first thing they must know."""
    if not holder.email:
        logger.info(
            "holder %s has no email address: the link of account %s is not mailed", holder.pk, made.user_id
        )
        return
    site = request.build_absolute_uri("/") if request is not None else ""
    try:
        access_log = (
            request.build_absolute_uri(reverse("demarches:access_log")) if request is not None else ""
        )
    except NoReverseMatch:  # a site without the portal's URLs (some tests' URL confs)
        access_log = ""
    body = render_to_string(
        "accounts/email/linked.txt",
        {
            "account": label,
            "at": timezone.localtime(made.linked_at),
            "access_log": access_log,
            "site": site,
        },
        request=request,
    )
    try:
        send_mail(
            _("Un compte a été rattaché à votre dossier de permis de conduire"), body, None, [holder.email]
        )
    except Exception:  # the link is made and logged: a mail server down must not undo it
        logger.exception("the email telling holder %s of a new account link could not be sent", holder.pk)
