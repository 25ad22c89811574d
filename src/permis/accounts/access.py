"""Who may see a holder's pages: the holder, signed in, through the account linked to the file.

Every holder page is declared with ``@holder_required`` (ARCHITECTURE.md, rule 8). The view then reads the file of
``request.holder`` only: no holder page takes a holder's or a licence's id from the URL without checking it
belongs to ``request.holder``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse


def holder_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in (else to the login page) and linked to a file (else to the linking page); sets request.holder."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("accounts:login"))
        link = getattr(request.user, "holder_link", None)
        if link is None:
            return redirect("accounts:link")
        request.holder = link.holder  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    wrapper.permis_access = "holder"  # type: ignore[attr-defined]  # read by the route-declaration test
    return wrapper
