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

No message can stop the pipeline: one whose decoding or encoding raises anyway
is rejected as `internal_error`, acked and logged with its topic. A retained
message is not a live reading (`retained`), and a reading whose device and
timestamp were already taken with other values is a `conflicting_duplicate`,
so storage and detectors keep the same first reading. On `stop`, intake stops
first (what the broker still sends, or the inbox still holds, stays unacked and
is redelivered to the next run), then the batch in hand is made durable and
acked, then the detectors release what they buffer and hand on the alerts that raises.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from detectors.reading import Reading
from ingest.decode import DEFAULT_MAX_AGE_MS, EXCERPT_BYTES, Reject, decode
from ingest.duplicates import RecentReadings, Verdict
from ingest.influx_client import InfluxError, InfluxUnavailable
from ingest.influx_sink import InfluxSink
from ingest.line_protocol import REJECTS, STATS, point_line, telemetry_line
from ingest.mqtt_source import Message, MqttSource
from ingest.shipment_points import REFRESH_S, ShipmentTag, shipment_line
from ingest.stage import NullStage, ReadingStage
from ingest.stats import IngestStats
from ingest.stored_readings import same_reading, stored_points

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """Messages decoded together and written in one request."""

    messages: list[Message] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    #: Reject points among `lines`: they cost a write as readings do, so they count too.
    reject_points: int = 0
    #: Readings older than their device's duplicate window, as (line index, reading
    #: index, topic, payload): the writer checks them against InfluxDB before writing.
    unverified: list[tuple[int, int, str, bytes]] = field(default_factory=list)
    started: float = 0.0

    @property
    def points(self) -> int:
        return len(self.readings) + self.reject_points


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    batch_size: int = 5000
    flush_interval_s: float = 0.2
    stats_interval_s: float = 10.0
    instance: str = "cargowatch-ingest"
    max_age_ms: int = DEFAULT_MAX_AGE_MS


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
        shipment_of: dict[str, ShipmentTag] | None = None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.stats = stats
        self.options = options
        self.stage = stage or NullStage()
        self._now_ms = now_ms
        self._shipment_of = dict(shipment_of or {})
        # Shipment points waiting to be written by the writer thread (any thread adds them).
        self._shipment_lines: list[str] = [
            shipment_line(device, tag, time.time_ns()) for device, tag in self._shipment_of.items()
        ]
        self._shipment_lock = threading.Lock()
        self._next_shipments = time.monotonic() + REFRESH_S
        self._recent = RecentReadings()
        self._reject_ns = 0
        self._batches: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
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
        """Stop taking messages, make what was taken durable, ack it, flush the detectors.

        Returns False if InfluxDB and the spool could not take the last batches in
        time; those messages stay unacked and the broker redelivers them.
        """
        # Intake first: a backlog at the broker or in the inbox is the next run's work,
        # not a reason to keep a stopping process alive.
        self.source.stop_intake()
        self._stop_intake.set()
        deadline = time.monotonic() + timeout_s
        self._batcher.join(timeout_s)
        self._writer.join(max(0.0, deadline - time.monotonic()))
        clean = not self._writer.is_alive()
        if not clean:
            self.sink.stop()
            self._writer.join(5)
        # What the detectors still buffer was stored and acked: release it now, or an alert
        # it would raise (a tampered seal seconds before a restart) is never raised.
        self.stage.close()
        self._write_shipments()
        self._write_stats()
        self.source.stop()
        log.warning("ingester stopped: %s", self.stats.summary())
        return clean

    def remember(self, readings: Sequence[Reading]) -> None:
        """Count readings as already taken (replayed from storage); call before `start`."""
        for r in readings:
            self._recent.check(r)

    def set_shipment(self, device_id: str, tag: ShipmentTag | None) -> None:
        """Tag the device's readings from now on with its shipment (or none); any thread.

        The change is also written to the `shipments` measurement with the next batch.
        """
        now_ns = time.time_ns()
        with self._shipment_lock:
            if tag is None:
                old = self._shipment_of.pop(device_id, None)
                if old is not None:
                    self._shipment_lines.append(shipment_line(device_id, old, now_ns, False))
            else:
                self._shipment_of[device_id] = tag
                self._shipment_lines.append(shipment_line(device_id, tag, now_ns))

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
            if self._stop_intake.is_set():
                # The inbox was never acked: the broker redelivers it to the next run.
                deferred = self.source.discard_pending()
                if deferred:
                    log.info("stopping: left %d received messages to be redelivered", deferred)
                if batch.messages:
                    self._batches.put(batch)
                self._batches.put(None)
                return
            messages = self.source.drain(max(1, opts.batch_size - batch.points))
            if messages:
                if not batch.messages:
                    batch.started = time.monotonic()
                self._decode_into(batch, messages)
            due = batch.messages and (
                batch.points >= opts.batch_size
                or time.monotonic() - batch.started >= opts.flush_interval_s
            )
            if due:
                self._batches.put(batch)
                batch = Batch()
            elif not messages:
                # Polling keeps paho's thread free of any per-message wake-up cost.
                time.sleep(0.002)

    def _decode_into(self, batch: Batch, messages: list[Message]) -> None:
        now_ms = self._now_ms()
        max_age_ms = self.options.max_age_ms
        self._reject_ns = max(self._reject_ns, time.time_ns())
        stats = self.stats
        check = self._recent.check
        shipment_of = self._shipment_of
        lines, readings = batch.lines, batch.readings
        first_reading = len(readings)
        new = Verdict.NEW
        for m in messages:
            lines_before, readings_before = len(lines), len(readings)
            try:
                if m.retain:
                    # A retained message is whatever was last left on the topic, not a live
                    # reading: taking it would store it again at every restart.
                    self._add_reject(
                        batch, m.topic, Reject("retained", "not a live reading", "", b"")
                    )
                    continue
                decoded = decode(m.topic, m.payload, now_ms, max_age_ms)
                for r in decoded.readings:
                    verdict = check(r)
                    if verdict is not new:
                        if verdict is Verdict.SAME:
                            stats.duplicates += 1
                            continue
                        if verdict is Verdict.CONFLICT:
                            decoded.add_reject(_conflict(r, m.payload))
                            continue
                        batch.unverified.append((len(lines), len(readings), m.topic, m.payload))
                    tag = shipment_of.get(r.device_id)
                    lines.append(telemetry_line(r, None if tag is None else tag.shipment_id))
                    readings.append(r)
                if decoded.rejects:
                    for j in decoded.rejects:
                        self._add_reject(batch, m.topic, j)
                    device = decoded.rejects[0].device_id
                    for reason, n in decoded.more_rejects.items():
                        # One point per reason stands for the rest of a hostile upload.
                        detail = f"{n:,} more elements of this message rejected for the same reason"
                        self._add_reject(batch, m.topic, Reject(reason, detail, device, b""), n)
                if decoded.unknown_fields:
                    stats.count_unknown(decoded.unknown_fields)
            except Exception as exc:
                # The last line of defence: a message that makes any step raise is recorded
                # and acked, never allowed to stop the pipeline or the rest of its batch.
                del lines[lines_before:], readings[readings_before:]
                while batch.unverified and batch.unverified[-1][0] >= lines_before:
                    batch.unverified.pop()
                batch.reject_points = len(lines) - len(readings)
                log.error(
                    "internal error on a message from topic %.200r (%s: %.200s); rejected",
                    m.topic,
                    type(exc).__name__,
                    exc,
                )
                detail = f"{type(exc).__name__}: {str(exc)[:200]}"
                reject = Reject("internal_error", detail, "", m.payload[:EXCERPT_BYTES])
                self._add_reject(batch, m.topic, reject)
        stats.readings_decoded += len(readings) - first_reading
        batch.messages.extend(messages)

    def _add_reject(self, batch: Batch, topic: str, j: Reject, count: int = 1) -> None:
        batch.lines.append(self._reject_line(topic, j, count))
        batch.reject_points += 1
        self.stats.rejected[j.reason] += count

    def _reject_line(self, topic: str, j: Reject, count: int = 1) -> str:
        self._reject_ns += 1  # keeps two rejects from overwriting each other
        fields: dict[str, str | int] = {
            "device_id": j.device_id,
            "topic": topic[:256],
            "detail": j.detail,
            "payload": j.excerpt.decode("utf-8", "backslashreplace"),
        }
        if count > 1:
            fields["count"] = count
        return point_line(REJECTS, {"reason": j.reason}, fields, self._reject_ns)

    def _run_writer(self) -> None:
        while True:
            try:
                batch = self._batches.get(timeout=0.5)
            except queue.Empty:
                self.sink.tick()
                self._maybe_write_stats()
                continue
            if batch is None:
                return
            if batch.unverified:
                self._check_unverified(batch)
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

    def _check_unverified(self, batch: Batch) -> None:
        """Judge readings older than the duplicate window by what InfluxDB already holds."""
        entries = batch.unverified
        readings = [batch.readings[i] for _, i, _, _ in entries]
        try:
            if self.sink.in_outage:
                raise InfluxUnavailable("in an outage")
            found, checked = stored_points(self.sink.client, readings)
        except InfluxError:
            # Holding valid readings back for a lookup would turn an outage into loss.
            self.stats.unverified += len(entries)
            return
        # The first reading of each identity in this batch: InfluxDB cannot know of it yet.
        earliest: dict[tuple[str, int], int] = {}
        for i, r in enumerate(batch.readings):
            earliest.setdefault((r.device_id, r.ts_ms), i)
        drop_lines: set[int] = set()
        drop_readings: set[int] = set()
        for (line_at, reading_at, topic, payload), r in zip(entries, readings, strict=True):
            key = (r.device_id, r.ts_ms)
            at = earliest[key]
            if at < reading_at:
                same = r == batch.readings[at]
            elif key not in checked:
                self.stats.unverified += 1
                continue
            elif (point := found.get(key)) is None:
                continue  # a free identity: this reading takes it
            else:
                same = same_reading(r, point)
            drop_readings.add(reading_at)
            if same:
                self.stats.duplicates += 1
                drop_lines.add(line_at)
            else:
                reject = _conflict(r, payload)
                self.stats.rejected[reject.reason] += 1
                batch.lines[line_at] = self._reject_line(topic, reject)
                batch.reject_points += 1
        if drop_lines:
            batch.lines = [line for i, line in enumerate(batch.lines) if i not in drop_lines]
        if drop_readings:
            batch.readings = [r for i, r in enumerate(batch.readings) if i not in drop_readings]

    def _maybe_write_stats(self) -> None:
        self._write_shipments()
        if time.monotonic() >= self._next_stats:
            self._next_stats = time.monotonic() + self.options.stats_interval_s
            self._write_stats()
            log.info("%s", self.stats.summary())

    def _write_shipments(self) -> None:
        """Write shipment changes, and every tracked shipment again each `REFRESH_S`."""
        now_ns = time.time_ns()
        with self._shipment_lock:
            if time.monotonic() >= self._next_shipments:
                self._next_shipments = time.monotonic() + REFRESH_S
                self._shipment_lines.extend(
                    shipment_line(device, tag, now_ns) for device, tag in self._shipment_of.items()
                )
            lines, self._shipment_lines = self._shipment_lines, []
        if not lines:
            return
        # Like the counters, best effort: the manifest and the store hold the shipments; a
        # point lost to an outage is written again at the next refresh.
        self.sink.write_durably(lines, 0)

    def _write_stats(self) -> None:
        self.stats.messages_received = self.source.messages_received
        line = point_line(
            STATS, {"instance": self.options.instance}, self.stats.snapshot(), time.time_ns()
        )
        # Counters are best effort: they describe the service, they are not readings.
        self.sink.write_durably([line], 0)


def _conflict(r: Reading, payload: bytes) -> Reject:
    return Reject(
        "conflicting_duplicate",
        f"a different reading of {r.device_id} at ts {r.ts_ms} (to the millisecond) was"
        " already taken; the first one stands",
        r.device_id,
        payload[:EXCERPT_BYTES],
    )
