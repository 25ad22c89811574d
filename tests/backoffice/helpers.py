"""Builders for the back-office tests: agents with a role and départements (and their second factor), files in a
département."""

from __future__ import annotations

import datetime as dt
import itertools

from django.contrib.auth.models import User
from django.test import Client

from permis.accounts import totp
from permis.backoffice.models import AgentProfile
from permis.registry.models import Licence
from tests.registry.factories import holder, licence

PASSWORD = "correct horse battery staple"
_n = itertools.count(1)


def agent(role: str = "agent", departements: tuple[str, ...] = ("75",), login: str = "") -> User:
    user = User.objects.create_user(login or f"{role}{next(_n)}", password=PASSWORD, first_name="Alex")
    AgentProfile.objects.create(user=user, role=role, departements=list(departements), service="Préfecture")
    return user


def enrol(user: User, secret: str = "") -> str:
    """Give the agent a second factor, as if they had set it up at their first sign-in; answers its secret."""
    secret = secret or totp.new_secret()
    AgentProfile.objects.filter(user=user).update(totp_secret=secret, totp_enabled=True, totp_last_step=0)
    return secret


def enrolment_code(user: User) -> str:
    """A new enrolment code for the agent, as `permis agent create` hands one over; answers it in clear."""
    from permis.backoffice import enrolment

    return enrolment.issue(AgentProfile.objects.get(user=user))[0]


def next_code(user: User) -> str:
    """The code the agent's application shows, for a step not used yet (current step −1 to +1)."""
    profile = AgentProfile.objects.get(user=user)
    step = max(totp.now_step() - 1, profile.totp_last_step + 1)
    assert step <= totp.now_step() + 1, "three codes used within a step: wait for the next one"
    return totp.code_at(profile.totp_secret, step)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def file_in(postal_code: str = "75011", **fields) -> Licence:
    return licence(
        holder=holder(postal_code=postal_code, city="Paris", **fields.pop("holder_fields", {})),
        obtained_on=fields.pop("obtained_on", dt.date(2010, 3, 1)),
        **fields,
    )


def open_with_purpose(client: Client, lic: Licence, purpose: str = "licence_management", detail: str = ""):
    return client.post(f"/gestion/dossiers/{lic.pk}/motif/", {"purpose": purpose, "purpose_detail": detail})
