"""Who may see a holder's pages: the holder, signed in, through the account linked to the file.

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
from django.shortcuts import redirect
from django.urls import reverse

from permis.registry.models import CURRENT_LICENCE_FIRST, Licence

from .models import HolderLink
from .signed_in import SignedIn


def linked_file(user_id: int) -> tuple[Any, Licence | None] | None:
    """(holder, current licence with its projection) of the account's linked file; None when not linked.

    One query when the file has a licence (the common case); a second one only for a holder without licence.
    """
    licence = (
        Licence.objects.select_related("holder", "projection")
        .filter(holder__account_links__user_id=user_id)
        .order_by(*CURRENT_LICENCE_FIRST)
        .first()
    )
    if licence is not None:
        return licence.holder, licence
    link = HolderLink.objects.select_related("holder").filter(user_id=user_id).first()
    return None if link is None else (link.holder, None)


def file_of(request: HttpRequest) -> tuple[Any, Licence | None] | None:
    """The signed-in account's (holder, current licence): as read with its session when the session read this
    very account, else ``linked_file``."""
    signed_in: SignedIn | None = getattr(getattr(request, "session", None), "signed_in", None)
    if signed_in is not None and signed_in.user is not None and signed_in.user.pk == request.user.pk:
        return signed_in.file
    return linked_file(request.user.pk)


def holder_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in (else to the login page) and linked to a file (else to the linking page); sets request.holder
    and request.licence (the holder's current licence with its projection, or None)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("accounts:login"))
        linked = file_of(request)
        if linked is None:
            return redirect("accounts:link")
        request.holder, request.licence = linked  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    wrapper.permis_access = "holder"  # type: ignore[attr-defined]  # read by the route-declaration test
    return wrapper
