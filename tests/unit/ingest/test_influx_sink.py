"""The durable writer's decisions, against a scripted fake server (the real one is in integration)."""

import threading

from ingest.influx_client import InfluxRejected, InfluxUnavailable
from ingest.influx_sink import InfluxSink, RetryPolicy
from ingest.spool import Spool
from ingest.stats import IngestStats


class FakeInflux:
    """Stores lines; fails while `down`; refuses any line starting with BAD."""

    url = "http://fake"

    def __init__(self):
        self.down = False
        self.lines: list[str] = []
        self.requests = 0

    def ping(self):
        if self.down:
            raise InfluxUnavailable("down")

    def write(self, body: bytes):
        self.requests += 1
        if self.down:
            raise InfluxUnavailable("connection refused")
        lines = body.decode().split("\n")
        if any(line.startswith("BAD") for line in lines):
            raise InfluxRejected("HTTP 400: partial write")
        self.lines.extend(lines)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        self.t += 0.01
        return self.t


def make(tmp_path, max_bytes=1_000_000, window_s=0.0):
    server, stats = FakeInflux(), IngestStats()
    policy = RetryPolicy(
        window_s=window_s, first_delay_s=0.001, max_delay_s=0.001, probe_interval_s=0.0
    )
    sink = InfluxSink(server, Spool(tmp_path, max_bytes), stats, policy, clock=Clock())
    return sink, server, stats


def test_a_healthy_write_is_stored_and_counted(tmp_path):
    sink, server, stats = make(tmp_path)
    assert sink.write_durably(["a 1", "b 2"], readings=2)
    assert server.lines == ["a 1", "b 2"] and stats.readings_stored == 2 and stats.writes == 1


def test_a_refused_point_is_isolated_and_recorded_while_its_neighbours_are_stored(tmp_path):
    sink, server, stats = make(tmp_path)
    assert sink.write_durably(["a 1", "b 2", "BAD", "c 3", "d 4"], readings=5)
    stored = [line for line in server.lines if not line.startswith("ingest_rejects")]
    assert sorted(stored) == ["a 1", "b 2", "c 3", "d 4"]
    [record] = [line for line in server.lines if line.startswith("ingest_rejects")]
    assert "reason=influx_refused" in record and 'payload="BAD"' in record
    assert stats.points_refused == 1 and stats.rejected["influx_refused"] == 1


def test_an_outage_spools_then_the_spool_replays_in_order_before_new_writes(tmp_path):
    sink, server, stats = make(tmp_path)
    server.down = True
    assert sink.write_durably(["a 1"], readings=1)
    assert sink.write_durably(["b 2"], readings=1)
    assert sink.in_outage and stats.readings_spooled == 2 and server.lines == []
    server.down = False
    assert sink.write_durably(["c 3"], readings=1)
    assert server.lines == ["a 1", "b 2", "c 3"]
    assert not sink.in_outage and stats.readings_replayed == 2 and len(sink.spool) == 0


def test_a_spool_left_by_a_previous_run_replays_on_the_first_tick(tmp_path):
    Spool(tmp_path, 1000).append(b"old 1", readings=1)
    sink, server, stats = make(tmp_path)
    sink.tick()
    assert server.lines == ["old 1"] and stats.readings_replayed == 1


def test_a_transient_failure_inside_the_retry_window_is_retried_not_spooled(tmp_path):
    sink, server, stats = make(tmp_path, window_s=60)
    calls = {"n": 0}
    real_write = server.write

    def flaky(body):
        calls["n"] += 1
        if calls["n"] < 3:
            raise InfluxUnavailable("HTTP 503")
        real_write(body)

    server.write = flaky
    assert sink.write_durably(["a 1"], readings=1)
    assert server.lines == ["a 1"] and stats.readings_spooled == 0 and calls["n"] == 3


def test_a_full_spool_withholds_durability_until_stopped(tmp_path):
    sink, server, _ = make(tmp_path, max_bytes=4)
    server.down = True
    assert sink.write_durably(["a 1"], readings=1)  # 3 bytes: fits
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("ok", sink.write_durably(["b 2"], 1)))
    t.start()
    t.join(0.3)
    assert t.is_alive(), "must block while the spool is full and InfluxDB is down"
    sink.stop()
    t.join(5)
    assert result == {"ok": False}


def test_a_full_spool_drains_when_influxdb_returns(tmp_path):
    sink, server, stats = make(tmp_path, max_bytes=4)
    server.down = True
    assert sink.write_durably(["a 1"], readings=1)
    timer = threading.Timer(0.2, lambda: setattr(server, "down", False))
    timer.start()
    assert sink.write_durably(["b 2"], readings=1)
    assert server.lines == ["a 1", "b 2"] and stats.readings_replayed == 1
