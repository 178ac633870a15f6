"""Detector state survives a restart: a snapshot plus the readings stored after it."""

import pytest

from detectors.engine import SnapshotUnusable
from detectors.profiles import PROFILES, Shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from ingest.detector_stage import DetectorStage, read_snapshot, write_snapshot

MIN = 60_000
T0 = 1_795_000_000_000
SHIPMENT = Shipment("SHP-1", "trk-1", PROFILES["vaccine_2_8"])


def journey():
    temps = [5.0] * 8 + [9.5] * 8 + [5.0] * 8
    return [Reading("trk-1", T0 + i * 5 * MIN, seq=i, temp_c=t) for i, t in enumerate(temps)]


def run(engine, readings):
    return [e for r in readings for e in engine.process(r, r.ts_ms)]


@pytest.mark.parametrize("cut", [3, 10, 12, 17, 20])
def test_an_engine_restored_from_a_snapshot_goes_on_as_if_it_had_never_stopped(cut):
    readings = journey()
    unbroken = run(build_engine([SHIPMENT], lateness_ms=0), readings)
    first = build_engine([SHIPMENT], lateness_ms=0)
    before = run(first, readings[:cut])
    second = build_engine([SHIPMENT], lateness_ms=0)
    released = second.restore(first.snapshot())
    assert released == {"trk-1": readings[cut - 1].ts_ms}
    after = run(second, readings[cut:])
    assert before + after == unbroken
    assert any(e.kind == "temp_excursion" and e.event == "resolve" for e in unbroken)


def test_a_device_whose_shipment_changed_starts_afresh_instead_of_restoring():
    first = build_engine([SHIPMENT], lateness_ms=0)
    run(first, journey()[:10])
    changed = Shipment("SHP-1", "trk-1", PROFILES["chilled_reefer"])
    assert build_engine([changed], lateness_ms=0).restore(first.snapshot()) == {}


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[:-5], id="a truncated file"),
        pytest.param(lambda b: b[:-1] + bytes([b[-1] ^ 1]), id="a flipped bit"),
        pytest.param(lambda b: b"garbage", id="not a snapshot at all"),
    ],
)
def test_a_damaged_snapshot_file_is_refused_not_half_read(tmp_path, damage):
    path = tmp_path / "detectors.state"
    engine = build_engine([SHIPMENT], lateness_ms=0)
    run(engine, journey()[:10])
    write_snapshot(path, T0, engine.snapshot())
    assert read_snapshot(path)[0] == T0
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError):
        read_snapshot(path)


def test_snapshot_bytes_of_another_format_are_unusable():
    with pytest.raises(SnapshotUnusable):
        build_engine([SHIPMENT]).restore(b"\x80\x04K\x01.")  # pickle of the integer 1


class Sink:
    def __init__(self):
        self.events = []

    def emit(self, events):
        self.events += events


def test_a_stage_restores_its_snapshot_and_replays_only_what_came_after_it(tmp_path):
    readings = journey()
    path = tmp_path / "detectors.state"
    clock = lambda: readings[-1].ts_ms + MIN  # noqa: E731
    stage = DetectorStage(
        build_engine([SHIPMENT], lateness_ms=0), Sink(), clock_ms=clock, state_path=path
    )
    stage.handle(readings[:12])
    stage.close()  # writes the snapshot
    sink, remembered = Sink(), []
    restarted = DetectorStage(
        build_engine([SHIPMENT], lateness_ms=0), sink, clock_ms=clock, state_path=path
    )
    restarted.restore(
        lambda after, until: [r for r in readings if after < r.ts_ms <= until], remembered.extend
    )
    assert remembered == readings[12:]
    assert [(e.kind, e.event) for e in sink.events if e.kind == "temp_excursion"][-1] == (
        "temp_excursion",
        "resolve",
    )
    restarted.close()
