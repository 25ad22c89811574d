"""A progress bar on stderr for long jobs (`permis daily`, `permis verify`): redrawn in place on a terminal,
a line every 10% otherwise (logs stay readable), nothing with --quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str, stream: TextIO | None = None, enabled: bool = True):
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and total > 0
        self.done = 0
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._next_line = 0.1
        self._last_draw = 0.0

    def __call__(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        fraction = min(1.0, self.done / self.total)
        if self.tty:
            now = time.perf_counter()
            if now - self._last_draw < 0.1 and self.done < self.total:
                return
            self._last_draw = now
            width = 30
            filled = int(width * fraction)
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {self.done:,}/{self.total:,} {self._elapsed()}")
            self.stream.flush()
        elif fraction >= self._next_line or self.done >= self.total:
            while self._next_line <= fraction:
                self._next_line += 0.1
            self.stream.write(
                f"{self.label}: {self.done:,}/{self.total:,} ({fraction:.0%}) {self._elapsed()}\n"
            )
            self.stream.flush()

    def _elapsed(self) -> str:
        return f"{time.perf_counter() - self.start:.1f} s"

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
