"""Pipeline wiring: acks follow durability, no message stops it, storage and detectors agree.

Fakes stand in for the broker and InfluxDB here; the same paths run against the real
servers in tests/integration/ingest/.
"""

import json
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from waiting import wait_until

import ingest.pipeline as pipeline_module
from ingest.decode import MAX_REJECTS_PER_MESSAGE
from ingest.mqtt_source import Message
from ingest.pipeline import Batch, Pipeline, PipelineOptions
from ingest.shipment_points import ShipmentTag
from ingest.stats import IngestStats

NOW_MS = 1_763_800_000_000


class FakeSource:
    def __init__(self, messages=()):
        self.inbox = list(messages)
        self.acked: list[int] = []
        self.messages_received = 0
        self.intake_stopped = False
        self.discarded = 0
        self.taken: list[Message] = []
        self.lock = threading.Lock()

    stopped = False

    def start(self): ...

    def stop(self):
        self.stopped = True

    def add(self, messages):
        with self.lock:
            self.inbox += messages

    def drain(self, limit):
        with self.lock:
            taken, self.inbox = self.inbox[:limit], self.inbox[limit:]
        self.taken += taken
        return taken

    def pending(self):
        return len(self.inbox)

    def stop_intake(self):
        self.intake_stopped = True

    def discard_pending(self):
        with self.lock:
            n, self.inbox = len(self.inbox), []
        self.discarded += n
        return n

    def ack(self, messages):
        self.acked += [m.mid for m in messages]


class Sink:
    def __init__(self, durable=True, explode=False):
        self.lines: list[str] = []
        self.readings = 0
        self.batches: list[int] = []
        self.durable, self.explode = durable, explode

    def write_durably(self, lines, readings):
        if self.explode and readings:
            raise RuntimeError("a bug")
        self.lines += lines
        self.readings += readings
        self.batches.append(len(lines))
        return self.durable

    in_outage = False

    class client:  # noqa: N801 - stands in for InfluxClient: nothing is stored before
        @staticmethod
        def query(q, params=None):
            return []

    def tick(self): ...

    def stop(self): ...


class RecordingStage:
    def __init__(self, pipeline=None):
        self.readings = []
        self.pipeline = pipeline
        self.closed_at_lines: int | None = None

    def handle(self, readings):
        self.readings += readings

    def close(self):
        # A detector stage releases its buffer here; the broker connection must still be up.
        self.closed_while_connected = not self.pipeline.source.stopped


_mid = iter(range(1, 1_000_000))


def msg(obj_or_bytes, device="d", retain=False):
    payload = obj_or_bytes if isinstance(obj_or_bytes, bytes) else json.dumps(obj_or_bytes).encode()
    m = Message(f"cargo/v1/{device}/telemetry", payload, next(_mid), 1, 0)
    return m._replace(retain=True) if retain else m


def start(source, sink=None, batch_size=5000, **kwargs):
    p = Pipeline(
        source,
        sink or Sink(),
        IngestStats(),
        PipelineOptions(batch_size=batch_size, flush_interval_s=0.01),
        **kwargs,
    )
    p._now_ms = lambda: NOW_MS
    p.start()
    return p


def telemetry(sink):
    return [line for line in sink.lines if line.startswith("telemetry,")]


def rejects(sink):
    return [line for line in sink.lines if line.startswith("ingest_rejects,")]


def test_every_message_is_acked_once_its_batch_is_durable_including_rejects():
    source = FakeSource([msg({"device_id": "d", "ts": NOW_MS - i}) for i in range(25)])
    source.add([msg(b"junk")])
    p = start(source, batch_size=10)
    wait_until(lambda: len(source.acked) >= 26)
    assert p.stop(timeout_s=5)
    assert source.acked == [m.mid for m in source.taken]
    assert p.stats.rejected["invalid_json"] == 1 and p.stats.readings_decoded == 25


def test_nothing_is_acked_when_the_sink_could_not_make_a_batch_durable():
    source = FakeSource([msg({"device_id": "d", "ts": NOW_MS - i}) for i in range(5)])
    sink = Sink(durable=False)
    p = start(source, sink)
    wait_until(lambda: len(sink.lines) >= 5)
    p.stop(timeout_s=2)
    assert source.acked == []


def test_a_bug_in_a_worker_marks_the_pipeline_failed_and_acks_nothing():
    source = FakeSource([msg({"device_id": "d", "ts": NOW_MS - i}) for i in range(5)])
    p = start(source, Sink(explode=True))
    assert p.failed.wait(5)
    assert source.acked == []
    p.stop(timeout_s=1)


def test_a_message_whose_processing_raises_is_rejected_as_internal_error_and_the_rest_stored(
    monkeypatch,
):
    real = pipeline_module.decode

    def decode(topic, payload, now_ms, max_age_ms=None):
        if b"boom" in payload:
            raise RuntimeError("a bug nobody has found yet")
        return real(topic, payload, now_ms, max_age_ms)

    monkeypatch.setattr(pipeline_module, "decode", decode)
    good = [msg({"device_id": "d", "ts": NOW_MS - i}) for i in range(3)]
    source = FakeSource([good[0], msg(b'{"boom":1}'), good[1], good[2]])
    sink = Sink()
    p = start(source, sink)
    wait_until(lambda: len(source.acked) == 4)
    assert p.stop(timeout_s=5)
    assert not p.failed.is_set()
    assert len(telemetry(sink)) == 3
    (reject,) = rejects(sink)
    assert "reason=internal_error" in reject and "RuntimeError" in reject
    assert p.stats.rejected["internal_error"] == 1


def test_a_retained_message_is_acked_and_recorded_but_never_stored_as_a_reading():
    source = FakeSource([msg({"device_id": "d", "ts": NOW_MS}, retain=True)])
    sink = Sink()
    p = start(source, sink)
    wait_until(lambda: source.acked)
    p.stop(timeout_s=5)
    assert telemetry(sink) == []
    assert "reason=retained" in rejects(sink)[0]


@pytest.mark.parametrize(
    "first, second",
    [
        pytest.param(
            {"device_id": "d", "ts": NOW_MS, "temp_c": 5.0, "seal": "closed"},
            {"device_id": "d", "ts": NOW_MS, "temp_c": 9.0},
            id="same device and ts with other values",
        ),
        pytest.param(
            {"device_id": "d", "ts": "2025-11-22T08:26:40.0001Z", "seal": "closed"},
            {"device_id": "d", "ts": "2025-11-22T08:26:40.0009Z", "seal": "tampered"},
            id="two RFC 3339 times less than a millisecond apart",
        ),
    ],
)
def test_a_conflicting_duplicate_is_a_reject_and_storage_and_detectors_keep_the_first(
    first, second
):
    source = FakeSource([msg(first), msg(second)])
    sink, stage = Sink(), RecordingStage()
    p = start(source, sink, stage=stage)
    wait_until(lambda: len(source.acked) == 2)
    p.stage = RecordingStage(p)
    p.stop(timeout_s=5)
    (stored,) = telemetry(sink)
    assert ('seal="closed"' in stored) if "seal" in first else ("temp_c=5.0" in stored)
    (reject,) = rejects(sink)
    assert "reason=conflicting_duplicate" in reject
    assert len(stage.readings) == 1
    assert stage.readings[0].seal == first.get("seal")


def test_an_identical_redelivery_is_a_silent_no_op():
    reading = {"device_id": "d", "ts": NOW_MS, "temp_c": 5.0}
    source = FakeSource([msg(reading), msg(reading), msg([reading, reading])])
    sink, stage = Sink(), RecordingStage()
    p = start(source, sink, stage=stage)
    wait_until(lambda: len(source.acked) == 3)
    p.stage = RecordingStage(p)
    p.stop(timeout_s=5)
    assert len(telemetry(sink)) == 1 and rejects(sink) == []
    assert len(stage.readings) == 1
    assert p.stats.duplicates == 3


def test_a_hostile_upload_costs_a_bounded_number_of_points_and_counts_every_element():
    payload = b"[" + b",".join([b"7"] * 100_000) + b"]"
    source = FakeSource([msg(payload) for _ in range(10)])
    sink = Sink()
    p = start(source, sink)
    wait_until(lambda: len(source.acked) == 10)
    p.stop(timeout_s=5)
    assert len(rejects(sink)) == 10 * (MAX_REJECTS_PER_MESSAGE + 1)
    assert p.stats.rejected["not_an_object"] == 1_000_000
    assert any("count=" in line for line in rejects(sink))


def test_reject_points_count_towards_the_batch_size():
    source = FakeSource([msg(b"junk") for _ in range(30)])
    sink = Sink()
    p = start(source, sink, batch_size=10)
    wait_until(lambda: len(source.acked) == 30)
    p.stop(timeout_s=5)
    assert max(sink.batches) <= 10


def test_stop_takes_no_more_messages_acks_what_it_took_and_leaves_the_rest_to_redelivery():
    source = FakeSource()
    sink = Sink()
    p = start(source, sink, batch_size=10)
    source.add([msg({"device_id": "d", "ts": NOW_MS - i}) for i in range(5)])
    wait_until(lambda: len(source.acked) == 5)
    backlog = [msg({"device_id": "d", "ts": NOW_MS - 1000 - i}) for i in range(20_000)]
    source.add(backlog)
    assert p.stop(timeout_s=10)
    assert source.intake_stopped
    # Whatever was taken before the stop was acked; the rest was left unacked, not worked off.
    assert len(source.acked) + source.discarded == 5 + 20_000
    assert len(telemetry(sink)) == len(source.acked)
    assert source.discarded > 0


def test_stop_closes_the_detector_stage_after_the_last_batch_and_before_disconnecting():
    source = FakeSource([msg({"device_id": "d", "ts": NOW_MS})])
    p = start(source)
    p.stage = stage = RecordingStage(p)
    wait_until(lambda: source.acked)
    assert p.stop(timeout_s=5)
    assert stage.closed_while_connected and source.stopped


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=300),
    st.binary(max_size=400) | st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    st.booleans(),
)
def test_any_topic_and_payload_encode_to_line_protocol_without_the_last_line_of_defence(
    topic, payload, retain
):
    p = Pipeline(
        FakeSource(),
        Sink(),
        IngestStats(),
        PipelineOptions(),
        shipment_of={"d": ShipmentTag("S#1", "vaccine_2_8", 2.0, 8.0)},
    )
    batch = Batch()
    p._decode_into(batch, [Message(topic, payload, 1, 1, 0, retain)])
    assert p.stats.rejected["internal_error"] == 0
    assert batch.lines
    for line in batch.lines:
        line.encode("utf-8")  # a lone surrogate anywhere would make the whole write fail


class SinkHolding(Sink):
    """A sink whose InfluxDB already holds the given points (as /query returns them)."""

    def __init__(self, points):
        super().__init__()
        columns = ["time", "device_id", "heartbeat", "seal", "seq", "temp_c"]
        rows = [[p.get(c) for c in columns] for p in points]

        class client:  # noqa: N801
            @staticmethod
            def query(q, params=None):
                lo, hi = params["first"] // 1_000_000, params["last"] // 1_000_000
                hits = [r for r in rows if lo <= r[0] <= hi and r[1] == params["device"]]
                return [{"name": "telemetry", "columns": columns, "values": hits}] if hits else []

        self.client = client


def test_a_reading_older_than_the_memory_window_is_judged_by_what_influxdb_holds():
    # 40 live readings push readings 0 and 1 out of the in-memory window.
    live = [{"device_id": "d", "ts": NOW_MS - 100 + i, "seq": i, "temp_c": 5.0} for i in range(40)]
    sink = SinkHolding([{"time": NOW_MS - 100, "device_id": "d", "seq": 0, "temp_c": 5}])
    stage = RecordingStage()
    source = FakeSource([msg(r) for r in live])
    p = start(source, sink, stage=stage)
    wait_until(lambda: len(source.acked) == 40)
    old_again = live[0]  # identical to what InfluxDB holds
    old_conflicting = {"device_id": "d", "ts": NOW_MS - 100, "seq": 0, "temp_c": 9.0}
    free_old = {"device_id": "d", "ts": NOW_MS - 500, "seq": 99}  # nothing stored there yet
    source.add([msg(old_again), msg(old_conflicting), msg([free_old, free_old])])
    wait_until(lambda: len(source.acked) == 43)
    p.stage = RecordingStage(p)
    p.stop(timeout_s=5)
    assert len(telemetry(sink)) == 41  # the 40 live readings and the free old one, once
    assert ["reason=conflicting_duplicate" in line for line in rejects(sink)] == [True]
    assert [r.seq for r in stage.readings[40:]] == [99]
    assert p.stats.duplicates == 2 and p.stats.unverified == 0


def shipments(sink):
    return [line for line in sink.lines if line.startswith("shipments,")]


def test_tracked_shipments_and_their_changes_are_written_for_dashboards():
    vaccine = ShipmentTag("SHP-1", "vaccine_2_8", 3.0, 7.0)
    source = FakeSource([msg({"device_id": "d", "ts": NOW_MS, "temp_c": 5.0})])
    sink = Sink()
    p = start(source, sink, shipment_of={"d": vaccine})
    wait_until(lambda: shipments(sink) and telemetry(sink))
    (first,) = shipments(sink)
    assert first.startswith("shipments,device_id=d,profile=vaccine_2_8,shipment_id=SHP-1 ")
    assert "temp_low_c=3.0,temp_high_c=7.0" in first  # the band in force, overrides included
    assert ",shipment_id=SHP-1 " in telemetry(sink)[0]

    p.set_shipment("e", ShipmentTag("SHP-2", "customs_transit", None, None))
    p.set_shipment("d", None)
    wait_until(lambda: len(shipments(sink)) == 3)
    assert p.stop(timeout_s=5)
    new, gone = shipments(sink)[1:]
    assert "shipment_id=SHP-2 tracked=true " in new and "temp_" not in new
    assert "shipment_id=SHP-1 tracked=false," in gone


def test_every_tracked_shipment_is_written_again_after_the_refresh_interval(monkeypatch):
    monkeypatch.setattr(pipeline_module, "REFRESH_S", 0.0)
    sink = Sink()
    p = start(FakeSource([]), sink, shipment_of={"d": ShipmentTag("S", "x", None, None)})
    wait_until(lambda: len(shipments(sink)) >= 3)
    assert p.stop(timeout_s=5)
    assert {line.split(" ")[0] for line in shipments(sink)} == {
        "shipments,device_id=d,profile=x,shipment_id=S"
    }
