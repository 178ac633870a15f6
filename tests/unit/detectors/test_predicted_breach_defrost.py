"""A cold room's defrosts are its cycle, not a failure: they are warned of once at most.

An air logger in a frozen room sees the evaporator's defrost every 6 to 12 hours: the air
rises several degrees in twenty minutes and is pulled down again, often to within a degree
of the limit. A rise that has not passed the top of a recent rise that turned back by itself
is taken for the cycle again; but the tops were forgotten after six hours, and at 5 to 15
minute readings one defrost's sampled top lands higher than the last by a good part of its
rise, so nearly every defrost near the limit was warned of. Turning points are now kept for
twelve hours (the last two for a day), and a rise must pass a top by a fifth of the swing
that led to it. A failure after the defrosts is still warned of before the breach.
"""

import math
import pickle

import pytest

from detectors.forecast_cycles import MARGIN_C, Turns
from detectors.predicted_breach import PredictedBreach
from detectors.reading import Reading

MIN = 60_000
JITTER = (0.0, 1.0, -1.0, 0.5, -0.5, 1.0, 0.0, -1.0, 0.5)


def room(minute: float, period_h: float, jitter_c: float, fail_at_min: float | None) -> float:
    """A frozen room's air: -21 °C with a 20-minute ripple, a defrost every `period_h` hours
    rising 4.5 °C (give or take `jitter_c`) in 25 min and pulled down in 15; from
    `fail_at_min`, a compressor failure warming it 2 °C an hour."""
    base = -21.0 + 0.5 * math.sin(2 * math.pi * minute / 20)
    if fail_at_min is not None and minute >= fail_at_min:
        return base + 2.0 * (minute - fail_at_min) / 60
    if minute < 120:
        return base
    since = (minute - 120) % (period_h * 60)
    rise = 4.5 + jitter_c * JITTER[int((minute - 120) // (period_h * 60)) % len(JITTER)]
    if since < 25:
        return base + rise * since / 25
    if since < 40:
        return base + rise * (1 - (since - 25) / 15)
    return base


def warnings(step_min: int, period_h: float, jitter_c: float, fail_at_min: float | None = None):
    """The minutes at which warnings opened, and the first minute out of range (or None)."""
    d = PredictedBreach(-25.0, -15.0)
    opened, out, active = [], None, False
    for k in range(int(3 * 24 * 60 / step_min)):
        m = k * step_min
        t = round(room(m, period_h, jitter_c, fail_at_min), 1)
        if t > -15.0:
            out = m
            break
        for c in d.update(Reading("t", m * MIN, temp_c=t)) or []:
            if c.active and not active:
                opened.append(m)
            active = c.active
    return opened, out


@pytest.mark.parametrize("step_min", [5, 15])
@pytest.mark.parametrize("period_h", [4.1, 8.1, 12.1])
@pytest.mark.parametrize("jitter_c", [0.0, 0.3])
def test_defrosts_a_degree_under_the_limit_are_warned_of_once_at_most(step_min, period_h, jitter_c):
    opened, out = warnings(step_min, period_h, jitter_c)
    assert out is None  # the room never leaves its range
    assert len(opened) <= 1


@pytest.mark.parametrize("step_min", [5, 15])
@pytest.mark.parametrize("period_h", [8.1, 12.1])
def test_a_failure_after_the_defrosts_is_still_warned_before_the_breach(step_min, period_h):
    fail_at = 120 + 2 * period_h * 60 + 90  # after two defrosts, well clear of the third
    opened, out = warnings(step_min, period_h, 0.3, fail_at_min=fail_at)
    assert out is not None
    assert any(fail_at <= m < out for m in opened)


def test_turning_points_from_a_snapshot_without_margins_still_count():
    turns = Turns(window_ms=6 * 3_600_000)
    for i, level in enumerate([-19.0, -21.0, -19.0, -17.0, -16.5, -18.5, -21.0]):
        turns.add(i * 600_000, level)
    slots = {name: getattr(turns, name) for name in Turns.__slots__}
    # As a release before wrote it: turning points without margins.
    slots["_peaks"] = [(ts, level) for ts, level, _ in turns._peaks]
    slots["_troughs"] = [(ts, level) for ts, level, _ in turns._troughs]
    old = Turns.__new__(Turns)
    old.__setstate__((None, slots))
    old = pickle.loads(pickle.dumps(old))
    assert old.within(-16.5 + MARGIN_C, rising=True)
    assert not old.within(-16.5 + 2 * MARGIN_C, rising=True)
    assert turns.within(-16.0, rising=True)  # a fifth of the 4.5 °C swing past its top
