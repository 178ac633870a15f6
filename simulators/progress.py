"""A one-line progress bar on stderr for long runs: share done, rate, simulated clock.

It redraws at most a few times a second and only when stderr is a terminal (or when asked),
so logs and CI output stay clean; `finish` clears the line before the summary is printed.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from simulators.timeutil import rfc3339


class Progress:
    def __init__(self, total: int, enabled: bool, stream: TextIO = sys.stderr) -> None:
        self.total = max(total, 1)
        self.enabled = enabled
        self.stream = stream
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, done: int, sim_ms: int | None = None, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.25:
            return
        self._last = now
        share = min(done / self.total, 1.0)
        width = 30
        bar = "#" * int(share * width) + "-" * (width - int(share * width))
        rate = done / max(now - self.started, 1e-9)
        clock = f"  sim {rfc3339(sim_ms)}" if sim_ms is not None else ""
        line = f"\r[{bar}] {share:6.1%}  {done:,} readings  {rate:,.0f}/s{clock}"
        self.stream.write(line)
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
