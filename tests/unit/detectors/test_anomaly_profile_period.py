"""The anomaly score's hour-of-day and hour-of-week cues learn their records over a whole period."""

import math
import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.anomaly_score import AnomalyScorer

FIVE_MIN_MS = 300_000
HOUR_MS = 3_600_000
T0_MS = 1_700_006_400_000  # a UTC midnight
DAY = 288  # 5-minute readings
RECORD = 0.5  # a score from here on means a cue beat its own record


def busy_hours(days: int, seed: int) -> list[float]:
    """A daily cycle whose early hours (01:00-09:00) carry a bump of +3 one day, -3 the next.

    Those hours are as usual as the rest, they only differ more from one day to the next,
    so their distance from the hour's profile is larger than any other hour's.
    """
    rng = random.Random(seed)
    out = []
    for i in range(days * DAY):
        day, minute = divmod(i, DAY)
        hour = minute / 12.0
        bump = 0.0
        if 1.0 <= hour <= 9.0:
            bump = (3.0 if day % 2 else -3.0) * math.sin(math.pi * (hour - 1.0) / 8.0) ** 2
        out.append(20.0 + 2.0 * math.sin(2 * math.pi * i / DAY) + bump + rng.gauss(0.0, 0.3))
    return out


def scores(scorer: AnomalyScorer, values: list[float], start: int = 0) -> list[float]:
    return [scorer.update(T0_MS + (start + i) * FIVE_MIN_MS, v) for i, v in enumerate(values)]


@pytest.mark.parametrize("seed", range(5))
def test_hours_that_vary_more_from_day_to_day_are_not_a_record_once_the_day_is_learnt(
    seed: int,
) -> None:
    # The hour-of-day cue judges from day 3 on; its first 300 readings are 25 hours, of
    # which the last 200 (17 hours) were its whole record, and 01:00-09:00 was not among
    # them: the busy hours of day 4 beat it.
    assert max(scores(AnomalyScorer(weekly=False), busy_hours(8, seed))) < RECORD


@pytest.mark.parametrize("seed", range(5))
def test_a_hump_in_the_calm_hours_still_counts_once_the_day_is_learnt(seed: int) -> None:
    values = busy_hours(8, seed)
    start = 6 * DAY + 14 * 12  # day 7, 14:00-18:00
    for i in range(start, start + 48):
        values[i] += 10.0 * math.sin(math.pi * (i - start) / 48.0) ** 2
    got = scores(AnomalyScorer(weekly=False), values)
    assert max(got[:start]) < RECORD <= max(got[start : start + 48])


def strip(scorer: AnomalyScorer, *names: str) -> tuple[object, ...]:
    """The scorer's state as a release without the slots `names` wrote it."""
    state = scorer.__getstate__()
    kept = tuple(v for n, v in zip(scorer.__slots__, state, strict=True) if n not in names)
    restored: tuple[object, ...] = pickle.loads(pickle.dumps(kept))  # a copy, as a restart has
    return restored


@pytest.mark.parametrize(
    "missing",
    [("_since",), ("_since", "record_hold")],
    ids=["before the whole period", "also before records were held"],
)
def test_a_scorer_saved_by_an_older_release_restores_and_continues(
    missing: tuple[str, ...],
) -> None:
    values = busy_hours(8, seed=1)
    old = AnomalyScorer(weekly=False)
    scores(old, values[: 5 * DAY])  # its day profile has learnt its record by now
    restored = AnomalyScorer.__new__(AnomalyScorer)
    restored.__setstate__(strip(old, *missing))
    rest = values[5 * DAY :]
    assert scores(restored, rest, 5 * DAY) == scores(old, rest, 5 * DAY)


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=-2 * HOUR_MS, max_value=6 * HOUR_MS), min_size=200),
    values=st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=200, max_size=600),
)
def test_a_profile_begins_its_record_once_at_an_hour_it_has_had_and_never_moves_it(
    gaps: list[int], values: list[float]
) -> None:
    scorer = AnomalyScorer(warmup=6, memory=50, record_half_life=20, refractory=5)
    hours: set[int] = set()
    began: list[float] = list(scorer._since)
    t = T0_MS
    for i, v in enumerate(values):
        t += gaps[i % len(gaps)]
        hours.add(t // HOUR_MS)
        score = scorer.update(t, v)
        assert 0.0 <= score <= 1.0
        for j, since in enumerate(scorer._since):
            if began[j] != math.inf:
                assert since == began[j], "a begun record's hour never moves"
            elif since != math.inf:
                assert since in hours, "it begins at the hour of a reading it has had"
                began[j] = since
