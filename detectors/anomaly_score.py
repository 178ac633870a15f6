"""A calibrated anomaly score in [0, 1] for every reading of any numeric channel.

`AnomalyScorer` watches one univariate stream (a reefer's return-air temperature, a
battery voltage, a shock count) and says how surprising each reading is, with no
knowledge of the channel: it learns the stream's own scale, step size and, optionally,
its daily and weekly rhythm as it goes. Six cues measure surprise in units of the
stream's own history: a jump (the step from the last reading over the usual step,
counted only as far as the new value is also unusual for the hour, so a daily
switch-over is not a jump), a rise or a collapse of short-term variability against the
long-run variability (noise bursts, a stuck sensor), the distance from the level of the
last few readings, and the distance from the usual value at this hour of the day and of
the week. The hourly profiles learn from whole past hours only, so every minute of an
hour is judged against the same baseline. Each cue is turned into a probability by a
peaks-over-threshold tail estimate on the stream's own history of that cue (a
generalised Pareto fit, by moments, above a running 95 % quantile), and the score is one
minus the smallest of them times the number of cues (a Bonferroni bound). At most about
1 % of ordinary readings score above 0.99; `ALERT_SCORE` (0.9999) is the level for
alerting. After a detection the
score is damped for a while, and for as long as the event keeps being detected, so one
incident fires once.
"""

from __future__ import annotations

import math
from array import array
from typing import Final

_HOUR_MS: Final = 3_600_000
_DAY_HOURS: Final = 24
_WEEK_HOURS: Final = 168
#: Weight of the newest step in the short-term average step (about 20 readings).
_SHORT_RATE: Final = 0.05
#: Weight of the newest day's hourly mean in its hour-of-day and hour-of-week profile.
_SEASON_RATE: Final = 0.2
#: Scale floors relative to the next coarser scale, so flat streams do not divide by 0.
_REL_FLOOR: Final = 1e-3
_N_CUES: Final = 6
#: Weight of the newest reading in the recent level (about the last 5 readings).
_LEVEL_RATE: Final = 0.2
#: Fraction of ordinary readings above the tail threshold; the tail model fits the rest.
_TAIL_Q: Final = 0.05
#: Step of the running tail threshold, relative to the mean surprise.
_TAIL_STEP: Final = 0.05
#: Exceedances over which the tail's shape is averaged.
_TAIL_MEMORY: Final = 200
#: Bounds on the tail's shape: never lighter than exponential (a light tail fitted on a
#: few hundred readings would call moderate values impossible), never wildly heavy.
_XI_MIN: Final = 0.0
_XI_MAX: Final = 0.45
#: An excess is clipped at this many mean excesses before it is learnt, so one incident
#: does not make the next one look ordinary.
_EXCESS_CLIP: Final = 10.0
#: Smallest probability reported (scores are written with 10 significant digits).
_P_MIN: Final = 1e-12
#: The score at which to alert: about one ordinary reading in 10,000 reaches it.
ALERT_SCORE: Final = 0.9999
#: Factor applied to the surprise while a detected event is cooling down.
_DAMPING: Final = 0.3
#: Readings by which an event that is still being detected extends its cool-down.
_EXTENSION: Final = 60
#: Readings beyond this magnitude are treated like NaN (keeps all arithmetic finite).
_MAX_ABS: Final = 1e30
_F32_MAX: Final = 3.0e38


class AnomalyScorer:
    """Score each reading of one numeric stream for how anomalous it is, in [0, 1].

    Catches spikes and level jumps, bursts of noise, flatlines and stuck sensors,
    and values unusual for the hour of the day or of the week; misses slow drifts
    that stay within the stream's usual range. Scores are 0.0 during warm-up and
    for missing, NaN, inf or absurd (``abs(value) > 1e30``) readings, which are
    ignored. A score is one minus the estimated probability that an ordinary reading
    of this stream is as surprising: alert at `ALERT_SCORE` (0.9999), about one
    ordinary reading in 10,000.

    Parameters
    ----------
    memory : readings over which the long-run level, step size, seasonal spread and
        tail are averaged; 8000 is about a month of 5-minute readings (chosen by
        leave-one-category-out cross-validation on the NAB data, bench/nab_cv.py).
    refractory : readings after a detection during which scores are damped.
    detection_p : tail probability under which a reading counts as a detection and
        opens the cool-down; 1e-3 is a score of 0.999 (also chosen by that
        cross-validation).
    warmup : readings scored 0.0 while the baselines and the tail settle.
    daily : keep an hour-of-day profile (24 values).
    weekly : keep an hour-of-week profile (168 values, most of the state); streams
        shorter than a few weeks gain nothing from it.

    Examples
    --------
    >>> scorer = AnomalyScorer()
    >>> hour = 3_600_000
    >>> readings = [5.0 + 0.2 * math.sin(i / 3.8) + 0.01 * (i % 5) for i in range(700)]
    >>> readings[600] = 9.0  # the compressor trips: a jump nothing before resembles
    >>> scores = [scorer.update(i * hour, v) for i, v in enumerate(readings)]
    >>> max(scores[:600]) < ALERT_SCORE <= scores[600]
    True
    """

    __slots__ = (
        "_acc",
        "_acc_n",
        "_cool",
        "_day",
        "_ex_m",
        "_ex_s",
        "_hour",
        "_k_cue",
        "_k_day",
        "_k_ex",
        "_k_week",
        "_level",
        "_long_step",
        "_mean",
        "_n",
        "_prev",
        "_r_mean",
        "_ref",
        "_res_day",
        "_res_level",
        "_res_week",
        "_short_step",
        "_spread",
        "_u",
        "_week",
        "detection_p",
        "memory",
        "refractory",
        "warmup",
    )

    def __init__(
        self,
        memory: int = 8000,
        refractory: int = 300,
        warmup: int = 300,
        daily: bool = True,
        weekly: bool = True,
        detection_p: float = 1e-3,
    ) -> None:
        for name, value in (("memory", memory), ("refractory", refractory), ("warmup", warmup)):
            if value < 1:
                raise ValueError(f"{name} must be a positive number of readings, got {value!r}")
        if not 0.0 < detection_p < 1.0:
            raise ValueError(f"detection_p must be a probability in (0, 1), got {detection_p!r}")
        self.memory = memory
        self.detection_p = detection_p
        self.refractory = refractory
        self.warmup = warmup
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
        self._k_day = 0  # residuals seen so far by each profile
        self._k_week = 0
        # The hour being accumulated: profiles learn its mean only once it is over, so
        # that :00 and :45 are both compared with earlier days, never with this hour.
        self._hour = -1
        self._acc = 0.0
        self._acc_n = 0
        self._day = array("f", [math.nan]) * (_DAY_HOURS if daily else 0)
        self._week = array("f", [math.nan]) * (_WEEK_HOURS if weekly else 0)
        # Per cue: its mean (the step unit of its tail threshold), the running
        # (1 - _TAIL_Q) quantile, the mean and mean squared excess over it, and how
        # many excesses have been seen.
        self._r_mean = array("d", [0.0]) * _N_CUES
        self._u = array("d", [0.0]) * _N_CUES
        self._ex_m = array("d", [0.0]) * _N_CUES
        self._ex_s = array("d", [0.0]) * _N_CUES
        self._k_ex = array("q", [0]) * _N_CUES
        self._k_cue = array("q", [0]) * _N_CUES  # readings each cue's tail has learnt
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
        # Distance from the level of the last few readings, in its usual units: a value
        # off the recent level even though the step to it is ordinary (a drift that
        # accelerates, a spike spread over two readings).
        resid = abs(x - self._level)
        scale = self._res_level
        level_cue = resid / (scale if scale > floor_unit else floor_unit) if n > 2 else 0.0
        self._res_level = scale + a * (resid - scale) if n > 1 else 0.0
        self._level = x if n == 1 else self._level + _LEVEL_RATE * (x - self._level)
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

        # -1 marks a cue with no profile for this hour yet: it is neither learnt nor judged.
        day_cue = week_cue = seasonal = -1.0
        if self._day:
            expected = self._day[hour % _DAY_HOURS]
            if expected == expected:
                resid = abs(offset - expected)
                k = self._k_day = self._k_day + 1
                scale = self._res_day
                if k > 1:
                    seasonal = day_cue = resid / (scale if scale > floor_unit else floor_unit)
                self._res_day = scale + (a if a > 1.0 / k else 1.0 / k) * (resid - scale)
        if self._week:
            expected = self._week[hour % _WEEK_HOURS]
            if expected == expected:
                resid = abs(offset - expected)
                k = self._k_week = self._k_week + 1
                scale = self._res_week
                if k > 1:
                    week_cue = resid / (scale if scale > floor_unit else floor_unit)
                    if week_cue > seasonal:
                        seasonal = week_cue
                self._res_week = scale + (a if a > 1.0 / k else 1.0 / k) * (resid - scale)

        # A jump to a value usual for the hour is not one (a daily switch-over).
        cues = (
            jump if seasonal < 0.0 or jump < seasonal else seasonal,
            log_ratio if log_ratio > 0.0 else 0.0,
            -log_ratio if log_ratio < 0.0 else 0.0,
            day_cue,
            week_cue,
            level_cue,
        )
        return self._calibrate(n, cues, a)

    def _close_hour(self) -> None:
        """Fold the mean of the hour just over into the hour-of-day and -week profiles."""
        if self._acc_n == 0:
            return
        m = self._acc / self._acc_n
        self._acc = 0.0
        self._acc_n = 0
        for profile, period in ((self._day, _DAY_HOURS), (self._week, _WEEK_HOURS)):
            if profile:
                h = self._hour % period
                old = profile[h]
                profile[h] = m if old != old else old + _SEASON_RATE * (m - old)

    def _calibrate(self, n: int, cues: tuple[float, ...], a: float) -> float:
        """Turn the cues into one minus the smallest tail probability, damped after a detection."""
        # The first third of the warm-up is not learnt from: the baselines are still
        # settling and the first steps are measured against nearly nothing.
        start = self.warmup // 3
        if n <= start:
            return 0.0
        settled = self.warmup - start  # readings a cue's tail learns before it judges
        warm = n >= self.warmup
        p = damped = 1.0
        cooling = self._cool > 0
        u_all, r_mean, ex_m, ex_s, k_ex = self._u, self._r_mean, self._ex_m, self._ex_s, self._k_ex
        k_cue = self._k_cue
        detect = self.detection_p
        for i in range(_N_CUES):
            r = cues[i]
            if r < 0.0:
                continue  # a seasonal cue before its profile exists
            kc = k_cue[i] = k_cue[i] + 1
            w_mean = a if a > 1.0 / kc else 1.0 / kc
            judge = warm and kc > settled
            u = u_all[i]
            # Judge the reading by each tail as it stood, then learn from it (clipped),
            # unless it is a detection by itself: an incident that lasts (a stuck sensor)
            # would otherwise teach the tail that it is ordinary before it is reported.
            if judge:
                pi = self._tail_p(r, u, ex_m[i], ex_s[i])
                if pi < p:
                    p = pi
                if cooling:
                    pd = self._tail_p(r * _DAMPING, u, ex_m[i], ex_s[i])
                    if pd < damped:
                        damped = pd
                if pi * _N_CUES < detect:
                    continue
            m = r_mean[i] = r_mean[i] + w_mean * (r - r_mean[i])
            if r > u:
                kk = k_ex[i] = k_ex[i] + 1
                w = 1.0 / kk if kk < _TAIL_MEMORY else 1.0 / _TAIL_MEMORY
                excess = r - u
                clip = _EXCESS_CLIP * ex_m[i]
                if kk > 10 and excess > clip:
                    excess = clip
                ex_m[i] += w * (excess - ex_m[i])
                ex_s[i] += w * (excess * excess - ex_s[i])
                u_all[i] = u + _TAIL_STEP * m * (1.0 - _TAIL_Q)
            else:
                u_all[i] = u - _TAIL_STEP * m * _TAIL_Q
        if not warm:
            return 0.0
        # Several cues get several chances: a Bonferroni bound keeps the score calibrated.
        p *= _N_CUES
        if cooling:
            self._cool -= 1
            if p < self.detection_p and self._cool < _EXTENSION:
                self._cool = _EXTENSION
            # Raising p to a power below 1 keeps the cool-down under the alert level:
            # even the smallest p reported, 1e-12, becomes 2.5e-4.
            p = (damped * _N_CUES) ** _DAMPING
        elif p < self.detection_p:
            self._cool = self.refractory
        if p > 1.0:
            p = 1.0
        return 1.0 - (p if p > _P_MIN else _P_MIN)

    @staticmethod
    def _tail_p(r: float, u: float, m: float, s: float) -> float:
        """Estimated probability that an ordinary reading's cue is at least `r`."""
        if r <= u:
            return 1.0 - (1.0 - _TAIL_Q) * r / u if u > 0.0 else 1.0
        if m <= 0.0:
            return 0.0
        var = s - m * m
        xi = 0.5 * (1.0 - m * m / var) if var > 0.0 else 0.0
        if xi < _XI_MIN:
            xi = _XI_MIN
        elif xi > _XI_MAX:
            xi = _XI_MAX
        y = (r - u) / (m * (1.0 - xi))  # the generalised Pareto mean is sigma / (1 - xi)
        if xi > 1e-6:
            return _TAIL_Q * float((1.0 + xi * y) ** (-1.0 / xi))
        return _TAIL_Q * math.exp(-y) if y < 700.0 else 0.0

    def __getstate__(self) -> tuple[object, ...]:
        """Compact pickle state: every slot's value, in slot order."""
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        """Restore the slots written by `__getstate__`."""
        for name, value in zip(self.__slots__, state, strict=True):
            object.__setattr__(self, name, value)
