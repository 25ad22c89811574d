"""Benchmark of the PDF documents: one letter 48 and one RII of 50 entries, rendered and signed.

Targets (the notices issue): a letter under 0.5 s and an RII of 50 entries under 1.5 s, at the median.

Each run is what `render_letter(notice)` and `render_rii(licence, on)` do in a worker: read the licence from the
registry, ask the engine, lay the HTML out with WeasyPrint (PDF/UA-1), sign the payload and the file. The
database is a fresh SQLite file under a temporary folder; the first render of each kind (font configuration and
stylesheet loaded once per process) is timed apart as "first".

Run: .venv/bin/python bench/documents_bench.py [--repeat 15] [--quick]
Results: bench/results/documents.json (not versioned; docs/performance.md keeps the figures).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "documents.json"
TARGETS = {"letter": 0.5, "rii": 1.5}


def setup(folder: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "permis.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def population():
    """A licence whose history makes a 48 due, and one whose RII has 50 entries or more."""
    from tests.notices.document_helpers import licence_with, record

    from permis.registry.models import Notice

    letter_licence = licence_with("48")
    notice = Notice.objects.get(licence=letter_licence, code="48")
    rii_licence = licence_with("47")
    for year in range(2010, 2024):
        record(
            rii_licence,
            "offence",
            {"committed_on": f"{year}-04-01", "final_on": f"{year}-04-20", "points": 1, "class": "C3"},
            "2024-06-21",
        )
    return notice, rii_licence


def timed(function, repeat: int) -> tuple[float, list[float], list[float]]:
    """(first wall time, wall times, CPU times): on a shared machine the CPU time says what the wall time hides."""
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    times, cpu = [], []
    for _ in range(repeat):
        start, cpu_start = time.perf_counter(), time.process_time()
        function()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    return first, times, cpu


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each document (default 15)")
    parser.add_argument("--quick", action="store_true", help="3 runs each (smoke test)")
    options, _ = parser.parse_known_args(argv)
    repeat = 3 if options.quick else max(1, options.repeat)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        setup(Path(folder))
        from permis.notices import signing
        from permis.notices.documents import render_letter, render_rii
        from permis.notices.documents.builders import rii_context

        notice, rii_licence = population()
        on = dt.date(2024, 7, 1)
        entries = rii_context(rii_licence, on)[2]
        letter_pdf, rii_pdf = render_letter(notice), render_rii(rii_licence, on)
        assert signing.verify_pdf(letter_pdf, on=notice.due_on).valid
        assert signing.verify_pdf(rii_pdf, on=on).valid
        results = {}
        for name, function in (
            ("letter", lambda: render_letter(notice)),
            ("rii", lambda: render_rii(rii_licence, on)),
        ):
            first, times, cpu = timed(function, repeat)
            results[name] = {
                "cpu_median_s": round(statistics.median(cpu), 4),
                "first_s": round(first, 4),
                "median_s": round(statistics.median(times), 4),
                "min_s": round(min(times), 4),
                "max_s": round(max(times), 4),
                "runs": repeat,
                "target_s": TARGETS[name],
                "met": statistics.median(times) < TARGETS[name],
            }
    load_after = os.getloadavg()
    import io

    import pypdf

    rii_pages = len(pypdf.PdfReader(io.BytesIO(rii_pdf)).pages)
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
        },
        "letter_bytes": len(letter_pdf),
        "rii_bytes": len(rii_pdf),
        "rii_entries": entries,
        "rii_pages": rii_pages,
        "results": results,
    }
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(
        f"{'document':<10}{'first':>9}{'median':>9}{'min':>9}{'max':>9}{'CPU med':>9}{'target':>9}  runs  met"
    )
    for name, row in results.items():
        label = name if name == "letter" else f"rii ({entries} entries, {rii_pages} pages)"
        print(
            f"{name:<10}{row['first_s']:>8.3f}s{row['median_s']:>8.3f}s{row['min_s']:>8.3f}s{row['max_s']:>8.3f}s"
            f"{row['cpu_median_s']:>8.3f}s"
            f"{row['target_s']:>8.1f}s  {row['runs']:>4}  {'yes' if row['met'] else 'NO'}   {label}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(row["met"] for row in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
