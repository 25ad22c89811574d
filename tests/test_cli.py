"""The `permis` command: what each subcommand hands over to, and the rules path staying free of Django."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from permis import cli

ROOT = Path(__file__).resolve().parent.parent

ENGINE_IO_EXAMPLE = {
    "licence": {
        "obtained_on": "2024-04-01",
        "route": "traditional",
        "complementary_training_on": None,
        "regained": False,
    },
    "events": [
        {
            "kind": "offence",
            "id": "I1",
            "committed_on": "2024-07-01",
            "final_on": "2024-07-10",
            "points": 3,
            "class": "C4",
        },
        {
            "kind": "course",
            "id": "S1",
            "first_day": "2024-10-14",
            "last_day": "2024-10-15",
            "type": "mandatory",
        },
    ],
    "options": {"lt5_basis": "final_on"},
}


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=ROOT,
    )


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["help"]) == 0
    out = capsys.readouterr().out
    for command in ("rules", "serve", "migrate", "manage"):
        assert f"\n  {command}" in out


def test_no_argument_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    assert "usage: permis" in capsys.readouterr().out


def test_rules_evaluates_a_history_without_importing_django(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    history.write_text(json.dumps(ENGINE_IO_EXAMPLE), encoding="utf-8")
    code = (
        "import sys\n"
        "from permis.cli import main\n"
        f"code = main(['rules', 'evaluate', {str(history)!r}, '--on', '2024-10-16'])\n"
        "loaded = sorted(name for name in sys.modules if name == 'django' or name.startswith('django.'))\n"
        "print('DJANGO-MODULES', loaded, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "DJANGO-MODULES []" in result.stderr
    assert json.loads(result.stdout)["balance"] == 6


def test_rules_imports_nothing_from_django_at_start_up() -> None:
    # -X importtime lists every module imported, with its cost: the rules path must not pay for Django.
    result = run_python("from permis.cli import main; main(['rules', '--help'])", "-X", "importtime")
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "permis.cli" in imported
    assert not [name for name in imported if name.split(".")[0] == "django"]


def test_rules_reports_bad_input_with_exit_code_2(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    history.write_text(json.dumps({"licence": {}, "events": []}), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "permis.cli", "rules", "evaluate", str(history), "--on", "2024-10-16"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "licence" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_runs_the_development_server_on_the_given_host_and_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(cli, "_django", lambda argv: calls.append(argv) or 0)
    assert cli.main(["serve", "--port", "8123"]) == 0
    assert cli.main(["serve", "--host", "::1", "--noreload"]) == 0
    assert calls == [["runserver", "127.0.0.1:8123"], ["runserver", "[::1]:8000", "--noreload"]]


def test_manage_and_unknown_commands_go_to_django(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(cli, "_django", lambda argv: calls.append(argv) or 0)
    cli.main(["manage", "check", "--deploy"])
    cli.main(["migrate", "--no-input"])
    cli.main(["showmigrations"])
    assert calls == [["check", "--deploy"], ["migrate", "--no-input"], ["showmigrations"]]


def test_django_commands_run_with_the_project_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "permis.cli", "manage", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_permis_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "permis"
    assert script.exists(), "run `make install` (pip install -e '.[dev]')"
