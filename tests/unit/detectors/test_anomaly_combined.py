"""The combined anomaly score: bounded on any input, new territory counts once, state small and safe to keep."""

import math
import pickle
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.anomaly import Anomaly
from detectors.anomaly_combined import NEW_TERRITORY, CombinedScorer
from detectors.anomaly_range import STEPS, RangeNovelty
from detectors.anomaly_score import RECORD_HOLD, AnomalyScorer
from detectors.reading import Reading

FIVE_MIN_MS = 300_000
T0_MS = 1_700_000_000_000
LIVE_ALERT = 0.95  # the `anomaly` detector's level

#: Any float at all, including NaN, infinities and magnitudes past what a sensor sends.
any_value = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
#: Small scorers, so hypothesis reaches warm-up, records and rests within a few hundred values.
small: dict[str, Any] = {
    "warmup": 8,
    "memory": 50,
    "record_half_life": 20,
    "refractory": 5,
    "rest": 5,
}


def noisy(n: int, seed: int, sigma: float = 1.0) -> list[float]:
    """A reefer-like stationary stream: a gentle daily cycle plus Gaussian noise."""
    rng = random.Random(seed)
    return [20.0 + 2.0 * math.sin(2 * math.pi * i / 288) + rng.gauss(0.0, sigma) for i in range(n)]


def score_all(
    scorer: CombinedScorer | AnomalyScorer, values: Sequence[float | None], start: int = 0
) -> list[float]:
    return [scorer.update(T0_MS + (start + i) * FIVE_MIN_MS, v) for i, v in enumerate(values)]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(any_value, min_size=1, max_size=300),
    gaps=st.lists(st.integers(min_value=-3_600_000, max_value=10**8), min_size=300),
)
def test_every_score_is_finite_and_within_0_and_1_whatever_the_input(
    values: list[float | None], gaps: list[int]
) -> None:
    scorer = CombinedScorer(**small)
    ts = T0_MS
    for value, gap in zip(values, gaps, strict=False):
        ts += gap
        score = scorer.update(ts, value)
        assert math.isfinite(score) and 0.0 <= score <= 1.0


@settings(max_examples=200, deadline=None)
@given(values=st.lists(any_value, max_size=300))
def test_range_novelty_answers_a_bool_and_keeps_a_finite_range_whatever_the_input(
    values: list[float | None],
) -> None:
    cue = RangeNovelty(warmup=3, rest=2)
    for value in values:
        assert cue.update(value, 0.5) in (True, False)
    lo, hi = cue._lo, cue._hi
    assert math.isfinite(lo) and math.isfinite(hi) and lo <= hi


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(any_value, min_size=2, max_size=300),
    split=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_scorer_pickled_at_any_point_continues_with_identical_scores(
    values: list[float | None], split: float
) -> None:
    cut = int(split * len(values))
    original = CombinedScorer(**small)
    score_all(original, values[:cut])
    restored = pickle.loads(pickle.dumps(original))
    rest = values[cut:]
    assert score_all(restored, rest, cut) == score_all(original, rest, cut)


@settings(max_examples=50, deadline=None)
@given(values=st.lists(any_value, min_size=1, max_size=500))
def test_the_pickled_state_stays_within_a_fixed_bound_whatever_the_input(
    values: list[float | None],
) -> None:
    scorer = CombinedScorer(weekly=False, **small)
    score_all(scorer, values)
    assert len(pickle.dumps(scorer)) <= 1024


def test_the_pickled_state_does_not_grow_with_the_stream() -> None:
    scorer = CombinedScorer()
    values = noisy(30_000, seed=9)
    sizes = []
    for i, v in enumerate(values):
        scorer.update(T0_MS + i * FIVE_MIN_MS, v)
        if i in (1000, 29_999):
            sizes.append(len(pickle.dumps(scorer)))
    assert sizes[1] <= 2048
    assert sizes[1] <= sizes[0] + 16


def test_a_first_shift_into_new_territory_counts_even_after_a_turbulent_past() -> None:
    # A burst of noise first lifts the record cues' records, so a later shift beats them only
    # weakly; the shift still lands beyond every value the stream had, and counts.
    values = noisy(3000, seed=4)
    values[1500:1600] = [v + 4.0 * math.sin(i) for i, v in enumerate(values[1500:1600])]
    top = max(values)
    values += [top + 3.0 + 0.1 * (i % 3) for i in range(50)]
    scores = score_all(CombinedScorer(), values)
    assert scores[3000] >= NEW_TERRITORY


def test_new_territory_counts_once_per_rest_and_a_creep_under_half_a_step_never_counts() -> None:
    cue = RangeNovelty(warmup=10, rest=100)
    fired = [cue.update(4.0 + (i % 2), 1.0) for i in range(50)]
    # A jump, then a climb of a whole step a reading (each one new territory), then a creep.
    fired += [cue.update(9.0 + i, 1.0) for i in range(110)]
    fired += [cue.update(118.4 + 0.4 * i, 1.0) for i in range(200)]
    assert [i for i, f in enumerate(fired) if f] == [50, 151]
    # A noisy stream's overshoots past its extremes stay under half its usual step.
    noise = RangeNovelty(rest=0)
    rng = random.Random(1)
    assert sum(noise.update(rng.gauss(0.0, 1.0), 1.13) for _ in range(5000)) <= 5


def test_a_small_shift_past_a_wide_smooth_cycle_counts_as_new_territory() -> None:
    # A smooth daily cycle 10 wide changes by about 0.07 a reading: a reading 0.15 past its
    # top is two usual steps into new territory, though only 1.5 % of the cycle's width.
    values = [20.0 + 5.0 * math.sin(2 * math.pi * i / 288) for i in range(3000)]
    scorer = CombinedScorer()
    score_all(scorer, values)
    assert scorer.range._cool < scorer.range.rest, "the cycle itself rests no more"
    scorer.update(T0_MS + 3000 * FIVE_MIN_MS, 25.15)
    # The record cues may judge it too; the new-territory cue has counted it (and rests).
    assert scorer.range._cool == scorer.range.rest


def test_a_range_saved_with_its_margin_as_a_share_of_the_width_restores() -> None:
    # The state written before the margin was counted in steps: cool, hi, lo, n, margin, rest,
    # warmup. It keeps its range and count and takes the default steps.
    cue = RangeNovelty.__new__(RangeNovelty)
    cue.__setstate__((0, 5.0, 4.0, 500, 0.02, 100, 150))
    assert (cue._lo, cue._hi, cue._n, cue.rest, cue.steps) == (4.0, 5.0, 500, 100, STEPS)
    assert not cue.update(5.2, 1.0) and cue.update(6.0, 1.0)
    assert pickle.loads(pickle.dumps(cue)).__getstate__() == cue.__getstate__()


@pytest.mark.parametrize("seed", range(3))
def test_an_ordinary_stream_never_reaches_the_live_alert_level(seed: int) -> None:
    assert max(score_all(CombinedScorer(weekly=False, warmup=120), noisy(6000, seed))) < LIVE_ALERT


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -math.inf, 1e300], ids=str)
def test_unusable_readings_score_zero_and_leave_the_scorer_as_if_never_seen(
    bad: float | None,
) -> None:
    values = noisy(2000, seed=3)
    values[1500] += 15.0
    clean = score_all(CombinedScorer(), list(values))
    scorer = CombinedScorer()
    spoiled = []
    for i, v in enumerate(values):
        if i % 97 == 5:
            assert scorer.update(T0_MS + i * FIVE_MIN_MS, bad) == 0.0
        spoiled.append(scorer.update(T0_MS + i * FIVE_MIN_MS, v))
    assert spoiled == clean


def test_a_scorer_saved_before_records_were_held_restores_and_holds_them() -> None:
    values = noisy(3000, seed=6)
    old = AnomalyScorer()
    score_all(old, values[:1500])
    state = old.__getstate__()
    # That release kept neither the hold nor the hour a profile began to learn its record.
    without_hold = tuple(
        v for n, v in zip(old.__slots__, state, strict=True) if n not in ("record_hold", "_since")
    )
    restored = AnomalyScorer.__new__(AnomalyScorer)
    restored.__setstate__(pickle.loads(pickle.dumps(without_hold)))  # a copy, as a restart has
    assert restored.record_hold == RECORD_HOLD
    rest = values[1500:]
    assert score_all(restored, rest, 1500) == score_all(old, rest, 1500)


def test_the_live_detector_pickled_mid_trip_raises_the_same_alerts() -> None:
    values = noisy(2000, seed=8, sigma=0.1)
    values[1500:] = [v + 6.0 for v in values[1500:]]
    readings = [Reading("t", T0_MS + i * FIVE_MIN_MS, temp_c=v) for i, v in enumerate(values)]
    original = Anomaly("temp_c")
    for r in readings[:1000]:
        original.update(r)
    restored = pickle.loads(pickle.dumps(original))
    later = readings[1000:]
    raised = [original.update(r) for r in later]
    assert [restored.update(r) for r in later] == raised
    assert any(raised), "the shift should raise anomaly, or this test shows nothing"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param({"steps": 0.0}, "steps must be", id="a zero margin is refused"),
        pytest.param({"rest": -1}, "rest must be", id="a negative rest"),
        pytest.param({"record_hold": 0.0}, "record_hold must be", id="a zero record hold"),
        pytest.param({"warmup": 0}, "warmup must be", id="a zero warm-up"),
    ],
)
def test_settings_that_cannot_work_are_refused_by_name(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CombinedScorer(**kwargs)
