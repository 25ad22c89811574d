"""Benchmark of the infraction feed (PRODUCT.md capability 3) on PostgreSQL.

Targets (the feed's issue):
- `permis import offences` of 1,000,000 offences for a population of 1,000,000 licences: at least 20,000
  offences per second end to end (event, movements, notices, projection, receipts), reported next to the raw
  COPY rate of the same rows into a bare table, measured in the same run;
- from an accepted API feed record to the new balance being readable: under 1 second at the 99th percentile.

What it does:
1. fills a database with N licences of the national mix (bench/population.py: every row as the service layer
   would write it, hash chains included) - once, as a template;
2. writes M offence records as a CSV file (docs/feed.md): random licences, named by licence number (80%) or
   dossier number, NATINF codes, points and class, or speeding, committed in the last two years;
3. for each run, copies the template to a fresh database and times `permis import offences FILE` as a
   subprocess (Python's start, reading, parsing, the engine, every write, the summary): the wall time;
4. in the same run, times a plain COPY of the same file into a bare table (text columns, no index);
5. once, serves the API with gunicorn on 127.0.0.1 and sends single-record batches, timing each from the start
   of the POST to the moment another connection reads the licence's projection with the new event counted.

Run: .venv/bin/python bench/feed_bench.py [--licences N] [--offences M] [--repeat 3] [--api-requests 300]
     [--quick] [--keep] [--verify]
Results: bench/results/feed.json, and a table on stdout.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import http.client
import json
import os
import platform
import random
import signal
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
for path in (ROOT / "src", BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from population import Population, admin, url  # noqa: E402

RESULTS = BENCH / "results" / "feed.json"
TEMPLATE = "permis_bench"
RUN_DB = "permis_bench_feed_run"
TARGET_RATE = 20_000
TARGET_P99_S = 1.0
SEED = 20261123
PERMIS = str(Path(sys.executable).with_name("permis"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def today_paris() -> dt.date:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo("Europe/Paris")).date()


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- the data ------------------------------------------------------------------------------------------------------
def fill(licences: int, on: dt.date) -> float:
    began = time.perf_counter()
    population = Population(TEMPLATE)
    population.fill(licences, kind="mix", as_of=on, jobs=2)
    return time.perf_counter() - began


def template_matches(licences: int, on: dt.date) -> bool:
    import psycopg

    try:
        with psycopg.connect(url(TEMPLATE)) as conn:
            count = conn.execute("SELECT count(*) FROM registry_licence").fetchone()[0]
            as_of = conn.execute("SELECT max(as_of) FROM registry_projection").fetchone()[0]
            feed = conn.execute("SELECT count(*) FROM registry_feedrecord").fetchone()[0]
    except psycopg.Error:
        return False
    return count == licences and as_of == on and feed == 0


def natinf_codes() -> list[str]:
    """NATINF codes of the shipped barème that remove points (the under-5 km/h ones aside)."""
    import yaml

    data = yaml.safe_load((ROOT / "src/permis/rules/bareme/offences.yaml").read_text(encoding="utf-8"))
    codes = []
    for entry in data["offences"]:
        if all(v.get("points", 0) > 0 for v in entry["versions"]) and not entry.get("lt5"):
            codes.extend(entry.get("natinf", []))
    return sorted(set(codes))


def write_offences(path: Path, count: int, on: dt.date) -> None:
    """M offence records on random licences of the template, as a sender would send them."""
    import psycopg

    with psycopg.connect(url(TEMPLATE)) as conn:
        licences = conn.execute(
            "SELECT number, dossier_number, obtained_on FROM registry_licence ORDER BY id"
        ).fetchall()
    rng = random.Random(SEED)
    codes = natinf_codes()
    start = on - dt.timedelta(days=730)
    latest = on - dt.timedelta(days=15)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "sender",
                "sender_ref",
                "licence_number",
                "dossier_number",
                "natinf",
                "points",
                "class",
                "speeding_limit_kmh",
                "speeding_retained_kmh",
                "committed_on",
                "final_on",
                "how",
                "place",
            ]
        )
        for n in range(count):
            number, dossier, obtained = licences[rng.randrange(len(licences))]
            first = max(start, obtained)
            if first >= latest:
                first = latest - dt.timedelta(days=1)
            committed = first + dt.timedelta(days=rng.randrange(max(1, (latest - first).days)))
            final = min(on - dt.timedelta(days=1), committed + dt.timedelta(days=rng.randint(10, 60)))
            by_number = rng.random() < 0.8
            way = rng.random()
            natinf = points = cls = limit = retained = ""
            if way < 0.5:
                natinf = rng.choice(codes)
            elif way < 0.8:
                points, cls = rng.choice([(1, "C3"), (1, "C4"), (2, "C4"), (3, "C4"), (4, "C4"), (6, "D")])
            else:
                limit = rng.choice([30, 50, 80, 90, 110, 130])
                retained = limit + rng.choice([3, 8, 12, 22, 33, 45])
            writer.writerow(
                [
                    "ANTAI",
                    f"BENCH-{n:08d}",
                    number if by_number else "",
                    "" if by_number else dossier,
                    natinf,
                    points,
                    cls,
                    limit,
                    retained,
                    committed.isoformat(),
                    final.isoformat(),
                    rng.choice(["fine_paid", "fine_paid", "majoree_title", ""]),
                    f"{rng.randint(1, 95):02d}{rng.randint(1, 500):03d}",
                ]
            )


# -- one run -------------------------------------------------------------------------------------------------------
def fresh_run_database() -> float:
    began = time.perf_counter()
    admin(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{TEMPLATE}"')
    return time.perf_counter() - began


def raw_copy(path: Path) -> float:
    """COPY the same file into a bare table (its columns as text, no index, no constraint)."""
    import psycopg

    with path.open("rb") as handle:
        header = handle.readline().decode().strip().split(",")
    columns = ", ".join(f'"{name}" text' for name in header)
    with psycopg.connect(url(RUN_DB)) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bare_offences")
        conn.execute(f"CREATE TABLE bench_bare_offences ({columns})")
        conn.commit()
        began = time.perf_counter()
        sql = "COPY bench_bare_offences FROM STDIN WITH (FORMAT csv, HEADER true)"
        with conn.cursor() as cursor, path.open("rb") as handle, cursor.copy(sql) as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - began
        conn.execute("DROP TABLE bench_bare_offences")
        conn.commit()
    return seconds


def server_env() -> dict[str, str]:
    """Production settings (no debug mode) on the run database."""
    return {
        **os.environ,
        "DATABASE_URL": url(RUN_DB),
        "PERMIS_DEBUG": "false",
        "PERMIS_SECRET_KEY": "bench-only-" + "x" * 40,
        # Production settings require a signing key for the letters' documents (unused by the import).
        "PERMIS_SIGNING_KEY": os.environ.get("PERMIS_SIGNING_KEY", "bench:" + "A" * 43 + "="),
        "PERMIS_ALLOWED_HOSTS": "127.0.0.1",
        "PERMIS_SECURE_SSL_REDIRECT": "false",
        "PERMIS_LOG_LEVEL": "WARNING",
    }


def postgres_cpu_s() -> float | None:
    """CPU seconds used so far by the PostgreSQL server's processes, ended backends included (they are the
    postmaster's children), when the server runs on this machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    try:
        import pwd

        uid = pwd.getpwnam("postgres").pw_uid
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.stat(f"/proc/{pid}").st_uid != uid:
                    continue
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    except (KeyError, OSError):
        return None
    return total / ticks


def import_file(path: Path, workers: int, chunk: int) -> tuple[float, str, dict[str, Any]]:
    env = server_env()
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    pg_before = postgres_cpu_s()
    began = time.perf_counter()
    popen = subprocess.Popen(
        [
            PERMIS,
            "import",
            "offences",
            str(path),
            "--quiet",
            "--workers",
            str(workers),
            "--chunk-size",
            str(chunk),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    memory = poll_memory(popen)
    seconds = time.perf_counter() - began
    result = subprocess.CompletedProcess(popen.args, popen.returncode, *memory.pop("output"))
    pg_after = postgres_cpu_s()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    python_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"permis import failed ({result.returncode}):\n{result.stderr[-3000:]}")
    line = result.stdout.strip().splitlines()[0]
    import psycopg

    with psycopg.connect(url(RUN_DB)) as conn:
        counts = {
            table: conn.execute(f"SELECT count(*) FROM registry_{table}").fetchone()[0]  # noqa: S608
            for table in ("event", "movement", "notice", "projection", "feedrecord")
        }
        counts["accepted"] = conn.execute(
            "SELECT count(*) FROM registry_feedrecord WHERE outcome = 'accepted'"
        ).fetchone()[0]
    cpu = {"python_s": round(python_cpu, 1)}
    if pg_before is not None and pg_after is not None:
        cpu["postgres_s"] = round(pg_after - pg_before, 1)
    return seconds, line, {"rows": counts, "cpu": cpu, "memory": memory}


def poll_memory(popen: subprocess.Popen) -> dict[str, Any]:
    """Wait for the import, sampling the memory of its process and its workers: the peak of their resident
    sizes added up (pages the workers share with the parent after the fork count in each, so this overstates
    the machine's use), of the largest process, and of their proportional sizes (PSS: shared pages divided
    among the processes sharing them, the memory the import really holds), every second."""
    import threading

    import psutil

    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(popen.communicate()), daemon=True)
    reader.start()
    root = psutil.Process(popen.pid)
    peak_rss = peak_one = peak_pss = 0
    last_pss = 0.0
    while reader.is_alive():
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        rss, pss, now = [], [], time.monotonic()
        for proc in procs:
            try:
                rss.append(proc.memory_info().rss)
                if now - last_pss >= 1.0:
                    pss.append(proc.memory_full_info().pss)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        if pss:
            last_pss = now
            peak_pss = max(peak_pss, sum(pss))
        peak_rss, peak_one = max(peak_rss, sum(rss)), max(peak_one, max(rss, default=0))
        reader.join(0.2)
    reader.join()
    mib = 2**20
    return {
        "output": output,
        "peak_rss_total_mib": round(peak_rss / mib, 1),
        "peak_rss_one_process_mib": round(peak_one / mib, 1),
        "peak_pss_total_mib": round(peak_pss / mib, 1),
    }


def verify() -> tuple[int, str]:
    env = {**os.environ, "DATABASE_URL": url(RUN_DB)}
    result = subprocess.run(
        [PERMIS, "verify", "--quiet", "--all"], env=env, capture_output=True, text=True, check=False
    )
    return result.returncode, (result.stdout + result.stderr).strip().splitlines()[-1]


# -- the API -------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_latency(requests: int, on: dt.date) -> dict[str, Any]:
    """Single-record batches against gunicorn; time from the POST to the balance read elsewhere."""
    import psycopg

    env = server_env()
    key = subprocess.run(
        [PERMIS, "apikey", "create", "--name", "bench", "--sender", "ANTAI-API", "--scope", "feed"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [GUNICORN, "permis.config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)
        rng = random.Random(SEED + 1)
        with psycopg.connect(url(RUN_DB), autocommit=True) as reader:
            licences = reader.execute(
                "SELECT l.id, l.number, l.obtained_on FROM registry_licence l JOIN registry_projection p "
                "ON p.licence_id = l.id WHERE p.status = 'valid' AND l.obtained_on < %s ORDER BY l.id",
                [on - dt.timedelta(days=400)],
            ).fetchall()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            latencies, statuses = [], {}
            for n in range(requests + 10):  # the first 10 warm the workers up and are not counted
                licence_id, number, _ = licences[rng.randrange(len(licences))]
                before = reader.execute(
                    "SELECT events_count FROM registry_projection WHERE licence_id = %s", [licence_id]
                ).fetchone()[0]
                final = on - dt.timedelta(days=rng.randint(1, 30))
                record = {
                    "sender_ref": f"API-{SEED}-{n}",
                    "licence_number": number,
                    "points": 1,
                    "class": "C3",
                    "committed_on": (final - dt.timedelta(days=20)).isoformat(),
                    "final_on": final.isoformat(),
                }
                body = json.dumps({"records": [record]})
                began = time.perf_counter()
                connection.request(
                    "POST",
                    "/api/v1/feed/offences",
                    body=body,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                )
                response = connection.getresponse()
                answer = json.loads(response.read())
                outcome = answer["records"][0]["outcome"] if response.status == 200 else str(response.status)
                statuses[outcome] = statuses.get(outcome, 0) + 1
                seen = False
                for _ in range(
                    500
                ):  # at most 5 s: the answer says it is written, so the first read should see it
                    count = reader.execute(
                        "SELECT events_count FROM registry_projection WHERE licence_id = %s", [licence_id]
                    ).fetchone()[0]
                    if count == before + 1:
                        seen = True
                        break
                    time.sleep(0.01)
                elapsed = time.perf_counter() - began
                if n >= 10 and outcome == "accepted":
                    latencies.append(elapsed if seen else float("inf"))
            connection.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, round(p * (len(latencies) - 1)))]

    return {
        "requests": requests,
        "outcomes": statuses,
        "p50_ms": round(pct(0.50) * 1000, 1),
        "p99_ms": round(pct(0.99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
        "target_p99_ms": TARGET_P99_S * 1000,
        "met": pct(0.99) < TARGET_P99_S,
    }


# -- main ----------------------------------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--licences", type=int, default=1_000_000)
    parser.add_argument("--offences", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--api-requests", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="20,000 licences and offences, one run")
    parser.add_argument("--refill", action="store_true", help="rebuild the template even if it matches")
    parser.add_argument("--keep", action="store_true", help="keep the run database")
    parser.add_argument(
        "--verify", action="store_true", help="run `permis verify --all` after the last import"
    )
    options, _ = parser.parse_known_args(argv)  # bench/run.py passes its options to every module
    if options.quick:
        options.licences, options.offences, options.repeat, options.api_requests = 20_000, 20_000, 1, 100
    on = today_paris()
    print(
        f"feed bench: {options.licences:,} licences, {options.offences:,} offences, {options.repeat} runs, load {load()}"
    )
    fill_s = None
    if options.refill or not template_matches(options.licences, on):
        print("  filling the template database (not timed as part of the import)...", flush=True)
        fill_s = fill(options.licences, on)
        print(f"  filled in {fill_s:.0f} s", flush=True)
    path = Path(tempfile.gettempdir()) / f"permis_feed_{options.offences}.csv"
    write_offences(path, options.offences, on)
    size_mb = path.stat().st_size / 1e6
    runs = []
    for run in range(options.repeat):
        fresh_run_database()
        load_before = load()
        copy_s = raw_copy(path)
        seconds, summary, measured = import_file(path, options.workers, options.chunk_size)
        counts, cpu = measured["rows"], measured["cpu"]
        cpu_total = cpu["python_s"] + cpu.get("postgres_s", 0.0)
        cpu["us_per_offence"] = round(cpu_total / options.offences * 1e6)
        cpu["idle_machine_ceiling_per_s"] = round(options.offences / cpu_total * (os.cpu_count() or 1))
        runs.append(
            {
                "import_s": round(seconds, 2),
                "rate": round(options.offences / seconds),
                "copy_s": round(copy_s, 2),
                "copy_rate": round(options.offences / copy_s),
                "ratio_copy_over_import": round(seconds / copy_s, 1),
                "summary": summary,
                "rows": counts,
                "cpu": cpu,
                "memory": measured["memory"],
                "load_before": load_before,
            }
        )
        print(
            f"  run {run + 1}: import {seconds:.1f} s = {options.offences / seconds:,.0f} offences/s; raw COPY "
            f"{copy_s:.2f} s = {options.offences / copy_s:,.0f} rows/s; rows {counts}; cpu {cpu}; memory {measured['memory']}; load {load_before}",
            flush=True,
        )
        print(f"    {summary}", flush=True)
    verified = verify() if options.verify else None
    api = api_latency(options.api_requests, on) if options.api_requests else None
    if api:
        print(
            f"  API: p50 {api['p50_ms']} ms, p99 {api['p99_ms']} ms, max {api['max_ms']} ms, {api['outcomes']}"
        )
    if not options.keep:
        admin(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)')
    rate = statistics.median(r["rate"] for r in runs)
    copy_rate = statistics.median(r["copy_rate"] for r in runs)
    result = {
        "benchmark": "feed",
        "date": on.isoformat(),
        "licences": options.licences,
        "offences": options.offences,
        "file_mb": round(size_mb, 1),
        "workers": options.workers,
        "chunk_size": options.chunk_size,
        "fill_s": round(fill_s, 1) if fill_s else None,
        "runs": runs,
        "median_rate": round(rate),
        "median_copy_rate": round(copy_rate),
        "copy_over_import": round(copy_rate / rate, 1),
        "median_us_cpu_per_offence": statistics.median(r["cpu"]["us_per_offence"] for r in runs),
        "peak_rss_total_mib": max(r["memory"]["peak_rss_total_mib"] for r in runs),
        "peak_pss_total_mib": max(r["memory"]["peak_pss_total_mib"] for r in runs),
        "target_peak_mib": 1024,
        "target_rate": TARGET_RATE,
        "met": rate >= TARGET_RATE,
        "verify": verified,
        "api": api,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "load_after": load(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"median: {rate:,.0f} offences/s end to end (target {TARGET_RATE:,}: {'met' if result['met'] else 'NOT met'}); "
        f"raw COPY {copy_rate:,.0f} rows/s ({result['copy_over_import']}x faster); "
        f"{result['median_us_cpu_per_offence']} µs CPU per offence; peak memory of the import and its workers: "
        f"RSS {result['peak_rss_total_mib']:,.0f} MiB added up, PSS {result['peak_pss_total_mib']:,.0f} MiB "
        f"(target 1,024 MiB)"
    )
    if verified:
        print(f"verify: exit {verified[0]}: {verified[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
