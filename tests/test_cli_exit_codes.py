"""Bad arguments and bad input make every `permis` command exit 2, as argparse does for a malformed option.

Exit 1 keeps its meaning of a finding (`permis verify`: a discrepancy); 2 always means "the command was asked
something it cannot do", with a message naming the option or the record.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--licences", "5"], "--licences"),
        (["apikey", "create", "--name", "", "--scope", "police"], "--name"),
        (["apikey", "create", "--name", "ANTAI", "--scope", "feed"], "--sender"),
        (["apikey", "revoke", "nope0000"], "no active key"),
        (["document", "letter", "abc", "--out", "never-written.pdf"], "not a Notice id"),
        (["document", "letter", "999999", "--out", "never-written.pdf"], "no Notice"),
        (["document", "rii", "NOPE", "--out", "never-written.pdf"], "no licence"),
        (["receipt", "999999", "--kind", "received", "--on", "2026-01-05"], "no registered letter"),
        (
            ["agent", "create", "--email", "not-an-address", "--role", "agent", "--departements", "75"],
            "--email",
        ),
        (["agent", "disable", "nobody@example.fr"], "no active agent"),
        (["notices", "stats", "--from", "2026-02-01", "--to", "2026-01-01"], "is after --to"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as raised:
        call_command(*args)
    assert raised.value.returncode == 2, (args, raised.value)
    assert message in str(raised.value), str(raised.value)


def test_the_exit_status_reaches_the_shell(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "permis.cli", "demo", "--licences", "5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "HOME": str(tmp_path),
        },
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--licences" in done.stderr
