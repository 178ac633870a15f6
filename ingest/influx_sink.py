"""Durable delivery of line-protocol batches: write, retry, isolate refused points, spool, replay.

`InfluxSink.write_durably` returns True only once a batch is in InfluxDB or
verifiably in the disk spool; that is the moment its MQTT messages may be
acked. Transient failures are retried with exponential backoff and jitter for
a short window, then batches go to the spool while a probe waits for InfluxDB
to come back, and the spool is replayed oldest first before new writes resume.
A 400 splits the batch in halves until the refused points stand alone; they
are recorded in `ingest_rejects` and the rest is stored. When the spool is
full, or the disk refuses the spool write (full, over quota, I/O error), the
call blocks (no acks, so the broker holds the backlog) until the spool takes
the batch, InfluxDB returns or the sink is stopped. A spool file found damaged
is quarantined by the spool and its readings counted as lost, in
`readings_lost` and in the "writes resumed" log line. Logs report changes of
state, not each retry.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ingest.influx_client import (
    InfluxCapacity,
    InfluxClient,
    InfluxRejected,
    InfluxUnavailable,
)
from ingest.line_protocol import REJECTS, point_line
from ingest.spool import AppendStatus, Quarantined, Spool
from ingest.stats import IngestStats

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to keep retrying a write before spooling, and how to space the tries."""

    window_s: float = 5.0
    first_delay_s: float = 0.1
    max_delay_s: float = 2.0
    probe_interval_s: float = 1.0

    def delays(self) -> Callable[[int], float]:
        def delay(attempt: int) -> float:
            base = min(self.max_delay_s, self.first_delay_s * 2**attempt)
            # Full jitter keeps several ingesters from retrying in lockstep.
            return random.uniform(base / 2, base)

        return delay


class InfluxSink:
    """Writes batches so that a True return means durable; see the module docstring."""

    def __init__(
        self,
        client: InfluxClient,
        spool: Spool,
        stats: IngestStats,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.spool = spool
        self.stats = stats
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._delay = self.policy.delays()
        self._stopping = threading.Event()
        self._next_probe = 0.0
        self._spool_full_logged = False
        self._disk_refused = False
        # What the next "writes resumed" line reports.
        self._replayed = 0
        self._lost = 0
        self._lost_unknown_files = 0
        self._quarantined = False
        for damaged in spool.damaged_at_start:
            self._count_lost(damaged)
        # A spool left by a previous run must replay first (and its losses be reported).
        self._outage = len(spool) > 0 or self._quarantined

    @property
    def in_outage(self) -> bool:
        return self._outage

    def stop(self) -> None:
        """Make a blocked `write_durably` give up (returning False) instead of waiting on."""
        self._stopping.set()

    def write_durably(self, lines: list[str], readings: int) -> bool:
        """Store `lines` (holding `readings` telemetry points); True once durable."""
        if not lines:
            return True
        if self._outage:
            self.tick()
        if not self._outage:
            try:
                self._write_retrying(lines)
                self.stats.readings_stored += readings
                return True
            except InfluxUnavailable as exc:
                self._outage = True
                self._next_probe = self._clock() + self.policy.probe_interval_s
                if isinstance(exc, InfluxCapacity):
                    # Valid readings refused for lack of room: never rejects. Holding them
                    # (spool, then back-pressure) keeps them until an operator makes room.
                    log.error(
                        "InfluxDB refuses new series (%s); spooling batches to %s until it has"
                        " room: raise [data] max-values-per-tag / max-series-per-database, and"
                        " let only known devices publish (see the README's broker section)",
                        exc,
                        self.spool.directory,
                    )
                else:
                    log.warning(
                        "InfluxDB unreachable (%s); spooling batches to %s",
                        exc,
                        self.spool.directory,
                    )
        return self._spool_or_wait(lines, readings)

    def tick(self) -> None:
        """While in an outage, probe InfluxDB now and then and replay the spool once it is back."""
        if not self._outage or self._clock() < self._next_probe:
            return
        self._next_probe = self._clock() + self.policy.probe_interval_s
        try:
            self.client.ping()
            self._replay()
        except InfluxUnavailable:
            return
        self._outage = False
        self._spool_full_logged = False
        self._disk_refused = False
        lost = f"{self._lost:,}"
        if self._lost_unknown_files:
            lost += f" (and {self._lost_unknown_files:,} files holding an unknown number)"
        if self._quarantined:
            lost += f"; damaged spool files are kept in {self.spool.quarantine_dir}"
        log.warning(
            "InfluxDB writes resumed, replayed %s readings from spool, lost %s",
            f"{self._replayed:,}",
            lost,
        )
        self._replayed = self._lost = self._lost_unknown_files = 0
        self._quarantined = False

    def _spool_or_wait(self, lines: list[str], readings: int) -> bool:
        body = _body(lines)
        while not self._stopping.is_set():
            result = self.spool.append(body, readings)
            if result.status is AppendStatus.STORED:
                if self._disk_refused:
                    self._disk_refused = False
                    log.warning(
                        "spool writes to %s work again; acking resumes", self.spool.directory
                    )
                self.stats.readings_spooled += readings
                return True
            if result.status is AppendStatus.DISK_REFUSED:
                if not self._disk_refused:
                    self._disk_refused = True
                    log.error(
                        "the disk refused the spool write to %s (%s); holding acks so the broker"
                        " keeps the backlog, retrying",
                        self.spool.directory,
                        result.detail,
                    )
            elif not self._spool_full_logged:
                self._spool_full_logged = True
                log.warning(
                    "spool full (%.1f of %.1f MB); holding acks so the broker keeps the backlog",
                    self.spool.bytes_used / 1e6,
                    self.spool.max_bytes / 1e6,
                )
            self._stopping.wait(self.policy.probe_interval_s)
            self.tick()
            if not self._outage:
                return self.write_durably(lines, readings)
        return False

    def _replay(self) -> None:
        for batch in self.spool.batches():
            lines = self.spool.load(batch)
            if isinstance(lines, Quarantined):
                self._count_lost(lines)
                continue
            self._write_retrying(lines)
            self.spool.remove(batch)
            self._replayed += batch.readings
            self.stats.readings_replayed += batch.readings

    def _count_lost(self, damaged: Quarantined) -> None:
        """A quarantined file's readings were acked long ago: they are lost unless recovered."""
        self._quarantined = True
        if damaged.readings is None:
            self._lost_unknown_files += 1
        else:
            self._lost += damaged.readings
            self.stats.readings_lost += damaged.readings

    def _write_retrying(self, lines: list[str]) -> None:
        deadline = self._clock() + self.policy.window_s
        attempt = 0
        while True:
            try:
                self._write_isolating(lines)
                return
            except InfluxUnavailable:
                if self._clock() >= deadline or self._stopping.is_set():
                    raise
                time.sleep(self._delay(attempt))
                attempt += 1

    def _write_isolating(self, lines: list[str]) -> None:
        started = time.perf_counter()
        try:
            self.client.write(_body(lines))
        except InfluxRejected as exc:
            if len(lines) > 1:
                mid = len(lines) // 2
                self._write_isolating(lines[:mid])
                self._write_isolating(lines[mid:])
            else:
                self._record_refused(lines[0], str(exc))
            return
        self.stats.record_write(time.perf_counter() - started)

    def _record_refused(self, line: str, error: str) -> None:
        self.stats.points_refused += 1
        self.stats.rejected["influx_refused"] += 1
        log.info("InfluxDB refused a point (%s): %.200s", error, line)
        reject = point_line(
            REJECTS,
            {"reason": "influx_refused"},
            {"device_id": "", "detail": error[:500], "payload": line[:1024]},
            time.time_ns(),
        )
        try:
            self.client.write(reject.encode())
        except InfluxRejected:
            log.error("InfluxDB refused even the record of a refused point: %.200s", line)


def _body(lines: list[str]) -> bytes:
    return "\n".join(lines).encode("utf-8")
