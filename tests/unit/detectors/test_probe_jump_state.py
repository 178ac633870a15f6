"""The jump rule's kept readings: bounded, cheap per probe, and the same after a snapshot.

`JumpWatch` keeps a probe's last readings and differences as typed arrays; these tests hold it
to the same answers as before a pickle round trip, to at most `_KEPT` of each however fast the
probe reports, and to reading a snapshot written when they were deques of tuples.
"""

from __future__ import annotations

import math
import pickle
import random
from collections import deque

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


def test_a_fast_probe_keeps_at_most_the_last_readings():
    watch = JumpWatch()
    _feed(watch, _walk(1, 5 * _KEPT, 1_000))
    assert len(watch._recent_ts) == len(watch._recent_c) == _KEPT
    assert len(watch._diff_ts) == len(watch._diff_c) == _KEPT
    assert watch._recent_ts[-1] == (5 * _KEPT - 1) * 1_000


def test_a_snapshot_with_the_former_deques_is_read_and_answers_the_same():
    readings = _walk(7, 400, 60_000)
    current = JumpWatch()
    _feed(current, readings[:300])
    state = current.__getstate__()
    assert isinstance(state, tuple)
    slots = dict(state[1])
    # The former layout: (ts, value) pairs in bounded deques.
    slots["_recent"] = deque(
        zip(slots.pop("_recent_ts"), slots.pop("_recent_c"), strict=True), maxlen=_KEPT
    )
    slots["_diffs"] = deque(
        zip(slots.pop("_diff_ts"), slots.pop("_diff_c"), strict=True), maxlen=_KEPT
    )
    former = JumpWatch.__new__(JumpWatch)
    former.__setstate__((None, slots))
    assert _feed(former, readings[300:]) == _feed(current, readings[300:])
    assert not math.isnan(former._prev_t)
