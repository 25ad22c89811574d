"""Settings come from the environment: defaults that run on first try, a production mode that Django's own
deployment checks find clean."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from permis.config.settings import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def clean_environment(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PERMIS_")
        and k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(overrides)
    return env


def permis(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "permis.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def production_environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    return clean_environment(
        PERMIS_DEBUG="false",
        PERMIS_SECRET_KEY=secrets.token_urlsafe(64),
        PERMIS_ALLOWED_HOSTS="permis.example.org",
        PERMIS_PUBLIC_URL="https://permis.example.org",
        PERMIS_SIGNING_KEY="k2026:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL=f"sqlite:///{tmp_path / 'permis.sqlite3'}",
        **overrides,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    result = permis(
        "manage",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=production_environment(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_refuses_a_production_without_its_public_address(tmp_path: Path) -> None:
    # Every document's verification link and QR code is built from it (docs/operations.md).
    env = production_environment(tmp_path)
    del env["PERMIS_PUBLIC_URL"]
    result = permis("manage", "check", "--deploy", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "(permis.E001) PERMIS_PUBLIC_URL is not set" in result.stderr
    assert permis("manage", "check", env=env, cwd=tmp_path).returncode == 0  # a deployment check only


def test_the_example_environment_passes_check_deploy(tmp_path: Path) -> None:
    """.env.example's production lines, with a real secret and signing key: what operations.md says is clean."""
    example = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            example[name.strip()] = value.strip()
    assert example["PERMIS_DEBUG"] == "false" and example["PERMIS_PUBLIC_URL"].startswith("https://")
    example.update(
        PERMIS_SECRET_KEY=secrets.token_urlsafe(64),
        PERMIS_SIGNING_KEY="k2026:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL=f"sqlite:///{tmp_path / 'permis.sqlite3'}",
    )
    result = permis(
        "manage",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=clean_environment(**example),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _database_setting(tmp_path: Path, **overrides: str) -> str:
    code = (
        "from permis.config import settings as s; d = s.DATABASES['default']; "
        "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=production_environment(tmp_path, **overrides),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_production_keeps_connections_and_checks_them_only_when_asked(tmp_path: Path) -> None:
    # A health check is a SELECT 1 round trip on every request (docs/performance.md, "Citizen portal").
    assert _database_setting(tmp_path) == "60 False"
    assert _database_setting(tmp_path, PERMIS_DB_HEALTH_CHECKS="true") == "60 True"


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    env = production_environment(tmp_path)
    del env["PERMIS_SECRET_KEY"]
    result = permis("manage", "check", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "PERMIS_SECRET_KEY is required" in result.stderr


def test_production_refuses_to_start_without_a_signing_key(tmp_path: Path) -> None:
    env = production_environment(tmp_path)
    del env["PERMIS_SIGNING_KEY"]
    result = permis("manage", "check", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "PERMIS_SIGNING_KEY is required" in result.stderr


def test_a_first_run_needs_no_setting_and_keeps_its_database_under_var(tmp_path: Path) -> None:
    result = permis("migrate", "--no-input", env=clean_environment(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "permis.sqlite3").is_file()


def test_debug_mode_keeps_the_https_protections_off_for_localhost(settings: object) -> None:
    # The test run uses the defaults: debug mode, which is what `make run` serves on http://127.0.0.1:8000/.
    from django.conf import settings as django_settings

    assert django_settings.SECURE_SSL_REDIRECT is False
    assert "127.0.0.1" in django_settings.ALLOWED_HOSTS


def test_booleans_read_the_usual_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in {
        "true": True,
        "1": True,
        "YES": True,
        "on": True,
        "false": False,
        "0": False,
        "no": False,
    }.items():
        monkeypatch.setenv("PERMIS_X", raw)
        assert env_bool("PERMIS_X", not expected) is expected
    monkeypatch.setenv("PERMIS_X", "")
    assert env_bool("PERMIS_X", True) is True


def test_a_misspelt_boolean_or_number_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERMIS_X", "treu")
    with pytest.raises(ImproperlyConfigured, match="PERMIS_X"):
        env_bool("PERMIS_X", False)
    with pytest.raises(ImproperlyConfigured, match="PERMIS_X"):
        env_int("PERMIS_X", 3)


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERMIS_X", " a.example , b.example,, ")
    assert env_list("PERMIS_X") == ["a.example", "b.example"]


def test_every_environment_variable_is_documented() -> None:
    settings_source = (ROOT / "src/permis/config/settings.py").read_text(encoding="utf-8")
    variables = set(re.findall(r"\b(PERMIS_[A-Z_]+|DATABASE_URL)\b", settings_source))
    operations = (ROOT / "docs/operations.md").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert variables
    assert sorted(v for v in variables if f"`{v}`" not in operations) == []
    assert sorted(v for v in variables if v not in example) == []
