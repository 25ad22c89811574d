"""The benchmarks' population builder (bench/population.py) makes rows the registry accepts: a chained history
per licence, as `permis verify` recomputes it. The benchmarks themselves run for minutes on PostgreSQL and are
not part of the suite; this keeps their common builder from breaking unnoticed when the registry's types change
(it did once: a stored event became an immutable tuple and every benchmark stopped at its first licence)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from permis.registry.services.core import ENGINE_LICENCE_FIELDS, IDENTITY_FIELDS, event_hash, identity_seal
from permis.registry.services.replay import event_row

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def population():
    sys.path.insert(0, str(BENCH))  # population.py imports rules_bench.py beside it as it builds
    try:
        import population as module  # bench/population.py

        yield module
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("kind", ["mix", "national", "due", "idle"])
def test_the_bench_builder_chains_every_history(population, kind: str) -> None:
    tables = population._block_rows(1, 30, kind, dt.date(2026, 6, 1), seed=7)
    columns, events = tables["registry_event"]
    licences = {row[0] for row in tables["registry_licence"][1]}
    assert len(licences) == 30
    by_licence: dict[int, list[tuple]] = {}
    for row in events:
        by_licence.setdefault(row[0], []).append(row)
    for rows in by_licence.values():
        previous = None
        for row in sorted(rows, key=lambda r: r[1]):
            values = dict(zip(columns, row, strict=True))
            if previous is not None:
                assert values["prev_hash"] == previous
            stored = event_row(
                (
                    values["licence_id"], values["seq"], values["kind"], json.loads(values["data"]),
                    values["source"], values["sender"], values["source_ref"], values["recorded_at"],
                    values["recorded_by"], values["corrects_id"], values["reason"], values["prev_hash"],
                    values["hash"],
                )
            )  # fmt: skip
            assert event_hash(values["prev_hash"], stored) == values["hash"]
            previous = values["hash"]


def test_the_bench_builder_seals_every_licence(population) -> None:
    """Each licence's seal is the one `permis verify` computes from the rows the builder writes (no category)."""
    tables = population._block_rows(1, 10, "mix", dt.date(2026, 6, 1), seed=7)
    holder_columns, holders = tables["registry_holder"]
    identities = {
        row[0]: [dict(zip(holder_columns, row))[name] for name in IDENTITY_FIELDS] for row in holders
    }
    columns, licences = tables["registry_licence"]
    for row in licences:
        values = dict(zip(columns, row, strict=True))
        assert values["seal"] == identity_seal(
            values["id"],
            values["number"],
            values["dossier_number"],
            values["holder_id"],
            identities[values["holder_id"]],
            [values[name] for name in ENGINE_LICENCE_FIELDS],
            (),
        )
