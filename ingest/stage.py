"""The hand-off from ingestion to whatever consumes stored readings (the detectors).

A stage receives each batch's readings once they are durable, in the order
they arrived, on the writer thread. A stage that raises is logged and does not
stop ingestion: storage is the contract, analysis is downstream of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from detectors.reading import Reading


class ReadingStage(Protocol):
    """Consumer of stored readings, called once per durable batch."""

    def handle(self, readings: Sequence[Reading]) -> None: ...

    def close(self) -> None: ...


class NullStage:
    """Accepts and drops readings: ingestion with no detectors attached."""

    def handle(self, readings: Sequence[Reading]) -> None:
        return None

    def close(self) -> None:
        return None
