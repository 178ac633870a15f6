"""Runs the detectors in a process of their own, fed over one pipe in the order of storage.

MQTT, decoding and writing to InfluxDB already fill the ingest process's one
interpreter lock, so the detectors and the SQL writes of the alert events they
raise run in a child process, on another core. The writer thread hands each
durable batch on as plain tuples (pickling a tuple costs a sixth of pickling
the named tuple); one pipe to one child keeps every device's readings in the
order they were stored. Nothing is acked later or earlier than before: a batch
is handed on once it is durable in InfluxDB, so whatever a child had not
finished when it died is replayed from there by the next child's `restore`
(its last snapshot plus the readings stored since). A child that dies is
started again that way; a parent that dies takes its child with it, so a
killed ingester never leaves detectors running, and snapshotting, behind it.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, Final, Protocol

from detectors.profiles import Shipment
from detectors.reading import Reading
from ingest.detector_stage import DetectorStage

log = logging.getLogger(__name__)

#: How long a child may take to import, open the store and load its shipments.
START_TIMEOUT_S: Final = 120.0
#: Restarting a child that keeps failing backs off up to this long between attempts.
MAX_RESTART_DELAY_S: Final = 30.0


class DetectorsFailed(RuntimeError):
    """The detector process could not be started; the message is one line for the operator."""


class DetectorRuntime(Protocol):
    """What the child builds: the stage it runs, where stored readings are read back, cleanup."""

    @property
    def stage(self) -> DetectorStage: ...

    def stored(self, after_ms: int, until_ms: int) -> Iterable[Reading]: ...

    def close(self) -> None: ...


#: Builds the runtime inside the child. Must pickle: a module-level function or a partial.
Builder = Callable[[], DetectorRuntime]


class DetectorProcess:
    """A `ReadingStage` whose detectors run in a child process; same calls as `DetectorStage`."""

    def __init__(self, build: Builder, close_timeout_s: float = 30.0) -> None:
        self._build = build
        self._close_timeout_s = close_timeout_s
        self._context = multiprocessing.get_context("spawn")
        # Sends come from the writer thread, the shipment watcher and the watchdog.
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._process: Any = None
        self._conn: Connection | None = None
        self._shipments: dict[str, Shipment] = {}
        # Devices whose shipments have all ended (`remove_shipment`), which a restarted child
        # must be told of as it is of the shipments.
        self._retired: set[str] = set()
        self._watchdog = threading.Thread(target=self._watch, name="cw-detectors", daemon=True)
        self.restarts = 0

    def start(self) -> None:
        """Start the child and wait until it has built its engine and opened the store."""
        with self._lock:
            self._spawn()
        self._watchdog.start()

    def restore(self, remember: Callable[[Sequence[Reading]], None]) -> None:
        """Let the child take back its snapshot and replay what was stored since; before intake."""
        with self._lock:
            self._restore(remember)

    def handle(self, readings: Sequence[Reading]) -> None:
        batch = [tuple(r) for r in readings]
        with self._lock:
            # A child that died is restarted by the watchdog (the kernel ties a child's life
            # to the thread that started it, so never the writer thread); this batch is
            # stored, so the restarted child's replay covers it.
            self._send(("readings", batch))

    def add_shipment(self, shipment: Shipment) -> None:
        """Watch a device under a new or changed shipment, from any thread."""
        with self._lock:
            self._shipments[shipment.device_id] = shipment
            self._retired.discard(shipment.device_id)
            self._send(("add", shipment))

    def remove_shipment(self, device_id: str) -> None:
        """Stop watching a device whose shipments have all ended, from any thread."""
        with self._lock:
            self._shipments.pop(device_id, None)
            self._retired.add(device_id)
            self._send(("remove", device_id))

    def close(self) -> None:
        """Let the child release what it buffers, snapshot and stop; kill it past the timeout."""
        self._closing.set()
        with self._lock:
            conn, process = self._conn, self._process
            if conn is None or process is None:
                return
            if self._send(("close",)):
                reply = _receive(conn, process, self._close_timeout_s)
                if reply is None or reply[0] != "closed":
                    log.error(
                        "the detectors did not stop within %.0f s; their state is rebuilt "
                        "from stored readings at the next start",
                        self._close_timeout_s,
                    )
            _end(process)
            conn.close()
            self._conn = self._process = None
        self._watchdog.join(5)

    def _spawn(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_child_main,
            args=(child, self._build, os.getpid()),
            name="cargowatch-detectors",
            daemon=True,
        )
        process.start()
        child.close()
        reply = _receive(parent, process, START_TIMEOUT_S)
        if reply is None or reply[0] != "ready":
            _end(process)
            parent.close()
            why = reply[1] if reply is not None and reply[0] == "failed" else "it did not start"
            raise DetectorsFailed(f"the detector process failed: {why}")
        self._conn, self._process = parent, process

    def _restore(self, remember: Callable[[Sequence[Reading]], None]) -> None:
        conn, process = self._conn, self._process
        if conn is None or not self._send(("restore",)):
            raise DetectorsFailed("the detector process died before restoring its state")
        while True:
            reply = _receive(conn, process, None)
            if reply is None:
                raise DetectorsFailed("the detector process died while restoring its state")
            if reply[0] == "restored":
                return
            remember([Reading._make(t) for t in reply[1]])

    def _restart(self) -> None:
        """Start a new child from the last snapshot after the previous one died; holds the lock."""
        delay = 1.0
        while not self._closing.is_set():
            if self._process is not None:
                _end(self._process)
            if self._conn is not None:
                self._conn.close()
            self._conn = self._process = None
            try:
                self._spawn()
                # Shipments the store handed on after start-up are not in the new child's
                # engine: it must know them before it takes the snapshot back, or it would
                # start their devices afresh and replay their stored readings unwatched.
                for shipment in self._shipments.values():
                    self._send(("add", shipment))
                # Nor would it know the trackers whose shipments have all ended, and would
                # watch them under the default profile again.
                for device_id in self._retired:
                    self._send(("remove", device_id))
                self._restore(lambda readings: None)
            except DetectorsFailed as exc:
                log.error("%s; trying again in %.0f s", exc, delay)
                self._closing.wait(delay)
                delay = min(MAX_RESTART_DELAY_S, delay * 2)
                continue
            self.restarts += 1
            log.warning("detector process restarted from its snapshot")
            return

    def _send(self, message: tuple[Any, ...]) -> bool:
        """Send to the child; False if it is gone."""
        if self._conn is None:
            return False
        try:
            self._conn.send(message)
        except (OSError, ValueError):
            return False
        return True

    def _watch(self) -> None:
        """Restart a child that died between batches, so clock-driven alerts keep firing."""
        while not self._closing.is_set():
            process = self._process
            if process is None:
                self._closing.wait(1.0)
                continue
            wait([process.sentinel], timeout=1.0)
            with self._lock:
                if (
                    not self._closing.is_set()
                    and self._process is process
                    and not process.is_alive()
                ):
                    log.error(
                        "the detector process exited (code %s); restarting it", process.exitcode
                    )
                    self._restart()


def _receive(conn: Connection, process: Any, timeout_s: float | None) -> Any:
    """The child's next message, or None if it died or said nothing in time."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready = wait([conn, process.sentinel], timeout=left)
        if conn in ready:
            try:
                return conn.recv()
            except (EOFError, OSError):
                return None
        if ready or (deadline is not None and time.monotonic() >= deadline):
            return None


def _end(process: Any) -> None:
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join(5)


def _child_main(conn: Connection, build: Builder, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    # Ctrl-C and a service manager signal the whole group; the parent decides when this
    # process stops, after its last batch, so that its state is snapshotted whole.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        runtime = build()
    except Exception as exc:
        conn.send(("failed", str(exc) or type(exc).__name__))
        return
    conn.send(("ready",))
    stage = runtime.stage
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            # The parent is gone without closing us: end as abruptly as it did, so the
            # state on disk is what a killed ingester leaves, not a later snapshot.
            os._exit(1)
        op = message[0]
        if op == "readings":
            stage.handle([Reading._make(t) for t in message[1]])
        elif op == "add":
            stage.add_shipment(message[1])
        elif op == "remove":
            stage.remove_shipment(message[1])
        elif op == "restore":
            stage.restore(
                runtime.stored, lambda rs: conn.send(("remember", [tuple(r) for r in rs]))
            )
            conn.send(("restored",))
        elif op == "close":
            stage.close()
            runtime.close()
            conn.send(("closed",))
            return


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux), however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        # PR_SET_PDEATHSIG. It fires when the parent *thread* that started this process
        # ends, which is why only long-lived threads start children.
        libc.prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    # The parent may have died before prctl took effect.
    if os.getppid() != parent_pid:
        os._exit(1)
