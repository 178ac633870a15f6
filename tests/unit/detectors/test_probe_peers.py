"""A probe that jumps while a tracker in the same room stays put is a `sensor_fault` (issue 10).

Two cold-store loggers without an ambient channel, 15-minute readings: one jumps 14.3 °C in
15 minutes (0.95 °C/min, under the 2 °C/min the jump rule allows without an ambient) and stays
there. The room's other logger says the room did not move. These run through `build_engine`,
as the services and backtests do, with the room declared in the manifest.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from detector_checks import backtest, room_entry
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.alerts import AlertEvent, rfc3339
from detectors.engine import Engine
from detectors.probe_peers import PeerJump, RoomBoard
from detectors.profiles import Shipment, parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000
T0 = 1_795_000_000_000
STEP = 15 * MIN


def shipment(device: str, room: str | None = "chiller-2", **fields: object) -> Shipment:
    return parse_shipment(room_entry(device, room, **fields))


def series(device: str, temps: Sequence[float], offset_ms: int = 0) -> list[Reading]:
    return [Reading(device, T0 + offset_ms + k * STEP, temp_c=t) for k, t in enumerate(temps)]


def run(engine: Engine, readings: Iterable[Reading]) -> list[AlertEvent]:
    return [e for r in readings for e in engine.process(r, r.ts_ms)]


def faults(events: Iterable[AlertEvent]) -> list[AlertEvent]:
    return [e for e in events if e.kind == "sensor_fault"]


def interleave(*streams: list[Reading]) -> list[Reading]:
    return sorted((r for s in streams for r in s), key=lambda r: r.ts_ms)


JUMPER = [2.0, 2.1, 2.0, 2.1, 16.4, 16.4, 16.5, 16.4, 16.4]  # +14.3 °C at the fifth reading
STILL = [2.2, 2.1, 2.2, 2.2, 2.1, 2.2, 2.2, 2.1, 2.2]


def test_the_issues_logger_that_jumps_alone_raises_a_sensor_fault_naming_its_neighbour() -> None:
    engine = build_engine([shipment("log-1"), shipment("log-2")], lateness_ms=0)
    # The neighbour reads 5 minutes after the jumper, as unsynchronised loggers do.
    events = faults(
        run(engine, interleave(series("log-1", JUMPER), series("log-2", STILL, 5 * MIN)))
    )
    assert [(e.event, e.device_id) for e in events] == [("open", "log-1")]
    [opened] = events
    # Opened on the jumper's next reading: the new level has stayed, and the neighbour has been
    # heard since the jump (at +5 min).
    assert opened.at_ms == T0 + 5 * STEP
    ev = opened.evidence
    assert ev["fault"] == "jump_alone"
    assert (ev["previous_c"], ev["temp_c"]) == (2.1, 16.4)
    assert (ev["previous_at"], ev["jumped_at"]) == (rfc3339(T0 + 3 * STEP), rfc3339(T0 + 4 * STEP))
    assert ev["rate_c_per_min"] == pytest.approx(0.95)
    assert (ev["room"], ev["neighbour"]) == ("chiller-2", "log-2")
    assert (ev["neighbour_previous_c"], ev["neighbour_temp_c"]) == (2.2, 2.1)
    assert ev["neighbour_previous_at"] == rfc3339(T0 + 2 * STEP + 5 * MIN)
    assert ev["neighbour_at"] == rfc3339(T0 + 4 * STEP + 5 * MIN)
    assert "log-2 in room chiller-2 held at 2.2 → 2.1 °C" in opened.summary


def test_the_jump_downwards_is_caught_too_and_a_probe_that_comes_back_clears_it() -> None:
    down = [-18.0, -18.1, -18.0, -4.0, -4.1, -4.0, -18.0, -18.1, -18.0]
    still = [-18.2, -18.1, -18.2, -18.1, -18.2, -18.2, -18.1, -18.2, -18.1]
    engine = build_engine([shipment("log-1"), shipment("log-2")], lateness_ms=0)
    events = faults(run(engine, interleave(series("log-1", down), series("log-2", still, MIN))))
    assert [e.event for e in events] == ["open", "resolve"]
    assert (events[0].evidence["previous_c"], events[0].evidence["temp_c"]) == (-18.0, -4.0)


@pytest.mark.parametrize(
    "other",
    [
        pytest.param([2.2, 2.1, 2.2, 2.2, 16.0, 16.1, 16.2, 16.1, 16.2], id="a door: both jump"),
        pytest.param(
            [-20.0, -20.1, -20.0, -15.0, -8.0, -7.5, -7.9, -8.1, -8.0],
            id="a defrost: the neighbour moves a different amount, but moves",
        ),
    ],
)
def test_probes_that_move_together_raise_nothing(other: list[float]) -> None:
    jumper = [other[0]] * 4 + [other[0] + 14.3] * 5
    engine = build_engine([shipment("log-1"), shipment("log-2")], lateness_ms=0)
    events = run(engine, interleave(series("log-1", jumper), series("log-2", other, 5 * MIN)))
    assert faults(events) == []
    assert any(isinstance(d, PeerJump) for d in engine.devices["log-1"].detectors)
    assert any(isinstance(d, PeerJump) for d in engine.devices["log-2"].detectors)


def test_a_neighbour_that_has_not_reported_across_the_jump_is_no_witness() -> None:
    # The neighbour's last reading before the jump, and nothing after it yet.
    engine = build_engine([shipment("log-1"), shipment("log-2")], lateness_ms=0)
    early = series("log-2", STILL[:4], 5 * MIN)
    assert faults(run(engine, interleave(series("log-1", JUMPER), early))) == []
    # Alone in its room, or its neighbour silent all along: nothing either.
    alone = build_engine([shipment("log-1")], lateness_ms=0)
    assert faults(run(alone, series("log-1", JUMPER))) == []


def test_a_neighbours_late_upload_is_judged_by_the_jumpers_next_reading() -> None:
    # The jumper's readings arrive first; the neighbour's, for the same hours, afterwards.
    engine = build_engine([shipment("log-1"), shipment("log-2")], lateness_ms=0)
    jumper = series("log-1", JUMPER)
    assert faults(run(engine, jumper[:7])) == []
    assert faults(run(engine, series("log-2", STILL[:7], 5 * MIN))) == []
    [opened] = faults(run(engine, jumper[7:]))
    assert (opened.device_id, opened.at_ms) == ("log-1", jumper[7].ts_ms)
    assert opened.evidence["previous_c"] == 2.1


ORG_A = dataclasses.replace(shipment("log-1"), organisation="org-a")


@pytest.mark.parametrize(
    "jumper, neighbour",
    [
        pytest.param(shipment("log-1"), shipment("log-2", room="chiller-3"), id="another room"),
        pytest.param(shipment("log-1"), shipment("log-2", room=None), id="no room"),
        pytest.param(
            ORG_A,
            dataclasses.replace(shipment("log-2"), organisation="org-b"),
            id="the same room name in another organisation",
        ),
        pytest.param(ORG_A, shipment("log-2"), id="an organisation's room and a manifest file's"),
    ],
)
def test_trackers_of_other_rooms_or_organisations_are_not_neighbours(
    jumper: Shipment, neighbour: Shipment
) -> None:
    engine = build_engine([jumper, neighbour], lateness_ms=0)
    events = run(engine, interleave(series("log-1", JUMPER), series("log-2", STILL, 5 * MIN)))
    assert faults(events) == []
    # The same two in one room of one organisation are neighbours: the jump is caught.
    same = dataclasses.replace(neighbour, room=jumper.room, organisation=jumper.organisation)
    engine = build_engine([jumper, same], lateness_ms=0)
    events = run(engine, interleave(series("log-1", JUMPER), series("log-2", STILL, 5 * MIN)))
    assert [e.device_id for e in faults(events)] == ["log-1"]


def test_two_engines_in_one_process_never_see_each_others_rooms() -> None:
    a = build_engine([shipment("log-1"), shipment("log-2")], lateness_ms=0)
    b = build_engine([shipment("log-1"), shipment("log-2")], lateness_ms=0)
    run(b, series("log-2", STILL, 5 * MIN))
    assert faults(run(a, series("log-1", JUMPER))) == []


@pytest.mark.parametrize("cut", [3, 5, 6, 9])
def test_a_restart_from_a_snapshot_keeps_the_rooms(cut: int) -> None:
    readings = interleave(series("log-1", JUMPER), series("log-2", STILL, 5 * MIN))
    ships = [shipment("log-1"), shipment("log-2")]
    unbroken = faults(run(build_engine(ships, lateness_ms=0), readings))
    first = build_engine(ships, lateness_ms=0)
    before = faults(run(first, readings[:cut]))
    second = build_engine(ships, lateness_ms=0)
    assert set(second.restore(first.snapshot())) == {"log-1", "log-2"}
    after = faults(run(second, readings[cut:]))
    assert [(e.event, e.device_id, e.at_ms) for e in before + after] == [
        (e.event, e.device_id, e.at_ms) for e in unbroken
    ]
    assert len(unbroken) == 1


def test_a_tracker_first_seen_after_a_restart_joins_its_rooms_restored_board() -> None:
    # Before the restart only the neighbour reported; the jumper's detectors are built after.
    ships = [shipment("log-1"), shipment("log-2")]
    first = build_engine(ships, lateness_ms=0)
    run(first, series("log-2", STILL[:5], 5 * MIN))
    second = build_engine(ships, lateness_ms=0)
    assert set(second.restore(first.snapshot())) == {"log-2"}
    readings = interleave(series("log-1", JUMPER), series("log-2", STILL, 5 * MIN))
    events = faults(
        run(second, [r for r in readings if r.device_id == "log-1" or r.ts_ms > T0 + 5 * STEP])
    )
    assert [(e.event, e.device_id) for e in events] == [("open", "log-1")]


# --- the property -----------------------------------------------------------------------------


@st.composite
def co_moving(draw: st.DrawFn) -> tuple[list[Reading], list[Reading], list[int]]:
    """Two probes of one room reading the same room at the same times, each off by a constant."""
    n = draw(st.integers(2, 30))
    gaps = draw(st.lists(st.integers(1, 20 * MIN), min_size=n, max_size=n))
    room = draw(st.lists(st.floats(-90.0, 80.0), min_size=n, max_size=n))
    offsets = draw(st.tuples(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0)))
    noise = draw(st.lists(st.sampled_from([-0.1, 0.0, 0.1]), min_size=2 * n, max_size=2 * n))
    times = [T0 + sum(gaps[: k + 1]) for k in range(n)]
    streams = [
        [
            Reading(d, ts, temp_c=round(room[k] + offsets[j] + noise[2 * k + j], 1))
            for k, ts in enumerate(times)
        ]
        for j, d in enumerate(("log-1", "log-2"))
    ]
    order = draw(st.permutations([0] * n + [1] * n))  # which stream's next reading arrives
    return streams[0], streams[1], order


@settings(max_examples=300, deadline=None)
@given(co_moving())
def test_probes_moving_together_never_raise_whatever_the_order_they_arrive_in(
    case: tuple[list[Reading], list[Reading], list[int]],
) -> None:
    first, second, order = case
    board = RoomBoard()
    watches = {d: PeerJump(board, d, ("", "r")) for d in ("log-1", "log-2")}
    queues = [list(first), list(second)]
    for j in order:
        r = queues[j].pop(0)
        assert watches[r.device_id].update(r) is None


def test_an_engine_pickled_whole_mid_jump_goes_on_with_its_rooms() -> None:
    readings = interleave(series("log-1", JUMPER), series("log-2", STILL, 5 * MIN))
    engine = build_engine([shipment("log-1"), shipment("log-2")], lateness_ms=0)
    assert faults(run(engine, readings[:9])) == []
    copy = pickle.loads(pickle.dumps(engine))
    [opened] = faults(run(copy, readings[9:]))
    assert opened.device_id == "log-1"


# --- end to end -------------------------------------------------------------------------------


def test_cargowatch_backtest_with_a_manifest_declaring_the_room_raises_it(tmp_path: Path) -> None:
    # The jumper's readings of the hour around the jump arrive first; the neighbour's after.
    jumper = [
        {"device_id": "log-1", "ts": r.ts_ms, "temp_c": r.temp_c} for r in series("log-1", JUMPER)
    ]
    still = series("log-2", STILL, 5 * MIN)
    neighbour = [{"device_id": "log-2", "ts": r.ts_ms, "temp_c": r.temp_c} for r in still]
    element = {"profile": "chilled_reefer", "room": "store-a/chiller-2", "expected_interval_s": 900}
    shipments = [
        {"shipment_id": "S1", "device_id": "log-1", **element},
        {"shipment_id": "S2", "device_id": "log-2", **element},
    ]
    events = backtest(tmp_path, jumper[:7] + neighbour + jumper[7:], shipments)
    opened = [e for e in events if e["kind"] == "sensor_fault"]
    # Opened on the first of the jumper's readings to reach the detectors after the
    # neighbour's: its seventh, which waited out the reorder window (30 s) as it would live,
    # until its next reading came after the neighbour's.
    assert [(e["event"], e["device_id"], e["at"]) for e in opened] == [
        ("open", "log-1", rfc3339(T0 + 6 * STEP))
    ]
    assert opened[0]["evidence"]["neighbour"] == "log-2"
    assert opened[0]["evidence"]["previous_c"] == 2.1
