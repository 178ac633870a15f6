"""Pipeline wiring with fakes: acks follow durability, and a bug in a worker stops the ingester."""

import time

from ingest.mqtt_source import Message
from ingest.pipeline import Pipeline, PipelineOptions
from ingest.stats import IngestStats


class FakeSource:
    def __init__(self, messages):
        self.inbox = list(messages)
        self.acked: list[int] = []
        self.messages_received = len(self.inbox)
        self.options = None

    def start(self): ...

    def stop(self): ...

    def drain(self, limit):
        taken, self.inbox = self.inbox[:limit], self.inbox[limit:]
        return taken

    def pending(self):
        return len(self.inbox)

    def stop_intake(self):
        self.intake_stopped = True

    def discard_pending(self):
        n, self.inbox = len(self.inbox), []
        return n

    def ack(self, messages):
        self.acked += [m.mid for m in messages]


class Sink:
    def __init__(self, durable=True, explode=False):
        self.durable, self.explode, self.lines = durable, explode, []

    def write_durably(self, lines, readings):
        if self.explode and readings:
            raise RuntimeError("a bug")
        self.lines += lines
        return self.durable

    in_outage = False

    class client:  # noqa: N801 - stands in for InfluxClient: nothing is stored before
        @staticmethod
        def query(q, params=None):
            return []

    def tick(self): ...

    def stop(self): ...


def msg(i, payload=None):
    body = payload or f'{{"device_id":"d","ts":{1_763_800_000_000 + i}}}'.encode()
    return Message("cargo/v1/d/telemetry", body, i + 1, 1, 0)


def wait_until(check, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def run(source, sink):
    p = Pipeline(source, sink, IngestStats(), PipelineOptions(batch_size=10, flush_interval_s=0.01))
    p._now_ms = lambda: 1_763_800_000_000
    p.start()
    return p


def test_every_message_is_acked_once_its_batch_is_durable_including_rejects():
    source = FakeSource([msg(i) for i in range(25)] + [msg(25, b"junk")])
    p = run(source, Sink())
    wait_until(lambda: len(source.acked) >= 26)
    assert p.stop(timeout_s=5)
    assert source.acked == list(range(1, 27))
    assert p.stats.rejected["invalid_json"] == 1 and p.stats.readings_decoded == 25


def test_nothing_is_acked_when_the_sink_could_not_make_a_batch_durable():
    source = FakeSource([msg(i) for i in range(5)])
    sink = Sink(durable=False)
    p = run(source, sink)
    wait_until(lambda: len(sink.lines) >= 5)
    p.stop(timeout_s=2)
    assert source.acked == []


def test_a_bug_in_a_worker_marks_the_pipeline_failed_and_acks_nothing():
    source = FakeSource([msg(i) for i in range(5)])
    p = run(source, Sink(explode=True))
    assert p.failed.wait(5)
    assert source.acked == []
    p.stop(timeout_s=1)
