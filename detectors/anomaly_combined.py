"""The anomaly score the product uses: record-relative surprise or a first visit to new territory.

Two cues that fail differently, joined by taking the larger: `AnomalyScorer` measures how
far a reading beats the stream's own fading records (spikes, jumps, noise bursts, stuck
sensors, values unusual for the hour), and `RangeNovelty` says when a reading lands
beyond every value the stream has had, by more than half the stream's usual step (the
scorer's own mean absolute change between readings, so the margin is set by each
stream's data). The second catches what the first misses when a
stream's recent past was already turbulent (its records are high, so a real change beats
them only barely), and needs nothing tuned per stream. A new-territory reading scores
`NEW_TERRITORY`, 0.6: above 0.5, where a record is beaten, so a benchmark's swept
threshold counts it as a detection, and below the `anomaly` alert's 0.95, so it never
raises a live alert on its own. On the Numenta Anomaly Benchmark's development part this
join, with records held while a cue keeps returning to them, lifts the standard score
from 58.7 to 74.1 in-sample and from 48.4 to 65.2 cross-validated (`bench/nab_cv.py`;
62.3 with the margin as a share of the range's width, before the profiles learnt their
records over a whole period).
"""

from __future__ import annotations

from typing import Final

from detectors.anomaly_range import STEPS, RangeNovelty
from detectors.anomaly_score import RECORD_HOLD, AnomalyScorer

#: Score of a reading in new territory: as surprising as a 1.3-fold record.
NEW_TERRITORY: Final = 0.6


class CombinedScorer:
    """Score each reading of one numeric stream in [0, 1]: the larger of two cues.

    Catches what `AnomalyScorer` catches, plus the first reading of a shift or spike
    into values the stream never had (scored `NEW_TERRITORY`); misses slow drifts that
    stay within the stream's range. Missing, NaN, infinite or absurd readings score
    0.0 and are not learnt from.

    Parameters
    ----------
    steps : how far beyond the covered range a reading must land to be new territory,
        in the stream's usual steps (`RangeNovelty`).
    rest : readings after a new-territory reading during which no other counts.
    memory, record_half_life, record_hold, refractory, warmup, strictness, weekly :
        the settings of the record-relative `AnomalyScorer`, same defaults; the range
        is judged from half its warm-up on.

    Examples
    --------
    >>> scorer = CombinedScorer(warmup=20)
    >>> scores = [scorer.update(i * 300_000, v) for i, v in enumerate([4.0, 5.0] * 50 + [8.0])]
    >>> max(scores[:-1]) < 0.5 < scores[-1]
    True
    """

    __slots__ = ("range", "scorer")

    def __init__(
        self,
        steps: float = STEPS,
        rest: int = 100,
        *,
        memory: int = 2000,
        record_half_life: int = 3000,
        record_hold: float = RECORD_HOLD,
        refractory: int = 300,
        warmup: int = 300,
        strictness: float = 1.0,
        weekly: bool = True,
    ) -> None:
        self.scorer = AnomalyScorer(
            memory=memory,
            record_half_life=record_half_life,
            record_hold=record_hold,
            refractory=refractory,
            warmup=warmup,
            strictness=strictness,
            weekly=weekly,
        )
        self.range = RangeNovelty(steps=steps, warmup=warmup // 2, rest=rest)

    def update(self, ts_ms: int, value: float | None) -> float:
        """Score one reading (event time in epoch ms) in [0, 1], then learn from it."""
        # The usual step before this reading: a jump must not widen its own yardstick.
        step = self.scorer.usual_step
        score = self.scorer.update(ts_ms, value)
        if self.range.update(value, step) and score < NEW_TERRITORY:
            return NEW_TERRITORY
        return score

    def __getstate__(self) -> tuple[object, ...]:
        """Compact pickle state: the two cues."""
        return (self.scorer, self.range)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        """Restore the cues written by `__getstate__`."""
        scorer, novelty = state
        if not isinstance(scorer, AnomalyScorer) or not isinstance(novelty, RangeNovelty):
            raise TypeError("CombinedScorer state must be (AnomalyScorer, RangeNovelty)")
        self.scorer = scorer
        self.range = novelty
