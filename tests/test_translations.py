"""Every user-facing string is in French with an English translation (src/permis/locale/en)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "permis"
CATALOGUE = PACKAGE / "locale" / "en" / "LC_MESSAGES" / "django.po"


def entries(po_file: Path) -> dict[str, list[str]]:
    """msgid -> its msgstr (or msgstr[n]) values, from a .po file; the header and obsolete entries left out."""
    found: dict[str, list[str]] = {}
    msgid: str | None = None
    current: list[str] | None = None
    strings: list[str] = []
    fuzzy = False

    def flush() -> None:
        if msgid:
            found[msgid] = strings if not fuzzy else ["" for _ in strings]

    for line in po_file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            flush()
            msgid, current, strings, fuzzy = None, None, [], False
        elif line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        elif line.startswith("#"):
            continue
        elif line.startswith("msgid "):
            msgid, current = ast.literal_eval(line[6:]), None
        elif line.startswith("msgid_plural "):
            current = None
        elif line.startswith("msgstr"):
            strings.append(ast.literal_eval(line.split(" ", 1)[1]))
            current = strings
        elif line.startswith('"'):
            if current is None:
                msgid = (msgid or "") + ast.literal_eval(line)
            else:
                current[-1] += ast.literal_eval(line)
    flush()
    return found


def test_every_string_has_an_english_translation() -> None:
    catalogue = entries(CATALOGUE)
    assert len(catalogue) > 100
    untranslated = sorted(msgid for msgid, strings in catalogue.items() if not all(strings))
    assert untranslated == []


def test_the_catalogue_lists_every_string_of_the_code_and_templates(tmp_path: Path) -> None:
    if shutil.which("xgettext") is None:
        pytest.skip("gettext is missing: apt-get install gettext (make install does it as root)")
    copy = tmp_path / "permis"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("rules", "__pycache__", "*.mo", "var"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "permis.config.settings",
        "DATABASE_URL": "sqlite://:memory:",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "makemessages",
            "-l",
            "en",
            "--no-obsolete",
            "--add-location",
            "never",
        ],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    fresh = set(entries(copy / "locale" / "en" / "LC_MESSAGES" / "django.po"))
    committed = set(entries(CATALOGUE))
    assert sorted(fresh - committed) == [], (
        "run `make messages-update`, then write the English of each new entry (msgstr) in src/permis/locale/en/LC_MESSAGES/django.po"
    )
    assert sorted(committed - fresh) == [], "run `make messages-update` to drop the strings no longer used"


def test_no_translatable_string_hides_inside_an_f_string() -> None:
    """xgettext reads an f-string as one literal: a gettext call inside its braces is never collected, and the
    English pages show the French (the forecast's calendar name and the letters' "née" were)."""
    import re

    inside = re.compile(r"""\bf(["'])[^"'\n]*\{[^}\n]*\b(?:_|gettext|ngettext|pgettext|gettext_lazy)\(""")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if inside.search(line)
    ]
    assert not found, found
