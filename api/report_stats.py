"""The release report's temperature figures from a shipment's readings: pure arithmetic, no I/O.

Every figure is time-weighted the way the stability budget is counted
(`detectors.temperature.TempExcursion`): a reading stands for the time from it to the next
reading, capped at `max_step_s` (a silent tracker's gap is not evidence that the product stayed
as it was), and the last reading stands for no time. So the report's time out of range is
exactly the figure the `stability_budget` alert judged, and an irregular reporting interval
cannot bias a mean towards the stretch where the tracker happened to report most often.

Mean kinetic temperature (USP <1079>), with T_i in kelvin and w_i the reading's time weight::

    MKT = (ΔH/R) / -ln( Σ w_i · exp(-(ΔH/R) / T_i) / Σ w_i ) - 273.15,   ΔH/R = 10 000 K

(ΔH = 83.144 kJ/mol, R = 8.3144 J/mol/K). With one reading, or all at one instant, every
weight is zero and each reading counts once. Readings a probe cannot honestly give
(`detectors.sensor_fault.probe_plausible`: -127 °C when disconnected, 85 °C after a reset) are
left out and counted, as the temperature detectors leave them out. For a shipment whose probe
reads the air, every figure is of the product the detectors simulate from it
(`simulated_product`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from detectors.product_probe import ProductLag
from detectors.reading import Reading
from detectors.sensor_fault import probe_plausible
from detectors.temperature import MKT_DH_R_K

KELVIN: Final = 273.15

#: (epoch ms, °C), oldest first.
TempPoint = tuple[int, float]


@dataclass(frozen=True, slots=True)
class TemperatureStats:
    """Plain extremes and time-weighted mean and MKT over the kept readings (°C, minutes)."""

    readings: int
    implausible: int
    min_c: float | None
    max_c: float | None
    mean_c: float | None
    mkt_c: float | None
    #: Time the readings stand for (the sum of their weights), in minutes.
    covered_min: float


@dataclass(frozen=True, slots=True)
class Excursion:
    """One unbroken run of readings outside the range.

    It starts at its first reading out and ends at the first reading back in range (`ended`)
    or, when the record stops while still out, at its last reading. `minutes` is the
    time-weighted time out (what the stability budget counts), `peak_c` the reading furthest
    beyond the range and `beyond_c` how far beyond its limit that is.
    """

    start_ms: int
    end_ms: int
    ended: bool
    side: str
    peak_c: float
    peak_at_ms: int
    beyond_c: float
    minutes: float
    readings: int


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """Time out of range over the whole trip against the profile's stability budget."""

    out_min: float
    budget_min: float
    used_pct: float
    exceeded: bool


def plausible(points: Sequence[TempPoint]) -> tuple[list[TempPoint], int]:
    """The readings a probe could honestly give, and how many were left out."""
    kept = [p for p in points if math.isfinite(p[1]) and probe_plausible(p[1])]
    return kept, len(points) - len(kept)


def simulated_product(points: Sequence[TempPoint], lag_min: float | None) -> list[TempPoint]:
    """For a probe that reads the air (`lag_min` set), the product the detectors judge in its
    place (`detectors.product_probe`), so the report's figures are the alerts'; readings no
    probe can give are kept as they are, to be counted and left out. None: `points` as read.

    >>> simulated_product([(0, 5.0), (1_800_000, 5.0), (3_600_000, 9.0)], 30.0)[-1]
    (3600000, 6.47)
    """
    if lag_min is None:
        return list(points)
    lag = ProductLag(lag_min)
    out: list[TempPoint] = []
    for ts, t in points:
        product = lag.reading(Reading("", ts, temp_c=t)).temp_c
        out.append((ts, t if product is None else product))
    return out


def step_weights_ms(times_ms: Sequence[int], max_step_s: float) -> list[float]:
    """Each reading's time weight: up to the next reading, capped; the last one weighs 0.

    >>> step_weights_ms([0, 60_000, 3_660_000, 3_720_000], max_step_s=900)
    [60000.0, 900000.0, 60000.0, 0.0]
    """
    cap = max_step_s * 1000.0
    weights = [min(float(b - a), cap) for a, b in itertools.pairwise(times_ms)]
    return [*weights, 0.0] if times_ms else []


def mean_kinetic_temperature_c(temps_c: Sequence[float], weights: Sequence[float]) -> float:
    """MKT in °C of temperatures with time weights (equal weights when they sum to zero).

    >>> round(mean_kinetic_temperature_c([5.0, 5.0], [1.0, 3.0]), 6)
    5.0
    """
    if not temps_c:
        raise ValueError("mean kinetic temperature of no readings")
    total = math.fsum(weights)
    if total <= 0:
        weights, total = [1.0] * len(temps_c), float(len(temps_c))
    s = math.fsum(
        w * math.exp(-MKT_DH_R_K / (t + KELVIN)) for t, w in zip(temps_c, weights, strict=True)
    )
    return MKT_DH_R_K / -math.log(s / total) - KELVIN


def temperature_stats(points: Sequence[TempPoint], max_step_s: float) -> TemperatureStats:
    """Extremes, time-weighted mean and MKT of the plausible readings among `points`."""
    kept, dropped = plausible(points)
    if not kept:
        return TemperatureStats(0, dropped, None, None, None, None, 0.0)
    temps = [t for _, t in kept]
    weights = step_weights_ms([at for at, _ in kept], max_step_s)
    total = math.fsum(weights)
    mean = (
        math.fsum(t * w for t, w in zip(temps, weights, strict=True)) / total
        if total > 0
        else math.fsum(temps) / len(temps)
    )
    return TemperatureStats(
        readings=len(kept),
        implausible=dropped,
        min_c=min(temps),
        max_c=max(temps),
        mean_c=mean,
        mkt_c=mean_kinetic_temperature_c(temps, weights),
        covered_min=total / 60_000,
    )


def excursions(
    points: Sequence[TempPoint], low_c: float, high_c: float, max_step_s: float
) -> list[Excursion]:
    """Every unbroken run of plausible readings outside [low_c, high_c], oldest first.

    >>> [(e.minutes, e.peak_c, e.side) for e in excursions(
    ...     [(0, 5.0), (60_000, 9.0), (180_000, 10.0), (240_000, 6.0)], 2.0, 8.0, 900)]
    [(3.0, 10.0, 'above')]
    """
    kept, _ = plausible(points)
    weights = step_weights_ms([at for at, _ in kept], max_step_s)
    found: list[Excursion] = []
    run: list[int] = []  # indices into `kept` of the current run out of range

    def close(end: int | None) -> None:
        sides = {"above" if kept[i][1] > high_c else "below" for i in run}
        peak = max(run, key=lambda i: _beyond(kept[i][1], low_c, high_c))
        found.append(
            Excursion(
                start_ms=kept[run[0]][0],
                end_ms=kept[end][0] if end is not None else kept[run[-1]][0],
                ended=end is not None,
                side=sides.pop() if len(sides) == 1 else "both",
                peak_c=kept[peak][1],
                peak_at_ms=kept[peak][0],
                beyond_c=_beyond(kept[peak][1], low_c, high_c),
                minutes=math.fsum(weights[i] for i in run) / 60_000,
                readings=len(run),
            )
        )

    for i, (_, t) in enumerate(kept):
        if t < low_c or t > high_c:
            run.append(i)
        elif run:
            close(i)
            run = []
    if run:
        close(None)
    return found


def _beyond(t: float, low_c: float, high_c: float) -> float:
    return max(low_c - t, t - high_c, 0.0)


def budget_use(found: Sequence[Excursion], budget_min: float) -> BudgetUse:
    """The excursions' total time out against the budget (minutes; `used_pct` of it)."""
    out = math.fsum(e.minutes for e in found)
    used = 100.0 * out / budget_min if budget_min > 0 else math.inf
    return BudgetUse(out, budget_min, used, out >= budget_min)


def plot_points(points: Sequence[TempPoint], max_points: int) -> list[TempPoint]:
    """At most about `max_points` of `points` for a plot, keeping every bucket's extremes.

    Time is cut into `max_points // 2` equal buckets and each keeps its lowest and highest
    reading in their time order, so a short excursion's peak survives a month-long plot.

    >>> plot_points([(i, float(i % 7)) for i in range(1000)], 10)[:4]
    [(0, 0.0), (6, 6.0), (202, 6.0), (203, 0.0)]
    """
    if len(points) <= max_points:
        return list(points)
    buckets = max(1, max_points // 2)
    first, last = points[0][0], points[-1][0]
    width = (last - first) / buckets or 1.0
    chosen: list[TempPoint] = []
    lo = hi = -1
    current = -1
    for i, (at, t) in enumerate(points):
        b = min(int((at - first) / width), buckets - 1)
        if b != current:
            if current >= 0:
                chosen += [points[j] for j in sorted({lo, hi})]
            current, lo, hi = b, i, i
        if t < points[lo][1]:
            lo = i
        if t > points[hi][1]:
            hi = i
    chosen += [points[j] for j in sorted({lo, hi})]
    return chosen
