"""A calibrated anomaly score in [0, 1] for every reading of any numeric channel.

`AnomalyScorer` watches one univariate stream (a reefer's return-air temperature, a
battery voltage, a shock count) and says how surprising each reading is, with no
knowledge of the channel: it learns the stream's own scale, step size and daily and
weekly rhythm as it goes. Six cues measure surprise in units of the stream's own
history: a jump (the step from the last reading over the usual step, counted only as
far as the new value is also unusual, so a daily switch-over is not a jump), a rise or
a collapse of short-term variability against the long-run variability (noise bursts,
a stuck sensor), the distance from the usual value at this hour of the day and of the
week (`detectors.anomaly_season`: learnt from whole past hours, so every minute of an
hour is judged alike), and the distance from the level of the last few readings. Each
cue has its own warm-up (a profile's spans a whole day or week, so its record has seen
every hour) and counts only when it beats its own record, a running maximum that fades
with a half-life, so a stream that is always noisy has to get noisier than it has lately
been before it scores high; a record stops fading while the cue keeps coming back to
most of it (a daily switch-over, the same burst every few days), so a surprise the
stream keeps producing never beats it by a hair. With ``ratio`` the largest cue over its
record, the score is ``1 - 2 ** -ratio``: 0.5 means "as surprising as anything lately",
0.9 a 3.3-fold and 0.95 a 4.3-fold record, in any unit and at any sampling interval.
After a detection the score is damped for a while, and for as long as the event keeps
breaking records, so one incident fires once, unless it keeps growing well past what it
was when it fired (a room warming for an hour).
"""

from __future__ import annotations

import functools
import math
from array import array
from typing import Final

from detectors import anomaly_season as season

_HOUR_MS: Final = 3_600_000
_DAY_HOURS: Final = 24
_WEEK_HOURS: Final = 168
#: Weight of the newest step in the short-term average step (about 20 readings).
_SHORT_RATE: Final = 0.05
#: Weight of the newest reading in the recent level (about the last 5 readings).
_LEVEL_RATE: Final = 0.2
#: Scale floors relative to the next coarser scale, so flat streams do not divide by 0.
_REL_FLOOR: Final = 1e-3
#: Minimum surprise each cue must reach to count, whatever its record: a jump of 10
#: usual steps, a 7.4-fold (e**2) change in variability, 8 usual residuals from the
#: hour's profiles or from the recent level.
_CUE_FLOORS: Final = (10.0, 2.0, 2.0, 8.0, 8.0, 8.0)
_N_CUES: Final = 6
#: Factor applied to the score while a detected event is cooling down.
_DAMPING: Final = 0.3
#: Cues whose growth during a cool-down makes an event score again: the distances from
#: the usual value for the hour measure how far an event has gone; a jump (or the
#: distance from the last few readings) measures one step, and a coarse probe's
#: next count is not a growing event.
_GROWING: Final = frozenset((3, 4))
#: Each cue's period in hours if it judges against a profile (hour of day, hour of week),
#: else 0: a profile's residuals differ by hour, so its record is learnt over a whole
#: period, until every hour has been judged, and not only over its warm-up. Learnt over the
#: last 200 of its first 300 readings (17 hours at 5-minute reporting), a record was beaten
#: the first time the busier hours came round; on the Numenta Anomaly Benchmark's
#: development part the whole period lifts the standard score from 74.00 to 74.14
#: in-sample and from 64.93 to 65.22 cross-validated (`bench/nab_cv.py`).
_PERIODS: Final = (0, 0, 0, _DAY_HOURS, _WEEK_HOURS, 0)
_FIRST_PROFILE: Final = 3
#: Growth over its largest surprise so far at which an ongoing event scores again.
_GROWTH: Final = 1.2
#: Readings by which an event that is still breaking records extends its cool-down.
_EXTENSION: Final = 60
#: Default `record_hold`: a cue back at 80 % of its record holds it.
RECORD_HOLD: Final = 0.8
#: Readings beyond this magnitude are treated like NaN (keeps all arithmetic finite).
_MAX_ABS: Final = 1e30
_F32_MAX: Final = 3.0e38
_INF: Final = math.inf


#: The empty weekly profile of every scorer without one, and the records broken by the event
#: of every scorer that has not detected one yet: shared, as they are never written to (an
#: empty profile is never folded into; `_calibrate` replaces the base, never writes into it),
#: where an array of its own costs each stream 64 bytes and more.
_NO_PROFILE: Final = season.empty(0)
_NO_BASE: Final = array("d", [1.0]) * _N_CUES


@functools.cache
def _decay(record_half_life: int) -> float:
    # Shared by every scorer with the same half-life: a float of its own is 24 bytes a stream.
    return float(0.5 ** (1.0 / record_half_life))


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
    A score of ``1 - 2 ** -r`` means a cue beat its own fading record r-fold: above
    0.5 it beat it at all (the level that ranks best on the Numenta Anomaly
    Benchmark), 0.95 is a 4.3-fold record (the `anomaly` alert's level).

    Parameters
    ----------
    memory : readings over which the long-run step size and seasonal spread are
        averaged; 2000 is a week of 5-minute readings.
    record_half_life : readings after which a past record surprise counts half;
        shorter forgets old incidents sooner and alerts more.
    record_hold : share of its record a cue must reach to hold the record from fading
        for that reading; ``math.inf`` lets records always fade (the score before
        records were held).
    refractory : readings after a detection during which scores are damped.
    warmup : readings scored 0.0 while the baselines settle (records are collected
        over the last two thirds of them); a cue that can only judge later (the
        hourly profiles, from their third day) gets the same warm-up of its own,
        and a profile's record is learnt over at least a whole day (or week).
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
        "_acc",
        "_acc_n",
        "_base",
        "_cool",
        "_day",
        "_day_n",
        "_decay",
        "_floors",
        "_hour",
        "_k_day",
        "_k_week",
        "_level",
        "_long_step",
        "_mean",
        "_n",
        "_peak",
        "_prev",
        "_rec",
        "_ref",
        "_res_day",
        "_res_level",
        "_res_week",
        "_seen",
        "_short_step",
        "_since",
        "_spread",
        "_week",
        "_week_n",
        "memory",
        "record_half_life",
        "record_hold",
        "refractory",
        "strictness",
        "warmup",
    )

    def __init__(
        self,
        memory: int = 2000,
        record_half_life: int = 3000,
        record_hold: float = RECORD_HOLD,
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
        if not record_hold > 0:
            raise ValueError(f"record_hold must be positive, got {record_hold!r}")
        if not strictness > 0:
            raise ValueError(f"strictness must be positive, got {strictness!r}")
        self.memory = memory
        self.record_half_life = record_half_life
        self.record_hold = record_hold
        self.refractory = refractory
        self.warmup = warmup
        self.strictness = strictness
        self._decay = _decay(record_half_life)
        self._floors = _floors(strictness)
        self._n = 0
        self._ref = 0.0  # first reading: profiles store offsets from it
        self._mean = 0.0
        self._spread = 0.0  # mean absolute deviation from the mean
        self._prev = 0.0
        self._long_step = 0.0  # mean |step| over `memory` readings
        self._short_step = 0.0  # mean |step| over ~20 readings
        self._level = 0.0  # level of the last few readings
        self._res_level = 0.0  # mean |distance| from that level
        self._res_day = 0.0  # mean |residual| from the hour-of-day profile
        self._res_week = 0.0
        self._k_day = 0  # residuals judged so far by each profile
        self._k_week = 0
        # The hour being accumulated: profiles learn its mean only once it is over, so
        # that :00 and :45 are both compared with earlier hours, never with this one.
        self._hour = 0
        self._acc = 0.0
        self._acc_n = 0
        self._day, self._day_n = season.empty(_DAY_HOURS)
        # A shipment lasts days; the hour-of-week profile is most of the state, so
        # callers that cannot see a week may leave it out (its cue is then never judged).
        self._week, self._week_n = season.empty(_WEEK_HOURS) if weekly else _NO_PROFILE
        self._rec = array("d", [0.0]) * _N_CUES
        # Readings each cue has judged, up to `warmup` (a profile's: once its period is learnt).
        self._seen = array("l", [0]) * _N_CUES
        # The hour each profile cue began to learn its record (inf: not yet).
        self._since = array("d", [math.inf]) * 2
        self._cool = 0
        self._base = _NO_BASE  # the records an ongoing event broke (none yet)
        self._peak = 0.0  # its largest surprise over them so far

    @property
    def usual_step(self) -> float:
        """The stream's mean absolute change between readings so far (0.0 until it moves)."""
        return self._long_step

    def update(self, ts_ms: int, value: float | None) -> float:
        """Score one reading (event time in epoch ms) in [0, 1], then learn from it.

        A missing (None), NaN, infinite or absurd value scores 0.0 and is not learnt from.
        """
        if value is None:
            return 0.0
        x = float(value)
        if not -_MAX_ABS <= x <= _MAX_ABS:  # also false for NaN
            return 0.0
        n = self._n = self._n + 1
        if n == 1:
            self._ref = self._mean = self._prev = self._level = x
        a = 1.0 / n if n < self.memory else 1.0 / self.memory
        mean = self._mean
        tiny = 1e-9 * (abs(mean) + 1e-9)
        spread = self._spread if self._spread > tiny else tiny
        long_step = self._long_step
        step_unit = long_step if long_step > _REL_FLOOR * spread else _REL_FLOOR * spread
        floor_unit = _REL_FLOOR * spread

        step = abs(x - self._prev)
        # A stream that has never moved has no step size to measure a step in: its first
        # move (a coarse probe's first change of one count) is not judged.
        jump = step / step_unit if long_step > 0.0 else -1.0
        short_step = self._short_step + _SHORT_RATE * (step - self._short_step)
        self._short_step = short_step
        if short_step < _REL_FLOOR * step_unit:
            short_step = _REL_FLOOR * step_unit
        # A stream that has never moved cannot collapse: no variability cue until it does.
        log_ratio = math.log(short_step / step_unit) if long_step > 0.0 else 0.0
        self._long_step = long_step + a * (step - long_step)
        self._prev = x
        # Distance from the level of the last few readings, in its usual units: a value
        # off the recent level although each step to it is ordinary (a fast ramp).
        resid = abs(x - self._level)
        scale = self._res_level
        level_cue = resid / (scale if scale > floor_unit else floor_unit) if scale > 0.0 else -1.0
        if n > 1:
            self._res_level = scale + a * (resid - scale)
        self._level += _LEVEL_RATE * (x - self._level)
        dev = x - mean
        self._mean = mean + a * dev
        self._spread += a * (abs(dev) - self._spread)

        offset = x - self._ref
        if offset > _F32_MAX:
            offset = _F32_MAX
        elif offset < -_F32_MAX:
            offset = -_F32_MAX
        hour = int(ts_ms) // _HOUR_MS
        if hour != self._hour:
            self._close_hour()
            self._hour = hour
        self._acc += offset
        self._acc_n += 1
        day_cue = week_cue = -1.0  # -1: no judgement (no profile, or a young one)
        frac = (int(ts_ms) % _HOUR_MS) / _HOUR_MS
        # `season.distance` says -1 for a missing or young profile value: asked here first, as
        # it is for the first days of every stream (and always of a missing weekly profile),
        # it spares a call on most readings.
        h = hour % _DAY_HOURS
        young = not self._day or self._day_n[h] < season.MIN_VISITS
        resid = -1.0 if young else season.distance(self._day, self._day_n, h, frac, offset)
        if resid >= 0.0:
            k = self._k_day = self._k_day + 1
            scale = self._res_day
            if k > 1:
                day_cue = resid / (scale if scale > floor_unit else floor_unit)
            self._res_day = scale + (a if a > 1.0 / k else 1.0 / k) * (resid - scale)
        h = hour % _WEEK_HOURS
        young = not self._week or self._week_n[h] < season.MIN_VISITS
        resid = -1.0 if young else season.distance(self._week, self._week_n, h, frac, offset)
        if resid >= 0.0:
            k = self._k_week = self._k_week + 1
            scale = self._res_week
            if k > 1:
                week_cue = resid / (scale if scale > floor_unit else floor_unit)
            self._res_week = scale + (a if a > 1.0 / k else 1.0 / k) * (resid - scale)

        # A jump to a value usual for the hour (or, before the profiles can tell, one
        # close to the recent level) is not one: a daily switch-over, a settling probe.
        usual = day_cue if day_cue > week_cue else week_cue
        if usual < 0.0:
            usual = level_cue if level_cue >= 0.0 else 0.0
        cues = (
            jump if jump < usual or jump < 0.0 else usual,
            log_ratio if log_ratio > 0.0 else 0.0,
            -log_ratio if log_ratio < 0.0 else 0.0,
            day_cue,
            week_cue,
            level_cue,
        )
        return self._calibrate(n, cues)

    def _close_hour(self) -> None:
        """Fold the mean of the hour just over into its hour-of-day and -week values."""
        if self._acc_n == 0:
            return
        mean = self._acc / self._acc_n
        self._acc = 0.0
        self._acc_n = 0
        season.fold(self._day, self._day_n, self._hour % _DAY_HOURS, mean)
        if self._week:
            season.fold(self._week, self._week_n, self._hour % _WEEK_HOURS, mean)

    def _profile_count(self, i: int, k: int) -> int:
        """Profile cue `i`'s count of judged readings `k`, held below `warmup` within its period.

        A profile's residuals differ by hour, so its record is learnt until a whole period
        has passed since it began to: 300 readings may be a few hours of a day (or a week).
        """
        j = i - _FIRST_PROFILE
        hour = self._hour
        if k >= self.warmup // 3 and self._since[j] == _INF:
            self._since[j] = hour
        if k >= self.warmup and hour - self._since[j] < _PERIODS[i]:
            return self.warmup - 1
        return k

    def _calibrate(self, n: int, cues: tuple[float, ...]) -> float:
        """Turn cues into a score: the largest cue over its fading record, then damping."""
        # Each cue has its own warm-up, counted in the readings it has judged: a profile
        # that starts judging on day three has no record yet, and against its bare floor
        # every ordinary reading of its first hours would look like a record breaker.
        rec = self._rec
        seen = self._seen
        start = self.warmup // 3
        decay = self._decay
        hold = self.record_hold
        floors = self._floors
        cooling = self._cool > 0
        base = self._base
        warmup = self.warmup
        bars = [0.0] * _N_CUES
        ratio = esc = 0.0
        for i in range(_N_CUES):
            c = cues[i]
            if c < 0.0:
                # A cue with nothing to judge against yet. Its record is left as it is, so
                # its bar is taken only if a detection needs the bars (below), not here.
                continue
            # The record read once: each read of a typed array makes a float object anew.
            r = rec[i]
            bar = bars[i] = r if r > floors[i] else floors[i]
            k = seen[i]
            if k < warmup:
                k += 1
                if _PERIODS[i]:
                    k = self._profile_count(i, k)
                seen[i] = k
                if k < warmup:
                    if k >= start and c > r:
                        rec[i] = c
                    continue
            if c > ratio * bar:
                ratio = c / bar
            if cooling and i in _GROWING and c > esc * base[i]:
                esc = c / base[i]
            # A cue back at most of its record holds it: a surprise of that size that keeps
            # coming is the stream's normal, and a record fading under it made each return a
            # record by a hair (a perfect daily square wave scored 0.5 every few days).
            faded = r if c >= hold * r else r * decay
            rec[i] = c if c > faded else faded
        if n < self.warmup:
            return 0.0
        if cooling:
            self._cool -= 1
            if ratio > 1.0 and self._cool < _EXTENSION:
                self._cool = _EXTENSION
            # The records have learnt the event by now: measured against the records it
            # broke, an event that keeps growing (a room warming for an hour) scores in
            # full each time it has grown by half, instead of staying damped.
            if esc > _GROWTH * self._peak:
                self._peak = ratio = esc
            else:
                ratio *= _DAMPING
        elif ratio > 1.0:
            self._cool = self.refractory
            self._peak = ratio
            for i in range(_N_CUES):
                if cues[i] < 0.0:  # not judged: its record is as it was before this reading
                    bars[i] = rec[i] if rec[i] > floors[i] else floors[i]
            self._base = array("d", bars)  # a new array: the first replaces the shared _NO_BASE
        return 1.0 - math.pow(0.5, ratio)

    def __getstate__(self) -> tuple[object, ...]:
        """Compact pickle state: every slot's value, in slot order."""
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        """Restore the slots written by `__getstate__`, also by an older release.

        A state without `_since` (its profiles learnt their records over their warm-up
        alone) goes on as it was; one also without `record_hold` takes the default hold.
        """
        names: tuple[str, ...] = self.__slots__
        if len(state) < len(names):  # an older release: the same order, fewer slots
            # Its profiles' records are as that release learnt them: none waits for a period.
            names = tuple(n for n in names if n != "_since")
            object.__setattr__(self, "_since", array("d", [-math.inf]) * 2)
        if len(state) == len(names) - 1:  # written before records were held
            names = tuple(n for n in names if n != "record_hold")
            object.__setattr__(self, "record_hold", RECORD_HOLD)
        for name, value in zip(names, state, strict=True):
            object.__setattr__(self, name, value)
