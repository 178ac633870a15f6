"""The durable writer's decisions, against a scripted fake server (the real one is in integration)."""

import errno
import logging
import os
import tempfile
import threading
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.influx_client import InfluxRejected, InfluxUnavailable
from ingest.influx_sink import InfluxSink, RetryPolicy
from ingest.line_protocol import point_line
from ingest.spool import AppendStatus, Spool, encode_batch
from ingest.stats import IngestStats

TS = 1_700_000_000_000_000_000


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


ONE_BATCH = len(encode_batch(b"a 1", 1))  # a spool bound that holds exactly one such batch


class Attempts:
    """Wraps `spool.append` to count its results, so tests wait on attempts, not on time."""

    def __init__(self, spool, then=None):
        self.results: list[AppendStatus] = []
        self.changed = threading.Condition()
        self._append = spool.append
        self._then = then
        spool.append = self

    def __call__(self, body, readings):
        result = self._append(body, readings)
        with self.changed:
            self.results.append(result.status)
            self.changed.notify_all()
        if self._then:
            self._then(self)
        return result

    def wait_for(self, status, n=3, timeout_s=10):
        with self.changed:
            assert self.changed.wait_for(lambda: self.results.count(status) >= n, timeout_s)


def in_background(call):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("ok", call()), daemon=True)
    thread.start()
    return thread, result


def test_a_full_spool_withholds_durability_until_stopped(tmp_path):
    sink, server, _ = make(tmp_path, max_bytes=ONE_BATCH)
    server.down = True
    assert sink.write_durably(["a 1"], readings=1)  # fits
    attempts = Attempts(sink.spool)
    t, result = in_background(lambda: sink.write_durably(["b 2"], 1))
    attempts.wait_for(AppendStatus.FULL)
    assert t.is_alive() and result == {}, "must block while the spool is full and InfluxDB is down"
    sink.stop()
    t.join(5)
    assert result == {"ok": False}


def test_a_full_spool_drains_when_influxdb_returns(tmp_path):
    sink, server, stats = make(tmp_path, max_bytes=ONE_BATCH)
    server.down = True
    assert sink.write_durably(["a 1"], readings=1)

    def recover_after_three(attempts):
        if attempts.results.count(AppendStatus.FULL) >= 3:
            server.down = False

    Attempts(sink.spool, then=recover_after_three)
    assert sink.write_durably(["b 2"], readings=1)
    assert server.lines == ["a 1", "b 2"] and stats.readings_replayed == 1


# --- a disk that refuses the spool write ----------------------------------------------------


class Disk:
    """Makes every os.write fail with ENOSPC while `full` is set."""

    def __init__(self, monkeypatch):
        self.full = threading.Event()
        real_write = os.write

        def write(fd, data):
            if self.full.is_set():
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)


def messages(caplog, text):
    return [r for r in caplog.records if text in r.getMessage()]


REFUSED = "the disk refused the spool write"
WORKS_AGAIN = "work again; acking resumes"


def test_a_disk_that_refuses_the_spool_holds_acks_and_says_so_once(tmp_path, monkeypatch, caplog):
    sink, server, stats = make(tmp_path)
    disk = Disk(monkeypatch)
    server.down = True
    disk.full.set()
    attempts = Attempts(sink.spool)
    t, result = in_background(lambda: sink.write_durably(["a 1"], 1))
    attempts.wait_for(AppendStatus.DISK_REFUSED, n=5)
    assert t.is_alive() and result == {}, "nothing is durable, so nothing may be acked"
    [refused] = messages(caplog, REFUSED)
    assert refused.levelno == logging.ERROR
    assert "No space left on device (ENOSPC)" in refused.getMessage()
    assert "holding acks" in refused.getMessage()
    sink.stop()
    t.join(5)
    assert result == {"ok": False}
    assert len(messages(caplog, REFUSED)) == 1 and stats.readings_spooled == 0
    assert list(tmp_path.iterdir()) == [], "no temporary file is left behind"


def test_spooling_resumes_when_the_disk_has_room_again_and_says_so_once(
    tmp_path, monkeypatch, caplog
):
    sink, server, stats = make(tmp_path)
    disk = Disk(monkeypatch)
    server.down = True
    disk.full.set()

    def room_after_three(attempts):
        if attempts.results.count(AppendStatus.DISK_REFUSED) >= 3:
            disk.full.clear()

    Attempts(sink.spool, then=room_after_three)
    assert sink.write_durably(["a 1"], 1)
    assert sink.write_durably(["b 2"], 1)
    assert stats.readings_spooled == 2 and len(sink.spool) == 2
    assert len(messages(caplog, REFUSED)) == 1 and len(messages(caplog, WORKS_AGAIN)) == 1
    server.down = False
    sink.tick()
    assert server.lines == ["a 1", "b 2"]
    [resumed] = messages(caplog, "InfluxDB writes resumed")
    assert resumed.getMessage().endswith("replayed 2 readings from spool, lost 0")


def test_influxdb_returning_ends_a_disk_refusal_without_the_disk(tmp_path, monkeypatch, caplog):
    sink, server, stats = make(tmp_path)
    disk = Disk(monkeypatch)
    server.down = True
    disk.full.set()

    def influx_after_three(attempts):
        if attempts.results.count(AppendStatus.DISK_REFUSED) >= 3:
            server.down = False

    Attempts(sink.spool, then=influx_after_three)
    assert sink.write_durably(["a 1"], 1)
    assert server.lines == ["a 1"] and stats.readings_stored == 1 and stats.readings_spooled == 0
    assert len(messages(caplog, REFUSED)) == 1


# --- damaged spool files: quarantined, counted as lost, the rest replays --------------------


def test_the_resumed_line_counts_the_readings_of_quarantined_files(tmp_path, caplog):
    sink, server, stats = make(tmp_path)
    server.down = True
    assert sink.write_durably(["a 1"], readings=1)
    assert sink.write_durably(["b 2", "c 3", "d 4"], readings=3)
    assert sink.write_durably(["e 5"], readings=1)
    middle = tmp_path / "000000000001.lp"
    middle.write_bytes(middle.read_bytes()[:-2])  # the disk lost the end of the file
    server.down = False
    sink.tick()
    assert server.lines == ["a 1", "e 5"], "the rest replays, in order"
    [resumed] = messages(caplog, "InfluxDB writes resumed")
    assert resumed.getMessage() == (
        "InfluxDB writes resumed, replayed 2 readings from spool, lost 3; "
        f"damaged spool files are kept in {tmp_path / 'quarantine'}"
    )
    assert stats.readings_lost == 3 and stats.snapshot()["readings_lost"] == 3
    assert stats.readings_replayed == 2 and len(sink.spool) == 0
    assert [p.name for p in (tmp_path / "quarantine").iterdir()] == ["000000000001.lp"]
    [damaged] = messages(caplog, "is damaged")
    assert "000000000001.lp" in damaged.getMessage() and "truncated" in damaged.getMessage()


def test_files_quarantined_at_start_up_are_reported_on_the_first_tick(tmp_path, caplog):
    (tmp_path / "000000000000.lp").write_bytes(encode_batch(b"a 1", 1)[:-1])
    (tmp_path / "000000000001.lp").write_bytes(b"\x00garbage")
    (tmp_path / "000000000002-1.lp").write_bytes(f"telemetry,device_id=t x=1 {TS}".encode())
    sink, server, stats = make(tmp_path)
    assert sink.in_outage, "losses found at start-up are reported like any other"
    sink.tick()
    assert server.lines == [f"telemetry,device_id=t x=1 {TS}"]
    [resumed] = messages(caplog, "InfluxDB writes resumed")
    assert "replayed 1 readings from spool, lost 1 (and 1 files holding an unknown number)" in (
        resumed.getMessage()
    )
    assert stats.readings_lost == 1


def test_a_legacy_file_with_invalid_bytes_no_longer_blocks_the_spool_behind_it(tmp_path, caplog):
    (tmp_path / "000000000000-1.lp").write_bytes(b"telemetry,device_id=t x=1 1\xff")
    (tmp_path / "000000000001-1.lp").write_bytes(f"telemetry,device_id=t x=2 {TS}".encode())
    sink, server, stats = make(tmp_path)
    sink.tick()
    assert server.lines == [f"telemetry,device_id=t x=2 {TS}"]
    assert not sink.in_outage and len(sink.spool) == 0 and stats.readings_lost == 1
    assert "lost 1" in messages(caplog, "InfluxDB writes resumed")[0].getMessage()


# --- replay never raises and never stores a damaged body ------------------------------------


class RecordingInflux:
    """Takes every body as it comes."""

    url = "http://fake"

    def __init__(self):
        self.bodies: list[bytes] = []

    def ping(self):
        pass

    def write(self, body: bytes):
        self.bodies.append(body)


def replay(directory: Path, corrupt=None) -> list[bytes]:
    server = RecordingInflux()
    policy = RetryPolicy(window_s=0.0, probe_interval_s=0.0)
    sink = InfluxSink(server, Spool(directory, 10_000_000), IngestStats(), policy)
    if corrupt:
        corrupt()  # after the start-up scan: only the replay's own check can catch it
    sink.tick()
    assert not sink.in_outage and len(sink.spool) == 0
    return server.bodies


names = st.one_of(
    st.integers(0, 10**12 - 1).map(lambda n: f"{n:012d}.lp"),
    st.tuples(st.integers(0, 10**12 - 1), st.integers(0, 10**6)).map(
        lambda t: f"{t[0]:012d}-{t[1]}.lp"
    ),
)


@settings(max_examples=200, deadline=None)
@given(name=names, content=st.binary(max_size=400))
def test_replay_survives_arbitrary_bytes_in_the_spool(name, content):
    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        (directory / name).write_bytes(content)
        bodies = replay(directory)
        kept = directory / "quarantine" / name
        if kept.exists():
            assert bodies == [] and kept.read_bytes() == content
        else:  # only a file that passes every check is stored, and then exactly as it was
            assert not (directory / name).exists()
            text = content.decode()
            if name.count("-"):
                assert bodies == [content]
                assert all(line.rsplit(" ", 1)[1].isdigit() for line in text.split("\n"))
            else:
                [body] = bodies
                assert encode_batch(body, int(text.split("readings=")[1].split()[0])) == content


line_text = st.text(max_size=40)
lines = st.lists(
    st.builds(
        lambda device, payload, ts: point_line(
            "ingest_rejects",
            {"reason": "invalid_json"},
            {"device_id": device, "payload": payload},
            ts,
        ),
        st.text("abc-_.0123456789", min_size=1, max_size=8),
        line_text,
        st.integers(TS, TS + 10**15),
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def corruption(draw, size: int, body_at: int):
    # Always a real change: the intact files on either side show exact replay.
    kind = draw(st.sampled_from(["flip", "truncate", "append", "truncate+append"]))
    # Positions and bits come from a uniform generator: drawn as integers they lean to the
    # smallest values, which would nearly always hit the header and bit 0.
    rnd = draw(st.randoms(use_true_random=False))
    at = rnd.randrange(body_at, size) if rnd.random() < 0.75 else rnd.randrange(body_at)
    if kind == "flip":
        bit = rnd.randrange(8)
        return kind, lambda data: data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1 :]
    cut = at if "truncate" in kind else size
    garbage = draw(st.binary(min_size=1, max_size=30)) if "append" in kind else b""
    return kind, lambda data: data[:cut] + garbage


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), batches=st.lists(lines, min_size=3, max_size=3), late=st.booleans())
def test_a_corrupted_spool_file_is_replayed_exactly_or_quarantined(data, batches, late):
    bodies = ["\n".join(b).encode() for b in batches]
    files = [encode_batch(body, len(b)) for body, b in zip(bodies, batches, strict=True)]
    kind, damage = data.draw(corruption(len(files[1]), files[1].index(b"\n") + 1))
    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        for i, content in enumerate(files):
            (directory / f"{i:012d}.lp").write_bytes(content)
        middle = directory / "000000000001.lp"

        def corrupt():
            middle.write_bytes(damage(files[1]))

        if not late:
            corrupt()
        written = replay(directory, corrupt if late else None)
        kept = directory / "quarantine" / middle.name
        if kept.exists():
            assert written == [bodies[0], bodies[2]] and kept.read_bytes() == damage(files[1])
        else:
            assert written == bodies, f"{kind} let a changed body through"
        if kind in ("truncate", "append", "truncate+append"):
            assert kept.exists()
