"""Only holders' accounts have an ``Account`` row: never an agent's user (permis.accounts.access).

The accounts' first version created one for any signed-in user who opened the security pages, an agent too;
such a row opens /compte/ and /mon-espace/ to the agent. The demo's agents never get one, and migration 0004
removes those an older version left.
"""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from permis.accounts.models import Account, HolderLink
from permis.backoffice.demo import DEMO_AGENTS, seed_agents
from permis.backoffice.roles import assign_role, ensure_groups, group_name
from tests.registry import factories

BEFORE = ("accounts", "0003_failure_sweep_index")
AFTER = ("accounts", "0004_remove_agent_accounts")
remove_agent_accounts = import_module(
    "permis.accounts.migrations.0004_remove_agent_accounts"
).remove_agent_accounts


def an_agent(username: str = "agent.paris", role: str = "agent") -> User:
    user = User.objects.create_user(username, password="demo-gestion-2026")
    assign_role(user, role, ["75"] if role == "agent" else [], service="Préfecture de police")
    return user


def a_holder(username: str = "camille@example.fr") -> User:
    user = User.objects.create_user(username, email=username, password="une phrase de passe solide")
    Account.objects.create(user=user, email_verified_at=timezone.now())
    return user


@pytest.mark.django_db
def test_the_demo_agents_have_no_holders_account_even_one_an_older_version_left() -> None:
    stray = User.objects.create_user("agent.paris")
    Account.objects.create(user=stray)  # what /compte/securite/ made before commit 824227a
    seed_agents()
    logins = [login for login, *_rest in DEMO_AGENTS]
    assert User.objects.filter(username__in=logins).count() == len(logins)
    assert not Account.objects.filter(user__username__in=logins).exists()
    seed_agents()  # run again: still none
    assert not Account.objects.exists()


@pytest.mark.django_db
def test_the_cleanup_removes_the_rows_of_agents_only() -> None:
    """An agent by their profile, a user only in a role's group, and a holder: only the holder keeps a row."""
    agent = an_agent()
    supervisor = an_agent("superviseur", role="supervisor")
    grouped = User.objects.create_user("ancien.agent")
    grouped.groups.add(ensure_groups()["agent"])
    other_group = User.objects.create_user("comptable")
    other_group.groups.add(Group.objects.create(name="comptabilité"))
    holder = a_holder()
    for user in (agent, supervisor, grouped, other_group):
        Account.objects.create(user=user)
    lic = factories.licence()
    HolderLink.objects.create(user=agent, holder=lic.holder, method="licence_form")
    remove_agent_accounts(apps, None)
    assert set(Account.objects.values_list("user__username", flat=True)) == {holder.username, "comptable"}
    assert grouped.groups.filter(name=group_name("agent")).exists()  # the users, groups, links stay
    assert HolderLink.objects.filter(user=agent).exists()


@pytest.mark.django_db
def test_an_agent_whose_row_is_removed_is_refused_the_holder_s_pages_again() -> None:
    agent = an_agent()
    Account.objects.create(user=agent)
    lic = factories.licence()
    HolderLink.objects.create(user=agent, holder=lic.holder, method="licence_form")
    client = Client()
    client.force_login(agent, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(reverse("accounts:security")).status_code == 200  # the stray row lets the agent in
    remove_agent_accounts(apps, None)
    for name in ("accounts:security", "accounts:link", "dossier:dashboard"):
        assert client.get(reverse(name)).status_code == 403, name


@pytest.mark.django_db(transaction=True)
def test_the_migration_removes_the_rows_an_older_version_left() -> None:
    """The migration itself, from 0003 to 0004, on the test database."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        # The rows written as 0003 knew the table: today's model has columns of later migrations.
        old_account = executor.loader.project_state([BEFORE]).apps.get_model("accounts", "Account")
        agent = an_agent()
        holder = User.objects.create_user("camille@example.fr")
        old_account.objects.create(user_id=holder.pk, email_verified_at=timezone.now())
        old_account.objects.create(user_id=agent.pk)
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([AFTER])
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert list(Account.objects.values_list("user", flat=True)) == [holder.pk]
    assert User.objects.filter(pk=agent.pk).exists()
