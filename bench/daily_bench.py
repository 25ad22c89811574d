"""Benchmark of the daily run (`permis daily`) on PostgreSQL: 50,000 licences due on the same day.

Target (the national file's issue): the daily run with 50,000 licences due takes under 10 seconds.

The file: 50,000 licences with a change due on D (80% a one-point restoration six months after a one-point
offence, 20% a probationary licence's yearly increment), among 200,000 licences of the national mix with nothing
due on D (`bench/population.py` writes them with COPY, every row as the service layer would have). The file is
built once as a template database; each run starts from a fresh copy of it (CREATE DATABASE ... TEMPLATE) and
times `permis daily --date D` as an operator runs it (Python's start included), then checks that nothing is
left due and, with --check, that `permis verify` finds the file clean.

Run: .venv/bin/python bench/daily_bench.py [--repeat 3] [--due 50000] [--idle 200000] [--rebuild] [--check]
     [--quick]
Results: bench/results/daily.json. PostgreSQL: PERMIS_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from population import ROOT, Population, admin, url

D = dt.date(2026, 6, 2)
TARGET_SECONDS = 10.0
RESULTS = ROOT / "bench" / "results" / "daily.json"
PERMIS = str(Path(sys.executable).with_name("permis"))


def _exists(database: str) -> bool:
    import psycopg

    with psycopg.connect(url("postgres")) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone())


def _count(database: str, sql: str) -> int:
    import psycopg

    with psycopg.connect(url(database)) as conn:
        return conn.execute(sql).fetchone()[0]


def build(base: str, due: int, idle: int) -> None:
    print(f"building {base}: {due:,} licences due on {D}, {idle:,} with nothing due", file=sys.stderr)
    pop = Population(base)
    as_of = D - dt.timedelta(days=1)
    pop.fill(idle, kind="idle", as_of=as_of)
    pop.fill(due, kind="due", as_of=as_of)
    admin(f'ALTER DATABASE "{base}" WITH ALLOW_CONNECTIONS true')


def one_run(base: str, work: str, check: bool) -> dict:
    admin(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{work}" TEMPLATE "{base}"')
    import psycopg

    with psycopg.connect(url(work), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # a fresh copy, as a database that has been running is
    env = {**os.environ, "DATABASE_URL": url(work)}
    due = _count(work, f"SELECT count(*) FROM registry_projection WHERE next_change_on <= '{D}'")  # noqa: S608
    start = time.perf_counter()
    result = subprocess.run(
        [PERMIS, "daily", "--date", D.isoformat(), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    summary = result.stdout.strip()
    inner = float(re.search(r", ([0-9.]+) s$", summary).group(1))
    left = _count(work, f"SELECT count(*) FROM registry_projection WHERE next_change_on <= '{D}'")  # noqa: S608
    run = {"due": due, "wall_s": round(wall, 2), "run_s": inner, "left_due": left, "summary": summary}
    if check:
        verify = subprocess.run(
            [PERMIS, "verify", "--all", "--quiet"], env=env, capture_output=True, text=True, check=False
        )
        run["verify"] = verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr
        run["verify_exit"] = verify.returncode
    return run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--due", type=int, default=50_000)
    parser.add_argument("--idle", type=int, default=200_000)
    parser.add_argument("--rebuild", action="store_true", help="build the template database again")
    parser.add_argument("--check", action="store_true", help="run permis verify after the first run")
    parser.add_argument("--quick", action="store_true", help="2,000 due among 5,000 (smoke run)")
    options, _ = parser.parse_known_args(argv)  # bench/run.py passes every option to every module
    if options.quick:
        options.due, options.idle, options.repeat = 2_000, 5_000, 1
    base = f"permis_bench_daily_{options.due}_{options.idle}"
    work = f"{base}_run"
    if options.rebuild or not _exists(base):
        build(base, options.due, options.idle)
    runs = []
    for n in range(options.repeat):
        run = one_run(base, work, check=options.check and n == 0)
        print(json.dumps(run), flush=True)
        runs.append(run)
        if run["left_due"] != 0 or run.get("verify_exit", 0) != 0:
            print("the daily run left work undone or the file does not verify", file=sys.stderr)
            return 1
    admin(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)')
    wall = statistics.median(r["wall_s"] for r in runs)
    inner = statistics.median(r["run_s"] for r in runs)
    report = {
        "benchmark": "daily",
        "date": D.isoformat(),
        "licences_due": runs[0]["due"],
        "licences_in_file": options.due + options.idle,
        "runs": runs,
        "median_wall_s": wall,
        "median_run_s": inner,
        "target_s": TARGET_SECONDS,
        "met": wall < TARGET_SECONDS,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "load_before": os.getloadavg(),
    }
    print(
        f"daily run, {report['licences_due']:,} licences due among {report['licences_in_file']:,}: "
        f"median {wall:.2f} s wall ({inner:.2f} s in the run itself) over {len(runs)} runs; "
        f"target < {TARGET_SECONDS:.0f} s: {'met' if report['met'] else 'MISSED'}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
