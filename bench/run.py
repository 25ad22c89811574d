"""Run every benchmark module of bench/ (files named *_bench.py), one after the other.

    .venv/bin/python bench/run.py            # full runs (what `make bench` calls)
    .venv/bin/python bench/run.py --quick    # smoke run with small sizes
    .venv/bin/python bench/run.py rules      # only bench/rules_bench.py

Any other option is passed to every module run, so an option that only one module knows goes with its name
(`bench/run.py rules --check`); --quick and --repeat N are known to all. Each module prints its table and
writes its JSON results under bench/results/. Exit status: non-zero if any module failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")]
    options = [a for a in argv if a.startswith("-")]
    modules = sorted(BENCH.glob("*_bench.py"))
    if names:
        modules = [m for m in modules if m.stem.removesuffix("_bench") in names]
        if not modules:
            print(f"no bench module named {', '.join(names)}", file=sys.stderr)
            return 2
    failed = []
    for module in modules:
        print(f"== {module.name} {' '.join(options)}", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(module), *options], cwd=BENCH.parent, check=False)
        print(
            f"== {module.name}: exit {result.returncode} in {time.perf_counter() - start:.0f} s", flush=True
        )
        if result.returncode != 0:
            failed.append(module.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
