"""Builders for the back-office tests: agents with a role and départements, files in a département."""

from __future__ import annotations

import datetime as dt
import itertools

from django.contrib.auth.models import User
from django.test import Client

from permis.backoffice.models import AgentProfile
from permis.registry.models import Licence
from tests.registry.factories import holder, licence

PASSWORD = "correct horse battery staple"
_n = itertools.count(1)


def agent(role: str = "agent", departements: tuple[str, ...] = ("75",), login: str = "") -> User:
    user = User.objects.create_user(login or f"{role}{next(_n)}", password=PASSWORD, first_name="Alex")
    AgentProfile.objects.create(user=user, role=role, departements=list(departements), service="Préfecture")
    return user


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
