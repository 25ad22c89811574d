"""Who may call a view: one declaration per view of the project (PRODUCT.md, capability 10; ARCHITECTURE.md,
rule 8).

Each view carries ``view.permis_access``, set by the decorator that guards it, so that one test
(tests/test_access_matrix.py) can walk every URL of the project, fail on a view that declares nothing, and
check that each role gets in where the actors table says and nowhere else. The declarations:

- ``"public"``: anyone, signed in or not (``@public``: the simulator, the verifier, the health probe, the
  accounts' sign-in and sign-up pages). It only declares: a public view guards nothing.
- ``"signed_in"``: any signed-in user (``@signed_in``). Anonymous callers go to the sign-in page.
- ``"account"``: a holders' account (a user with an ``Account`` row), linked to a file or not
  (``permis.accounts.access.account_required``: the account's own pages, such as linking a licence or setting a
  second factor). Anonymous callers go to the sign-in page; any other user (an agent) gets a 403.
- ``"holder"``: the holder of the file, signed in and linked (``permis.accounts.access.holder_required``).
- ``("role", roles)``: an agent whose ``AgentProfile`` has one of ``roles``
  (``permis.backoffice.access.role_required``).
- ``("permission", roles)``: an agents' page guarded by Django model permissions that only the groups of
  ``roles`` carry (``@granted_to(...)`` above ``permission_required``; the groups are set by
  ``permis agent create``).

The decorators only set the attribute (``functools.wraps`` copies it to outer decorators such as
``require_GET``); they never change what a view answers, except ``signed_in`` which is ``login_required``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required

View = TypeVar("View", bound=Callable[..., Any])

PUBLIC = "public"
SIGNED_IN = "signed_in"
ACCOUNT = "account"
HOLDER = "holder"


def public(view: View) -> View:
    """Open to anyone: declares it (the test of the access matrix then checks nothing else guards it)."""
    view.permis_access = PUBLIC  # type: ignore[attr-defined]
    return view


def signed_in(login_url: str = "accounts:login") -> Callable[[View], View]:
    """Any signed-in account (else to ``login_url``): ``login_required``, declared."""

    def decorator(view: View) -> View:
        guarded = login_required(view, login_url=login_url)
        guarded.permis_access = SIGNED_IN  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorator


def granted_to(*roles: str) -> Callable[[View], View]:
    """Declares an agents' view guarded by Django permissions (``permission_required`` below this decorator)
    that the groups of ``roles`` grant. It checks nothing itself: the matrix test checks the permissions."""

    def decorator(view: View) -> View:
        view.permis_access = ("permission", tuple(roles))  # type: ignore[attr-defined]
        return view

    return decorator


def declaration_of(callback: Any) -> Any:
    """The declaration of a URL pattern's callback, also for class-based views (``as_view()``'s view_class)."""
    found = getattr(callback, "permis_access", None)
    if found is None and hasattr(callback, "view_class"):
        found = getattr(callback.view_class, "permis_access", None)
    return found
