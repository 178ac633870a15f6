"""The anomaly score: bounded, quiet on ordinary streams, quick on real changes, and safe to keep."""

import math
import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.anomaly_score import AnomalyScorer

FIVE_MIN_MS = 300_000
T0_MS = 1_700_000_000_000
CHANGE_AT = 3000  # well past the 300-reading warm-up and the first records
ALERT = 0.5  # a score above this means a cue beat its own record


def toggling(n: int, seed: int = 3) -> list[float]:
    """A door contact or compressor relay: one of two values, at random."""
    rng = random.Random(seed)
    return [rng.choice([0.0, 0.5]) for _ in range(n)]


def noisy(n: int, seed: int = 1, sigma: float = 1.0, level: float = 20.0) -> list[float]:
    """A reefer-like stationary stream: a gentle daily cycle plus Gaussian noise."""
    rng = random.Random(seed)
    return [level + 2.0 * math.sin(2 * math.pi * i / 288) + rng.gauss(0.0, sigma) for i in range(n)]


def timestamps(n: int, jitter: bool = False, seed: int = 2) -> list[int]:
    """Every 5 minutes, or irregularly (1 to 9 minutes apart) as real trackers report."""
    if not jitter:
        return [T0_MS + i * FIVE_MIN_MS for i in range(n)]
    rng = random.Random(seed)
    ts, t = [], T0_MS
    for _ in range(n):
        ts.append(t)
        t += rng.randint(60_000, 540_000)
    return ts


def score_all(values, ts=None, scorer=None):
    scorer = scorer or AnomalyScorer()
    ts = ts or timestamps(len(values))
    return [scorer.update(t, v) for t, v in zip(ts, values, strict=True)]


def first_alert_after(scores, start):
    return next((i - start for i in range(start, len(scores)) if scores[i] > ALERT), None)


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(finite, min_size=1, max_size=150),
    gaps=st.lists(st.integers(min_value=0, max_value=10**8), min_size=150, max_size=150),
)
def test_every_finite_series_scores_within_0_and_1(values, gaps):
    scorer = AnomalyScorer(warmup=6)
    ts = T0_MS
    for value, gap in zip(values, gaps, strict=False):
        ts += gap
        assert 0.0 <= scorer.update(ts, value) <= 1.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=20, max_size=400))
def test_every_score_of_a_plausible_series_is_a_finite_number_within_0_and_1(values):
    scores = score_all(values, scorer=AnomalyScorer(warmup=9))
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_warm_up_scores_are_zero():
    scores = score_all(noisy(400))
    assert scores[:299] == [0.0] * 299


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([4.0] * 6000, id="a flat series never alerts"),
        pytest.param(noisy(6000, seed=1), id="a noisy daily cycle never alerts"),
        pytest.param(noisy(6000, seed=7, sigma=0.05), id="a gently noisy cycle never alerts"),
        pytest.param(toggling(6000), id="a sensor toggling between two values never alerts"),
    ],
)
def test_an_ordinary_stationary_stream_stays_below_the_alert_level(values):
    assert max(score_all(values)) < ALERT


@pytest.mark.parametrize("jitter", [False, True], ids=["regular", "irregular timestamps"])
@pytest.mark.parametrize(
    "change, within",
    [
        pytest.param(lambda v, i: v + 25.0, 1, id="a level shift alerts on its first reading"),
        pytest.param(
            lambda v, i: v + (18.0 if i == CHANGE_AT else 0.0), 1, id="a single spike alerts"
        ),
        pytest.param(
            lambda v, i: 20.0 + 8.0 * (v - 20.0), 10, id="an eight-fold noise burst within 10"
        ),
        pytest.param(lambda v, i: 21.5, 60, id="a stuck sensor within 60 readings"),
    ],
)
def test_a_clear_change_after_warm_up_alerts_soon(change, within, jitter):
    values = noisy(CHANGE_AT + 200)
    values[CHANGE_AT:] = [change(v, i) for i, v in enumerate(values) if i >= CHANGE_AT]
    scores = score_all(values, timestamps(len(values), jitter))
    assert max(scores[:CHANGE_AT]) < ALERT
    delay = first_alert_after(scores, CHANGE_AT)
    assert delay is not None and delay < within


def test_one_incident_alerts_once_then_the_score_is_damped():
    values = noisy(CHANGE_AT + 300)
    values[CHANGE_AT:] = [v + 25.0 for v in values[CHANGE_AT:]]
    scores = score_all(values)
    assert scores[CHANGE_AT] > ALERT
    assert max(scores[CHANGE_AT + 1 :]) < ALERT


def test_the_same_stream_in_other_units_scores_the_same():
    celsius = noisy(CHANGE_AT + 100)
    celsius[CHANGE_AT + 50] += 15.0
    fahrenheit = [c * 9 / 5 + 32 for c in celsius]
    assert score_all(fahrenheit) == pytest.approx(score_all(celsius), abs=1e-6)


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -math.inf, 1e300], ids=str)
def test_unusable_readings_score_zero_and_leave_the_scorer_as_if_never_seen(bad):
    values = noisy(CHANGE_AT + 100)
    values[CHANGE_AT + 50] += 15.0
    ts = timestamps(len(values))
    clean = score_all(values, ts)
    scorer = AnomalyScorer()
    spoiled = []
    for i, (t, v) in enumerate(zip(ts, values, strict=True)):
        if i % 97 == 5:
            assert scorer.update(t, bad) == 0.0
        spoiled.append(scorer.update(t, v))
    assert spoiled == clean


def test_the_same_input_gives_the_same_scores():
    values = noisy(4000, seed=11)
    values[3500] -= 12.0
    assert score_all(values) == score_all(values)


def test_a_scorer_pickled_mid_stream_continues_identically():
    values = noisy(5000, seed=5)
    values[4000:] = [v + 10.0 for v in values[4000:]]
    ts = timestamps(len(values), jitter=True)
    original = AnomalyScorer()
    for t, v in zip(ts[:2500], values[:2500], strict=True):
        original.update(t, v)
    restored = pickle.loads(pickle.dumps(original))
    rest = list(zip(ts[2500:], values[2500:], strict=True))
    assert [restored.update(t, v) for t, v in rest] == [original.update(t, v) for t, v in rest]


def test_the_pickled_state_is_small_and_does_not_grow_with_the_stream():
    scorer = AnomalyScorer()
    values = noisy(30_000, seed=9)
    ts = timestamps(len(values), jitter=True)
    sizes = []
    for i, (t, v) in enumerate(zip(ts, values, strict=True)):
        scorer.update(t, v)
        if i in (1000, 29_999):
            sizes.append(len(pickle.dumps(scorer)))
    assert sizes[1] <= 2048
    assert sizes[1] <= sizes[0] + 16


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param({"warmup": 0}, "warmup must be", id="a zero warm-up is refused"),
        pytest.param({"refractory": -1}, "refractory must be", id="a negative cool-down"),
        pytest.param({"strictness": 0.0}, "strictness must be positive", id="zero strictness"),
    ],
)
def test_settings_that_cannot_work_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AnomalyScorer(**kwargs)
