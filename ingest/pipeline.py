"""Wires MQTT in, decoding, line protocol and the durable InfluxDB sink into one ingester.

Three threads share the work. paho's network thread appends each message to
the source's inbox. The batcher drains the inbox, decodes, encodes line
protocol and cuts a batch when it holds `batch_size` readings or its oldest
message has waited `flush_interval_s`. The writer makes each batch durable
(InfluxDB or spool), then acks its MQTT messages, then hands the readings to
the next stage. Handing batches over a short queue lets decoding of the next
batch overlap the HTTP write of the previous one, and bounds what is held in
memory: past it the inbox grows only to Receive Maximum, because nothing
further is acked.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from detectors.reading import Reading
from ingest.decode import decode
from ingest.influx_sink import InfluxSink
from ingest.line_protocol import REJECTS, STATS, point_line, telemetry_line
from ingest.mqtt_source import Message, MqttSource
from ingest.stage import NullStage, ReadingStage
from ingest.stats import IngestStats

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """Messages decoded together and written in one request."""

    messages: list[Message] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    started: float = 0.0


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    batch_size: int = 5000
    flush_interval_s: float = 0.2
    stats_interval_s: float = 10.0
    instance: str = "cargowatch-ingest"


class Pipeline:
    """One ingester: start it, let it run, `stop` flushes and acks what it holds."""

    def __init__(
        self,
        source: MqttSource,
        sink: InfluxSink,
        stats: IngestStats,
        options: PipelineOptions,
        stage: ReadingStage | None = None,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        shipment_of: dict[str, str] | None = None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.stats = stats
        self.options = options
        self.stage = stage or NullStage()
        self._now_ms = now_ms
        self._shipment_of = shipment_of or {}
        self._batches: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._extra_lines: deque[str] = deque()
        self._stop_intake = threading.Event()
        #: Set when a worker thread died of a bug; the process should exit (nothing
        #: it held was acked, so the broker redelivers it to the next run).
        self.failed = threading.Event()
        self._batcher = threading.Thread(
            target=self._guarded, args=(self._run_batcher,), name="cw-batcher", daemon=True
        )
        self._writer = threading.Thread(
            target=self._guarded, args=(self._run_writer,), name="cw-writer", daemon=True
        )
        self._next_stats = time.monotonic() + options.stats_interval_s
        self._stage_failed_logged = False

    def start(self) -> None:
        self._batcher.start()
        self._writer.start()
        self.source.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop taking messages, make what was taken durable, ack it, disconnect.

        Returns False if InfluxDB and the spool could not take the last batches in
        time; those messages stay unacked and the broker redelivers them.
        """
        self._stop_intake.set()
        self._batcher.join(timeout_s)
        self._writer.join(timeout_s)
        clean = not self._writer.is_alive()
        if not clean:
            self.sink.stop()
            self._writer.join(5)
        self._write_stats()
        self.source.stop()
        self.stage.close()
        log.warning("ingester stopped: %s", self.stats.summary())
        return clean

    def _guarded(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException:
            log.exception("ingest worker failed; stopping without acking what it held")
            self.failed.set()
            self._stop_intake.set()

    def _run_batcher(self) -> None:
        opts = self.options
        batch = Batch()
        while True:
            stopping = self._stop_intake.is_set()
            messages = self.source.drain(opts.batch_size - len(batch.readings))
            if messages:
                if not batch.messages:
                    batch.started = time.monotonic()
                self._decode_into(batch, messages)
            due = batch.messages and (
                len(batch.readings) >= opts.batch_size
                or time.monotonic() - batch.started >= opts.flush_interval_s
                or (stopping and not self.source.pending())
            )
            if due:
                self._batches.put(batch)
                batch = Batch()
            elif stopping and not self.source.pending():
                self._batches.put(None)
                return
            elif not messages:
                # Polling keeps paho's thread free of any per-message wake-up cost.
                time.sleep(0.002)

    def _decode_into(self, batch: Batch, messages: list[Message]) -> None:
        stats = self.stats
        now_ms = self._now_ms()
        now_ns = time.time_ns()
        lines = batch.lines
        shipment_of = self._shipment_of
        for m in messages:
            decoded = decode(m.topic, m.payload, now_ms)
            for r in decoded.readings:
                lines.append(telemetry_line(r, shipment_of.get(r.device_id)))
            batch.readings.extend(decoded.readings)
            stats.readings_decoded += len(decoded.readings)
            for j in decoded.rejects:
                stats.rejected[j.reason] += 1
                now_ns += 1  # keeps two rejects in one batch from overwriting each other
                lines.append(
                    point_line(
                        REJECTS,
                        {"reason": j.reason},
                        {
                            "device_id": j.device_id,
                            "topic": m.topic[:256],
                            "detail": j.detail,
                            "payload": j.excerpt.decode("utf-8", "backslashreplace"),
                        },
                        now_ns,
                    )
                )
            if decoded.unknown_fields:
                stats.count_unknown(decoded.unknown_fields)
        batch.messages.extend(messages)

    def store_lines(self, lines: list[str]) -> None:
        """Queue extra points (alerts) for the writer; safe from any thread."""
        self._extra_lines.extend(lines)

    def _take_extra(self) -> list[str]:
        extra = self._extra_lines
        return [extra.popleft() for _ in range(len(extra))]

    def _run_writer(self) -> None:
        while True:
            try:
                batch = self._batches.get(timeout=0.5)
            except queue.Empty:
                self.sink.tick()
                if self._extra_lines:
                    self.sink.write_durably(self._take_extra(), 0)
                self._maybe_write_stats()
                continue
            if batch is None:
                if self._extra_lines:
                    self.sink.write_durably(self._take_extra(), 0)
                return
            if self._extra_lines:
                batch.lines.extend(self._take_extra())
            if not self.sink.write_durably(batch.lines, len(batch.readings)):
                log.error(
                    "stopped before %d messages were durable; the broker will redeliver them",
                    len(batch.messages),
                )
                return
            self.source.ack(batch.messages)
            if batch.readings:
                try:
                    self.stage.handle(batch.readings)
                except Exception:
                    if not self._stage_failed_logged:
                        log.exception("the stage after ingestion failed; readings stay stored")
                        self._stage_failed_logged = True
            self._maybe_write_stats()

    def _maybe_write_stats(self) -> None:
        if time.monotonic() >= self._next_stats:
            self._next_stats = time.monotonic() + self.options.stats_interval_s
            self._write_stats()
            log.info("%s", self.stats.summary())

    def _write_stats(self) -> None:
        self.stats.messages_received = self.source.messages_received
        line = point_line(
            STATS, {"instance": self.options.instance}, self.stats.snapshot(), time.time_ns()
        )
        # Counters are best effort: they describe the service, they are not readings.
        self.sink.write_durably([line], 0)
