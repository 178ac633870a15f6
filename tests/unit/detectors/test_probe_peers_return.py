"""A probe stepping back from a one- or two-reading excursion to its level is no `jump_alone`.

A cold-room air logger reading every 5 minutes catches a door's gust in one reading (-19.1,
-17.2, then -20.4, -19.3, -21.3): the step back from the gust's reading is the probe returning
to where it was, not a jump away from it, however still its room's other logger held. A jump is
measured from the probe's settled level before it, so a probe that does jump and stay just after
such a reading is still reported, from the level it left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest
from detector_checks import room_entry
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from detectors.alerts import AlertEvent, Condition
from detectors.engine import Engine
from detectors.probe_peers import PeerJump, RoomBoard
from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000
T0 = 1_795_000_000_000
NEIGHBOUR_STEP = 15 * MIN


def series(device: str, temps: Sequence[float], step_ms: int, offset_ms: int = 0) -> list[Reading]:
    return [Reading(device, T0 + offset_ms + k * step_ms, temp_c=t) for k, t in enumerate(temps)]


def run(engine: Engine, readings: Iterable[Reading]) -> list[AlertEvent]:
    ordered = sorted(readings, key=lambda r: r.ts_ms)
    return [e for r in ordered for e in engine.process(r, r.ts_ms)]


def room_engine() -> Engine:
    return build_engine(
        [parse_shipment(room_entry(d, "site/R17")) for d in ("log-25", "log-26")], lateness_ms=0
    )


# The cold room's air logger (5-minute readings) around a door's gust caught by one reading
# (-17.2), and the room's product logger (15-minute readings, two minutes later) holding still.
AIR = [-19.1, -21.4, -20.7, -19.1, -17.2, -20.4, -19.3, -21.3, -21.0, -20.4, -21.4, -20.6]
PRODUCT = [-19.5, -18.5, -19.0, -20.5]


def test_a_step_back_from_a_gusts_one_reading_is_no_sensor_fault() -> None:
    events = run(
        room_engine(),
        series("log-25", AIR, 5 * MIN) + series("log-26", PRODUCT, 15 * MIN, 2 * MIN),
    )
    assert [e for e in events if e.kind == "sensor_fault"] == []


@pytest.mark.parametrize("spike", [-6.0, 7.0], ids=["spike away", "spike towards"])
def test_a_jump_that_stays_after_a_one_reading_spike_is_still_reported_from_its_level(
    spike: float,
) -> None:
    jumper = [2.0, 2.1, 2.0, 2.1, spike, 16.4, 16.4, 16.5, 16.4, 16.4]
    still = [2.2, 2.1, 2.2, 2.2, 2.1, 2.2, 2.2, 2.1, 2.2, 2.2]
    events = run(
        room_engine(), series("log-25", jumper, 15 * MIN) + series("log-26", still, 15 * MIN, MIN)
    )
    opened = [e for e in events if e.kind == "sensor_fault" and e.event == "open"]
    assert [e.device_id for e in opened] == ["log-25"]
    ev = opened[0].evidence
    assert ev["fault"] == "jump_alone"
    # Measured from the level the probe left, not from the spike's reading.
    assert (ev["previous_c"], ev["temp_c"]) == (2.1, 16.4)
    assert "jumped 2.1 → 16.4 °C" in opened[0].summary


@st.composite
def spiky_level(draw: st.DrawFn) -> tuple[list[Reading], list[Reading]]:
    """A probe at its level plus noise with one or two single-reading spikes; a still neighbour.

    The noise stays under half the jump rule's 2 °C minimum, so two readings of the level are
    never a jump apart; a spike may be any height either way, anywhere but the first reading.
    The neighbour holds its own level, anywhere near.
    """
    n = draw(st.integers(6, 30))
    step = draw(st.sampled_from([5 * MIN, 15 * MIN]))
    level = draw(st.floats(-25.0, 10.0))
    noise = st.integers(-9, 9).map(lambda k: k / 10)
    temps = [round(level + draw(noise), 1) for _ in range(n)]
    # Never the first reading: with nothing before it, a reading is the probe's level. Two
    # spikes are apart: two in a row that stand for the rule's settling time are, when judged,
    # a jump that stayed (it clears when the probe comes back).
    spikes = draw(st.lists(st.integers(1, n - 1), min_size=1, max_size=2, unique=True))
    assume(len(spikes) == 1 or abs(spikes[0] - spikes[1]) > 1)
    # Any height, often one of a few degrees: a door's gust, towards the neighbour or past it.
    height = st.floats(-40.0, 40.0) | st.floats(-6.0, 6.0)
    for at in spikes:
        temps[at] = round(level + draw(height), 1)
    # The neighbour reads every 15 minutes, from before the probe's first reading to past its
    # last, at a time of its own.
    other = level + draw(st.floats(-6.0, 6.0))
    count = (n - 1) * step // NEIGHBOUR_STEP + 3
    still = [round(other + draw(st.integers(-1, 1)) / 10, 1) for _ in range(count)]
    offset = draw(st.integers(1, 14)) * MIN - NEIGHBOUR_STEP
    return series("a", temps, step), series("b", still, NEIGHBOUR_STEP, offset)


def jump_alone(conditions: list[Condition] | None) -> bool:
    return any(c.active and c.evidence.get("fault") == "jump_alone" for c in conditions or [])


@settings(max_examples=400, deadline=None)
@given(spiky_level())
def test_a_level_with_single_reading_spikes_never_jumps_alone(
    case: tuple[list[Reading], list[Reading]],
) -> None:
    probe, neighbour = case
    board = RoomBoard()
    watches = {d: PeerJump(board, d, ("", "r")) for d in ("a", "b")}
    for r in sorted(probe + neighbour, key=lambda r: r.ts_ms):
        assert not jump_alone(watches[r.device_id].update(r)), [x.temp_c for x in probe]
