"""Hour-of-day and hour-of-week profiles for the anomaly score, learnt from whole past hours.

A profile is a compact array with one value per hour of its period (the mean of that
hour on past days, as an exponential average) and, beside it, how many past hours each
value has learnt. `fold` adds an hour to its profile only once the hour is over, and
`distance` judges a reading against earlier hours only, so the reading at :00 and the
reading at :45 are compared with the same baseline: a profile nudged by the readings of
the hour being scored made every stream score higher at :00 than at :45. A value is
judged only once it holds `MIN_VISITS` past hours, and its distances are shrunk by the
uncertainty of a young value.
"""

from __future__ import annotations

import functools
import math
from array import array
from typing import Final

#: Weight of the newest past hour's mean in its profile value (about the last 5 days).
SEASON_RATE: Final = 0.2
#: Past hours a value must hold before its hour is judged: one day's mean says little
#: about the next (a profile judged from its second day on raised false alerts).
MIN_VISITS: Final = 2
#: Variance of a value that has learnt many hours, in units of one hour's variance: that
#: of an exponential average with weight `SEASON_RATE`.
_SETTLED_VAR: Final = SEASON_RATE / (2.0 - SEASON_RATE)


def empty(hours: int) -> tuple[array[float], array[int]]:
    """A profile of `hours` values, none learnt yet, and its visit counts."""
    return array("f", [math.nan]) * hours, array("B", [0]) * hours


def fold(profile: array[float], visits: array[int], h: int, mean: float) -> None:
    """Learn the mean of hour `h`, now over."""
    old = profile[h]
    profile[h] = mean if old != old else old + SEASON_RATE * (mean - old)
    if visits[h] < 255:
        visits[h] += 1


@functools.cache
def _var(visits: int) -> float:
    """Variance of a value learnt from `visits` past hours, in units of one hour's variance."""
    return _SETTLED_VAR + (1.0 - _SETTLED_VAR) * (1.0 - SEASON_RATE) ** (2 * (visits - 1))


def distance(
    profile: array[float], visits: array[int], h: int, frac: float, offset: float
) -> float:
    """Distance of `offset` from the profile at `frac` (0..1) into hour `h`; -1 if too young.

    A value is the mean of its hour: the expected value moves linearly from one hour's
    middle to the next, so the minutes at either end of an hour are not judged against a
    step that a smooth daily curve does not take.
    """
    if not profile or visits[h] < MIN_VISITS:
        return -1.0
    expected = profile[h]
    var = _var(visits[h])
    other = (h + 1 if frac >= 0.5 else h - 1) % len(profile)
    if visits[other] >= MIN_VISITS:
        w = abs(frac - 0.5)
        expected += w * (profile[other] - expected)
        var = (1.0 - w) ** 2 * var + w * w * _var(visits[other])
    # A reading's distance from an estimate has the reading's spread plus the estimate's:
    # a young value is further off by chance, so its distances count for less.
    return abs(offset - expected) / math.sqrt(1.0 + var)
