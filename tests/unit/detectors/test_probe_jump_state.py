"""The jump rule's kept readings: bounded, cheap per probe, and the same after a snapshot.

`JumpWatch` keeps a probe's last readings and differences as typed arrays of (time, value)
pairs; these tests hold it to the same answers as before a pickle round trip, to at most `_KEPT`
of each however fast the probe reports and no further back than the rule looks however slow,
and to reading snapshots written when they were deques of tuples or separate arrays of times
and values.
"""

from __future__ import annotations

import math
import pickle
import random
from array import array
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.probe_jump import _KEPT, JumpWatch


def _feed(watch: JumpWatch, readings: list[tuple[int, float]]) -> list[object]:
    return [watch.update(ts, t, None) for ts, t in readings]


def _walk(seed: int, n: int, step_ms: int) -> list[tuple[int, float]]:
    rng = random.Random(seed)
    out, t = [], 5.0
    for i in range(n):
        t += rng.gauss(0, 0.1)
        if rng.random() < 0.02:
            t += rng.choice((-1, 1)) * rng.uniform(2, 8)  # a jump, some of which stay
        out.append((i * step_ms, round(t, 1)))
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    split=st.integers(0, 600),
    step_ms=st.sampled_from([1_000, 60_000, 900_000]),
)
def test_a_pickled_watch_answers_as_the_original_would(seed, split, step_ms):
    readings = _walk(seed, 600, step_ms)
    original = JumpWatch()
    _feed(original, readings[:split])
    restored = pickle.loads(pickle.dumps(original))
    assert _feed(restored, readings[split:]) == _feed(original, readings[split:])


def _pairs(flat: array[float]) -> list[tuple[int, float]]:
    return [(int(ts), v) for ts, v in zip(flat[::2], flat[1::2], strict=True)]


def test_a_fast_probe_keeps_at_most_the_last_readings():
    watch = JumpWatch()
    _feed(watch, _walk(1, 5 * _KEPT, 1_000))
    assert len(watch._levels) == len(watch._changes) == 2 * _KEPT
    assert _pairs(watch._levels)[-1][0] == (5 * _KEPT - 1) * 1_000


def test_a_slow_probe_keeps_only_what_the_rule_can_still_look_at():
    # Five-minute reporting: a level is judged over the 5 min before the reference (renewed
    # every reading), the noise over the last 120 min of changes.
    watch = JumpWatch(settle_min=5.0, noise_min=120.0)
    _feed(watch, [(i * 300_000, 5.0 + (i % 3) / 10) for i in range(200)])
    latest = 199 * 300_000
    assert [ts for ts, _ in _pairs(watch._levels)] == [latest - 300_000, latest]
    changes = [ts for ts, _ in _pairs(watch._changes)]
    assert changes == list(range(latest - 120 * 60_000, latest + 1, 300_000))


def _former(current: JumpWatch, layout: str) -> JumpWatch:
    """`current` as a snapshot of an earlier release would hold it."""
    state = current.__getstate__()
    assert isinstance(state, tuple)
    slots = dict(state[1])
    levels, changes = _pairs(slots.pop("_levels")), _pairs(slots.pop("_changes"))
    if layout == "deques":  # (ts, value) pairs in bounded deques
        slots["_recent"] = deque(levels, maxlen=_KEPT)
        slots["_diffs"] = deque(changes, maxlen=_KEPT)
    else:  # a typed array each for times and values
        slots["_recent_ts"] = array("q", [ts for ts, _ in levels])
        slots["_recent_c"] = array("d", [v for _, v in levels])
        slots["_diff_ts"] = array("q", [ts for ts, _ in changes])
        slots["_diff_c"] = array("d", [v for _, v in changes])
    if slots["_settled"] == ():
        slots["_settled"] = []
    former = JumpWatch.__new__(JumpWatch)
    former.__setstate__((None, slots))
    return former


@pytest.mark.parametrize("layout", ["deques", "arrays"])
@pytest.mark.parametrize("split", [50, 300])
def test_a_snapshot_in_a_former_layout_is_read_and_answers_the_same(layout, split):
    readings = _walk(7, 400, 60_000)
    current = JumpWatch()
    _feed(current, readings[:split])
    former = _former(current, layout)
    assert _feed(former, readings[split:]) == _feed(current, readings[split:])
    assert not math.isnan(former._prev_t)
    assert _pairs(former._levels) == _pairs(current._levels)


def test_a_snapshot_from_before_the_pull_back_allowance_loads_without_one() -> None:
    readings = _walk(5, 300, 60_000)
    watch = JumpWatch(range_c=(2.0, 8.0))
    _feed(watch, readings[:150])
    slots = {
        name: getattr(watch, name)
        for name in JumpWatch.__slots__
        if name not in ("range_c", "pull_back_tau_min")
    }
    old = JumpWatch.__new__(JumpWatch)
    old.__setstate__((None, slots))
    assert old.range_c is None and old.pull_back_tau_min == 60.0
    fresh = JumpWatch()
    _feed(fresh, readings[:150])
    assert _feed(old, readings[150:]) == _feed(fresh, readings[150:])
