"""Novelty of range for the anomaly score: a reading that leaves everything its stream has covered.

`RangeNovelty` keeps the lowest and highest value one stream has ever had and says when a
reading lands beyond them by more than a small share (`margin`) of that width: a value in
territory the stream has never visited, the simplest context nothing in its past predicts.
It is the opposite of the record-relative cues of `detectors.anomaly_score`, which fade
and measure surprise against the recent past: a first visit to new territory counts
whatever the stream did lately, and a stream that keeps roaming its own range never
counts. A steady trend does not count either once its range spans more than 50 of its
steps (each reading passes the old extreme by one step, under 2 % of the width); a jump
past it does. It has no scale, no unit and no knowledge of the channel, needs no
per-stream setting, fires at most once per `rest` readings, and holds four numbers of
state.
"""

from __future__ import annotations

from typing import Final

#: Readings beyond this magnitude are treated like NaN, as `AnomalyScorer` treats them.
_MAX_ABS: Final = 1e30


class RangeNovelty:
    """Say when a reading leaves the range its stream has covered so far.

    Catches a level shift or a spike to values the stream never had, early in an
    incident; misses anything that stays within the stream's past range (the record
    cues of `AnomalyScorer` judge that). Missing, NaN, infinite or absurd readings
    (``abs(value) > 1e30``) never count and are not learnt from.

    Parameters
    ----------
    margin : how far beyond the covered range a reading must land, as a share of the
        range's width; 0.02 lets a stream's ordinary noise past its extremes go by.
    warmup : readings that only learn the range before any is judged.
    rest : readings after a new-territory reading during which no other counts: one
        incident counts once.

    Examples
    --------
    >>> cue = RangeNovelty(warmup=10)
    >>> [cue.update(v) for v in [4.0, 5.0, 4.5] * 10 + [4.9, 9.0]][-2:]
    [False, True]
    """

    __slots__ = ("_cool", "_hi", "_lo", "_n", "margin", "rest", "warmup")

    def __init__(self, margin: float = 0.02, warmup: int = 150, rest: int = 100) -> None:
        if not margin > 0.0:
            raise ValueError(f"margin must be a positive share of the range, got {margin!r}")
        for name, value in (("warmup", warmup), ("rest", rest)):
            if value < 0:
                raise ValueError(f"{name} must be a number of readings >= 0, got {value!r}")
        self.margin = margin
        self.warmup = warmup
        self.rest = rest
        self._n = 0
        self._lo = 0.0
        self._hi = 0.0
        self._cool = 0

    def update(self, value: float | None) -> bool:
        """True when `value` lands in new territory (and counts), then learn from it."""
        if value is None:
            return False
        x = float(value)
        if not -_MAX_ABS <= x <= _MAX_ABS:  # also false for NaN
            return False
        n = self._n = self._n + 1
        if n == 1:
            self._lo = self._hi = x
        lo, hi = self._lo, self._hi
        # How far past the covered range, in shares of its width; a stream that has
        # never moved has no width to measure in, so its first move is not judged.
        width = hi - lo
        beyond = (x - hi if x > hi else lo - x) if width > 0.0 else 0.0
        if x < lo:
            self._lo = x
        elif x > hi:
            self._hi = x
        if self._cool > 0:
            self._cool -= 1
            return False
        if n <= self.warmup or beyond <= self.margin * width:
            return False
        self._cool = self.rest
        return True

    def __getstate__(self) -> tuple[object, ...]:
        """Compact pickle state: every slot's value, in slot order."""
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        """Restore the slots written by `__getstate__`."""
        for name, value in zip(self.__slots__, state, strict=True):
            object.__setattr__(self, name, value)
