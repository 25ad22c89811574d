"""Who may open a back-office page, and which files an agent may see (PRODUCT.md, the actors table).

Every back-office view is declared with ``@role_required(...)`` (ARCHITECTURE.md, rule 8): signed in (else the
agents' login page), with an ``AgentProfile`` whose role is one of those named (else 403). The declaration is
kept on the view (``view.permis_access``) for the route-by-role test.

An agent sees the files of their départements only: the holder's postcode gives the département (two digits,
2A/2B for Corsica, three digits overseas). A supervisor sees every file; an auditor reads logs and integrity
reports, never a file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from permis.audit.models import Channel, Role
from permis.audit.services import log_access
from permis.digits import ascii_digits
from permis.registry.models import Holder

from .models import AgentProfile, AgentRole

ROLES = frozenset(AgentRole.values)


def profile_of(user: Any) -> AgentProfile | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.agent_profile
    except AgentProfile.DoesNotExist:
        return None


def role_required(*roles: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Signed in as an agent whose role is one of `roles`; sets ``request.agent`` to their profile."""
    unknown = set(roles) - ROLES
    if not roles or unknown:
        raise ValueError(f"role_required: unknown roles {sorted(unknown)} (known: {sorted(ROLES)})")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("agent:login"))
            profile = profile_of(request.user)
            if profile is None or profile.role not in roles or not request.user.is_active:
                raise PermissionDenied("this page is for another role")
            request.agent = profile  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        wrapper.permis_access = ("role", tuple(roles))  # type: ignore[attr-defined]
        return wrapper

    return decorator


# -- départements -------------------------------------------------------------------------------------------------
def departement_of(postcode: str) -> str:
    """The département of a French postcode ("" when it is not one): 2 digits, 2A/2B, or 3 digits overseas."""
    postcode = (postcode or "").strip()
    if len(postcode) != 5 or not ascii_digits(postcode):
        return ""
    if postcode.startswith("20"):
        return "2A" if postcode < "20200" else "2B"
    if postcode.startswith(("97", "98")):
        return postcode[:3]
    return postcode[:2]


def normalise_departement(code: str) -> str:
    """'2a' → '2A', '1' → '01'; a code as ``departement_of`` answers it."""
    code = code.strip().upper()
    if ascii_digits(code) and len(code) == 1:
        code = "0" + code
    return code


def valid_departement(code: str) -> bool:
    if code in ("2A", "2B"):
        return True
    if ascii_digits(code) and len(code) == 2:
        return code not in ("00", "20", "96", "97", "98", "99")
    return ascii_digits(code) and len(code) == 3 and code[:2] in ("97", "98")


def _postcodes_of(departement: str) -> Q:
    if departement == "2A":
        return Q(postal_code__gte="20000", postal_code__lt="20200")
    if departement == "2B":
        return Q(postal_code__gte="20200", postal_code__lt="21000")
    return Q(postal_code__startswith=departement)


def holders_visible_to(profile: AgentProfile) -> Q:
    """A filter on holders to the files `profile` may see: every file for a supervisor, their départements'
    for an agent, none for an auditor (``can_see`` checks each file again from its postcode)."""
    if profile.role == AgentRole.SUPERVISOR:
        return Q()
    if profile.role != AgentRole.AGENT or not profile.departements:
        return Q(pk__in=[])
    q = Q()
    for departement in profile.departements:
        q |= _postcodes_of(departement)
    return q


def can_see(profile: AgentProfile, holder: Holder) -> bool:
    if profile.role == AgentRole.SUPERVISOR:
        return True
    if profile.role != AgentRole.AGENT:
        return False
    return departement_of(holder.postal_code) in set(profile.departements)


def can_manage_centre(profile: AgentProfile, departement: str) -> bool:
    if profile.role == AgentRole.SUPERVISOR:
        return True
    return profile.role == AgentRole.AGENT and departement in set(profile.departements)


def departements_label(codes: Iterable[str]) -> str:
    return ", ".join(codes)


# The access log's name for each back-office role (an auditor reads the log, never a file: permis.backoffice.journal).
READER_ROLES = {
    AgentRole.AGENT: Role.AGENT,
    AgentRole.SUPERVISOR: Role.SUPERVISOR,
    AgentRole.AUDITOR: Role.AUDITOR,
}


def log_agent_read(
    request: HttpRequest,
    agent: AgentProfile,
    *,
    holder: Any,
    licence: Any,
    purpose: str,
    purpose_detail: str = "",
    shown: Sequence[str],
) -> None:
    """An agent's read of a file, in the hash-chained access log (the holder sees it in their space)."""
    log_access(
        actor=f"user:{agent.user_id}",
        actor_label=agent.label,
        role=READER_ROLES[agent.role],
        holder=holder,
        licence=licence,
        purpose=purpose,
        purpose_detail=purpose_detail,
        shown=list(shown),
        channel=Channel.BACK_OFFICE,
        request_id=request.headers.get("X-Request-Id", "")[:64],
    )
