"""`permis agent create|list|disable`: the profile, the role's group and its permissions, the checks."""

from __future__ import annotations

import io
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from permis.backoffice.models import AgentProfile

pytestmark = pytest.mark.django_db
PASSWORD = "Une-phrase-de-passe-2026"


def run(*args: str, stdin: str = "") -> str:
    out = io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command("agent", *args, stdout=out)
    finally:
        sys.stdin = saved
    return out.getvalue()


def test_create_an_agent_with_departements_and_a_password_from_stdin(client) -> None:
    out = run(
        "create",
        "--email",
        "Camille@Prefecture.fr",
        "--role",
        "agent",
        "--departements",
        "75, 92,2a",
        "--password-from-stdin",
        stdin=PASSWORD + "\n",
    )
    assert "role agent, départements 75, 92, 2A" in out
    user = get_user_model().objects.get(username="camille@prefecture.fr")
    assert user.agent_profile.departements == ["75", "92", "2A"]
    assert [g.name for g in user.groups.all()] == ["permis-agent"]
    assert user.has_perm("notices.view_delivery") and user.has_perm("notices.change_delivery")
    assert client.login(username="camille@prefecture.fr", password=PASSWORD)
    assert client.get("/gestion/notifications/").status_code == 200


def test_supervisor_and_auditor_have_no_departements_and_the_auditor_no_letters() -> None:
    run("create", "--email", "sup@prefecture.fr", "--role", "supervisor")
    run("create", "--email", "audit@cnil.fr", "--role", "auditor")
    User = get_user_model()
    supervisor, auditor = (
        User.objects.get(username="sup@prefecture.fr"),
        User.objects.get(username="audit@cnil.fr"),
    )
    assert not supervisor.has_usable_password()
    assert supervisor.has_perm("notices.view_delivery")
    assert not auditor.has_perm("notices.view_delivery")
    assert auditor.has_perm("backoffice.view_integrityreport")
    with pytest.raises(CommandError, match="a supervisor has no départements"):
        run("create", "--email", "sup2@prefecture.fr", "--role", "supervisor", "--departements", "75")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "agent"], "an agent needs at least one département"),
        (["--role", "agent", "--departements", "75,20"], "20 is not a département code"),
        (
            ["--role", "agent", "--departements", "75", "--email", "pas-un-courriel"],
            "is not an email address",
        ),
    ],
)
def test_create_refuses_what_it_cannot_use(args: list[str], message: str) -> None:
    if "--email" not in args:
        args = [*args, "--email", "x@prefecture.fr"]
    with pytest.raises(CommandError, match=message):
        run("create", *args)
    assert not AgentProfile.objects.exists()


def test_a_weak_password_and_an_existing_account_are_refused() -> None:
    with pytest.raises(CommandError, match="the password"):
        run(
            "create",
            "--email",
            "a@prefecture.fr",
            "--role",
            "auditor",
            "--password-from-stdin",
            stdin="123\n",
        )
    run("create", "--email", "a@prefecture.fr", "--role", "auditor")
    with pytest.raises(CommandError, match="already exists"):
        run("create", "--email", "A@prefecture.fr", "--role", "auditor")


def test_list_and_disable(client) -> None:
    run(
        "create",
        "--email",
        "b@prefecture.fr",
        "--role",
        "agent",
        "--departements",
        "93",
        "--password-from-stdin",
        stdin=PASSWORD + "\n",
    )
    assert client.login(username="b@prefecture.fr", password=PASSWORD)
    assert "b@prefecture.fr" in run("list") and "1 agent(s)" in run("list")
    assert "disabled" in run("disable", "b@prefecture.fr")
    assert "disabled" in run("list")
    # The open session no longer signs in: to the login page.
    response = client.get("/gestion/notifications/")
    assert response.status_code == 302 and response["Location"].startswith("/gestion/connexion/")
    with pytest.raises(CommandError, match="no active agent"):
        run("disable", "b@prefecture.fr")
