"""A synthetic national file written straight into PostgreSQL with COPY, for the registry's benchmarks.

Every row is what the service layer would have written: each licence's events are hash-chained exactly as
`services.core.record_event` chains them, and its movements, letters and projection are derived by the same
code the daily run uses (`services.replay.derive`), so `permis verify` finds the file clean. Going through
`record_event` one event at a time would take hours for a million licences; this takes minutes.

    from population import Population
    pop = Population("permis_bench_replay")        # creates the database and its tables (permis migrate)
    pop.fill(1_000_000, kind="mix", as_of=date(2026, 6, 1), jobs=2)

Kinds of licence:
- "mix": the national mix of bench/rules_bench.py (offences, courses, cancellations, suspensions; probationary
  licences), with the share of clean licences set so that the file has about 1.78 events per licence, the
  ratio of the target (80 million events for 45 million licences);
- "due": a licence whose one-point restoration or probation increment falls due on the day after `as_of`;
- "idle": a "mix" licence with nothing due on the day after `as_of`;
- "national": 8 licences in 10 without any event (the national mix of rules_bench.py), the others with about 9
  events each, so that the file also has the target's 1.78 events per licence.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
for path in (ROOT / "src", BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

SERVER = os.environ.get("PERMIS_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
EVENTS_PER_LICENCE = 80 / 45  # the target's file: 80 million events, 45 million licences
BLOCK = 5000  # licences generated, then copied, at a time
SEED = 20260601


def url(database: str) -> str:
    return f"{SERVER}/{database}"


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(url("postgres"), autocommit=True) as conn:
        conn.execute(sql)


def _setup_django(database: str) -> None:
    os.environ["DATABASE_URL"] = url(database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "permis.config.settings")
    import django

    django.setup()


class Population:
    def __init__(self, database: str, *, fresh: bool = True):
        self.database = database
        self.url = url(database)
        if fresh:
            admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin(f'CREATE DATABASE "{database}"')
            env = {**os.environ, "DATABASE_URL": self.url}
            subprocess.run(
                [str(Path(sys.executable).with_name("permis")), "migrate", "--no-input", "-v", "0"],
                env=env,
                check=True,
            )

    def next_id(self) -> int:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return conn.execute("SELECT coalesce(max(id), 0) + 1 FROM registry_licence").fetchone()[0]

    def fill(
        self, count: int, *, kind: str, as_of: dt.date, jobs: int = 2, seed: int = SEED
    ) -> dict[str, int]:
        """Add `count` licences of `kind`, evaluated on `as_of`; returns the rows written per table."""
        start = self.next_id()
        blocks = [(start + i, min(BLOCK, count - i)) for i in range(0, count, BLOCK)]
        args = [(self.database, first, n, kind, as_of, seed) for first, n in blocks]
        totals: dict[str, int] = {}
        began = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            for done, written in enumerate(pool.imap_unordered(_fill_block, args), 1):
                for table, rows in written.items():
                    totals[table] = totals.get(table, 0) + rows
                if done % 20 == 0 or done == len(args):
                    elapsed = time.perf_counter() - began
                    print(
                        f"  {kind}: {min(done * BLOCK, count):,}/{count:,} licences, {elapsed:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            for table in ("registry_holder", "registry_licence"):
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
                )
            conn.execute("ANALYZE")
        return totals


# -- one block, in a worker process --------------------------------------------------------------------------------
_READY: set[str] = set()


def _fill_block(args: tuple) -> dict[str, int]:
    database, first, n, kind, as_of, seed = args
    if database not in _READY:
        _setup_django(database)
        _READY.add(database)
    import psycopg

    rows = _block_rows(first, n, kind, as_of, seed)
    with psycopg.connect(url(database)) as conn, conn.cursor() as cursor:
        for table, (columns, values) in rows.items():
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
    return {table: len(values) for table, (_, values) in rows.items()}


HOLDER_COLUMNS = (
    "id", "birth_name", "used_name", "given_names", "birth_date", "birth_place", "birth_country", "sex",
    "address", "postal_code", "city", "email", "phone", "notice_channel", "sms_alerts", "created_at",
)  # fmt: skip
LICENCE_COLUMNS = (
    "id", "holder_id", "number", "dossier_number", "format", "obtained_on", "route", "complementary_training_on",
    "regained", "departement", "notices_from", "seal", "created_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "licence_id", "seq", "kind", "data", "source", "sender", "source_ref", "recorded_at", "recorded_by",
    "corrects_id", "reason", "prev_hash", "hash",
)  # fmt: skip
MOVEMENT_COLUMNS = (
    "licence_id", "position", '"on"', "kind", "change", "balance", "raw_balance", "cap", "cause", "basis",
)  # fmt: skip
NOTICE_COLUMNS = ("licence_id", "code", "cause", "due_on", "status", "created_at")
PROJECTION_COLUMNS = (
    "licence_id", "balance", "raw_balance", "cap", "status", "suspended", "probation_end", "next_change_on",
    "as_of", "events_count", "last_hash", "updated_at",
)  # fmt: skip

NOTICES_FROM = dt.date(2016, 6, 1)  # the day the file's letters are managed from (earlier ones are history)
SOURCES = {
    "offence": ("feed", "ANTAI"),
    "offence_cancelled": ("feed", "TJ-PARIS"),
    "course": ("course_centre", "CENTRE-75-001"),
    "suspension": ("agent", "PREF-75"),
}


def _recorded_on(event: dict[str, Any]) -> dt.date:
    kind = event["kind"]
    if kind == "offence":
        return dt.date.fromisoformat(event["final_on"]) + dt.timedelta(days=1)
    if kind == "course":
        return dt.date.fromisoformat(event["last_day"]) + dt.timedelta(days=2)
    if kind == "suspension":
        return dt.date.fromisoformat(event["from"])
    return dt.date.fromisoformat(event["on"])


def _clean_share() -> float:
    """The share of clean licences that gives the target's events per licence with rules_bench's mix."""
    rng = random.Random(SEED)
    import rules_bench

    on = dt.date(2026, 6, 1)
    sample = [rules_bench.licence_with_offences(rng, on, rng.random() < 0.07) for _ in range(4000)]
    per_record = sum(len(h["events"]) for h in sample) / len(sample)
    return max(0.0, 1 - EVENTS_PER_LICENCE / per_record)


_CLEAN_SHARE: list[float] = []


def _history(rng: random.Random, kind: str, as_of: dt.date) -> dict[str, Any]:
    import rules_bench

    due_on = as_of + dt.timedelta(days=1)
    if kind == "due":
        if rng.random() < 0.8:  # a one-point offence six months ago, nothing since: one point back tomorrow
            from permis.rules.engine import add_months

            final = add_months(due_on, -6)
            obtained = dt.date(rng.randint(1975, 2015), rng.randint(1, 12), rng.randint(1, 28))
            committed = final - dt.timedelta(days=rng.randint(5, 60))
            event = {
                "kind": "offence",
                "id": "I1",
                "committed_on": committed.isoformat(),
                "final_on": final.isoformat(),
                "speeding": {"limit_kmh": 80, "retained_kmh": 80 + rng.randint(5, 19)},
                "how": "fine_paid",
            }
            return {"licence": {"obtained_on": obtained.isoformat()}, "events": [event]}
        # A probationary licence whose yearly increment falls due tomorrow.
        years = rng.choice([1, 2])
        return {
            "licence": {"obtained_on": due_on.replace(year=due_on.year - years).isoformat()},
            "events": [],
        }
    if kind == "national":
        return _national(rng, as_of)
    if not _CLEAN_SHARE:
        _CLEAN_SHARE.append(_clean_share())
    probationary = rng.random() < rules_bench.SHARE_PROBATIONARY
    if rng.random() < _CLEAN_SHARE[0]:
        if probationary:
            obtained = as_of - dt.timedelta(days=rng.randint(30, 3 * 365))
        else:
            obtained = dt.date(rng.randint(1960, as_of.year - 4), rng.randint(1, 12), rng.randint(1, 28))
        return {"licence": {"obtained_on": obtained.isoformat()}, "events": []}
    return rules_bench.licence_with_offences(rng, as_of, probationary)


def _national(rng: random.Random, as_of: dt.date) -> dict[str, Any]:
    """8 licences in 10 without any event in ten years (rules_bench's national mix); the others with several
    "episodes" of rules_bench's offences, courses, cancellations and suspensions, so that the file keeps the
    target's 1.78 events per licence (about 9 events for each licence that has any)."""
    import rules_bench

    probationary = rng.random() < rules_bench.SHARE_PROBATIONARY
    if rng.random() < rules_bench.SHARE_CLEAN:
        if probationary:
            obtained = as_of - dt.timedelta(days=rng.randint(30, 3 * 365))
        else:
            obtained = dt.date(rng.randint(1960, as_of.year - 4), rng.randint(1, 12), rng.randint(1, 28))
        return {"licence": {"obtained_on": obtained.isoformat()}, "events": []}
    first = rules_bench.licence_with_offences(rng, as_of, probationary)
    obtained = dt.date.fromisoformat(first["licence"]["obtained_on"])
    events = list(first["events"])
    for episode in range(2, 2 + rng.randint(0, 7)):
        more = rules_bench.licence_with_offences(rng, as_of, False)["events"]
        for event in more:
            event = {**event, "id": f"{event['id']}x{episode}"}
            if "offence" in event:
                event["offence"] = f"{event['offence']}x{episode}"
            days = [dt.date.fromisoformat(v) for k, v in event.items() if k in DATE_FIELDS]
            if min(days) > obtained:
                events.append(event)
    ids = {e["id"] for e in events}
    events = [e for e in events if e.get("offence", e["id"]) in ids]  # a cancellation keeps its offence
    return {"licence": first["licence"], "events": events}


DATE_FIELDS = {"committed_on", "final_on", "first_day", "last_day", "on", "from", "to"}


def _block_rows(first: int, n: int, kind: str, as_of: dt.date, seed: int) -> dict[str, tuple]:
    from permis.registry.services.core import event_hash, genesis_hash, identity_seal
    from permis.registry.services.replay import EventRow, LicenceRow, derive

    now = dt.datetime.now(dt.UTC)
    holders, licences, events_out, movements_out, notices_out, projections = [], [], [], [], [], []
    due_on = as_of + dt.timedelta(days=1)
    for licence_id in range(first, first + n):
        rng = random.Random(seed * 100_000_007 + licence_id)
        while True:
            history = _history(rng, "mix" if kind == "idle" else kind, as_of)
            lic = history["licence"]
            obtained = dt.date.fromisoformat(lic["obtained_on"])
            number = f"B{licence_id:011d}"
            licence = LicenceRow(
                licence_id, number, f"N{licence_id:011d}", obtained, lic.get("route", "traditional"), None,
                False, NOTICES_FROM,
            )  # fmt: skip
            ordered = sorted(
                history["events"], key=lambda e: (_recorded_on(e), e["kind"] == "offence_cancelled")
            )
            ids = {e["id"]: f"e{seq}" for seq, e in enumerate(ordered, 1)}
            rows: list[EventRow] = []
            previous = genesis_hash(licence)  # type: ignore[arg-type]
            for seq, event in enumerate(ordered, 1):
                data = {k: v for k, v in event.items() if k not in ("kind", "id")}
                if event["kind"] == "offence_cancelled":
                    data["offence"] = ids[data["offence"]]
                source, sender = SOURCES[event["kind"]]
                recorded_at = dt.datetime.combine(
                    _recorded_on(event), dt.time(9, rng.randint(0, 59), rng.randint(0, 59)), tzinfo=dt.UTC
                )
                row = EventRow(
                    licence_id, seq, event["kind"], data, source, sender, f"{number}-{seq}", recorded_at, "",
                    None, "", previous, "",
                )  # fmt: skip
                row = row._replace(hash=event_hash(previous, row))  # type: ignore[arg-type]  # a NamedTuple
                previous = row.hash
                rows.append(row)
            if as_of < obtained:
                continue
            derived = derive(licence, rows, as_of)
            next_change = derived.projection["next_change_on"]
            if kind == "idle" and next_change is not None and next_change <= due_on:
                continue  # nothing may be due tomorrow in the background
            if kind == "due" and next_change != due_on:
                continue
            break
        identity = (
            "MARTIN", "", "Camille", dt.date(1980, 1, 1) + dt.timedelta(days=licence_id % 9000), "75056", "99100",
            "female" if licence_id % 2 else "male",
        )  # fmt: skip
        holders.append((licence_id, *identity, "", "", "", "", "", "post", False, now))
        # The seal covers the identity, the engine's licence fields (LicenceRow's, as written below) and the
        # categories (none here).
        engine = (obtained, licence.route, None, False, NOTICES_FROM)
        seal = identity_seal(licence_id, number, licence.dossier_number, licence_id, identity, engine, ())
        licences.append(
            (
                licence_id, licence_id, number, licence.dossier_number, "card", obtained, licence.route, None,
                False, "75", NOTICES_FROM, seal, now,
            )
        )  # fmt: skip
        for e in rows:
            events_out.append(
                (
                    licence_id, e.seq, e.kind, json.dumps(e.data), e.source, e.sender, e.source_ref, e.recorded_at,
                    "", None, "", e.prev_hash, e.hash,
                )
            )  # fmt: skip
        for position, m in enumerate(derived.movements):
            movements_out.append((licence_id, position, *m))
        for code, cause, due in derived.letters:
            notices_out.append((licence_id, code, cause, due, "delivered", now))
        p = derived.projection
        projections.append(
            (
                licence_id, p["balance"], p["raw_balance"], p["cap"], p["status"], p["suspended"],
                p["probation_end"], p["next_change_on"], p["as_of"], p["events_count"], p["last_hash"], now,
            )
        )  # fmt: skip
    return {
        "registry_holder": (HOLDER_COLUMNS, holders),
        "registry_licence": (LICENCE_COLUMNS, licences),
        "registry_event": (EVENT_COLUMNS, events_out),
        "registry_movement": (MOVEMENT_COLUMNS, movements_out),
        "registry_notice": (NOTICE_COLUMNS, notices_out),
        "registry_projection": (PROJECTION_COLUMNS, projections),
    }
