"""The anomaly score means the same at every minute of the hour and reaches its alert level on real trouble."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.anomaly import Anomaly
from detectors.anomaly_combined import CombinedScorer
from detectors.anomaly_score import AnomalyScorer
from detectors.reading import Reading

QUARTER_MS = 900_000
HOUR_MS = 3_600_000
T0_MS = 1_700_006_400_000 - 1_700_006_400_000 % HOUR_MS  # on the hour
DAY = 96  # 15-minute readings in a day
#: Largest ratio allowed between the mean scores of two minutes of the hour. Today's code
#: fails by far on the wandering and drifting series (1.6 and 1.36), and the white noise
#: shows what chance alone leaves (about 1.03 over these 4 x 23 days).
FLAT_WITHIN = 1.10


def white(n: int, rng: random.Random) -> list[float]:
    return [4.0 + rng.gauss(0.0, 0.1) for _ in range(n)]


def wandering(n: int, rng: random.Random) -> list[float]:
    """A room temperature that wanders (AR(1)): each reading close to the one before."""
    x, out = 0.0, []
    for _ in range(n):
        x = 0.95 * x + rng.gauss(0.0, 0.05)
        out.append(4.0 + x)
    return out


def drifting(n: int, rng: random.Random) -> list[float]:
    """A cycle of 24.3 h: it drifts against the clock, so it has no hourly pattern either."""
    return [4.0 + 0.3 * math.sin(2 * math.pi * i / 97.3) + rng.gauss(0.0, 0.1) for i in range(n)]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(white, id="white noise"),
        pytest.param(wandering, id="a wandering room temperature"),
        pytest.param(drifting, id="a cycle that drifts against the clock"),
    ],
)
@pytest.mark.parametrize(
    "scorer_class",
    [
        pytest.param(AnomalyScorer, id="record cues"),
        pytest.param(CombinedScorer, id="record cues and new territory (the product's score)"),
    ],
)
def test_a_series_with_no_hourly_pattern_scores_the_same_at_every_minute_of_the_hour(
    make, scorer_class
):
    totals, counts = [0.0] * 4, [0] * 4
    for seed in range(4):
        values = make(30 * DAY, random.Random(seed))
        scorer = scorer_class()
        for i, v in enumerate(values):
            score = scorer.update(T0_MS + i * QUARTER_MS, v)
            if i >= 7 * DAY:  # past the warm-up and the profiles' first week
                totals[i % 4] += score
                counts[i % 4] += 1
    means = [t / c for t, c in zip(totals, counts, strict=True)]
    assert max(means) <= FLAT_WITHIN * min(means), f"mean score at :00 :15 :30 :45 = {means}"


def cold_room(days: int, seed: int) -> list[float]:
    """A chilled room at 4 °C with a gentle daily cycle and 0.1 °C logger noise."""
    rng = random.Random(seed)
    return [
        4.0 + 0.3 * math.sin(2 * math.pi * i / DAY) + rng.gauss(0.0, 0.1) for i in range(days * DAY)
    ]


def anomaly_opens(values: list[float]) -> list[int]:
    """Indexes of the readings at which the `anomaly` condition opened."""
    detector = Anomaly("temp_c")
    opened = []
    for i, v in enumerate(values):
        for c in detector.update(Reading("room-1", T0_MS + i * QUARTER_MS, temp_c=v)) or []:
            if c.kind == "anomaly" and c.active:
                opened.append(i)
    return opened


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("days", [14, 60])
def test_a_room_that_warms_4_c_within_an_hour_for_the_first_time_raises_anomaly(days, seed):
    values = cold_room(days, seed)
    start = len(values)
    values += [v + min(4.0, (j + 1) * 1.0) for j, v in enumerate(cold_room(1, seed + 100))]
    opened = anomaly_opens(values)
    assert not [i for i in opened if i < start], "an alert before the room warmed"
    assert [i for i in opened if start <= i < start + 4], "no alert within the hour of warming"


@pytest.mark.parametrize("seed", range(3))
def test_an_ordinary_cold_room_raises_no_anomaly_for_two_months(seed):
    assert anomaly_opens(cold_room(60, seed)) == []


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(finite, min_size=1, max_size=300),
    gaps=st.lists(st.integers(min_value=-HOUR_MS, max_value=3 * HOUR_MS), min_size=300),
    warmup=st.integers(min_value=1, max_value=12),
)
def test_every_score_of_any_finite_series_is_finite_and_within_0_and_1(values, gaps, warmup):
    # Gaps of up to three hours (and clocks going back) cross hours, so the hourly
    # profiles fill, age and are judged within a few hundred readings.
    scorer = AnomalyScorer(warmup=warmup, memory=50, record_half_life=20, refractory=5)
    ts = T0_MS
    for value, gap in zip(values, gaps, strict=False):
        ts += gap
        score = scorer.update(ts, value)
        assert math.isfinite(score) and 0.0 <= score <= 1.0
