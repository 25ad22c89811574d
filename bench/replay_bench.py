"""Benchmark of the full re-evaluation of the file from its events (`permis verify --all`) on PostgreSQL.

Targets (the national file's issue):
- at least 40,000 events per second using both cores (45 million licences and 80 million events in about 30
  minutes), reported with its ratio to a bare binary COPY read of the same events into Python;
- peak memory under 1 GiB whatever the number of licences (measured at N = 100,000 and N = 1,000,000).

Each file is written once per N as its own database (bench/population.py) and kept for later runs. Both kinds
of file have the target's 1.78 events per licence (80 million events for 45 million licences): "mix" (the
default) spreads them over 84% of the licences (about 2.1 each), "national" keeps the national statistics' 8
licences in 10 without any event and gives the others about 9 each. A run times
`permis verify --all --jobs 2` as an operator runs it (Python's start included), polls the resident memory of
the command and its worker processes (psutil), and checks that the file verifies clean. The reference reads
the same events table with `COPY registry_event TO STDOUT (FORMAT BINARY)` into Python tuples (psycopg,
types loaded: dates, datetimes, JSON documents), in one process.

Run: .venv/bin/python bench/replay_bench.py [--sizes 100000,1000000] [--repeat 3] [--jobs 2]
     [--kind mix|national] [--rebuild] [--quick]
Results: bench/results/replay.json (replay_national.json with --kind national). PostgreSQL: PERMIS_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from population import ROOT, Population, url

AS_OF = dt.date(2026, 6, 1)
TARGET_EVENTS_PER_S = 40_000
TARGET_PEAK_BYTES = 1 << 30
RESULTS = ROOT / "bench" / "results"
PERMIS = str(Path(sys.executable).with_name("permis"))

COPY_READ = r"""
import sys, time, psycopg
start = time.perf_counter()
rows = 0
with psycopg.connect(sys.argv[1]) as conn, conn.cursor(binary=True) as cursor:
    columns = ("licence_id, seq, kind, data, source, sender, source_ref, recorded_at, recorded_by, corrects_id, "
               "reason, prev_hash, hash")
    with cursor.copy(f"COPY registry_event ({columns}) TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "int4", "varchar", "jsonb", "varchar", "varchar", "varchar", "timestamptz",
                        "varchar", "int8", "text", "varchar", "varchar"])
        for row in copy.rows():
            rows += 1
print(rows, time.perf_counter() - start)
"""


def _exists_with(database: str, licences: int) -> bool:
    import psycopg

    with psycopg.connect(url("postgres")) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            return False
    with psycopg.connect(url(database)) as conn:
        try:
            return conn.execute("SELECT count(*) FROM registry_projection").fetchone()[0] == licences
        except psycopg.Error:
            return False


def _rss(process) -> tuple[int, int]:
    """The resident memory of a process and its descendants: (all together, the largest one)."""
    import psutil

    try:
        procs = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0
    sizes = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            sizes.append(proc.memory_info().rss)
    return sum(sizes), max(sizes, default=0)


def verify_run(database: str, jobs: int) -> dict:
    import psutil

    env = {**os.environ, "DATABASE_URL": url(database)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    popen = subprocess.Popen(
        [PERMIS, "verify", "--all", "--quiet", "--jobs", str(jobs)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process = psutil.Process(popen.pid)
    peak_total = peak_one = 0
    while popen.poll() is None:
        total, largest = _rss(process)
        peak_total, peak_one = max(peak_total, total), max(peak_one, largest)
        time.sleep(0.1)
    out, err = popen.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its workers (waited for)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = (out.strip().splitlines() or [err.strip()])[-1]
    events = int(re.search(r"([0-9,]+) events,", line).group(1).replace(",", ""))
    licences = int(re.search(r"verified ([0-9,]+) licences", line).group(1).replace(",", ""))
    return {
        "exit": popen.returncode,
        "summary": line,
        "licences": licences,
        "events": events,
        "wall_s": round(wall, 2),
        "events_per_s": round(events / wall),
        "cpu_s": round(cpu, 1),
        "events_per_cpu_s": round(events / cpu),
        "licences_per_s": round(licences / wall),
        "peak_rss_total_mib": round(peak_total / 2**20, 1),
        "peak_rss_one_process_mib": round(peak_one / 2**20, 1),
    }


def copy_run(database: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", COPY_READ, url(database)], capture_output=True, text=True, check=True
    )
    rows, seconds = result.stdout.split()
    return {
        "events": int(rows),
        "seconds": round(float(seconds), 2),
        "events_per_s": round(int(rows) / float(seconds)),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="numbers of licences, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--kind",
        choices=("mix", "national"),
        default="mix",
        help="population (bench/population.py): 'mix' spreads the events over 84%% of the licences, "
        "'national' keeps 8 licences in 10 without any event",
    )
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--quick", action="store_true", help="10,000 licences, one run")
    options, _ = parser.parse_known_args(argv)  # bench/run.py passes every option to every module
    sizes = [int(s) for s in options.sizes.split(",")]
    if options.quick:
        sizes, options.repeat = [10_000], 1
    report: dict = {
        "benchmark": "replay",
        "as_of": AS_OF.isoformat(),
        "jobs": options.jobs,
        "population": options.kind,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "load_before": os.getloadavg(),
        "sizes": {},
    }
    failed = False
    for n in sizes:
        database = f"permis_bench_replay_{n}" + ("" if options.kind == "mix" else f"_{options.kind}")
        if options.rebuild or not _exists_with(database, n):
            print(f"building {database}: {n:,} licences", file=sys.stderr)
            Population(database).fill(n, kind=options.kind, as_of=AS_OF)
        runs, copies = [], []
        for _ in range(options.repeat):
            run = verify_run(database, options.jobs)
            copy = copy_run(database)
            print(json.dumps({"n": n, "verify": run, "copy": copy}), flush=True)
            runs.append(run)
            copies.append(copy)
            failed |= run["exit"] != 0
        rate = statistics.median(r["events_per_s"] for r in runs)
        copy_rate = statistics.median(c["events_per_s"] for c in copies)
        entry = {
            "licences": runs[0]["licences"],
            "events": runs[0]["events"],
            "runs": runs,
            "copy_runs": copies,
            "median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "median_events_per_s": rate,
            "median_events_per_cpu_s": statistics.median(r["events_per_cpu_s"] for r in runs),
            "median_copy_events_per_s": copy_rate,
            "copy_to_verify_ratio": round(copy_rate / rate, 1),
            "peak_rss_total_mib": max(r["peak_rss_total_mib"] for r in runs),
            "peak_rss_one_process_mib": max(r["peak_rss_one_process_mib"] for r in runs),
            "hours_for_80_million_events": round(80e6 / rate / 3600, 2),
        }
        report["sizes"][str(n)] = entry
        print(
            f"N={n:,}: {entry['events']:,} events; verify --all --jobs {options.jobs}: median "
            f"{entry['median_wall_s']:.1f} s, {rate:,.0f} events/s (target {TARGET_EVENTS_PER_S:,}: "
            f"{'met' if rate >= TARGET_EVENTS_PER_S else 'MISSED'}; {entry['median_events_per_cpu_s']:,.0f} events per "
            f"CPU second of permis, PostgreSQL's own not counted); binary COPY read: {copy_rate:,.0f} events/s, "
            f"{entry['copy_to_verify_ratio']}x faster; peak RSS {entry['peak_rss_total_mib']:.0f} MiB "
            f"(all processes), {entry['peak_rss_one_process_mib']:.0f} MiB (largest process); "
            f"80 million events would take {entry['hours_for_80_million_events']} h"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "replay.json" if options.kind == "mix" else f"replay_{options.kind}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
