"""`permis fcdev` as a developer runs it: its own process, the identities read from the database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_permis_fcdev_serves_the_identities_of_the_database(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PERMIS_") and k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(PERMIS_VAR_DIR=str(tmp_path), PERMIS_DEBUG="true", PYTHONUNBUFFERED="1")
    permis = [sys.executable, "-m", "permis.cli"]
    subprocess.run([*permis, "migrate", "-v0"], env=env, cwd=tmp_path, check=True, timeout=300)
    server = subprocess.Popen(
        [*permis, "fcdev", "--port", "0"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            lines.append(line)
            found = re.search(r"sur (http://127\.0\.0\.1:\d+)", line)
            if found:
                break
        else:
            raise AssertionError("".join(lines))
        url = found.group(1)
        assert "Deux homonymes de démonstration inscrits" in "".join(lines)
        assert requests.get(f"{url}/.well-known/openid-configuration", timeout=5).json()["issuer"] == url
        page = requests.get(
            f"{url}/authorize",
            params={
                "client_id": "permis-dev",
                "redirect_uri": "http://127.0.0.1:8000/compte/franceconnect/retour/",
                "response_type": "code",
                "scope": "openid",
                "state": "s",
                "nonce": "n",
            },
            timeout=5,
        ).text
        assert "Aurore Marie PERSONNE" in page and "Dominique HOMONYME" in page
        assert (tmp_path / "fcdev-rs256.pem").exists()
    finally:
        server.terminate()
        server.wait(timeout=10)
