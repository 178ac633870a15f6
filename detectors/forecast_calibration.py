"""Calibrating the breach forecast: a raw probability in, the share of such forecasts that breach.

The forecaster's raw probability comes from a normal model of its trend, which is not
what happens: a simulated failure that looks 60 % likely breached far more often than
60 % of the time. `calibrate` maps the raw value through a monotone, piecewise-linear
curve fitted by isotonic regression (pool-adjacent-violators, `fit_isotonic`) on the
development seeds only, so that of forecasts stated at 80 %, about 80 % are followed by a
breach within the horizon. Refit with ``bench/forecast_calibration.py --fit`` and paste
the printed points into `POINTS`.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Final

#: (raw, calibrated) points, raw increasing, calibrated non-decreasing. Fitted by
#: ``.venv/bin/python bench/forecast_calibration.py --fit`` on development seeds 1000-1019
#: (dev physics, 10 devices x 24 h per fleet, reefer_failure, power_loss, heat_wave and
#: normal fleets at 1, 5, 10 and 15 minute reporting): one sample per device every 15 min
#: that had a forecast, followed or not by a reading out of range within the horizon.
POINTS: Final[tuple[tuple[float, float], ...]] = (
    (0.0, 0.0),
    (0.0115, 0.0596),
    (0.0209, 0.0609),
    (0.0292, 0.1111),
    (0.0443, 0.1154),
    (0.0631, 0.1594),
    (0.0761, 0.2083),
    (0.159, 0.2398),
    (0.2289, 0.2645),
    (0.2353, 0.2759),
    (0.2408, 0.2812),
    (0.2682, 0.3159),
    (0.3298, 0.4304),
    (0.3685, 0.5),
    (0.3789, 0.5705),
    (0.3898, 0.5778),
    (0.3951, 0.5909),
    (0.4145, 0.6259),
    (0.4724, 0.6522),
    (0.5188, 0.6667),
    (0.5534, 0.7),
    (0.5964, 0.7143),
    (0.6026, 0.75),
    (0.6138, 0.7515),
    (0.6348, 0.7959),
    (0.6629, 0.7984),
    (0.6786, 0.8),
    (0.7009, 0.8346),
    (0.7483, 0.8805),
    (0.7941, 0.9023),
    (0.8251, 0.9167),
    (0.8585, 0.9334),
    (0.8923, 0.962),
    (0.9086, 0.9652),
    (0.9196, 0.9699),
    (0.9539, 0.9919),
    (0.9933, 1.0),
)


def calibrate(raw: float, points: Sequence[tuple[float, float]] = POINTS) -> float:
    """The calibrated probability of a raw one: linear between the fitted points, in [0, 1].

    >>> calibrate(0.5, ((0.0, 0.1), (1.0, 0.9)))
    0.5
    >>> calibrate(2.0, ((0.0, 0.1), (1.0, 0.9)))
    0.9
    """
    if math.isnan(raw):
        return 0.0
    xs = [x for x, _ in points]
    i = bisect.bisect_right(xs, raw)
    if i == 0:
        value = points[0][1]
    elif i == len(points):
        value = points[-1][1]
    else:
        (x0, y0), (x1, y1) = points[i - 1], points[i]
        value = y0 if x1 == x0 else y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
    return min(1.0, max(0.0, value))


def fit_isotonic(samples: Iterable[tuple[float, bool]]) -> list[tuple[float, float]]:
    """Pool adjacent violators: (mean raw, share followed) of each block, both increasing.

    >>> fit_isotonic([(0.1, False), (0.2, True), (0.3, False), (0.9, True)])
    [(0.1, 0.0), (0.25, 0.5), (0.9, 1.0)]
    >>> fit_isotonic([(0.5, False), (1.0, False), (1.0, True), (1.0, True)])
    [(0.5, 0.0), (1.0, 0.6667)]
    """
    blocks: list[list[float]] = []  # [sum raw, sum followed, count]
    # Equal raw values start as one block: their order among themselves says nothing.
    for raw, tied in itertools.groupby(sorted(samples), key=lambda s: s[0]):
        outcomes = [followed for _, followed in tied]
        blocks.append([raw * len(outcomes), float(sum(outcomes)), float(len(outcomes))])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            last = blocks.pop()
            for k in range(3):
                blocks[-1][k] += last[k]
    return [(round(s / n, 4), round(f / n, 4)) for s, f, n in blocks]
