"""Benchmark of letter delivery on PostgreSQL: 100,000 due letters to electronic holders, end to end.

Target (the notices issue): 100,000 due letters turned into deliveries and emails to a local SMTP server at no
less than 500 letters per second.

The file: 100,000 holders who chose electronic notice (an email address each, no SMS), one licence each, and one
letter 48 due for each (``registry_notice`` rows, status pending), bulk-inserted once into a template database.
Each run starts from a fresh copy of it (CREATE DATABASE ... TEMPLATE) and times, as an operator runs them
(Python's start included), `permis notices plan` then `permis notices send` (with --workers N, N `send`
processes side by side), every email going over SMTP to an aiosmtpd server in its own process on 127.0.0.1
that counts what it accepts. A run is valid only when every delivery is `delivered`, every notice too, and the
server received exactly one email per letter.

Run: DATABASE_URL is not used; PERMIS_BENCH_POSTGRES names the server (default postgres://postgres@127.0.0.1:5432)
     .venv/bin/python bench/notices_bench.py [--letters 100000] [--repeat 3] [--workers 1] [--rebuild] [--quick]
Results: bench/results/notices.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from population import ROOT, admin, url

TARGET_PER_SECOND = 500
RESULTS = ROOT / "bench" / "results" / "notices.json"
PERMIS = str(Path(sys.executable).with_name("permis"))


def _exists(database: str) -> bool:
    import psycopg

    with psycopg.connect(url("postgres")) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone())


def build(base: str, letters: int) -> None:
    """The template database: `letters` electronic holders, each with a licence and a letter 48 due."""
    print(f"building {base}: {letters:,} electronic holders with a letter due", file=sys.stderr)
    admin(f'DROP DATABASE IF EXISTS "{base}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{base}"')
    env = {**os.environ, "DATABASE_URL": url(base)}
    subprocess.run([PERMIS, "migrate", "--no-input", "-v", "0"], env=env, check=True)
    import psycopg

    with psycopg.connect(url(base)) as conn, conn.cursor() as cur:
        # Generated in the database: fast, and every row is what the registry would hold for these fields.
        cur.execute(
            """
            INSERT INTO registry_holder (id, birth_name, used_name, given_names, birth_date, birth_place,
                birth_country, sex, address, postal_code, city, email, phone, notice_channel, sms_alerts, created_at)
            SELECT n, 'MARTIN', '', 'Camille', DATE '1990-01-01' + (n %% 10000), '75056', '99100', 'female',
                n || ' rue des Lilas', '75011', 'PARIS', 'holder' || n || '@example.fr', '', 'electronic', false, now()
            FROM generate_series(1, %(n)s) AS n
            """,
            {"n": letters},
        )
        cur.execute(
            """
            INSERT INTO registry_licence (id, holder_id, number, dossier_number, format, obtained_on, route,
                regained, departement, notices_from, created_at)
            SELECT n, n, '1' || lpad(n::text, 11, '0'), '9' || lpad(n::text, 11, '0'), 'card', DATE '2010-03-01', 'traditional',
                false, '75', DATE '2024-01-01', now()
            FROM generate_series(1, %(n)s) AS n
            """,
            {"n": letters},
        )
        cur.execute(
            """
            INSERT INTO registry_notice (licence_id, code, cause, due_on, status, created_at)
            SELECT n, '48', 'e1', DATE '2026-01-05', 'pending', now() FROM generate_series(1, %(n)s) AS n
            """,
            {"n": letters},
        )
        for table in ("registry_holder", "registry_licence"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [letters])
    admin(f'ALTER DATABASE "{base}" WITH ALLOW_CONNECTIONS true')


SMTP_SINK = r"""
import signal, socket
from aiosmtpd.controller import Controller

class Count:
    received = 0
    async def handle_DATA(self, server, session, envelope):
        Count.received += 1
        return "250 OK"

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait, in every thread
with socket.socket() as probe:  # a free port (aiosmtpd's controller cannot start on port 0)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
controller = Controller(Count(), hostname="127.0.0.1", port=port)
controller.start()
print(port, flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
print(Count.received, flush=True)
"""


class SmtpSink:
    """aiosmtpd in its own process (so it does not share the sender's interpreter lock), counting messages."""

    def __enter__(self) -> SmtpSink:
        self.process = subprocess.Popen([sys.executable, "-c", SMTP_SINK], stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())
        return self

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return int(out.strip().splitlines()[-1])

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _count(database: str, sql: str) -> int:
    import psycopg

    with psycopg.connect(url(database)) as conn:
        return conn.execute(sql).fetchone()[0]


def one_run(base: str, work: str, workers: int) -> dict:
    admin(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{work}" TEMPLATE "{base}"')
    import psycopg

    with psycopg.connect(url(work), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    letters = _count(work, "SELECT count(*) FROM registry_notice WHERE status = 'pending'")
    with SmtpSink() as sink:
        env = {
            **os.environ,
            "DATABASE_URL": url(work),
            "PERMIS_EMAIL_HOST": "127.0.0.1",
            "PERMIS_EMAIL_PORT": str(sink.port),
            "PERMIS_LOG_LEVEL": "WARNING",
        }
        load_before = os.getloadavg()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        plan = subprocess.run([PERMIS, "notices", "plan", "--quiet"], env=env, capture_output=True, text=True)
        if plan.returncode != 0:
            raise RuntimeError(plan.stderr)
        planned = time.perf_counter()
        senders = [
            subprocess.Popen(
                [PERMIS, "notices", "send", "--quiet", "--worker", f"bench-{n}"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(workers)
        ]
        outputs = [sender.communicate() for sender in senders]
        wall = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_after = os.getloadavg()
        received = sink.stop()
    for sender, (_, err) in zip(senders, outputs, strict=True):
        if sender.returncode != 0:
            raise RuntimeError(err)
    deliveries = _count(work, "SELECT count(*) FROM notices_delivery")
    delivered = _count(work, "SELECT count(*) FROM notices_delivery WHERE status = 'delivered'")
    emails = _count(work, "SELECT count(*) FROM notices_delivery WHERE channel = 'email'")
    notices_delivered = _count(work, "SELECT count(*) FROM registry_notice WHERE status = 'delivered'")
    return {
        "letters": letters,
        "deliveries": deliveries,
        "delivered": delivered,
        "notices_delivered": notices_delivered,
        "email_deliveries": emails,
        "emails_received": received,
        "plan_s": round(planned - start, 2),
        "send_s": round(wall - (planned - start), 2),
        "wall_s": round(wall, 2),
        "letters_per_s": round(letters / wall, 1),
        # CPU time of `permis notices plan` and `send` (not the database's, not the SMTP server's): what the
        # machine's load cannot inflate.
        "permis_cpu_s": round(
            cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime, 2
        ),
        "load_before": load_before,
        "load_after": load_after,
        "plan_summary": plan.stdout.strip(),
        "send_summary": [out.strip() for out, _ in outputs],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="`permis notices send` processes side by side")
    parser.add_argument("--rebuild", action="store_true", help="build the template database again")
    parser.add_argument("--quick", action="store_true", help="2,000 letters, one run (smoke run)")
    options, _ = parser.parse_known_args(argv)  # bench/run.py passes every option to every module
    if options.quick:
        options.letters, options.repeat = 2_000, 1
    base = f"permis_bench_notices_{options.letters}"
    work = f"{base}_run"
    if options.rebuild or not _exists(base):
        build(base, options.letters)
    runs = []
    for _ in range(options.repeat):
        run = one_run(base, work, options.workers)
        print(json.dumps(run), flush=True)
        runs.append(run)
        complete = (
            run["letters"] > 0
            and run["delivered"] == run["deliveries"] == 2 * run["letters"]
            and run["notices_delivered"] == run["letters"]
            and run["emails_received"] == run["email_deliveries"] == run["letters"]
        )
        if not complete:
            print("a run left deliveries undone or the emails received do not match", file=sys.stderr)
            return 1
    admin(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)')
    wall = statistics.median(r["wall_s"] for r in runs)
    rate = runs[0]["letters"] / wall
    report = {
        "benchmark": "notices",
        "letters": runs[0]["letters"],
        "workers": options.workers,
        "runs": runs,
        "median_wall_s": wall,
        "median_plan_s": statistics.median(r["plan_s"] for r in runs),
        "median_send_s": statistics.median(r["send_s"] for r in runs),
        "letters_per_s": round(rate, 1),
        "target_per_s": TARGET_PER_SECOND,
        "met": rate >= TARGET_PER_SECOND,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }
    print(
        f"notices, {report['letters']:,} letters (account + email each), {options.workers} sender(s): median "
        f"{wall:.1f} s end to end ({report['median_plan_s']:.1f} s plan, {report['median_send_s']:.1f} s send) "
        f"= {rate:,.0f} letters/s over {len(runs)} runs; target >= {TARGET_PER_SECOND}/s: "
        f"{'met' if report['met'] else 'MISSED'}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
