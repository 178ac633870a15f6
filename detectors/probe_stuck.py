"""Stuck probes: a temperature repeated for longer than this probe's own noise allows.

A probe that sticks keeps sending one value; so does an honest probe on a product that holds
still, when its noise is small next to its resolution. What tells them apart is the probe's own
record: how readily its readings moved while the product held still. A reading that reverses
the previous change is that noise at work; one that continues it is a trend (a pull-down, a
warming box) and says nothing about noise; nor does a change back after a pause, which a
product drifting back does too. Noise shows as a zigzag: a reading that steps straight back
against the change just before it. Not every zigzag is noise either: a coarse probe whose
product sits on the boundary between two of its steps flickers between those two values with
hardly any noise at all, and once the product drifts half a step it shows one value for hours.
A zigzag whose three readings span at least two of the probe's steps is noise, as no flicker on
one boundary can do that. One within a step is noise only where the probe's steps are fine
(0.1 °C or less) and the probe has shown that its noise crosses them: some of its zigzags span
two steps (`WIDE_SHARE`). A fine probe whose noise is a fifth of its step flickers on a
boundary as a coarse one does, and reads one value honestly for an hour and more once its
product drifts off the boundary. From that record, counted before the current run began, the
chance of an honest run as long as the current one is the beta-binomial predictive probability:
with c noisy changes and r repeats seen, k more repeats in a row have probability
B(1 + c, 1 + r + k) / B(1 + c, 1 + r). That is small only when the probe has shown noise, and
shrinks with every reading of the run: a probe that reports every minute shows a stuck value
sooner than one that reports every 15 minutes, in readings and in time, and a probe that never
showed noise is never called stuck, however long it repeats (without that rule its chance would
be 1 / (1 + k), which a long voyage eventually crosses). Zigzags alone undercount a noisy
probe's changes, as a third of them happen to continue the change before; a probe whose
noise spans its steps (`DITHER_WIDE_SHARE`) repeats by chance at about the same rate wherever
its product sits, so its run is also judged on its repeats among its repeats and one-step
changes. That rate is not the chance of a run, though: a run shows one value, the likeliest
step where the product sits, which each reading shows more often than two readings agree
(at 0.6 steps of noise, mid-step, 59 % against 43 %). So the rate says how noisy the probe
is (`noise_for_repeats`), and the run's chance is that of a run at the likeliest step for that
noise, averaged over where the product may sit (`log_dither_run`). A third record is the
noise's spread: the share of its zigzags that span two steps says how noisy the probe is at
least (`SPREAD_SHARES`), and for that noise no honest run is likelier than one on a product
that holds still mid-step (`log_spread_run`). As noise that is not independent between
readings shows in long honest runs, the second and third count only for a run more than twice
the longest the probe read honestly. The smallest chance counts. A run must also have lasted
`min_ms`: a probe's response time and a fast tracker's repeated sends make short runs of no
meaning.

A probe that reports every 10 or 15 minutes gives too few readings in an hour or two for its
run alone to be unlikely, but it shows how long it was stuck when it comes free: the first
reading after the run steps to where the product went meanwhile. So the run's end is judged
too: the chance of the run times the chance, from the probe's own record of how often its
consecutive readings moved that far (`MOVE_BOUNDS_C`, counted with one more and two more, as
the runs are), of a step that large. A product that held still for an hour seldom leaps at
once, so taking the two as independent overstates an honest end's chance. A step while the
tracker's door is open or settling is the door's and is not judged.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from array import array
from typing import Any, Final

from detectors.alerts import rfc3339
from detectors.pickled import SlotState, restore_slots

#: The resolution at which a cold-chain probe's readings still show its noise and the
#: product's own wander (the product of a controlled box moves by tenths of a degree).
FINE_STEP_C: Final = 0.1
#: On a fine probe, zigzags within one step count as noise only while at least this share of
#: all its zigzags span two steps. On development seeds 11, 3 and 5, 36 of 63 stuck spells are
#: caught at any share from 0 (every zigzag within a step counted) to 0.25 (35 at 0.35, 26
#: counting none). Six seeds of a fleet generated elsewhere, with 0.1 °C probes of 0.02-0.1 °C
#: noise, set it: counting every zigzag, three normal probes (wide shares of 0.00) were called
#: stuck after honest runs of 70 to 97 min, and 10 of 20 stuck spells were caught; at 0.05 or
#: 0.1 none and 8 (the two lost on probes with shares of 0.00 and 0.01, as quiet as the false
#: ones), at 0.25 none and 7.
WIDE_SHARE: Final = 0.1
#: A probe whose noise spans its steps (a standard deviation of more than about half a step)
#: repeats a reading by chance alone, at about the same rate wherever its product sits between
#: two steps, trend or none: its repeats among its repeats and one-step changes are then a fair
#: record of its noise (`noise_for_repeats`), where the zigzags alone count a third of its
#: noisy changes as trends. Such a probe shows it by its zigzags: at half a step of noise a
#: quarter of them span two steps, at one step 70 %, below a third of a step hardly any.
DITHER_WIDE_SHARE: Final = 0.45
#: Zigzags a probe must have shown before its wide share is taken as its noise.
DITHER_MIN_ZIGZAGS: Final = 10
#: The noises (standard deviations, in steps) a dithering probe's repeats are read against:
#: from under half a step, where a probe hardly dithers, to three steps.
DITHER_SIGMAS: Final = tuple(round(0.3 + 0.02 * i, 2) for i in range(136))
#: Where a product may sit between two of a probe's steps: offsets (in steps) from the centre
#: of one step, spread evenly over it, over which a dithering probe's run is averaged.
_OFFSETS: Final = tuple((i + 0.5) / 16 - 0.5 for i in range(16))
#: The repeat share's posterior is summed at its mean and up to this many standard deviations
#: either side, in quarters of one.
_POSTERIOR_Z: Final = tuple(i / 4 for i in range(-20, 21))

#: The most of its zigzags that span two steps a probe shows for a noise (a standard deviation
#: in steps) of each of these: Gaussian noise about a product that holds still, at the place
#: between two steps where the share is largest, which is mid-step (rounded up; derived again
#: by `tests/unit/detectors/test_sensor_fault_stuck_spread.py`). A share above one of these
#: says the noise is at least that large, wherever the product sat.
SPREAD_SHARES: Final = (
    (0.30, 0.094),
    (0.35, 0.148),
    (0.40, 0.203),
    (0.45, 0.255),
    (0.50, 0.306),
    (0.55, 0.355),
    (0.60, 0.404),
    (0.65, 0.451),
    (0.70, 0.497),
    (0.75, 0.540),
    (0.80, 0.580),
    (0.85, 0.617),
    (0.90, 0.650),
    (0.95, 0.680),
    (1.00, 0.707),
    (1.10, 0.752),
    (1.20, 0.789),
    (1.35, 0.831),
    (1.50, 0.863),
    (1.75, 0.899),
    (2.00, 0.923),
    (2.50, 0.951),
    (3.00, 0.967),
)
#: The wide share is taken at its lower bound (Wilson, this many standard errors), so a short
#: record does not speak for more noise than it showed.
SPREAD_Z: Final = 2.0
#: A run is judged on the noise's spread, or on a dithering probe's repeats, only once it is
#: this many times the longest run the probe read honestly: a probe whose noise is not
#: independent from one reading to the next (a filtered or slow probe, or an air probe whose
#: zigzags come in bursts of swirling air at a door or a defrost) shows it in long runs of its
#: own, whatever its zigzags say.
SPREAD_LONGEST_RATIO: Final = 2
#: Readings and steps are decimals sent as floats: 2.1 - 2.0 is 0.10000000000000009.
_EPS: Final = 1e-6

#: A run is stuck once an honest one that long has a smaller chance than this for the probe.
#: The least likely honest runs of 3,000 normal shipments over 48 h on development seeds
#: (1,000 each on seeds 12, 13 and 15, reporting every 1 to 15 min) had a chance of about two
#: in ten thousand (quiet 0.1 °C probes at 5 to 15 min): a twentieth of that leaves a margin.
#: Scored with each probe's true noise (which only the simulator knows), honest runs still
#: reach about three in 100,000, as a quiet probe whose product sits mid-step repeats itself
#: for hours: a better estimate of the noise would not make much looser odds safe.
#: The former one in ten million left stuck probes unreported for an hour or more of readings
#: that no honest run of these probes ever matched.
STUCK_ODDS: Final = 1e-5


#: Bounds (°C) of the probe's record of its moves: how many of its changes between consecutive
#: readings were at least each. From a quantisation step or two to a door's gust, about half as
#: far again each time; a step is judged by the largest bound it reaches, which overstates its
#: chance, never understates it.
MOVE_BOUNDS_C: Final = (0.15, 0.25, 0.4, 0.6, 1.0, 1.5, 2.5, 4.0)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def log_honest_run(changes: int, repeats: int, more: int) -> float:
    """Natural log of the chance that a probe which showed `changes` noisy changes and
    `repeats` repeats repeats itself `more` times in a row (beta-binomial, uniform prior).

    >>> round(math.exp(log_honest_run(0, 0, 9)), 3)  # no record: a run of 9 is ordinary
    0.1
    >>> log_honest_run(30, 10, 20) < math.log(1e-7)  # a lively probe: 20 in a row is not
    True
    """
    a, b = 1.0 + changes, 1.0 + repeats
    return _log_beta(a, b + more) - _log_beta(a, b)


def noise_steps_at_least(wide: int, zigzags: int) -> float | None:
    """The least noise (a standard deviation, in the probe's steps) that a record of `zigzags`
    zigzags, `wide` of them spanning two steps, speaks for (`SPREAD_SHARES`); None below the
    table, or before `DITHER_MIN_ZIGZAGS` zigzags.

    >>> noise_steps_at_least(11, 38), noise_steps_at_least(40, 50), noise_steps_at_least(1, 38)
    (0.35, 0.9, None)
    """
    if zigzags < DITHER_MIN_ZIGZAGS:
        return None
    share = min(wide, zigzags) / zigzags
    z2 = SPREAD_Z * SPREAD_Z
    # Wilson's lower bound of the share.
    centre = share + z2 / (2 * zigzags)
    half = SPREAD_Z * math.sqrt(share * (1 - share) / zigzags + z2 / (4 * zigzags * zigzags))
    low = (centre - half) / (1 + z2 / zigzags)
    least = None
    for sigma, most in SPREAD_SHARES:
        if most > low:
            break
        least = sigma
    return least


def log_spread_run(sigma: float, more: int) -> float:
    """Natural log of the most chance a probe with Gaussian noise of `sigma` steps has of
    repeating a reading `more` times in a row: each reading of a product that holds still
    mid-step shows that step with the chance erf(0.5 / (sigma √2)), and no other place or
    value is likelier.

    >>> round(math.exp(log_spread_run(0.5, 1)), 3), log_spread_run(0.5, 40) < math.log(1e-5)
    (0.683, True)
    """
    return more * math.log(math.erf(0.5 / (sigma * math.sqrt(2.0))))


@functools.cache
def dither_chances(sigma: float) -> tuple[float, tuple[float, ...]]:
    """For Gaussian noise of `sigma` steps on a product that holds still: the share of repeats
    among the pairs of consecutive readings that repeat or change by one step (the record
    `StuckWatch` keeps), averaged over where the product sits between two steps, and at each
    of `_OFFSETS` the chance that one reading shows the likeliest step.

    >>> repeat, likeliest = dither_chances(0.6)
    >>> round(repeat, 2), round(max(likeliest), 2), round(min(likeliest), 2)
    (0.47, 0.59, 0.47)
    """
    scale = sigma * math.sqrt(2.0)
    reach = int(5 * sigma) + 2
    repeats = one_step = 0.0
    likeliest = []
    for u in _OFFSETS:
        shows = [
            0.5 * (math.erf((j + 0.5 - u) / scale) - math.erf((j - 0.5 - u) / scale))
            for j in range(-reach, reach + 1)
        ]
        repeats += sum(q * q for q in shows)
        one_step += 2 * sum(q * r for q, r in itertools.pairwise(shows))
        likeliest.append(max(shows))
    return repeats / (repeats + one_step), tuple(likeliest)


def noise_for_repeats(share: float) -> float:
    """The noise (steps, from `DITHER_SIGMAS`) of a probe whose readings agree with the one
    before in `share` of its repeats and one-step changes: the largest tabulated noise that
    repeats at least that often, so the noise is never overstated (more noise, less chance of
    a run); the least tabulated noise where it repeats more often than all of them.

    >>> noise_for_repeats(0.466), noise_for_repeats(0.9), noise_for_repeats(0.01)
    (0.6, 0.3, 3.0)
    """
    # The shares fall as the noise grows: the noises that repeat at least `share` come first.
    falling = _falling_shares()
    return DITHER_SIGMAS[max(0, bisect.bisect_right(falling, -share) - 1)]


@functools.cache
def _falling_shares() -> list[float]:
    """Each of `DITHER_SIGMAS`' repeat shares, negated: increasing, for `bisect`."""
    return [-dither_chances(sigma)[0] for sigma in DITHER_SIGMAS]


def log_dither_run(repeats: int, changes: int, more: int) -> float:
    """Natural log of the chance that a probe whose noise spans its steps, with `repeats`
    repeats and `changes` one-step changes on record, reads one value `more` times more in a
    row: for each share of repeats its record allows (a beta posterior, uniform prior), the
    noise that repeats that often (`noise_for_repeats`), and for that noise the chance of the
    run at the likeliest step, averaged over where the product sits.

    >>> # About 0.6 steps of noise: mid-step each reading shows one value 6 times in 10, so
    >>> # 18 readings of it keep a chance of about 2 in 100,000 on a long record, and more on
    >>> # a short one, which leaves room for a quieter probe than its share says.
    >>> [round(math.exp(log_dither_run(n * 20, n * 27, 17)), 5) for n in (1, 10)]
    [0.00057, 2e-05]
    >>> log_dither_run(400, 600, 25) < math.log(1e-7)  # a noisier probe, well on record
    True
    """
    total = 0.0
    for w, likeliest in _posterior(repeats, changes):
        total += w * sum(q**more for q in likeliest)
    return math.log(total) if total > 0.0 else -math.inf


@functools.lru_cache(maxsize=256)
def _posterior(repeats: int, changes: int) -> tuple[tuple[float, tuple[float, ...]], ...]:
    """The shares a record allows, as (weight, each offset's likeliest-step chance for the
    noise that share gives), the weights summing to one over all offsets: a run's record is
    fixed while it lasts, so each of its readings reuses this."""
    a, b = 1.0 + repeats, 1.0 + changes
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
    points = []
    for z in _POSTERIOR_Z:
        share = mean + z * sd
        if 0.0 < share < 1.0:
            w = math.exp(
                (a - 1.0) * math.log(share / mean) + (b - 1.0) * math.log((1 - share) / (1 - mean))
            )
            points.append((w, dither_chances(noise_for_repeats(share))[1]))
    total = sum(w for w, _ in points) * len(_OFFSETS)
    return tuple((w / total, likeliest) for w, likeliest in points)


class StuckWatch:
    """Whether a probe's current run of identical readings is longer than its noise allows.

    `update` takes each plausible reading in time order and returns the summary and
    evidence while the current run is implausible, else None.

    Examples
    --------
    >>> w = StuckWatch(min_min=60, odds=1e-7)
    >>> lively = [4.2, 4.3, 4.2, 4.4, 4.3, 4.4]  # every reading steps back against the last
    >>> [w.update(i * 300_000, lively[i % 6]) for i in range(36)].count(None)
    36
    >>> out = [w.update((36 + i) * 300_000, 4.3) for i in range(24)]
    >>> first = next(i for i, o in enumerate(out) if o is not None)
    >>> first * 5, out[first][1]["readings"], out[first][1]["minutes"]  # an hour: 13 readings
    (60, 13, 60.0)
    """

    __slots__ = (
        "_changes",
        "_last_sign",
        "_longest",
        "_moved",
        "_moves",
        "_one_step",
        "_pairs",
        "_prev2_t",
        "_prev_changed",
        "_prev_t",
        "_prev_ts",
        "_repeats",
        "_run_changes",
        "_run_flagged",
        "_run_n",
        "_run_pairs",
        "_run_since",
        "_step",
        "_wide",
        "_zigzags",
        "log_odds",
        "min_ms",
    )

    def __init__(self, min_min: float = 60.0, odds: float = STUCK_ODDS) -> None:
        self.min_ms, self.log_odds = _settings(min_min, odds)
        self._pairs = 0  # repeats and reversals: pairs of readings of a product holding still
        self._changes = 0  # the reversals among them that may show noise
        self._wide = 0  # those among them that span two steps, which surely do
        self._repeats = 0  # every pair of consecutive readings that repeated
        self._one_step = 0  # every change between consecutive readings of one step
        self._zigzags = 0  # every zigzag, counted as noise or not
        self._last_sign = 0
        self._step = math.inf  # the smallest change seen: the probe's resolution
        self._prev_t = math.nan
        self._prev2_t = math.nan
        self._prev_changed = False  # whether the previous reading changed from the one before
        self._prev_ts = 0
        self._run_n = 0  # repeats in the current run
        self._run_flagged = False  # whether the current run has been reported
        self._longest = 0  # the most repeats of a run that ended unreported
        self._run_since = 0
        self._run_pairs = 0  # the record as it stood when the current run began
        self._run_changes = 0
        # Changes between consecutive readings, and how many were at least each MOVE_BOUNDS_C.
        self._moves = 0
        self._moved = array("I", bytes(4 * len(MOVE_BOUNDS_C)))

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before the moves or the wide zigzags were
        counted (every zigzag it counted is then taken for noise, as it was)."""
        self._moves, self._moved = 0, array("I", bytes(4 * len(MOVE_BOUNDS_C)))
        self._repeats = self._one_step = self._zigzags = self._longest = 0
        self._run_flagged = False
        if "_wide" not in restore_slots(self, state):
            self._wide = self._changes

    def update(self, ts: int, t: float, door: bool = False) -> tuple[str, dict[str, Any]] | None:
        """Feed one plausible reading; the summary and evidence while its run is implausible,
        or on the reading that ends an implausible run (not while `door` says the tracker's
        door is open or settling)."""
        prev = self._prev_t
        out = None
        if t == prev:
            if self._run_n == 0:
                self._run_since = self._prev_ts
                self._run_pairs, self._run_changes = self._pairs, self._noise_shown()
            self._run_n += 1
            self._pairs += 1
            self._repeats += 1
            out = self._judge(ts, t)
        elif not math.isnan(prev):
            step = abs(t - prev)
            # How many of MOVE_BOUNDS_C the step reaches: judged against the record as it
            # stood before the step, then added to it.
            reached = bisect.bisect_right(MOVE_BOUNDS_C, step + _EPS)
            if self._run_n:
                if not door:
                    out = self._judge_end(t, prev, step, reached)
                if out is None and not self._run_flagged:
                    self._longest = max(self._longest, self._run_n)
                self._run_flagged = False
            self._run_n = 0
            self._step = min(self._step, step)
            # Against the smallest change seen so far: until the probe has shown its
            # resolution, a change of two steps may count as one (noise, not trend).
            self._one_step += step <= self._step + _EPS
            self._count_move(reached)
            sign = 1 if t > prev else -1
            if sign != self._last_sign:
                self._pairs += 1
                if self._prev_changed:
                    wide = self._wide_zigzag(t, prev)
                    self._zigzags += 1
                    if wide or self._step <= FINE_STEP_C + _EPS:
                        self._changes += 1
                        self._wide += wide
            self._last_sign = sign
        self._prev_changed = not math.isnan(prev) and t != prev
        self._prev2_t, self._prev_t, self._prev_ts = prev, t, ts
        return out

    def _noise_shown(self) -> int:
        """The zigzags of the record that show noise: all it counted where enough of them span
        two steps (on a coarse probe only those are counted), else only those."""
        changes, wide = self._changes, self._wide
        return changes if wide >= WIDE_SHARE * changes else wide

    def _wide_zigzag(self, t: float, prev: float) -> bool:
        """Do this zigzag's three readings span two of the probe's steps?"""
        before = self._prev2_t
        if math.isnan(before):
            return False
        span = max(t, prev, before) - min(t, prev, before)
        return span >= 2 * self._step - _EPS

    def _count_move(self, reached: int) -> None:
        """Record a change that reached the first `reached` of MOVE_BOUNDS_C."""
        self._moves += 1
        moved = self._moved
        for i in range(reached):
            moved[i] += 1

    def _judge_end(
        self, t: float, prev: float, step: float, reached: int
    ) -> tuple[str, dict[str, Any]] | None:
        """The reading `t` that ends a run at `prev` with a `step` reaching the first `reached`
        of MOVE_BOUNDS_C: were the run and this step together less likely than the odds for
        an honest probe? (A run already implausible alone was reported while it lasted.)"""
        last_ts = self._prev_ts
        log_run = self._run_log_chance(last_ts)
        if log_run is None or log_run < self.log_odds or not reached:
            return None
        as_large = self._moved[reached - 1]
        log_p = log_run + math.log((as_large + 1) / (self._moves + 2))
        if log_p >= self.log_odds:
            return None
        minutes = (last_ts - self._run_since) / 60_000
        odds = math.exp(log_p)
        detail = (
            f"temperature read {prev:.2f} °C for {minutes:.0f} min ({self._run_n + 1} readings),"
            f" then {t:.2f} °C: this probe's own noise and moves give an honest run that long"
            f" ending in a step that large a chance of {odds:.0e}; those readings were likely"
            " stuck"
        )
        evidence = self._evidence(t, prev, minutes, odds)
        evidence["until"] = rfc3339(last_ts)
        evidence["step_c"] = round(step, 4)
        evidence["moves"] = self._moves
        evidence["moves_as_large"] = as_large
        return detail, evidence

    def _judge(self, ts: int, t: float) -> tuple[str, dict[str, Any]] | None:
        log_p = self._run_log_chance(ts)
        if log_p is None or log_p >= self.log_odds:
            return None
        self._run_flagged = True
        minutes = (ts - self._run_since) / 60_000
        odds = math.exp(log_p)
        detail = (
            f"temperature stuck at {t:.2f} °C for {minutes:.0f} min ({self._run_n + 1} readings);"
            f" this probe's own noise gives an honest run that long a chance of {odds:.0e}"
        )
        return detail, self._evidence(t, t, minutes, odds)

    def _run_log_chance(self, last_ts: int) -> float | None:
        """Natural log of the chance of an honest run as long as the current one, up to its
        reading at `last_ts`; None while it is shorter than `min_ms`, or for a probe that never
        showed noise."""
        if last_ts - self._run_since < self.min_ms:
            return None
        log_p = self._spread_log_chance()
        changes = self._run_changes
        if not changes:
            # With no noise on record the chance of a run of k is still 1 / (1 + k) and would
            # fall below any odds on a long enough voyage (a quiet probe at one-minute
            # reporting repeats itself for weeks): such a probe says nothing about sticking.
            return log_p
        zigzags = log_honest_run(changes, self._run_pairs - changes, self._run_n)
        log_p = zigzags if log_p is None else min(log_p, zigzags)
        if self._dithers() and self._run_n > SPREAD_LONGEST_RATIO * self._longest:
            log_p = min(log_p, log_dither_run(self._repeats_before(), self._one_step, self._run_n))
        return log_p

    def _spread_log_chance(self) -> float | None:
        """Natural log of the most chance of the current run for the least noise the probe's
        zigzags speak for (`noise_steps_at_least`); None where they speak for too little, or
        while the run is not yet `SPREAD_LONGEST_RATIO` times the longest honest one."""
        if self._run_n <= SPREAD_LONGEST_RATIO * self._longest:
            return None
        sigma = noise_steps_at_least(self._wide, self._zigzags)
        return None if sigma is None else log_spread_run(sigma, self._run_n)

    def _dithers(self) -> bool:
        """Has the probe shown noise that spans its steps (`DITHER_WIDE_SHARE`)?"""
        zigzags = self._zigzags
        return zigzags >= DITHER_MIN_ZIGZAGS and self._wide >= DITHER_WIDE_SHARE * zigzags

    def _repeats_before(self) -> int:
        """The repeats on record before the current run: its own are what is judged."""
        # An engine snapshot from before repeats were counted holds fewer than its run.
        return max(0, self._repeats - self._run_n)

    def _evidence(
        self, temp_c: float, previous_c: float, minutes: float, odds: float
    ) -> dict[str, Any]:
        """What either judgement reports of the current run and the probe's record."""
        return {
            "fault": "stuck",
            "temp_c": temp_c,
            "previous_c": previous_c,
            "since": rfc3339(self._run_since),
            "minutes": round(minutes, 1),
            "readings": self._run_n + 1,
            "noise_changes": self._run_changes,
            "noise_pairs": self._run_pairs,
            "resolution_c": round(self._step, 4) if math.isfinite(self._step) else None,
            # The second record, judged on too where the probe's noise spans its steps.
            "dithers": self._dithers(),
            "repeats": self._repeats_before(),
            "one_step_changes": self._one_step,
            # The third record: the noise its zigzags speak for, against its longest run.
            "noise_steps": noise_steps_at_least(self._wide, self._zigzags),
            "longest_run": self._longest + 1,
            "odds": float(f"{odds:.3g}"),
        }


@functools.cache
def _settings(min_min: float, odds: float) -> tuple[int, float]:
    """`min_ms` and `log_odds` for these settings: one pair of number objects shared by every
    probe's watch, where each derived afresh is 56 bytes a probe."""
    return int(min_min * 60_000), math.log(odds)
