"""A calibrated anomaly score in [0, 1] for every reading of any numeric channel.

`AnomalyScorer` watches one univariate stream (a reefer's return-air temperature, a
battery voltage, a shock count) and says how surprising each reading is, with no
knowledge of the channel: it learns the stream's own scale, step size and daily and
weekly rhythm as it goes. Five cues measure surprise in units of the stream's own
history: the distance from the usual value at this hour of the day and at this hour
of the week, a jump (the step from the last reading over the usual step, counted only
as far as the new value is also unusual for the hour, so a daily switch-over is not a
jump), and a rise or a collapse of short-term variability against the long-run
variability (noise bursts, a stuck sensor). A cue only counts when it beats its own
record, a running maximum that fades with a half-life, so a stream that is always
noisy has to get noisier than it has lately been before it scores high. The score is
``ratio / (1 + ratio)`` where ``ratio`` is the largest cue over its record, so 0.5
means "as surprising as anything lately" and scores are comparable across streams of
any unit and sampling interval. After a detection the score is damped for a while,
and for as long as the event keeps breaking records, so one incident fires once.
"""

from __future__ import annotations

import functools
import math
from array import array
from typing import Final

_HOUR_MS: Final = 3_600_000
_DAY_HOURS: Final = 24
_WEEK_HOURS: Final = 168
#: Weight of the newest step in the short-term average step (about 20 readings).
_SHORT_RATE: Final = 0.05
#: Weight of the newest reading in its hour-of-day and hour-of-week profile value.
_SEASON_RATE: Final = 0.2
#: Scale floors relative to the next coarser scale, so flat streams do not divide by 0.
_REL_FLOOR: Final = 1e-3
#: Minimum surprise each cue must reach to count, whatever its record: a jump of 10
#: usual steps, a 7.4-fold (e**2) change in variability, 8 usual seasonal residuals.
_CUE_FLOORS: Final = (10.0, 2.0, 2.0, 8.0, 8.0)
_N_CUES: Final = 5
#: Factor applied to the score while a detected event is cooling down.
_DAMPING: Final = 0.3
#: Readings by which an event that is still breaking records extends its cool-down.
_EXTENSION: Final = 60
#: Readings beyond this magnitude are treated like NaN (keeps all arithmetic finite).
_MAX_ABS: Final = 1e30
_F32_MAX: Final = 3.0e38


@functools.cache
def _floors(strictness: float) -> tuple[float, ...]:
    # Shared by every scorer with the same strictness: per-stream state stays small.
    return tuple(f * strictness for f in _CUE_FLOORS)


class AnomalyScorer:
    """Score each reading of one numeric stream for how anomalous it is, in [0, 1].

    Catches spikes and level jumps, bursts of noise, flatlines and stuck sensors,
    and values unusual for the hour of the day or of the week; misses slow drifts
    that stay within the stream's usual range. Scores are 0.0 during warm-up and
    for missing, NaN, inf or absurd (``abs(value) > 1e30``) readings, which are
    ignored.
    Above 0.5 means a cue beat its own fading record: treat ~0.5 as the default
    alert threshold and raise it to alert less often.

    Parameters
    ----------
    memory : readings over which the long-run step size and seasonal spread are
        averaged; 2000 is a week of 5-minute readings.
    record_half_life : readings after which a past record surprise counts half;
        shorter forgets old incidents sooner and alerts more.
    refractory : readings after a detection during which scores are damped.
    warmup : readings scored 0.0 while the baselines settle (records are collected
        over the last two thirds of them).
    strictness : multiplier on the minimum surprise a cue needs to count at all;
        1.0 is tuned for the Numenta Anomaly Benchmark, 2.0 alerts far less.
    weekly : keep an hour-of-week profile (three quarters of the state); streams
        shorter than a few weeks gain nothing from it.

    Examples
    --------
    >>> scorer = AnomalyScorer()
    >>> hour = 3_600_000
    >>> readings = [5.0 + 0.2 * math.sin(i / 3.8) + 0.01 * (i % 5) for i in range(700)]
    >>> readings[600] = 9.0  # the compressor trips: a jump nothing before resembles
    >>> scores = [scorer.update(i * hour, v) for i, v in enumerate(readings)]
    >>> max(scores[:600]) < 0.5 < scores[600]
    True
    """

    __slots__ = (
        "_cool",
        "_day",
        "_decay",
        "_floors",
        "_k_day",
        "_k_week",
        "_long_step",
        "_mean",
        "_n",
        "_prev",
        "_rec",
        "_ref",
        "_res_day",
        "_res_week",
        "_short_step",
        "_spread",
        "_week",
        "memory",
        "record_half_life",
        "refractory",
        "strictness",
        "warmup",
    )

    def __init__(
        self,
        memory: int = 2000,
        record_half_life: int = 3000,
        refractory: int = 300,
        warmup: int = 300,
        strictness: float = 1.0,
        weekly: bool = True,
    ) -> None:
        for name, value in (
            ("memory", memory),
            ("record_half_life", record_half_life),
            ("refractory", refractory),
            ("warmup", warmup),
        ):
            if value < 1:
                raise ValueError(f"{name} must be a positive number of readings, got {value!r}")
        if not strictness > 0:
            raise ValueError(f"strictness must be positive, got {strictness!r}")
        self.memory = memory
        self.record_half_life = record_half_life
        self.refractory = refractory
        self.warmup = warmup
        self.strictness = strictness
        self._decay = 0.5 ** (1.0 / record_half_life)
        self._floors = _floors(strictness)
        self._n = 0
        self._ref = 0.0  # first reading: profiles store offsets from it
        self._mean = 0.0
        self._spread = 0.0  # mean absolute deviation from the mean
        self._prev = 0.0
        self._long_step = 0.0  # mean |step| over `memory` readings
        self._short_step = 0.0  # mean |step| over ~20 readings
        self._res_day = 0.0  # mean |residual| from the hour-of-day profile
        self._res_week = 0.0
        self._k_day = 0  # residuals seen so far by each profile
        self._k_week = 0
        self._day = array("f", [math.nan]) * _DAY_HOURS
        # A shipment lasts days; the hour-of-week profile is most of the state, so
        # callers that cannot see a week may leave it out (its cue is then 0).
        self._week = array("f", [math.nan]) * (_WEEK_HOURS if weekly else 0)
        self._rec = array("d", [0.0]) * _N_CUES
        self._cool = 0

    def update(self, ts_ms: int, value: float | None) -> float:
        """Learn from one reading (event time in epoch ms) and return its score in [0, 1].

        A missing (None), NaN, infinite or absurd value scores 0.0 and is not learnt from.
        """
        if value is None:
            return 0.0
        x = float(value)
        if not -_MAX_ABS <= x <= _MAX_ABS:  # also false for NaN
            return 0.0
        n = self._n = self._n + 1
        if n == 1:
            self._ref = self._mean = self._prev = x
        a = 1.0 / n if n < self.memory else 1.0 / self.memory
        mean = self._mean
        tiny = 1e-9 * (abs(mean) + 1e-9)
        spread = self._spread if self._spread > tiny else tiny
        long_step = self._long_step
        step_unit = long_step if long_step > _REL_FLOOR * spread else _REL_FLOOR * spread
        floor_unit = _REL_FLOOR * spread

        step = abs(x - self._prev)
        jump = step / step_unit
        short_step = self._short_step + _SHORT_RATE * (step - self._short_step)
        self._short_step = short_step
        if short_step < _REL_FLOOR * step_unit:
            short_step = _REL_FLOOR * step_unit
        # A stream that has never moved cannot collapse: no variability cue until it does.
        log_ratio = math.log(short_step / step_unit) if long_step > 0.0 else 0.0
        self._long_step = long_step + a * (step - long_step)
        self._prev = x
        dev = x - mean
        self._mean = mean + a * dev
        self._spread += a * (abs(dev) - self._spread)

        hours = int(ts_ms) // _HOUR_MS
        offset = x - self._ref
        if offset > _F32_MAX:
            offset = _F32_MAX
        elif offset < -_F32_MAX:
            offset = -_F32_MAX
        day_cue = 0.0
        h = hours % _DAY_HOURS
        expected = self._day[h]
        if expected != expected:  # first visit to this hour
            self._day[h] = offset
        else:
            resid = abs(offset - expected)
            k = self._k_day = self._k_day + 1
            scale = self._res_day
            if k > 1:
                day_cue = resid / (scale if scale > floor_unit else floor_unit)
            self._res_day = scale + (a if a > 1.0 / k else 1.0 / k) * (resid - scale)
            self._day[h] = expected + _SEASON_RATE * (offset - expected)
        week_cue = 0.0
        h = hours % _WEEK_HOURS
        expected = self._week[h] if self._week else 0.0
        if not self._week:
            pass  # no weekly profile kept
        elif expected != expected:
            self._week[h] = offset
        else:
            resid = abs(offset - expected)
            k = self._k_week = self._k_week + 1
            scale = self._res_week
            if k > 1:
                week_cue = resid / (scale if scale > floor_unit else floor_unit)
            self._res_week = scale + (a if a > 1.0 / k else 1.0 / k) * (resid - scale)
            self._week[h] = expected + _SEASON_RATE * (offset - expected)

        seasonal = day_cue if day_cue > week_cue else week_cue
        cues = (
            jump if jump < seasonal else seasonal,  # a jump to a value usual for the hour is not
            log_ratio if log_ratio > 0.0 else 0.0,
            -log_ratio if log_ratio < 0.0 else 0.0,
            day_cue,
            week_cue,
        )
        return self._calibrate(n, cues)

    def _calibrate(self, n: int, cues: tuple[float, ...]) -> float:
        """Turn cues into a score: the largest cue over its fading record, then damping."""
        rec = self._rec
        if n < self.warmup:
            if n >= self.warmup // 3:
                for i in range(_N_CUES):
                    if cues[i] > rec[i]:
                        rec[i] = cues[i]
            return 0.0
        decay = self._decay
        floors = self._floors
        ratio = 0.0
        for i in range(_N_CUES):
            c = cues[i]
            bar = rec[i]
            if bar < floors[i]:
                bar = floors[i]
            if c > ratio * bar:
                ratio = c / bar
            faded = rec[i] * decay
            rec[i] = c if c > faded else faded
        if self._cool > 0:
            self._cool -= 1
            if ratio > 1.0 and self._cool < _EXTENSION:
                self._cool = _EXTENSION
            ratio *= _DAMPING
        elif ratio > 1.0:
            self._cool = self.refractory
        return 1.0 - 1.0 / (1.0 + ratio)

    def __getstate__(self) -> tuple[object, ...]:
        """Compact pickle state: every slot's value, in slot order."""
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        """Restore the slots written by `__getstate__`."""
        for name, value in zip(self.__slots__, state, strict=True):
            object.__setattr__(self, name, value)
