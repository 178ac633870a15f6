"""Novelty of range for the anomaly score: a reading that leaves everything its stream has covered.

`RangeNovelty` keeps the lowest and highest value one stream has ever had and says when a
reading lands beyond them by more than a few of the stream's usual steps (`steps` times
the mean absolute change between readings, which the caller measures): a value in
territory the stream has never visited, the simplest context nothing in its past predicts.
It is the opposite of the record-relative cues of `detectors.anomaly_score`, which fade
and measure surprise against the recent past: a first visit to new territory counts
whatever the stream did lately, and a stream that keeps roaming its own range never
counts. The margin is measured in the stream's own steps rather than in a share of the
range's width, so one wild reading long ago, which widens the range for good, does not
hide a later shift past it, while the small overshoots of a noisy stream past its
extremes mostly go by. It has no scale, no unit and no knowledge of the channel,
needs no per-stream setting, fires at most once per `rest` readings, and holds four
numbers of state.
"""

from __future__ import annotations

from typing import Final

#: Readings beyond this magnitude are treated like NaN, as `AnomalyScorer` treats them.
_MAX_ABS: Final = 1e30
#: Default `steps`: half a usual step beyond the covered range.
STEPS: Final = 0.5
#: Tag of the pickled state since the margin is counted in steps (older states have none).
_STATE_TAG: Final = "steps"


class RangeNovelty:
    """Say when a reading leaves the range its stream has covered so far.

    Catches a level shift or a spike to values the stream never had, early in an
    incident, and a trend the first time it passes its old extremes by more than a
    usual step; misses anything that stays within the stream's past range (the record
    cues of `AnomalyScorer` judge that). Missing, NaN, infinite or absurd readings
    (``abs(value) > 1e30``) never count and are not learnt from.

    Parameters
    ----------
    steps : how far beyond the covered range a reading must land, in the stream's usual
        steps (the ``step`` passed to `update`); 0.5 lets the small overshoots of a
        stream's ordinary noise past its extremes go by.
    warmup : readings that only learn the range before any is judged.
    rest : readings after a new-territory reading during which no other counts: one
        incident counts once.

    Examples
    --------
    >>> cue = RangeNovelty(warmup=10)
    >>> [cue.update(v, 0.5) for v in [4.0, 5.0, 4.5] * 10 + [5.1, 9.0]][-2:]
    [False, True]
    """

    __slots__ = ("_cool", "_hi", "_lo", "_n", "rest", "steps", "warmup")

    def __init__(self, steps: float = STEPS, warmup: int = 150, rest: int = 100) -> None:
        if not steps > 0.0:
            raise ValueError(f"steps must be a positive number of usual steps, got {steps!r}")
        for name, value in (("warmup", warmup), ("rest", rest)):
            if value < 0:
                raise ValueError(f"{name} must be a number of readings >= 0, got {value!r}")
        self.steps = steps
        self.warmup = warmup
        self.rest = rest
        self._n = 0
        self._lo = 0.0
        self._hi = 0.0
        self._cool = 0

    def update(self, value: float | None, step: float) -> bool:
        """True when `value` lands in new territory (and counts), then learn from it.

        `step` is the stream's usual change between readings before this one (0.0 while
        it has never moved, when nothing is judged).
        """
        if value is None:
            return False
        x = float(value)
        if not -_MAX_ABS <= x <= _MAX_ABS:  # also false for NaN
            return False
        n = self._n = self._n + 1
        if n == 1:
            self._lo = self._hi = x
        lo, hi = self._lo, self._hi
        beyond = x - hi if x > hi else lo - x
        if x < lo:
            self._lo = x
        elif x > hi:
            self._hi = x
        if self._cool > 0:
            self._cool -= 1
            return False
        # A stream that has never moved has no step to measure in: its first move (a
        # coarse probe's first change of one count) is not judged.
        if n <= self.warmup or not step > 0.0 or beyond <= self.steps * step:
            return False
        self._cool = self.rest
        return True

    def __getstate__(self) -> tuple[object, ...]:
        """Compact pickle state: a tag, then every slot's value in slot order."""
        return (_STATE_TAG, *(getattr(self, name) for name in self.__slots__))

    def __setstate__(self, state: tuple[object, ...]) -> None:
        """Restore the slots written by `__getstate__`, also a state from before `steps`.

        An older state counted its margin in shares of the range's width, which has no
        equivalent in steps: it keeps its range, count and settings, and takes the
        default `steps`.
        """
        if state and state[0] == _STATE_TAG:
            values = dict(zip(self.__slots__, state[1:], strict=True))
        else:  # ("_cool", "_hi", "_lo", "_n", "margin", "rest", "warmup")
            cool, hi, lo, n, _margin, rest, warmup = state
            values = {"_cool": cool, "_hi": hi, "_lo": lo, "_n": n, "rest": rest, "warmup": warmup}
            values["steps"] = STEPS
        for name, value in values.items():
            object.__setattr__(self, name, value)
