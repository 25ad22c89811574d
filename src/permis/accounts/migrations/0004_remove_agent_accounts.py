"""Remove the ``Account`` rows of agents' users: only holders' accounts have one (permis.accounts.access).

From the accounts' first version until the linking review (commit 824227a), the security pages
(/compte/securite/ and its second factor) created an ``Account`` row for any signed-in user that had none
(``Account.objects.get_or_create``), an agent's too. Since then agents are refused there, but a row made before
still opens the holders' pages and /compte/connexion/ to that agent: ``is_holder_account`` reads the row. An agent
is a user with the back office's profile (``AgentProfile``) or in one of its roles' groups (``permis-<role>``,
permis.backoffice.roles).

Only the rows go: the agent's user, profile, sessions and any ``HolderLink`` stay (a link of a user without an
``Account`` row is ignored everywhere, and the holder's access log names it). Nothing to undo: the rows were never
meant to exist.
"""

from __future__ import annotations

from django.db import migrations
from django.db.models import Q

# permis.backoffice.roles.GROUP_PREFIX, as it is when this migration is written (migrations import no app code).
GROUP_PREFIX = "permis-"


def remove_agent_accounts(apps, schema_editor) -> None:
    Account = apps.get_model("accounts", "Account")
    agents = Q(user__agent_profile__isnull=False) | Q(user__groups__name__startswith=GROUP_PREFIX)
    stray = Account.objects.filter(agents).values_list("pk", flat=True).distinct()
    Account.objects.filter(pk__in=list(stray)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_failure_sweep_index"),
        ("backoffice", "0001_initial"),  # AgentProfile
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(remove_agent_accounts, migrations.RunPython.noop, elidable=True),
    ]
