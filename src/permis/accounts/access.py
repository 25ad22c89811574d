"""Who may see a holder's pages: the holder, signed in, through the account linked to the file.

Only holders' accounts (users with an ``Account`` row: signed up here or through FranceConnect) get in, to the
holder's space as to the account's own pages (``@account_required``): a préfecture agent's user, signed in at
/gestion/, is refused with a 403 page that sends them to the back office, even if a ``HolderLink`` names them.

Every holder page is declared with ``@holder_required`` (ARCHITECTURE.md, rule 8). The view then reads the file of
``request.holder`` only: no holder page takes a holder's or a licence's id from the URL without checking it
belongs to ``request.holder``.

The link, the holder, the current licence and its projection are read with the session, in the same statement
(``permis.accounts.signed_in``; ``linked_file`` below when the session could not read them): each round trip to
the database is a large share of a page's cost (docs/performance.md, "Citizen portal"). ``request.licence`` is
that licence, or None when the file has none.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from permis.config.access import ACCOUNT
from permis.registry.models import CURRENT_LICENCE_FIRST, Licence

from .models import Account, HolderLink
from .signed_in import SignedIn


def is_holder_account(user: Any) -> bool:
    """A holders' account: a user with an ``Account`` row (an agent's user has none)."""
    return Account.objects.filter(user_id=user.pk).exists()


def not_a_holder_account(request: HttpRequest) -> HttpResponse:
    """403: the holders' pages are not for this user (an agent, an administrator)."""
    try:
        back_office = reverse("backoffice:home")
    except NoReverseMatch:
        back_office = ""
    return render(request, "accounts/not_holder_account.html", {"back_office": back_office}, status=403)


def account_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in (else to the accounts' login page) with a holders' account (else 403): the account's own pages
    (linking a licence, second factor, log out everywhere)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("accounts:login"))
        if not is_holder_account(request.user):
            return not_a_holder_account(request)
        return view(request, *args, **kwargs)

    wrapper.permis_access = ACCOUNT  # type: ignore[attr-defined]  # read by the route-declaration test
    return wrapper


def linked_file(user_id: int) -> tuple[Any, Licence | None] | None:
    """(holder, current licence with its projection) of the account's linked file; None when not linked.

    One query when the file has a licence (the common case); a second one only for a holder without licence.
    Only a holders' account (an ``Account`` row) has a file: any other user's link is ignored.
    """
    licence = (
        Licence.objects.select_related("holder", "projection")
        .filter(holder__account_links__user_id=user_id, holder__account_links__user__account__isnull=False)
        .order_by(*CURRENT_LICENCE_FIRST)
        .first()
    )
    if licence is not None:
        return licence.holder, licence
    link = (
        HolderLink.objects.select_related("holder")
        .filter(user_id=user_id, user__account__isnull=False)
        .first()
    )
    return None if link is None else (link.holder, None)


def file_of(request: HttpRequest) -> tuple[Any, Licence | None] | None:
    """The signed-in account's (holder, current licence): as read with its session when the session read this
    very account, else ``linked_file``."""
    signed_in: SignedIn | None = getattr(getattr(request, "session", None), "signed_in", None)
    if signed_in is not None and signed_in.user is not None and signed_in.user.pk == request.user.pk:
        return signed_in.file
    return linked_file(request.user.pk)


def holder_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in (else to the login page) with a holders' account (else 403) linked to a file (else to the
    linking page); sets request.holder and request.licence (the holder's current licence with its projection,
    or None). The file is read only for a holders' account (``linked_file`` and the session's statement), so
    a linked holder's page still costs one statement; the account is looked up only when there is no file."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("accounts:login"))
        linked = file_of(request)
        if linked is None:
            if not is_holder_account(request.user):
                return not_a_holder_account(request)
            return redirect("accounts:link")
        request.holder, request.licence = linked  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    wrapper.permis_access = "holder"  # type: ignore[attr-defined]  # read by the route-declaration test
    return wrapper
