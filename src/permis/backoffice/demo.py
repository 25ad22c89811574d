"""The demo's agents: two agents of Paris and the petite couronne (two, so that a correction can be asked by one
and reviewed by the other) and a supervisor, for ``permis demo``.

Their password is printed only in development (DEBUG): a deployment never gets a known password; there the
accounts are created without one (``permis changepassword <login>`` sets it). Like every agent, each sets up
their second factor with an authenticator application at their first sign-in (``permis.backoffice.sign_in``),
with a single-use enrolment code (``permis.backoffice.enrolment``): there is no way around it in development
either. In development the demo issues and prints that code for each agent who has no factor yet; elsewhere
``permis agent enrolment-code <login>`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from permis.accounts.models import Account

from . import enrolment
from .models import AgentRole
from .roles import assign_role

# For development only: never used when DEBUG is off.
DEV_PASSWORD = "demo-gestion-2026"  # noqa: S105  # printed and used only when DEBUG is on
DEMO_AGENTS = (
    ("agent.paris", "Camille", "Agent", AgentRole.AGENT, ["75", "92", "93", "94"]),
    ("agent2.paris", "Dominique", "Second", AgentRole.AGENT, ["75", "92", "93", "94"]),
    ("superviseur", "Sacha", "Superviseur", AgentRole.SUPERVISOR, []),
)


@dataclass(frozen=True)
class DemoAgent:
    login: str
    role: str
    departements: list[str]
    password: str | None  # None: no password set (production)
    enrolment_code: str | None = None  # development only, for an agent without a second factor yet


@transaction.atomic
def seed_agents() -> list[DemoAgent]:
    """Create (or update) the demo agents; answers them with their password when DEBUG is on."""
    User = get_user_model()
    password = DEV_PASSWORD if settings.DEBUG else None
    out = []
    for login, first, last, role, departements in DEMO_AGENTS:
        user, _ = User.objects.get_or_create(
            username=login, defaults={"first_name": first, "last_name": last}
        )
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        # The profile and the role's group (its letters' page permissions), as ``permis agent create`` does.
        profile = assign_role(user, role, departements, service="Préfecture de police (démonstration)")
        # A user kept from an older database may carry a holders' account row that the security pages of the
        # accounts' first version created for any signed-in user (accounts' migration 0004): not an agent's.
        Account.objects.filter(user=user).delete()
        code = enrolment.issue(profile)[0] if password and not profile.totp_enabled else None
        out.append(DemoAgent(login, role, departements, password, code))
    return out
