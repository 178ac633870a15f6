"""Runs the detector engine on every stored reading and sends the alert events it raises on.

The writer thread hands each durable batch here; a ticker thread moves the
clock forward every few seconds so conditions that show as absence (a
tracker gone silent) fire even when nothing arrives. Both take the same lock:
the engine is single-threaded by design. Live, the clock is wall time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from detectors.alerts import AlertEvent
from detectors.engine import Engine
from detectors.profiles import Shipment
from detectors.reading import Reading

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where alert events go next (the SQL store's recorder); `emit` returns once they are kept."""

    def emit(self, events: Sequence[AlertEvent]) -> None: ...


class DetectorStage:
    """A `ReadingStage` that feeds the engine and emits its alert events."""

    def __init__(
        self,
        engine: Engine,
        sink: EventSink,
        tick_s: float = 5.0,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.engine = engine
        self.sink = sink
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tick_s = tick_s
        self._ticker = threading.Thread(target=self._run_ticker, name="cw-ticker", daemon=True)
        self._ticker.start()

    def handle(self, readings: Sequence[Reading]) -> None:
        now = self._clock_ms()
        events = []
        with self._lock:
            for r in readings:
                events += self.engine.process(r, now)
        self.sink.emit(events)

    def add_shipment(self, shipment: Shipment) -> None:
        """Watch a device under a new or changed shipment, from any thread."""
        with self._lock:
            self.engine.add_shipment(shipment)

    def remove_shipment(self, device_id: str) -> None:
        with self._lock:
            self.engine.remove_shipment(device_id)

    def close(self) -> None:
        """Stop the clock, then release every buffered reading and emit what it raises.

        Readings in the reorder buffer were stored and acked already; without this a
        graceful restart would silently skip the alerts they carry.
        """
        self._stop.set()
        self._ticker.join(self._tick_s + 5)
        with self._lock:
            events = self.engine.flush()
        self.sink.emit(events)

    def _run_ticker(self) -> None:
        while not self._stop.wait(self._tick_s):
            try:
                with self._lock:
                    events = self.engine.advance(self._clock_ms())
                self.sink.emit(events)
            except Exception:
                log.exception("detector clock tick failed; will try again")
