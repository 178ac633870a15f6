"""Runs the detector engine on every stored reading and sends the alert events it raises on.

The writer thread hands each durable batch here; a ticker thread moves the
clock forward every few seconds so conditions that show as absence (a
tracker gone silent) fire even when nothing arrives. Both take the same lock:
the engine is single-threaded by design. Live, the clock is wall time.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Final, Protocol

from detectors.alerts import AlertEvent, rfc3339
from detectors.engine import Engine, SnapshotUnusable
from detectors.profiles import Shipment
from detectors.reading import Reading
from ingest.durable_files import replace_file

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where alert events go next (the SQL store's recorder); `emit` returns once they are kept."""

    def emit(self, events: Sequence[AlertEvent]) -> None: ...


class DetectorStage:
    """A `ReadingStage` that feeds the engine and emits its alert events.

    With a `state_path`, the engine's state is snapshotted there every `snapshot_s` and at
    `close`, and `restore` takes it back at start-up, then replays the readings stored
    since, so a restart (clean or not) carries on where the detectors were. Events are
    emitted under the engine's lock, so a snapshot never holds state whose events were
    not handed on, and events leave in the order they were raised.
    """

    def __init__(
        self,
        engine: Engine,
        sink: EventSink,
        tick_s: float = 5.0,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        state_path: Path | None = None,
        snapshot_s: float = 30.0,
    ) -> None:
        self.engine = engine
        self.sink = sink
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tick_s = tick_s
        self._state_path = state_path
        self._snapshot_s = snapshot_s
        self._next_snapshot = time.monotonic() + snapshot_s
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
        """Watch a device under a new or changed shipment, from any thread; a change resolves
        the alerts the device's former detectors hold open (`Engine.add_shipment`)."""
        with self._lock:
            self.sink.emit(self.engine.add_shipment(shipment, self._clock_ms()))

    def remove_shipment(self, device_id: str) -> None:
        """Stop watching a device whose shipments have all ended, from any thread, also under
        the default profile; the alerts its detectors hold open resolve
        (`Engine.remove_shipment`)."""
        with self._lock:
            self.sink.emit(self.engine.remove_shipment(device_id, self._clock_ms()))

    def restore(
        self,
        stored: Callable[[int, int], Iterable[Reading]],
        remember: Callable[[Sequence[Reading]], None],
        max_replay_ms: int = 24 * 3_600_000,
    ) -> None:
        """Take back the last snapshot and replay what was stored after it; call before intake.

        `stored(after_ms, until_ms)` gives the stored readings of that span in time order;
        `remember` is told every replayed reading, so the same reading redelivered by the
        broker is recognised as a duplicate instead of reaching the detectors twice.
        """
        if self._state_path is None:
            return
        now = self._clock_ms()
        taken_at_ms, released = now, {}
        try:
            taken_at_ms, blob = read_snapshot(self._state_path)
            with self._lock:
                released = self.engine.restore(blob)
        except FileNotFoundError:
            log.info(
                "no detector snapshot at %s; rebuilding from stored readings", self._state_path
            )
        except (OSError, ValueError, SnapshotUnusable) as exc:
            log.warning("detector snapshot %s unusable (%s); rebuilding", self._state_path, exc)
        # A restored device resumes after the last reading it had processed. Any other device
        # (new since the snapshot, or no snapshot at all) is rebuilt from its recent readings.
        since = min([*released.values(), taken_at_ms - self.engine.lateness_ms - NEW_DEVICE_MS])
        since = max(since, now - max_replay_ms)
        replayed = 0
        with self._lock:
            # Alerts of devices whose shipment changed or closed while the detectors were stopped.
            events: list[AlertEvent] = self.engine.take_ended()
            batch: list[Reading] = []
            try:
                for r in stored(since, now):
                    if r.ts_ms <= released.get(r.device_id, since):
                        continue
                    # The clock of a replayed reading is when it was heard. That is not
                    # stored, but it lies between the snapshot and now, and live readings
                    # are heard about when they are taken: clamping their time into that
                    # span keeps a backlog heard in one burst from looking, on replay,
                    # like a tracker that went silent between its readings.
                    events += self.engine.process(r, min(max(r.ts_ms, taken_at_ms), now))
                    batch.append(r)
                    if len(batch) >= 5000:
                        remember(batch)
                        replayed += len(batch)
                        batch = []
            except Exception as exc:
                # Storage away (or any failure of the reader): keep what was restored.
                log.error("replaying stored readings failed (%s); the detectors go on", exc)
            remember(batch)
            replayed += len(batch)
            self.sink.emit(events)
        # A base for the next start, even if this process is killed before its first tick.
        self._save_snapshot()
        log.warning(
            "detectors restored: %d devices from the snapshot of %s, %d readings replayed",
            len(released),
            rfc3339(taken_at_ms),
            replayed,
        )

    def close(self) -> None:
        """Stop the clock, then release every buffered reading and emit what it raises.

        Readings in the reorder buffer were stored and acked already; without this a
        graceful restart would silently skip the alerts they carry. The state is then
        snapshotted, so the next start carries on from here.
        """
        self._stop.set()
        self._ticker.join(self._tick_s + 5)
        with self._lock:
            self.sink.emit(self.engine.flush())
        self._save_snapshot()

    def _save_snapshot(self) -> None:
        if self._state_path is None:
            return
        with self._lock:
            taken_at = self._clock_ms()
            blob = self.engine.snapshot()
        try:
            write_snapshot(self._state_path, taken_at, blob)
        except OSError as exc:
            log.error("cannot write the detector snapshot %s: %s", self._state_path, exc)

    def _run_ticker(self) -> None:
        while not self._stop.wait(self._tick_s):
            try:
                with self._lock:
                    self.sink.emit(self.engine.advance(self._clock_ms()))
                if time.monotonic() >= self._next_snapshot:
                    self._next_snapshot = time.monotonic() + self._snapshot_s
                    self._save_snapshot()
            except Exception:
                log.exception("detector clock tick failed; will try again")


_MAGIC: Final = b"CWSTATE1 "
#: How far back a device the snapshot does not know is rebuilt from stored readings.
NEW_DEVICE_MS: Final = 6 * 3_600_000


def write_snapshot(path: Path, taken_at_ms: int, blob: bytes) -> None:
    """Write a snapshot file whole or not at all, with a checksum `read_snapshot` verifies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = _MAGIC + b"%d %s\n" % (taken_at_ms, hashlib.sha256(blob).hexdigest().encode())
    replace_file(path, header + blob)


def read_snapshot(path: Path) -> tuple[int, bytes]:
    """(taken at, engine snapshot) of a file `write_snapshot` wrote; ValueError if damaged."""
    data = path.read_bytes()
    head, sep, blob = data.partition(b"\n")
    if not sep or not head.startswith(_MAGIC):
        raise ValueError("not a detector snapshot")
    taken_at, _, digest = head[len(_MAGIC) :].partition(b" ")
    if hashlib.sha256(blob).hexdigest().encode() != digest:
        raise ValueError("checksum mismatch")
    return int(taken_at), blob
