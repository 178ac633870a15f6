"""The early warning: forecast when the product will leave its range, while there is time to act.

A time-aware Holt filter (exponential smoothing of level and trend, with weights from the
actual gap between readings, so irregular reporting is fine) tracks the product temperature.
From the trend and its uncertainty it asks: how likely is it that the range is left within the
horizon? When that probability passes `min_confidence` the condition is active, with the
predicted breach time and the confidence in the alert. Short disturbances that stay inside the
range (defrost cycles, a door opened at a stop, sensor noise) move the level but barely the
hour-scale trend; a reading far beyond what the recent forecast errors explain (a probe moved
to a warmer shelf) is a shift of the level, taken by the level alone, and the readings after it
say whether a rise follows. The forecast must agree for a hold time before it is reported,
counted in time and in the device's reporting interval (a reading stands for the interval since
the one before; one that the recent forecast errors do not explain, such as a door's gust,
moves the level but not the trend, and needs the next to agree), and the warm-up needs both
time and a few readings, so a logger reporting every 15 minutes is warned as well as a tracker
reporting every minute. What the filter has learnt survives a brief exit from the range; only a
long gap or a long excursion starts it afresh. Two things tell a thermostat cycling just under
the limit from a failure: a drift must have been seen to begin (the warm-up ends with the
least-squares slope of its readings, and the trend, or the level over one of the trend's time
constants, must since have been calm once, slower than a thermostat's rise; a creep slower than
that is warned however it began), and a rise that has not passed the top of a recent rise that
turned back by itself is the cycle again, not yet a breach. Two things keep a warning from
being opened too far ahead for what is known: the warming rate itself may change over the
horizon (a door shut, power back, a unit that settles), so the further ahead the crossing, the
less sure it is, however steady the trend has been; and a rise an open door let in is not
warned of while it settles after the door is shut. That rise is a step of the level, not a rate
of the unit: once the door shuts, the trend goes back to what it was before the door opened,
and the readings of the settling time (the cargo and walls giving back the heat that came in,
which keeps the probe rising for a quarter of an hour or more) move the level only. A door left
open is learnt from as any rise, so it is warned of before the product leaves its range. The
smoothed level and trend lag a rise that has turned by tens of minutes: a reading a degree back
against the trend is believed over them, and no warning opens or sharpens on it; nor does a
new warning open once the readings have, on average, fallen well short of the forecast (a
rise that has stalled at its top, as a defrost's or a door's heat does).
"""

from __future__ import annotations

import functools
import math
from typing import Final

from detectors.alerts import Condition, rfc3339
from detectors.forecast_calibration import calibrate
from detectors.forecast_cycles import Turns
from detectors.pickled import SlotState, restore_slots
from detectors.product_probe import judged_temperature, product_lag
from detectors.profiles import Shipment
from detectors.reading import Reading
from detectors.sensor_fault import probe_plausible

_MS_PER_H: Final = 3_600_000.0
#: A trend needs two readings and its spread at least two more: fewer readings than this
#: are no forecast, however long they span (at 15-minute reporting, 30 min is 2 readings).
MIN_READINGS: Final = 4
#: An exit from the range, or a gap, of up to this many reporting intervals keeps what the
#: filter learnt: one odd or missed reading is common, four in a row are an outage or a
#: change of regime after which the old trend is not about now.
KEEP_INTERVALS: Final = 4
#: How fast the warming rate itself may wander, as the variance it gains per hour ((°C/h)²/h),
#: whatever the rate: a failing unit that loses ground faster or slower.
TREND_DRIFT: Final = 0.3
#: How often a rise stops of itself (a door shut, power back, a unit that settles), per hour.
#: A stop takes away the rate in hand, so it widens the forecast in proportion to the rate: a
#: steady creep of a few tenths of a degree an hour is not made as uncertain as a fast rise.
#: Both were chosen together on development seeds 11, 3 and 5 and synthetic ramps (drift 0.1
#: or 0.3 with stops 0.5, 1 or 2 an hour, each with its calibration refitted: the most slow
#: ramps warned ahead with every target and the issue's patterns still met; a drift of 0.1
#: warned the first cycle of a slow thermostat just under the limit). Before, a drift of 1
#: (°C/h)²/h alone put a floor of 1 °C under the spread, and creeps under 0.6 °C/h were rarely
#: warned at all.
TREND_STOP_PER_H: Final = 2.0
#: While the door is reported open, a rise stops this many times as often: the heat an open
#: door lets in stops coming when someone shuts it, which is minutes, not the hour a unit
#: takes to settle, and most doors are shut before the product leaves its range. The breach
#: warning is not the alert to act on there (`door_open` is, within minutes), and about half
#: the warnings with no breach after them on development seeds 11, 3, 5 and 7 (35 of 67) were
#: raised on doors left open.
#: Chosen on development seeds 11, 3, 5 and 7 from 1, 3 and 6: at 3 their warnings with no
#: breach after them fell from 17.5, 7.3, 10.5 and 16.0 % to 15.0, 6.6, 8.3 and 16.0 % (67 to
#: 59 in all), with the failures' median lead as before and 19 of their 21 door breaches
#: warned ahead (20 before); at 6, 44 and 16 of 21. Shut-door warnings are as before, so the
#: calibration stands (bins 82/93/98 % on its development seeds either way).
DOOR_STOP_FACTOR: Final = 3.0
#: The trend's time constant spans this many of the device's reporting intervals, within
#: TREND_TAU_MIN: a trend smoothed over fewer readings follows where a thermostat's cycle
#: happens to be sampled (a 15-minute logger on a 30-minute cycle sees a slow wave of its own),
#: over more it lags a failure that a one-minute tracker shows plainly. Eight, between 20 and
#: 40 min, changes only trackers reporting more often than every 5 minutes (40 min was every
#: device's before): on development seeds 11, 3 and 5 the median lead rose by 2 or 3 min. A
#: slowest of 60 min for 10- and 15-minute loggers took away the breach warnings of cold rooms
#: cycling 0.4-1 °C under their limit (6 of 200, all at 15 min, on seed 1 of a check of such
#: rooms), but cost lead on seed 5 and missed a room creeping up under a 15-minute cycle.
TREND_READINGS: Final = 8
#: The fastest and the slowest time constant of the trend (min).
TREND_TAU_MIN: Final = (20.0, 40.0)
#: A failing unit's product warms faster and faster at first (its air warms before it does),
#: and a smoothed trend lags a quickening rise by about the quickening times the trend's time
#: constant. The trend's own rate of change is smoothed over this long (min), with its spread.
ACCEL_TAU_MIN: Final = 60.0
#: A quickening counts only this many standard errors clear of zero, towards the limit: a
#: thermostat cycle read every 10 or 15 minutes swings the trend both ways, and its quickening
#: is never that clear there.
ACCEL_SIGMAS: Final = 2.0
#: The share of the lag a clear quickening implies that the forecast adds to the rate; all of
#: it would take the quickening to go on, which a unit that settles or a door shut ends. The
#: three were chosen on development seed 11 and the cycling cold rooms of seeds 1 and 2: on
#: seeds 3 and 5 the median lead rose from 24 and 23 min to 27 and 26, with 0 and 2 more
#: warnings not followed by a breach, and the calibration's bins held (82, 93, 98 %).
ACCEL_SHARE: Final = 0.5
_ACCEL_TAU_H: Final = ACCEL_TAU_MIN / 60
#: A trend slower than this (°C/h) after the warm-up is a calm: slower than a thermostat's
#: rise, so a rise that follows has an onset that was seen. The forecast itself starts at
#: `min_rate_c_per_h`, which may be slower (a passive shipper's creep).
CALM_C_PER_H: Final = 0.3
#: After a door shuts, the probe goes on warming while the cargo absorbs the heat that came
#: in: for this long the readings move the level, not the trend, and no warning opens unless
#: the trend from before the door was already a rise (or a fall).
DOOR_SETTLE_MIN: Final = 30.0
#: A reading this many standard deviations of the recent one-step forecast errors away from
#: its forecast is a shift of the level (a probe moved, a load added), not a change of rate.
SHIFT_SIGMAS: Final = 6.0
#: A reading further than this many standard deviations of the recent forecast errors from
#: its forecast is a surprise: a warning resting on it alone waits for the next reading.
SURPRISE_SIGMAS: Final = 3.0
#: A reading back against a rising (or falling) trend by more than this many standard
#: deviations of the recent forecast errors, and at least SHIFT_MIN_C, says the rise has turned.
TURN_SIGMAS: Final = 2.0
#: However quiet the probe, a forecast error under this (°C) is never taken for a shift:
#: a quantisation step or two, and the lag of the level behind a brisk rise.
SHIFT_MIN_C: Final = 1.0
#: A rise (or fall) whose readings have kept falling short of the forecast, on average over the
#: level's time constant, by more than this share of the lag a full stall would leave (the
#: trend times the level's time constant) has stalled: no warning opens on it, however the
#: lagging trend still points. A steady rise leaves no such shortfall and a quickening one the
#: opposite; the half-way mark between a steady rise and a full stall. On development seeds 11,
#: 3 and 5 no warning changed (at 0.3, one on seed 11, which a breach followed); freezer rooms
#: of seeds 1 and 2 had 29 and 41 warnings after a defrost's top (24 and 38 with it).
STALL_SHARE: Final = 0.5


#: What `_warm` holds once the warm-up is over.
_WARMED: Final = (0.0, 0.0, 0.0, 0.0, 0.0)


@functools.cache
def _window_ms(cycle_min: float) -> int:
    """The turning points' window: one int object for every device with the same setting, where
    each derived afresh is 32 bytes a device."""
    return int(cycle_min * 60_000)


@functools.cache
def _trend_taus_h(fastest_min: float, slowest_min: float) -> tuple[float, float]:
    """The trend's time constants in hours: one tuple shared by every device with the same
    settings, where each derived afresh is about 100 bytes a device."""
    return fastest_min / 60, slowest_min / 60


def _trend_tau_h(taus_h: tuple[float, float], interval_ms: float) -> float:
    """The trend's time constant (h) for a device reporting every `interval_ms`."""
    fastest, slowest = taus_h
    return min(max(TREND_READINGS * interval_ms / _MS_PER_H, fastest), slowest)


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


class PredictedBreach:
    """Warn before a product leaves its temperature range.

    Catches the slow rise of a failing reefer or a warming shipper and says
    when the range will be left; misses sudden jumps (see TempExcursion).

    Parameters
    ----------
    low_c, high_c : the product's range in °C.
    horizon_min : minutes ahead to look; 90 warns up to an hour and a half before the breach.
    min_confidence : probability the forecast crosses the limit within the horizon before firing,
        calibrated (`forecast_calibration`): of warnings at 80 %, about 80 % are followed by one.
    level_tau_min : smoothing time constant of the level.
    trend_tau_min : the fastest and slowest smoothing time constants of the trend; between
        them it spans TREND_READINGS of the device's reporting intervals.
    min_rate_c_per_h : slower drifts are left to the excursion check. 0.15 warns a passive
        shipper creeping at 0.2 °C/h; at 0.3, synthetic creeps of 0.15-0.25 °C/h were warned
        ahead less than two times in three, and the simulated fleets score the same either way.
    warmup_min : no forecast before the filter has seen this much time and MIN_READINGS.
    hold_min : how long the forecast must agree before it is reported; readings at least
        this far apart need only one.
    keep_min : exits from the range and gaps up to this long (or KEEP_INTERVALS reporting
        intervals, whichever is longer) keep what was learnt; longer ones start afresh.
    cycle_min : how long a rise that turned back by itself is remembered, so the next rise
        to the same height is taken for the cycle again (see `forecast_cycles.Turns`); 12 h,
        since a cold room defrosts every 6 to 12 hours (6 h warned of most defrosts).
    trend_drift : how fast the warming rate itself may wander, as the variance it gains per
        hour ((°C/h)² per hour); it widens the forecast the further ahead it looks.
    trend_stop_per_h : how often a rise stops of itself, per hour; it widens the forecast in
        proportion to the rate (DOOR_STOP_FACTOR times as often while the door is open).
    door_settle_min : after the door is reported shut, how long the trend, back at its value
        from before the door opened, is not learnt, and no new warning opens unless that
        trend was a rise (or fall) of `min_rate_c_per_h` or more.
    product_lag_min : for a probe that reads the air, the product's time constant: the
        forecast is of the product the readings simulate (`detectors.product_probe`), and no
        warning opens on a rise faster than the air now drives that product; None for a
        probe in the product.

    Examples
    --------
    >>> d = PredictedBreach(2.0, 8.0, horizon_min=60)
    >>> # Steady at 5 °C for an hour, then rising 2 °C/h: the onset is seen, so it is warned.
    >>> temps = [5.0 + max(0.0, 2.0 * (i - 12) / 12) for i in range(40)]
    >>> rising = [Reading("t", i * 300_000, temp_c=c) for i, c in enumerate(temps)]
    >>> [c.kind for r in rising for c in (d.update(r) or []) if c.active][:1]
    ['temp_breach_predicted']
    """

    __slots__ = (
        "_accel",
        "_accel_var",
        "_active",
        "_before_door",
        "_calm_from",
        "_calm_rate",
        "_calm_seen",
        "_door_open",
        "_door_shut_ms",
        "_exit_level",
        "_exit_peak",
        "_interval_ms",
        "_last_in",
        "_last_ts",
        "_level",
        "_n",
        "_resid_var",
        "_shifted",
        "_shortfall",
        "_slope_var",
        "_start_ts",
        "_trend",
        "_turns",
        "_warm",
        "confident_since_ms",
        "door_settle_ms",
        "high_c",
        "hold_ms",
        "horizon_h",
        "keep_ms",
        "level_tau_h",
        "low_c",
        "min_confidence",
        "min_rate",
        "product",
        "raw_confidence",
        "trend_drift",
        "trend_stop",
        "trend_tau_h",
        "warmup_ms",
    )

    def __init__(
        self,
        low_c: float,
        high_c: float,
        horizon_min: float = 90.0,
        min_confidence: float = 0.8,
        level_tau_min: float = 15.0,
        trend_tau_min: tuple[float, float] = TREND_TAU_MIN,
        min_rate_c_per_h: float = 0.15,
        warmup_min: float = 30.0,
        hold_min: float = 5.0,
        keep_min: float = 60.0,
        cycle_min: float = 720.0,
        trend_drift: float = TREND_DRIFT,
        trend_stop_per_h: float = TREND_STOP_PER_H,
        door_settle_min: float = DOOR_SETTLE_MIN,
        product_lag_min: float | None = None,
    ) -> None:
        self.low_c, self.high_c = low_c, high_c
        self.horizon_h = horizon_min / 60
        self.min_confidence = min_confidence
        self.level_tau_h = level_tau_min / 60
        self.trend_tau_h = _trend_taus_h(*trend_tau_min)
        self.min_rate = min_rate_c_per_h
        self.warmup_ms = int(warmup_min * 60_000)
        self.hold_ms = int(hold_min * 60_000)
        self.keep_ms = int(keep_min * 60_000)
        self.trend_drift = trend_drift
        self.trend_stop = trend_stop_per_h
        self.door_settle_ms = int(door_settle_min * 60_000)
        #: When the forecast began to agree (counting the interval the first agreeing
        #: reading stands for), or None.
        self.confident_since_ms: int | None = None
        #: The uncalibrated probability of the last reading's forecast, None without one:
        #: what `bench/forecast_calibration.py --fit` fits the calibration on.
        self.raw_confidence: float | None = None
        self._interval_ms = 0.0  # smoothed reporting interval; 0 until two readings
        self._level = math.nan
        self._trend = 0.0
        # The trend's own rate of change (°C/h²) and the variance of what it is learnt from:
        # whether a rise is quickening, clearly enough to say the trend lags it.
        self._accel = 0.0
        self._accel_var = 0.0
        self._slope_var = 0.0
        # Variance of the one-step forecast errors (reading - forecast level), what the
        # device's noise and its trend's wandering explain; and whether the last reading was
        # taken for a shift of the level, so a second one in a row is learnt as a change.
        self._resid_var = 0.0
        self._shifted = False
        # The last reading in range, and the one before the product last left its range (NaN
        # while it is inside; infinite after a second reading outside): the way back in says
        # whether the rise that carried it out has turned (see `_back_in_range`).
        self._last_in = math.nan
        self._exit_level = math.nan
        # The furthest reading outside the range since the product left it; NaN in range.
        self._exit_peak = math.nan
        self._last_ts = 0
        self._start_ts = 0
        self._n = 0
        self._active = False
        # Peaks and troughs of the level within cycle_min: a rise that has not passed the
        # top of a recent rise that turned back by itself is a cycle, not yet a failure.
        self._turns = Turns(_window_ms(cycle_min))
        # Whether the trend was seen under min_rate after the warm-up: a drift already under
        # way when the filter started has no observed onset, and from the inside a thermostat's
        # first rise looks the same as a failure's; the excursion check has those.
        self._calm_seen = False
        # The trend (°C/h) under which a calm counts: slower than a thermostat's rise after a
        # fresh start; after a way back into range, under the forecast's own minimum, since
        # the trend that carried the product out decays only slowly through the band between.
        self._calm_rate = CALM_C_PER_H
        # While no calm is seen: when and where the level was, so a level that has stayed put
        # for a trend's time constant is a calm even while the smoothed trend still carries a
        # start's settling (a trend fitted to the warm-up decays over hours); None once seen.
        self._calm_from: tuple[int, float] | None = None
        # Sums (n, t, y, t*t, t*y) of the warm-up readings, t in hours from the first: the
        # trend leaves the warm-up as their least-squares slope, not grown from zero, so a
        # drift under way from the start is not taken for a calm that then changed.
        self._warm = (0.0, 0.0, 0.0, 0.0, 0.0)
        # The door as last reported, and when it was last seen shut after being open: the
        # rise an open door let in is over once it shuts, though the trend says otherwise.
        self._door_open = False
        self._door_shut_ms: int | None = None
        # The trend, its spread and its quickening when the door was seen to open: the rate
        # the open door added ends when it shuts, and the unit's own is the one from before it.
        self._before_door: tuple[float, ...] | None = None
        # The simulated product behind an air probe (`detectors.product_probe`), whose
        # forecast this is; None for a probe in the product.
        self.product = product_lag(product_lag_min)

    def update(self, r: Reading) -> list[Condition] | None:
        if self.product is not None:
            r = self.product.reading(r)
        if r.door == "open":
            if not self._door_open and self._n:
                self._before_door = (self._trend, self._slope_var, self._accel, self._accel_var)
            self._door_open = True
        elif r.door == "closed" and self._door_open:
            self._door_open, self._door_shut_ms = False, r.ts_ms
            if self._before_door is not None:
                before = self._before_door
                self._trend, self._slope_var = before[0], before[1]
                # (A snapshot from before the quickening was learnt kept two values.)
                self._accel, self._accel_var = before[2:] if len(before) == 4 else (0.0, 0.0)
                self._before_door = None
        t = r.temp_c
        if t is None or not probe_plausible(t):
            return None  # also False for NaN: a failing probe must not bend the trend
        ts = r.ts_ms
        self.raw_confidence = None
        # How long a silence may last and leave what was learnt standing: the keep time, or
        # KEEP_INTERVALS reporting intervals. (The small tests of `update` are written out in
        # it, not called as methods: each call costs more than its test, on every reading.)
        if self._n and ts - self._last_ts > max(
            float(self.keep_ms), KEEP_INTERVALS * self._interval_ms
        ):
            self._n = 0  # a long silence: what was learnt is no longer about now
        if self._n == 0:
            self._level, self._last_ts, self._start_ts, self._n = t, ts, ts, 1
            self._trend, self._slope_var = 0.0, 0.0
            self._accel, self._accel_var = 0.0, 0.0
            self._resid_var, self._shortfall, self._shifted = 0.0, 0.0, False
            self._last_in = self._exit_level = self._exit_peak = math.nan
            self.confident_since_ms = None
            self._turns.reset()
            self._calm_seen, self._calm_rate, self._calm_from = False, CALM_C_PER_H, None
            self._warm = (1.0, 0.0, t, 0.0, 0.0)
            return None
        dt_h = (ts - self._last_ts) / _MS_PER_H
        if dt_h <= 0:
            return None
        prev_ts = self._last_ts
        if t > self.high_c or t < self.low_c:
            # The breach is here: the excursion check takes over from the forecast. The
            # reading is not learnt (an excursion's steps would read as a trend for an hour
            # after it); the filter keeps what it had, and the exit counts as a gap in
            # readings in range, so a brief one costs no fresh warm-up and a long one resets.
            self.confident_since_ms = None
            peak = self._exit_peak
            if peak != peak or (t > peak if t > self.high_c else t < peak):
                self._exit_peak = t
            if self._exit_level != self._exit_level:
                self._exit_level = self._last_in
            else:
                # A second reading outside: whatever comes back in has turned.
                self._exit_level = math.inf if t > self.high_c else -math.inf
            return self._clear(r, f"range left at {t:.1f} °C; see temp_excursion")
        # Whether the product is still taking in the heat of a door shut lately.
        shut = self._door_shut_ms
        settling = shut is not None and 0 <= ts - shut < self.door_settle_ms
        if self._exit_level == self._exit_level:
            self._back_in_range(ts, t, door=self._door_open or settling)
        self._last_in = t
        gap = ts - prev_ts
        # Smoothed, so one late reading does not redefine the device's reporting interval.
        self._interval_ms = gap if not self._interval_ms else 0.7 * self._interval_ms + 0.3 * gap
        self._last_ts = ts
        self._n += 1
        a = 1.0 - math.exp(-dt_h / self.level_tau_h)
        b = 1.0 - math.exp(-dt_h / _trend_tau_h(self.trend_tau_h, self._interval_ms))
        predicted = self._level + self._trend * dt_h
        error = t - predicted
        warm = ts - self._start_ts >= self.warmup_ms and self._n > MIN_READINGS
        # The forecast's usual miss, against which a reading is a surprise, a turn or a shift.
        miss = math.sqrt(self._resid_var)
        # Whether this reading is more than the recent forecast errors explain: a forecast
        # resting on it alone waits for the next reading before it is reported.
        surprising = abs(error) > max(SHIFT_MIN_C, SURPRISE_SIGMAS * miss)
        # How far (°C) the reading lies back against a rising or falling trend; 0 when calm:
        # the smoothed trend lags a rise that has turned by tens of minutes.
        trend = self._trend
        back = 0.0 if abs(trend) < self.min_rate else max(0.0, -error if trend > 0 else error)
        if warm and back > max(SHIFT_MIN_C, TURN_SIGMAS * miss):
            # Well back, beyond what the forecast usually misses by: the rise (or fall) has
            # turned or stopped; as after a way back into range, a new warning needs the
            # trend seen calm first.
            self._await_calm()
        if warm and not self._shifted and abs(error) > max(SHIFT_MIN_C, SHIFT_SIGMAS * miss):
            # An intervention on the level, not on its rate: the level takes the reading and
            # the trend is left as it was; the readings that follow say whether a rise comes.
            self._shifted = True
            level = t
        else:
            self._shifted = False
            level = predicted + a * error
            # Heat the door let in is a step of the level once the door is shut, however long
            # the product takes to absorb it: while it settles the level follows the readings
            # and the rate stays the unit's own. While the door is open its rise is learnt as
            # any other: a door left open is a breach on its way.
            # A surprising reading moves the level but not yet the rate: a gust or a touch
            # comes back at the next reading, a rise goes on and is learnt from then.
            if not (warm and (settling or surprising)):
                slope = (level - self._level) / dt_h
                innovation = slope - self._trend
                change = b * innovation
                self._trend += change
                c = 1.0 - math.exp(-dt_h / _ACCEL_TAU_H)
                quickening = change / dt_h - self._accel
                self._accel += c * quickening
                self._accel_var += c * (quickening * quickening - self._accel_var)
                self._slope_var += b * (innovation * innovation - self._slope_var)
            if not (warm and settling):
                self._resid_var += a * (error * error - self._resid_var)
                self._shortfall += a * (error - self._shortfall)
        self._turns.add(ts, level, level - self._level)
        self._level = level

        if ts - self._start_ts < self.warmup_ms or self._n < MIN_READINGS:
            self._warm_up((ts - self._start_ts) / _MS_PER_H, t)
            return None
        # The warm-up's sums are never read again (a reset starts new ones): they give way to
        # one shared tuple, as five floats and their tuple are 200 bytes a device.
        self._warm = _WARMED
        if not self._calm_seen and (
            abs(self._trend) < self._calm_rate or self._level_held(ts, level)
        ):
            self._calm_seen, self._calm_from = True, None
        forecast = self._forecast() if self._calm_seen else None
        if (
            forecast is not None
            and not self._active
            and settling
            and abs(self._trend) < self.min_rate
        ):
            # The door's own rise, shut off: not a warning, nor one to clear. (The trend, not
            # learnt while the door's heat settles, is the one from before the door opened: a
            # rise or fall under way then is the unit's or the weather's, and its breach may
            # come within the settling.)
            forecast = None
        if forecast is not None:
            # The threshold, the alert and its clearing all speak of the calibrated value.
            self.raw_confidence = forecast[2]
            forecast = (forecast[0], forecast[1], calibrate(forecast[2]))
        if forecast is None or forecast[2] < self.min_confidence:
            self.confident_since_ms = None
        elif self.confident_since_ms is None:
            # The forecast at this reading rests on the interval since the one before:
            # that much agreement counts towards the hold, unless the reading is a surprise
            # (a door's gust, a probe touched): then the next reading must agree too.
            self.confident_since_ms = ts if surprising else max(prev_ts, ts - self.hold_ms)
        if forecast is None:
            if not self._active:
                return None
            if not self._calm_seen:
                # The smoothed trend still points the old way after a turn: the reading says it.
                way = "rise" if self._trend > 0 else "fall"
                return self._clear(r, f"the {way} has turned; now {t:.1f} °C")
            return self._clear(r, f"no breach forecast; trend {self._trend:+.2f} °C/h")
        limit, hours, confidence = forecast
        if confidence >= self.min_confidence and not self._active and self._stalled():
            # The readings have stopped keeping up with the trend (a defrost's or a door's
            # heat topping out): no new warning, nor a hold counted towards one.
            self.confident_since_ms = None
            return None
        if confidence >= self.min_confidence and back > SHIFT_MIN_C:
            # A reading a degree back against the rise is no breach on its way, whatever the
            # lagging trend says: it neither opens nor updates a warning, nor counts to a hold.
            self.confident_since_ms = None
            return None
        if confidence >= self.min_confidence:
            assert self.confident_since_ms is not None
            if not self._active and ts - self.confident_since_ms < self.hold_ms:
                return None  # not agreed for the hold yet
            self._active = True
            at_ms = ts + int(hours * _MS_PER_H)
            due = "now" if at_ms <= ts else f"in {hours * 60:.0f} min"
            # The calibration was fitted on rises with the doors shut: a forecast made while
            # the door stands open says when the limit is passed if it stays open, which the
            # reader should be told.
            door = "; door open, if it stays open" if self._door_open else ""
            now = judged_temperature(t, self.product)
            summary = (
                f"forecast to pass {limit:g} °C at {rfc3339(at_ms)[11:16]} UTC"
                f" ({due}; now {now}, trend {self._trend:+.2f} °C/h,"
                f" confidence {confidence:.0%}{door})"
            )
            return [
                Condition(
                    "temp_breach_predicted",
                    True,
                    ts,
                    "critical" if hours * 60 <= 30 else "warning",
                    summary,
                    self._evidence(t, limit, confidence),
                    round(hours * 60, 1),
                    predicted_breach_at_ms=at_ms,
                    confidence=round(confidence, 3),
                )
            ]
        if self._active and confidence < self.min_confidence / 2:
            return self._clear(r, f"breach no longer likely ({confidence:.0%})")
        return None

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before the drift and the door were known."""
        # What a snapshot from before them lacks takes its default: the door as never seen.
        self.trend_drift, self.door_settle_ms = TREND_DRIFT, int(DOOR_SETTLE_MIN * 60_000)
        self._door_open, self._door_shut_ms, self._before_door = False, None, None
        self._accel, self._accel_var = 0.0, 0.0
        self._resid_var, self._shortfall, self._shifted = 0.0, 0.0, False
        self._last_in = self._exit_level = self._exit_peak = math.nan
        self._calm_rate = CALM_C_PER_H  # a snapshot from before the forecast's floor fell
        self._calm_from = None
        self.product = None  # a snapshot from before air probes were simulated
        restored = restore_slots(self, state)
        if not isinstance(self.trend_tau_h, tuple):
            # One time constant for every device, as before the reporting interval set it.
            self.trend_tau_h = _trend_taus_h(*TREND_TAU_MIN)
        if "trend_stop" not in restored:
            # Its drift belongs to the spread from before stops were allowed for, which the
            # calibration no longer matches: it takes today's model whole.
            self.trend_drift, self.trend_stop = TREND_DRIFT, TREND_STOP_PER_H

    def _back_in_range(self, ts: int, t: float, door: bool) -> None:
        """The first reading back in range: has the rise that carried the product out turned?

        The readings outside were not learnt, so the trend is still the one that carried the
        product out, and it would read the way back as a breach about to happen. After more
        than one reading outside (an excursion, not a blip), or back in no higher than the
        last reading before it left (no lower, after a fall through the bottom), the product
        has turned or stalled: a new warning needs the trend seen calm again, as after the
        warm-up. After a single reading out, back in higher than before it (a blip on the way
        up), the trend stands.

        A rise that turned outside the range and came back by itself (a defrost that took the
        air over the limit) turned at a height the level never saw: its furthest reading
        outside is noted as a turning point of the cycle, so the next rise that stops short
        of it is the cycle again, not a breach on its way. Not when a door was open or just
        shut (`door`): a door's heat is no cycle of the unit.
        """
        last, self._exit_level = self._exit_level, math.nan
        peak, self._exit_peak = self._exit_peak, math.nan
        if (t <= last) if last > (self.low_c + self.high_c) / 2 else (t >= last):
            self._await_calm()
            if peak == peak and not door:
                self._turns.outside(ts, peak, above=peak > self.high_c)

    def _await_calm(self) -> None:
        """A rise (or fall) has turned: a new warning needs the trend seen under the forecast's
        minimum first, since the trend that carried it decays only slowly through the band
        between that and a fresh start's calm."""
        self._calm_seen, self._calm_rate = False, min(self.min_rate, CALM_C_PER_H)
        self._calm_from = None

    def _level_held(self, ts: int, level: float) -> bool:
        """Whether the level has moved slower than a calm over the last trend time constant
        (called while no calm is seen; starts a new span once one has passed)."""
        start = self._calm_from
        if start is None:
            self._calm_from = (ts, level)
            return False
        span_h = (ts - start[0]) / _MS_PER_H
        if span_h < _trend_tau_h(self.trend_tau_h, self._interval_ms):
            return False
        self._calm_from = (ts, level)
        return abs(level - start[1]) < self._calm_rate * span_h

    def _warm_up(self, x: float, y: float) -> None:
        """Take the least-squares slope of the readings so far as the trend."""
        n, sx, sy, sxx, sxy = self._warm
        n, sx, sy, sxx, sxy = n + 1, sx + x, sy + y, sxx + x * x, sxy + x * y
        self._warm = (n, sx, sy, sxx, sxy)
        spread = n * sxx - sx * sx
        if n >= 3 and spread > 0:
            self._trend = (n * sxy - sx * sy) / spread

    def _forecast(self) -> tuple[float, float, float] | None:
        """(limit, hours to reach it, probability it is reached within the horizon) or None."""
        trend = self._trend
        if trend >= self.min_rate:
            limit, gap = self.high_c, self.high_c - self._level
        elif trend <= -self.min_rate:
            limit, gap = self.low_c, self._level - self.low_c
        else:
            return None
        if self._turns.within(self._level, rising=trend > 0):
            return None
        tau_h = _trend_tau_h(self.trend_tau_h, self._interval_ms)
        rate = abs(trend) + self._lag(trend, tau_h)
        product = self.product
        if product is not None and not self._active:
            # A simulated product moves towards the air as it is now, and no faster than the
            # air drives it: once a defrost's or a door's warm air is gone, the product is
            # cooling, whatever its smoothed trend, which lags, still says. No warning opens on
            # a rise faster than that (an open one is kept on the trend, so a failing unit's
            # air dipping for a moment does not clear and reopen it).
            drive = product.warming_c_per_h()
            drive = drive if trend > 0 else -drive
            if drive < rate:
                if not drive > 0.0:  # also NaN: no air taken yet
                    return None
                rate = drive
        horizon = self.horizon_h
        # The smoothed level can sit past the limit while the reading is just inside it: the
        # crossing is then due now, never minutes in the past (the confidence still uses the gap).
        hours = max(gap, 0.0) / rate
        if hours > 3 * self.horizon_h:
            return None
        # Uncertainty of the smoothed trend: slope innovations shrunk by the trend's smoothing
        # weight over one level time constant.
        b = 1.0 - math.exp(-self.level_tau_h / tau_h)
        sigma = math.sqrt(max(self._slope_var, 1e-6) * b / (2.0 - b))
        # Over the horizon the warming rate itself may change: a trend that wanders as a random
        # walk adds drift * H^3 / 3 to the variance of where the product will be, and a rise
        # that stops at a random moment (a door shut, power back, a unit that settles), at
        # `trend_stop` an hour, adds about stop * trend^2 * H^3 / 3. So a crossing an hour away
        # is less sure than one a quarter of an hour away, however steady the trend has been,
        # and a fast rise is less sure to go on than a slow creep.
        # A rise an open door lets in stops when someone shuts it, sooner than a unit settles.
        stop = self.trend_stop * (DOOR_STOP_FACTOR if self._door_open else 1.0)
        wander = self.trend_drift + stop * trend * trend
        spread = math.sqrt((sigma * horizon) ** 2 + wander * horizon**3 / 3.0)
        return limit, hours, _normal_cdf((rate * horizon - gap) / spread)

    def _stalled(self) -> bool:
        """Have the readings fallen short of the forecast, on average, by more than
        STALL_SHARE of what a full stall of the trend would leave?"""
        trend = self._trend
        short = -self._shortfall if trend > 0 else self._shortfall
        return short > STALL_SHARE * abs(trend) * self.level_tau_h

    def _lag(self, trend: float, tau_h: float) -> float:
        """How far (°C/h) the smoothed trend lags a rise (or fall) that is clearly quickening
        towards its limit: ACCEL_SHARE of the quickening, less ACCEL_SIGMAS standard errors,
        times the trend's time constant `tau_h`; 0 where it is not clearly quickening."""
        accel = self._accel if trend > 0 else -self._accel
        if accel <= 0.0:
            return 0.0
        c = 1.0 - math.exp(-self._interval_ms / _MS_PER_H / _ACCEL_TAU_H)
        clear = accel - ACCEL_SIGMAS * math.sqrt(self._accel_var * c / (2.0 - c))
        if clear <= 0.0:
            return 0.0
        return ACCEL_SHARE * clear * tau_h

    def _evidence(self, t: float, limit: float, confidence: float) -> dict[str, object]:
        evidence: dict[str, object] = {
            "temp_c": t,
            "level_c": round(self._level, 2),
            "trend_c_per_h": round(self._trend, 3),
            "lag_c_per_h": round(
                self._lag(self._trend, _trend_tau_h(self.trend_tau_h, self._interval_ms)), 3
            ),
            "limit_c": limit,
            "range_c": [self.low_c, self.high_c],
            "horizon_min": round(self.horizon_h * 60),
            "confidence": round(confidence, 3),
            "raw_confidence": None
            if self.raw_confidence is None
            else round(self.raw_confidence, 3),
        }
        if self._door_open:
            evidence["door_open"] = True
        if self.product is not None:
            evidence["air_c"] = self.product.air_c
        return evidence

    def _clear(self, r: Reading, why: str) -> list[Condition] | None:
        if not self._active:
            return None
        self._active = False
        return [
            Condition("temp_breach_predicted", False, r.ts_ms, "info", why, {"temp_c": r.temp_c})
        ]


def make_predicted_breach(shipment: Shipment) -> PredictedBreach | None:
    p = shipment.profile
    if p.temp_range_c is None:
        return None
    return PredictedBreach(
        p.temp_range_c[0],
        p.temp_range_c[1],
        horizon_min=p.breach_horizon_min,
        product_lag_min=shipment.product_lag_min,
    )
