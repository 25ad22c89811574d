"""Benchmark of the holder's pages (issue 5, "Performance") with gunicorn, PostgreSQL and wrk.

Target: with the same server settings and in the same run, the dashboard of a signed-in holder serves at least
50% of the requests per second of a bare Django JSON view, with a 99th percentile under 100 ms and no error; the
history page of a holder with 30 movements has a 99th percentile under 150 ms.

What it does:
1. creates its own PostgreSQL database (permis_bench_portal), migrates it and loads the demo population
   (`permis demo --licences N`);
2. adds, through the registry's services, a holder whose file has 30 movements, an account linked to it and a
   signed-in session (the cookies wrk sends: the session and the CSRF cookie a signed-in browser has);
3. starts gunicorn on 127.0.0.1 (2 sync workers, PERMIS_DEBUG=false, a generated secret key and signing key,
   persistent database connections as in production) with the bench's URLconf (bench/portal_urls.py): the
   site's URLs plus /bench/bare, a view that returns {"ok": true} through the same middleware and nothing else
   (no database, no template). /healthz is not used: it queries the database, so it is not a bare view;
4. for each run, points wrk at the bare view, the dashboard and the history, one after the other, after a
   warm-up; reports requests per second, the 99th percentile, errors (socket errors and non-2xx/3xx answers),
   the dashboard/bare ratio; the pages are checked to answer 200 with the holder's balance before the runs.

Run: .venv/bin/python bench/portal_bench.py [--repeat 3] [--duration 10] [--connections 4] [--licences 2000]
     [--quick] [--keep]
Results: bench/results/portal.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results" / "portal.json"
DATABASE = "permis_bench_portal"
SERVER = os.environ.get("PERMIS_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
PERMIS = str(Path(sys.executable).with_name("permis"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
WORKERS = 2
TARGET_RATIO = 0.5
TARGET_P99_MS = {"dashboard": 100.0, "history": 150.0}
MOVEMENTS = 30


def _signing_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return f"bench:{base64.b64encode(raw).decode()}"


def server_env() -> dict[str, str]:
    """Production settings (no debug mode), the bench's URLconf, a secret and a signing key made for this run."""
    secret = os.environ.get("PERMIS_BENCH_SECRET") or base64.b64encode(os.urandom(40)).decode()
    os.environ["PERMIS_BENCH_SECRET"] = secret
    signing = os.environ.get("PERMIS_BENCH_SIGNING_KEY") or _signing_key()
    os.environ["PERMIS_BENCH_SIGNING_KEY"] = signing
    return {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "DJANGO_SETTINGS_MODULE": "portal_settings",
        "PYTHONPATH": os.pathsep.join([str(BENCH), str(ROOT / "src")]),
        "PERMIS_DEBUG": "false",
        "PERMIS_SECRET_KEY": secret,
        "PERMIS_SIGNING_KEY": signing,
        "PERMIS_ALLOWED_HOSTS": "127.0.0.1",
        "PERMIS_SECURE_SSL_REDIRECT": "false",
        "PERMIS_LOG_LEVEL": "WARNING",
    }


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def prepare(env: dict[str, str], licences: int) -> None:
    print(f"database {DATABASE}: migrate, then the demo population ({licences:,} licences)", flush=True)
    admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{DATABASE}"')
    subprocess.run([PERMIS, "migrate", "--no-input", "-v", "0"], env=env, check=True)
    subprocess.run([PERMIS, "demo", "--licences", str(licences), "--quiet"], env=env, check=True)


def holder_with_movements(env: dict[str, str]) -> tuple[str, int]:
    """A holder whose file has 30 movements, an account linked to it, and a signed-in session: (cookie, count)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith(("PERMIS_", "DATABASE_", "DJANGO_"))})
    for path in (str(BENCH), str(ROOT / "src")):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from permis.accounts.models import Account, HolderLink
    from permis.registry import services
    from permis.registry.models import FeedRecord, Holder, Movement

    today = services.today()
    holder = Holder(
        birth_name="BENCH",
        given_names="Trente",
        birth_date=dt.date(1970, 1, 1),
        sex="female",
        email="bench@example.fr",
    )
    licence = services.register_licence(
        holder=holder,
        number="BENCH0000030",
        dossier_number="BENCHDOS0030",
        obtained_on=dt.date(2005, 1, 4),
        categories=[{"code": "B", "obtained_on": dt.date(2005, 1, 4)}],
        on=dt.date(2011, 1, 1),
    )
    # One-point offences (a withdrawal, then the one-point restoration six months later, L223-6 al. 3) every
    # nine months from 2011, with the feed's receipts (the place of each offence): 30 movements with the first.
    day, n = dt.date(2011, 6, 1), 0
    while Movement.objects.filter(licence=licence, on__lte=today).count() < MOVEMENTS and day < today:
        n += 1
        outcome = services.record_event(
            licence,
            "offence",
            {
                "committed_on": day.isoformat(),
                "final_on": (day + dt.timedelta(days=20)).isoformat(),
                "points": 1,
                "class": "C3",
            },
            source="feed",
            sender="BENCH",
            source_ref=f"BENCH-{n}",
            on=min(today, day + dt.timedelta(days=21)),
        )
        FeedRecord.objects.create(
            sender="BENCH",
            source_ref=f"BENCH-{n}",
            payload={"place": "21231"},
            outcome="accepted",
            event=outcome.event,
        )
        services.refresh(licence, today)
        day += dt.timedelta(days=270)
    services.refresh(licence, today)
    count = Movement.objects.filter(licence=licence, on__lte=today).count()
    user = get_user_model().objects.create_user("bench-holder", password=None)
    Account.objects.create(
        user=user, franceconnect_sub="bench-holder"
    )  # a holders' account (docs/accounts.md)
    HolderLink.objects.create(user=user, holder=licence.holder, method="licence_form")
    client = Client()
    client.force_login(user)
    # The cookies a signed-in browser sends: the session's and the CSRF cookie that the first page with a form
    # set (every page of the holder's space has the sign-out form). Without the latter every request would make
    # a new CSRF secret and set its cookie, which no browser makes a server do twice.
    page = client.get("/mon-espace/", HTTP_HOST="127.0.0.1")
    if page.status_code != 200 or settings.CSRF_COOKIE_NAME not in client.cookies:
        raise SystemExit(f"the bench holder's dashboard answered {page.status_code} without a CSRF cookie")
    cookie = "; ".join(
        f"{name}={client.cookies[name].value}"
        for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
    )
    return cookie, count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], port: int, workers: int = WORKERS) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            GUNICORN,
            "permis.config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                err = server.stderr.read().decode() if server.poll() is not None and server.stderr else ""
                raise SystemExit(f"gunicorn did not start: {err[-2000:]}") from None
            time.sleep(0.2)


def check_page(port: int, path: str, cookie: str, expect: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    body = response.read().decode()
    if response.status != 200 or expect not in body:
        raise SystemExit(
            f"{path}: status {response.status}, {expect!r} {'found' if expect in body else 'missing'}"
        )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def server_cpu_s(server: subprocess.Popen) -> float:
    """CPU seconds used so far by gunicorn's workers (the master's children): the server's own cost, whatever
    the neighbours' load."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.pid:  # ppid
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks


def wrk(url: str, cookie: str | None, *, duration: int, connections: int) -> dict[str, Any]:
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--latency", "--timeout", "5s"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99_value, p99_unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in match.groups())
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    return {
        "rps": rate,
        "p99_ms": float(p99_value) * _UNITS[p99_unit],
        "requests": requests,
        "errors": errors,
    }


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres") as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": pg,
        "wrk": wrk_version.strip(),
        "load_before": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn sync workers")
    parser.add_argument(
        "--connections", type=int, default=None, help="wrk connections (default: one per worker)"
    )
    parser.add_argument("--licences", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="small population, 1 run of 3 s")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.duration, args.licences = 1, 3, 200
    if args.connections is None:
        args.connections = args.workers
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk (make install does it when run as root)", file=sys.stderr)
        return 2
    env = server_env()
    info = machine()
    prepare(env, args.licences)
    cookie, movements = holder_with_movements(env)
    print(
        f"holder with {movements} movements; gunicorn {args.workers} workers, wrk -c {args.connections}",
        flush=True,
    )
    port = free_port()
    server = start_server(env, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    targets = {
        "bare": ("/bench/bare", None),
        "dashboard": ("/mon-espace/", cookie),
        "history": ("/mon-espace/historique/", cookie),
    }
    runs: list[dict[str, Any]] = []
    try:
        check_page(port, "/bench/bare", "", '"ok"')
        check_page(port, "/mon-espace/", cookie, 'id="balance"')
        check_page(port, "/mon-espace/historique/", cookie, "Retrait de points")
        for path, jar in targets.values():  # warm-up: imports, template cache, connections
            wrk(base + path, jar, duration=2, connections=args.connections)
        for number in range(1, args.repeat + 1):
            run: dict[str, Any] = {"load": os.getloadavg()[0]}
            for name, (path, jar) in targets.items():
                cpu_before = server_cpu_s(server)
                run[name] = wrk(base + path, jar, duration=args.duration, connections=args.connections)
                cpu = server_cpu_s(server) - cpu_before
                run[name]["server_cpu_ms_per_request"] = cpu * 1000 / max(run[name]["requests"], 1)
            run["ratio"] = run["dashboard"]["rps"] / run["bare"]["rps"]
            run["cpu_ratio"] = (
                run["bare"]["server_cpu_ms_per_request"] / run["dashboard"]["server_cpu_ms_per_request"]
            )
            runs.append(run)
            print(
                f"run {number}: bare {run['bare']['rps']:.0f} req/s (p99 {run['bare']['p99_ms']:.1f} ms), "
                f"dashboard {run['dashboard']['rps']:.0f} req/s (p99 {run['dashboard']['p99_ms']:.1f} ms), "
                f"history {run['history']['rps']:.0f} req/s (p99 {run['history']['p99_ms']:.1f} ms), "
                f"ratio {run['ratio']:.0%}, load {run['load']:.1f}; server CPU per request: bare "
                f"{run['bare']['server_cpu_ms_per_request']:.2f} ms, dashboard "
                f"{run['dashboard']['server_cpu_ms_per_request']:.2f} ms, history "
                f"{run['history']['server_cpu_ms_per_request']:.2f} ms",
                flush=True,
            )
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')

    def median(key: str, field: str) -> float:
        return statistics.median(run[key][field] for run in runs)

    summary = {
        "bare_rps": median("bare", "rps"),
        "dashboard_rps": median("dashboard", "rps"),
        "history_rps": median("history", "rps"),
        "ratio": statistics.median(run["ratio"] for run in runs),
        "dashboard_p99_ms": median("dashboard", "p99_ms"),
        "history_p99_ms": median("history", "p99_ms"),
        "bare_p99_ms": median("bare", "p99_ms"),
        "errors": sum(run[k]["errors"] for run in runs for k in targets),
        "bare_cpu_ms": median("bare", "server_cpu_ms_per_request"),
        "dashboard_cpu_ms": median("dashboard", "server_cpu_ms_per_request"),
        "history_cpu_ms": median("history", "server_cpu_ms_per_request"),
        "cpu_ratio": statistics.median(run["cpu_ratio"] for run in runs),
    }
    passed = {
        "ratio": summary["ratio"] >= TARGET_RATIO,
        "dashboard_p99": summary["dashboard_p99_ms"] < TARGET_P99_MS["dashboard"],
        "history_p99": summary["history_p99_ms"] < TARGET_P99_MS["history"],
        "errors": summary["errors"] == 0,
    }
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {**info, "load_after": os.getloadavg()},
        "settings": {
            "gunicorn_workers": args.workers,
            "wrk_connections": args.connections,
            "wrk_threads": 2,
            "duration_s": args.duration,
            "licences": args.licences,
            "history_movements": movements,
        },
        "runs": runs,
        "median": summary,
        "passed": passed,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(
        f"{'':12} {'req/s':>8} {'p99 ms':>8} {'CPU ms':>8}   (median of {len(runs)} runs of {args.duration} s)"
    )
    for key in ("bare", "dashboard", "history"):
        print(
            f"{key:12} {summary[key + '_rps']:8.0f} {summary[key + '_p99_ms']:8.1f} {summary[key + '_cpu_ms']:8.2f}"
        )
    print(
        f"dashboard/bare {summary['ratio']:.0%} (target ≥ 50%; by the server's CPU per request "
        f"{summary['cpu_ratio']:.0%}), errors {summary['errors']}; "
        + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in passed.items())
    )
    print(f"results: {RESULTS.relative_to(ROOT)}")
    return 0 if all(passed.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
