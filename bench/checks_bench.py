"""Benchmark of the partner checks (issue 6, "Performance") with gunicorn, PostgreSQL and wrk.

Target: police checks (`GET /api/v1/police/licences/{number}`) and share-code checks
(`POST /api/v1/checks/share`) each serve at least 1,000 requests per second on this machine with a 99th
percentile under 50 ms and no error, and every answered check is still written to the hash-chained access log
(the log grows by the number of answered requests).

What it does:
1. creates its own PostgreSQL database (permis_bench_checks), migrates it and loads the demo population
   (`permis demo --licences N`, 20,000 by default);
2. issues a police key and a third-party key, and share codes for a sample of holders (through
   ``permis.audit.services.create_share``); picks a sample of licence numbers;
3. starts gunicorn on 127.0.0.1 (PERMIS_DEBUG=false, a generated secret key and signing key, persistent
   database connections as in production, a fixed number of sync workers);
4. writes two wrk Lua scripts that rotate the licence numbers and the share codes, checks that one request of
   each answers 200, warms up, then for each run points wrk at the police check and at the share-code check in
   turn; counts the access log's rows before and after each wrk run and compares with wrk's answered requests
   (a request still in flight when wrk stops is logged without being counted by wrk: logged >= answered);
5. checks the access log's chain at the end (``verify_chain``) and reports the medians, the load average, and
   the targets met or missed.

Run: .venv/bin/python bench/checks_bench.py [--repeat 3] [--duration 10] [--connections 8] [--workers 4]
     [--licences 20000] [--quick] [--keep] [--reuse] [--synchronous-commit on|off]
Results: bench/results/checks.json and a table on stdout.
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
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results" / "checks.json"  # checks-async-commit.json with --synchronous-commit off
DATABASE = "permis_bench_checks"
SERVER = os.environ.get("PERMIS_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
PERMIS = str(Path(sys.executable).with_name("permis"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
TARGET_RPS = 1000.0
TARGET_P99_MS = 50.0
SAMPLE_LICENCES = 5000
SAMPLE_SHARES = 2000


def _signing_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return f"bench:{base64.b64encode(raw).decode()}"


def server_env() -> dict[str, str]:
    """Production settings (no debug mode), a secret and a signing key made for this run."""
    secret = os.environ.get("PERMIS_BENCH_SECRET") or base64.b64encode(os.urandom(40)).decode()
    os.environ["PERMIS_BENCH_SECRET"] = secret
    signing = os.environ.get("PERMIS_BENCH_SIGNING_KEY") or _signing_key()
    os.environ["PERMIS_BENCH_SIGNING_KEY"] = signing
    return {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "DJANGO_SETTINGS_MODULE": "permis.config.settings",
        "PYTHONPATH": str(ROOT / "src"),
        "PERMIS_DEBUG": "false",
        "PERMIS_SECRET_KEY": secret,
        "PERMIS_SIGNING_KEY": signing,
        "PERMIS_ALLOWED_HOSTS": "127.0.0.1",
        "PERMIS_SECURE_SSL_REDIRECT": "false",
        "PERMIS_LOG_LEVEL": "WARNING",
        # The bench measures throughput from one key per scope; the per-key rate limits (permis.api.ratelimit)
        # are raised so that a 429 does not cut the run short. The counter is still updated on every call.
        "PERMIS_API_RATE_LIMIT_POLICE": "6000000",
        "PERMIS_API_RATE_LIMIT_THIRD_PARTY": "6000000",
    }


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def prepare(env: dict[str, str], licences: int) -> float:
    print(f"database {DATABASE}: migrate, then the demo population ({licences:,} licences)", flush=True)
    admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{DATABASE}"')
    subprocess.run([PERMIS, "migrate", "--no-input", "-v", "0"], env=env, check=True)
    started = time.perf_counter()
    subprocess.run([PERMIS, "demo", "--licences", str(licences), "--quiet"], env=env, check=True)
    return time.perf_counter() - started


def setup_django(env: dict[str, str]) -> None:
    os.environ.update({k: v for k, v in env.items() if k.startswith(("PERMIS_", "DATABASE_", "DJANGO_"))})
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    import django

    django.setup()


def fixtures() -> tuple[str, str, list[str], list[str]]:
    """(police key, third-party key, licence numbers, share codes)."""
    from permis.api.models import ApiKey
    from permis.audit.services import create_share
    from permis.registry.models import Licence

    police = ApiKey.objects.issue(name="Bench police", scopes=["police"])[1]
    third = ApiKey.objects.issue(name="Bench tiers", scopes=["third_party"])[1]
    rows = list(Licence.objects.values_list("number", "holder_id"))
    rng = random.Random(6)
    numbers = [number for number, _ in rng.sample(rows, min(SAMPLE_LICENCES, len(rows)))]
    codes = [
        create_share(holder, 30, "bench")[1] for _, holder in rng.sample(rows, min(SAMPLE_SHARES, len(rows)))
    ]
    return police, third, numbers, codes


def lua_scripts(
    folder: Path, police: str, third: str, numbers: list[str], codes: list[str]
) -> dict[str, Path]:
    """Two wrk scripts: each request takes the next licence number (or share code), from a random start."""
    common = """
local i = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("offset", threads * 7919) end
function init(args) i = (offset or 0) % #items end
"""
    police_lua = (
        "items = {"
        + ",".join(json.dumps(n) for n in numbers)
        + "}\n"
        + common
        + "request = function()\n  i = i % #items + 1\n"
        + '  return wrk.format("GET", "/api/v1/police/licences/" .. items[i] .. "?purpose=roadside_check", '
        + '{["Authorization"] = "Bearer '
        + police
        + '"})\nend\n'
    )
    share_lua = (
        "items = {"
        + ",".join(json.dumps(c) for c in codes)
        + "}\n"
        + common
        + "request = function()\n  i = i % #items + 1\n"
        + '  local body = \'{"code": "\' .. items[i] .. \'", "purpose": "bench"}\'\n'
        + '  return wrk.format("POST", "/api/v1/checks/share", {["Authorization"] = "Bearer '
        + third
        + '", '
        + '["Content-Type"] = "application/json"}, body)\nend\n'
    )
    paths = {"police": folder / "police.lua", "share": folder / "share.lua"}
    paths["police"].write_text(police_lua)
    paths["share"].write_text(share_lua)
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
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


def check_once(port: int, method: str, path: str, token: str, body: dict | None, expect: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
    if response.status != 200 or expect not in text:
        raise SystemExit(f"{method} {path}: status {response.status}: {text[:300]}")
    if "balance" in text:
        raise SystemExit(f"{method} {path}: the answer names a balance: {text[:300]}")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def cpu_seconds(server: subprocess.Popen) -> tuple[float, dict[int, float]]:
    """CPU seconds used so far by gunicorn's workers (the master's children) and by PostgreSQL for this
    benchmark (the backends connected to its database, and the server's own processes: WAL writer,
    checkpointer…; not the backends of other databases): what a check costs, whatever the neighbours' load."""
    ticks = os.sysconf("SC_CLK_TCK")
    workers = 0
    database: dict[
        int, float
    ] = {}  # by process: a backend that ends between two readings takes its CPU along
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            name, rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = rest.split()
        used = int(fields[11]) + int(fields[12])  # utime + stime
        if int(fields[1]) == server.pid:  # ppid
            workers += used
        elif name.endswith("(postgres") and (
            f" {DATABASE} " in title or not re.search(r"\d+\.\d+\.\d+\.\d+\(|\[local\]", title)
        ):
            database[int(pid)] = used / ticks
    return workers / ticks, database


def database_cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """PostgreSQL's CPU seconds between two readings: the processes alive at the second (a new one from 0)."""
    return sum(used - before.get(pid, 0.0) for pid, used in after.items())


def wrk(url: str, script: Path, *, duration: int, connections: int, threads: int = 2) -> dict[str, Any]:
    command = [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency", "--timeout", "5s",
        "-s", str(script), url,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99_value, p99_unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    p50_value, p50_unit = re.search(r"50%\s+([\d.]+)(us|ms|s)", out).groups()
    answered = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in match.groups())
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    return {
        "rps": rate,
        "p50_ms": float(p50_value) * _UNITS[p50_unit],
        "p99_ms": float(p99_value) * _UNITS[p99_unit],
        "requests": answered,
        "errors": errors,
    }


def settled_rows(timeout: float = 60.0) -> int:
    """The access log's row count once no request is still writing to it (two equal counts 0.5 s apart)."""
    deadline = time.monotonic() + timeout
    last = log_rows()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = log_rows()
        if now == last:
            return now
        last = now
    return last


def log_rows() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_accesslog")
        return cursor.fetchone()[0]


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
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--licences", type=int, default=20000)
    parser.add_argument("--quick", action="store_true", help="small population, 1 run of 3 s")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the database a --keep run left (no migrate, no demo load)"
    )
    parser.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        default="on",
        help="PostgreSQL's synchronous_commit for the bench database (on: each commit waits for the WAL flush)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.duration, args.licences = 1, 3, 2000
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk (make install does it when run as root)", file=sys.stderr)
        return 2
    env = server_env()
    info = machine()
    demo_seconds = 0.0 if args.reuse else prepare(env, args.licences)
    admin(f'ALTER DATABASE "{DATABASE}" SET synchronous_commit = {args.synchronous_commit}')
    setup_django(env)
    police, third, numbers, codes = fixtures()
    print(
        f"{len(numbers):,} licence numbers and {len(codes):,} share codes rotated; gunicorn {args.workers} "
        f"sync workers, wrk -c {args.connections}",
        flush=True,
    )
    port = free_port()
    server = start_server(env, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    runs: list[dict[str, Any]] = []
    chain_problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="permis-checks-bench-") as folder:
        scripts = lua_scripts(Path(folder), police, third, numbers, codes)
        try:
            check_once(
                port,
                "GET",
                f"/api/v1/police/licences/{numbers[0]}?purpose=roadside_check",
                police,
                None,
                '"categories"',
            )
            check_once(port, "POST", "/api/v1/checks/share", third, {"code": codes[0]}, '"licence_number"')
            for script in scripts.values():  # warm-up: imports, connections, caches
                wrk(base + "/", script, duration=2, connections=args.connections)
            for number in range(1, args.repeat + 1):
                run: dict[str, Any] = {"load": os.getloadavg()[0]}
                for name, script in scripts.items():
                    before = settled_rows()  # nothing of the previous run still in flight
                    cpu_before = cpu_seconds(server)
                    result = wrk(base + "/", script, duration=args.duration, connections=args.connections)
                    cpu_after = cpu_seconds(server)
                    result["logged"] = settled_rows() - before
                    answered = max(result["logged"], 1)
                    result["server_cpu_ms"] = (cpu_after[0] - cpu_before[0]) * 1000 / answered
                    result["database_cpu_ms"] = (
                        database_cpu_between(cpu_before[1], cpu_after[1]) * 1000 / answered
                    )
                    # Every answered check is logged; a few more rows are the requests the server answered after
                    # wrk stopped counting (sync workers close each connection, wrk reconnects at the end).
                    result["log_ok"] = result["logged"] >= result["requests"]
                    run[name] = result
                runs.append(run)
                print(
                    f"run {number}: "
                    + ", ".join(
                        f"{name} {run[name]['rps']:.0f} req/s (p99 {run[name]['p99_ms']:.1f} ms, "
                        f"{run[name]['requests']:,} answered, {run[name]['logged']:,} logged, "
                        f"{run[name]['errors']} errors, CPU per check: server "
                        f"{run[name]['server_cpu_ms']:.2f} ms, PostgreSQL {run[name]['database_cpu_ms']:.2f} ms)"
                        for name in scripts
                    )
                    + f", load {run['load']:.1f}",
                    flush=True,
                )
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
    from permis.audit.services import verify_chain

    started = time.perf_counter()
    chain_problems = verify_chain()
    verify_seconds = time.perf_counter() - started
    total_rows = log_rows()
    if not args.keep:
        from django.db import connections

        connections.close_all()
        admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')

    def median(key: str, field: str) -> float:
        return statistics.median(run[key][field] for run in runs)

    summary = {
        name: {
            "rps": median(name, "rps"),
            "p50_ms": median(name, "p50_ms"),
            "p99_ms": median(name, "p99_ms"),
            "errors": sum(run[name]["errors"] for run in runs),
            "server_cpu_ms": median(name, "server_cpu_ms"),
            "database_cpu_ms": median(name, "database_cpu_ms"),
            "all_logged": all(run[name]["log_ok"] for run in runs),
        }
        for name in ("police", "share")
    }
    passed = {
        f"{name}_{what}": ok
        for name, values in summary.items()
        for what, ok in (
            ("rps", values["rps"] >= TARGET_RPS),
            ("p99", values["p99_ms"] < TARGET_P99_MS),
            ("errors", values["errors"] == 0),
            ("logged", values["all_logged"]),
        )
    }
    passed["chain"] = not chain_problems
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {**info, "load_after": os.getloadavg()},
        "settings": {
            "gunicorn_workers": args.workers,
            "gunicorn_worker_class": "sync",
            "synchronous_commit": args.synchronous_commit,
            "wrk_connections": args.connections,
            "wrk_threads": 2,
            "duration_s": args.duration,
            "licences": args.licences,
            "demo_seconds": round(demo_seconds, 1),
            "licence_numbers": len(numbers),
            "share_codes": len(codes),
        },
        "runs": runs,
        "median": summary,
        "access_log": {
            "rows": total_rows,
            "verify_seconds": round(verify_seconds, 2),
            "problems": chain_problems[:10],
        },
        "passed": passed,
    }
    results = RESULTS if args.synchronous_commit == "on" else RESULTS.with_name("checks-async-commit.json")
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(
        f"{'':8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU ms':>7} {'PG ms':>6}"
        f"   (median of {len(runs)} runs of {args.duration} s; CPU per check: gunicorn's workers, PostgreSQL)"
    )
    for name, values in summary.items():
        print(
            f"{name:8} {values['rps']:8.0f} {values['p50_ms']:8.1f} {values['p99_ms']:8.1f} {values['errors']:7}"
            f" {values['server_cpu_ms']:7.2f} {values['database_cpu_ms']:6.2f}"
            f"   every answered check logged: {'yes' if values['all_logged'] else 'NO'}"
        )
    print(
        f"access log: {total_rows:,} rows, chain {'intact' if not chain_problems else 'BROKEN'} ({verify_seconds:.1f} s)"
    )
    print(", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in passed.items()))
    print(f"results: {results.relative_to(ROOT)}")
    return 0 if all(passed.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
