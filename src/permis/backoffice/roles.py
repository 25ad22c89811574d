"""The agents' roles as Django groups: what each role may do beside its ``AgentProfile`` (PRODUCT.md, the
actors table).

The back-office views check the profile's role (``permis.backoffice.access.role_required``); the pages that
predate the back office (the letters' delivery page, /gestion/notifications/) check Django model permissions.
Each role is also a group carrying those permissions, so an agent created by ``permis agent create`` gets in
everywhere the actors table lets the role in, and nowhere else. ``assign_role`` keeps the groups in step with
the profile: one group per agent, the one of their role.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from .models import AgentProfile, AgentRole

GROUP_PREFIX = "permis-"

# Model permissions ("app_label.codename") of each role's group.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    AgentRole.AGENT: ("notices.view_delivery", "notices.change_delivery"),
    AgentRole.SUPERVISOR: (
        "notices.view_delivery",
        "notices.change_delivery",
        "backoffice.view_integrityreport",
    ),
    # The auditor reads the access log (/gestion/journal/) and the integrity reports; supervisors do not read the
    # log (PRODUCT.md's actors table gives it to the auditor alone).
    AgentRole.AUDITOR: ("backoffice.view_integrityreport", "audit.view_accesslog"),
}


def group_name(role: str) -> str:
    return f"{GROUP_PREFIX}{role}"


def _permissions(names: tuple[str, ...]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".", 1)
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def ensure_groups() -> dict[str, Group]:
    """The group of each role, with exactly its permissions (created or put back in step)."""
    groups = {}
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name(role))
        group.permissions.set(_permissions(names))
        groups[role] = group
    return groups


@transaction.atomic
def assign_role(user, role: str, departements: list[str], *, service: str = "") -> AgentProfile:
    """Make `user` an agent of `role` over `departements`: the profile and the one group of the role."""
    if role not in AgentRole.values:
        raise ValueError(f"unknown role {role!r} (known: {', '.join(AgentRole.values)})")
    groups = ensure_groups()
    profile, _ = AgentProfile.objects.update_or_create(
        user=user, defaults={"role": role, "departements": list(departements), "service": service}
    )
    user.groups.remove(*[g for r, g in groups.items() if r != role])
    user.groups.add(groups[role])
    return profile
