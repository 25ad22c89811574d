"""House rules for the engine (ARCHITECTURE.md, rule 1 and 2).

- "permis.rules imports no Django and never reads the clock": every module of src/permis/rules is read
  with `ast`; it may import the standard library, PyYAML and permis.rules only, and it may not call
  date.today(), datetime.now(), datetime.utcnow(), time.time() or their kin. Importing the engine in a
  fresh interpreter loads no Django.
- Time coverage: every parameter resolves on the first day of every month from 1992-07-01 to 2035-12-01.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "src" / "permis" / "rules"
PACKAGE = "permis.rules"

ALLOWED_THIRD_PARTY = {"yaml"}
# Attribute calls that read the clock, whatever the object (date, datetime, a module alias...).
CLOCK_ATTRIBUTES = {"today", "now", "utcnow"}
# Functions of the `time` module that read the clock.
TIME_FUNCTIONS = {"time", "time_ns", "localtime", "gmtime", "ctime", "asctime", "strftime"}


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT / "src").with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    """The absolute module an ImportFrom names (relative imports resolved against `current`)."""
    if node.level == 0:
        return node.module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def allowed_module(name: str) -> bool:
    top = name.split(".")[0]
    if name == PACKAGE or name.startswith(PACKAGE + "."):
        return True
    return top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY


def violations(source: str, current: str = "permis.rules.example", is_package: bool = False) -> list[str]:
    """Imports outside stdlib + yaml + permis.rules, and clock readings, in one module's source."""
    tree = ast.parse(source)
    found: list[str] = []
    time_aliases: set[str] = set()  # names bound to the `time` module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not allowed_module(alias.name):
                    found.append(f"line {node.lineno}: import {alias.name}")
                if alias.name == "time":
                    time_aliases.add(alias.asname or "time")
        elif isinstance(node, ast.ImportFrom):
            name = resolve(node, current, is_package)
            if not allowed_module(name):
                found.append(f"line {node.lineno}: from {'.' * node.level}{node.module or ''} import ...")
            if name == "time":
                for alias in node.names:
                    if alias.name in TIME_FUNCTIONS:
                        found.append(f"line {node.lineno}: from time import {alias.name}")
            if name == "importlib" or any(alias.name == "import_module" for alias in node.names):
                found.append(f"line {node.lineno}: dynamic import")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in CLOCK_ATTRIBUTES:
                found.append(f"line {node.lineno}: .{node.attr} reads the clock")
            elif (
                node.attr in TIME_FUNCTIONS
                and isinstance(node.value, ast.Name)
                and node.value.id in time_aliases
            ):
                found.append(f"line {node.lineno}: {node.value.id}.{node.attr} reads the clock")
            elif node.attr == "import_module":
                found.append(f"line {node.lineno}: dynamic import")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found.append(f"line {node.lineno}: __import__")
    return found


def engine_modules() -> list[Path]:
    return sorted(RULES.rglob("*.py"))


def test_the_engine_has_modules_to_check() -> None:
    names = {p.name for p in engine_modules()}
    assert {"__init__.py", "model.py"} <= names, names


@pytest.mark.parametrize("path", engine_modules(), ids=lambda p: str(p.relative_to(RULES)))
def test_the_module_imports_only_stdlib_yaml_and_the_engine_and_reads_no_clock(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    found = violations(source, module_name(path), path.name == "__init__.py")
    assert not found, f"{path.relative_to(ROOT)}:\n" + "\n".join(found)


# The checker itself must catch what it is there to catch.
@pytest.mark.parametrize(
    "source",
    [
        "import django",
        "from django.db import models",
        "import permis.registry",
        "from permis import config",
        "from .. import cli",  # permis.cli, from permis.rules.example
        "import requests",
        "from datetime import date\nx = date.today()",
        "import datetime\nx = datetime.datetime.now()",
        "import datetime as dt\nx = dt.datetime.utcnow()",
        "import datetime as dt\nf = dt.date.today",
        "import time\nx = time.time()",
        "import time as t\nx = t.localtime()",
        "from time import time",
        "import importlib\nm = importlib.import_module('django')",
        "m = __import__('django')",
    ],
)
def test_the_checker_catches_a_forbidden_import_or_clock(source: str) -> None:
    assert violations(source), source


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "import datetime as dt\nx = dt.date(2024, 1, 1) + dt.timedelta(days=1)",
        "import yaml",
        "from permis.rules.model import History",
        "from . import model",
        "from .parameters import load_parameters",
        "import bisect, functools, dataclasses, typing, collections.abc, pathlib, json, argparse",
        "import time\nx = time.perf_counter()",
    ],
)
def test_the_checker_accepts_what_is_allowed(source: str) -> None:
    assert violations(source) == [], source


def test_importing_the_engine_loads_no_django() -> None:
    code = (
        "import sys\n"
        "import permis.rules, permis.rules.cli, permis.rules.engine, permis.rules.parameters\n"
        "from permis.rules.parameters import load_parameters\n"
        "load_parameters()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'dsfr', 'psycopg', 'ninja'})\n"
        "print(','.join(bad))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"modules loaded by permis.rules: {result.stdout.strip()}"


def test_the_cli_evaluates_without_django_settings_or_network(tmp_path: Path) -> None:
    history = tmp_path / "h.json"
    history.write_text('{"licence": {"obtained_on": "2010-01-01"}, "events": []}', encoding="utf-8")
    code = (
        "import sys, socket\n"
        "def no_network(*a, **k):\n"
        "    raise RuntimeError('the engine opened a socket')\n"
        "socket.socket.connect = no_network\n"
        "from permis.rules.cli import main\n"
        f"rc = main(['evaluate', {str(history)!r}, '--on', '2024-01-01'])\n"
        "assert 'django' not in sys.modules\n"
        "sys.exit(rc)\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"balance": 12' in result.stdout.replace("\n", " ") or '"balance":12' in result.stdout


# --- time coverage of the parameters ------------------------------------------------------------------


def first_days_of_months(start: date, end: date) -> list[date]:
    days, year, month = [], start.year, start.month
    while date(year, month, 1) <= end:
        days.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return days


MONTHS = first_days_of_months(date(1992, 7, 1), date(2035, 12, 1))


def test_the_months_run_from_july_1992_to_december_2035() -> None:
    assert MONTHS[0] == date(1992, 7, 1)
    assert MONTHS[-1] == date(2035, 12, 1)
    assert len(MONTHS) == (2035 - 1992) * 12 + 6


def test_every_parameter_resolves_on_the_first_day_of_every_month() -> None:
    from permis.rules.parameters import load_parameters

    parameters = load_parameters()
    assert len(parameters) > 0
    gaps = []
    for name, parameter in sorted(parameters.items()):
        for on in MONTHS:
            try:
                parameter.at(on)
            except Exception as error:  # noqa: BLE001 (any failure is a gap in time)
                gaps.append(f"{name} on {on}: {type(error).__name__}: {error}")
                break
    assert not gaps, "\n".join(gaps)


def test_a_parameter_refuses_a_date_before_its_first_value() -> None:
    """A date with no value is an error, not a guess (STYLE.md, openfisca habit)."""
    from permis.rules.parameters import load_parameters

    for name, parameter in load_parameters().items():
        with pytest.raises(Exception):  # noqa: B017, PT011 (the engine's own error type)
            parameter.at(date(1900, 1, 1))
        assert name


def test_every_parameter_value_in_force_has_a_reference() -> None:
    from permis.rules.parameters import load_parameters

    for name, parameter in load_parameters().items():
        for on in MONTHS[::12]:
            reference = parameter.reference(on) if hasattr(parameter, "reference") else "n/a"
            assert isinstance(reference, str) and reference.strip(), (name, on)
