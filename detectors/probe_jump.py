"""Probe jumps: a change of the product temperature no cargo can make, and that stays.

A probe that fails by a level shift (a loose connector, a probe pulled out of the product, a
dropout to a fixed value) moves faster than any cargo can and then stays where it went; a
noisy probe's reading that strays the same distance comes back at the next readings. So a
jump is judged in two steps. A candidate is a change from a reference reading (renewed every
`rate_base_ms`, so a change is measured over at least that long) larger than the probe's own
recent noise allows and faster than the product can move. It is confirmed only once it has
settled: for at least `settle_ms`, and at least one more reading, the median of the readings
from the candidate on (the lower one of two) stays that far from the median level over
`settle_ms` before it. The
noise is the median absolute difference (MAD) of consecutive readings over the last
`noise_ms`, robust to the jump itself, to a trend and to the odd outlier.
"""

from __future__ import annotations

import math
import statistics
from array import array
from dataclasses import dataclass
from typing import Any, Final

from detectors.alerts import rfc3339

#: The MAD of normal data times this is its standard deviation.
MAD_TO_SD: Final = 1.4826
#: At most this many recent readings and differences are kept: at one-second reporting the
#: last minutes are plenty to judge a level and a probe's noise by. They are kept as typed
#: arrays of (time, value) pairs, one array each (8 bytes a number, where tuples of Python
#: numbers cost about 100 bytes a pair and every array its own header), and only as far back
#: as the rule can still look: readings `settle_ms` before the reference, differences
#: `noise_ms` before the latest reading. Every tracked probe holds them.
_KEPT: Final = 256
#: Fewer differences than this say nothing about the noise: only `min_jump_c` applies.
_MIN_DIFFS: Final = 4
#: Far outside its range, though, a product is pulled back by a unit with the whole gap to
#: drive it: an ultra-low freezer restarted with its load at room temperature, 100 °C above
#: its setpoint, cools it by more than a degree a minute at first. A change back towards the
#: range may be as fast as the reading's distance from the range in this many minutes (the
#: time constant of the quickest loaded box), where that is faster than the inertia rate.
PULL_BACK_TAU_MIN: Final = 60.0


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A change too fast for the cargo, waiting to show whether it stays."""

    ref_t: float
    ref_ts: int
    t: float
    ts: int
    before_c: float
    threshold_c: float
    rate: float
    limit: float
    noise_c: float
    ambient_c: float | None
    ref_ambient_c: float


class JumpWatch:
    """Confirmed level shifts of one probe (see the module docstring for the rule).

    `update` takes each plausible reading in time order and returns the summary and
    evidence of a jump on the reading that confirms it, else None.

    Examples
    --------
    >>> w = JumpWatch()
    >>> [w.update(i * 60_000, 5.0, None) for i in range(3)]
    [None, None, None]
    >>> w.update(180_000, 15.0, None) is None  # a candidate: it may yet come back
    True
    >>> summary, evidence = [w.update(ts, 15.1, None) for ts in (240_000, 480_000)][-1]
    >>> evidence["previous_c"], evidence["temp_c"], evidence["level_after_c"]
    (5.0, 15.0, 15.1)
    """

    __slots__ = (
        "_changes",
        "_levels",
        "_pending",
        "_prev_t",
        "_ref_amb",
        "_ref_t",
        "_ref_ts",
        "_settled",
        "inertia_rate",
        "max_rate",
        "min_jump_c",
        "noise_ms",
        "noise_z",
        "pull_back_tau_min",
        "range_c",
        "rate_base_ms",
        "settle_ms",
    )

    def __init__(
        self,
        max_rate_c_per_min: float = 2.0,
        min_jump_c: float = 2.0,
        rate_base_min: float = 1.0,
        inertia_rate_c_per_min: float = 0.5,
        noise_z: float = 4.0,
        settle_min: float = 5.0,
        noise_min: float = 120.0,
        range_c: tuple[float, float] | None = None,
        pull_back_tau_min: float = PULL_BACK_TAU_MIN,
    ) -> None:
        self.max_rate = max_rate_c_per_min
        self.min_jump_c = min_jump_c
        self.rate_base_ms = _shared(int(rate_base_min * 60_000))
        self.inertia_rate = inertia_rate_c_per_min
        self.noise_z = noise_z
        self.settle_ms = _shared(int(settle_min * 60_000))
        self.noise_ms = _shared(int(noise_min * 60_000))
        # The product's range (the shipment's own tuple, shared), towards which a unit pulls
        # a product far outside it faster than the inertia rate.
        self.range_c = range_c
        self.pull_back_tau_min = pull_back_tau_min
        # (time, °C) of the recent readings and (time, |change|) of the consecutive changes,
        # each pair flat in one array; times are whole milliseconds, exact in a double.
        self._levels = array("d")
        self._changes = array("d")
        self._prev_t = math.nan
        self._ref_ts = 0
        self._ref_t = math.nan
        self._ref_amb = math.nan
        self._pending: _Candidate | None = None
        # The readings since a pending candidate; an empty tuple, not a list, while none is
        # pending, which is nearly always.
        self._settled: list[float] | tuple[()] = ()

    def update(
        self, ts: int, t: float, amb: float | None, disturbed: bool = False
    ) -> tuple[str, dict[str, Any]] | None:
        """Feed one plausible reading; the jump it confirms, if any.

        `disturbed`: the probe's surroundings are known to be changing (the tracker's door is
        open or just shut): no change is judged, and a candidate pending is dropped.
        """
        if disturbed:
            self._pending, self._settled = None, ()
            resolved, out = True, None  # renews the reference, as a judged candidate does
        elif self._pending is not None:
            resolved, out = self._settle(ts, t)
        else:
            resolved, out = False, None
        amb = amb if amb is not None and math.isfinite(amb) else None
        ref_t, ref_ts, ref_amb = self._ref_t, self._ref_ts, self._ref_amb
        if resolved or math.isnan(ref_t) or ts - ref_ts >= self.rate_base_ms:
            # Renewed once a rate base old: on slow reporting every reading, on fast
            # reporting once a base, so a fault spread over a few one-second readings is
            # seen whole and one quantisation step over a second is never a rate. Renewed
            # too once a candidate is judged: a stray reading that came back is no reference
            # for the next one, whose return to the usual level is no jump.
            self._ref_t, self._ref_ts = t, ts
            self._ref_amb = math.nan if amb is None else amb
        if not resolved and self._pending is None and not math.isnan(ref_t):
            self._pending = self._candidate(ts, t, amb, ref_t, ref_ts, ref_amb)
            self._settled = [t] if self._pending is not None else ()
        if not math.isnan(self._prev_t):
            _keep(self._changes, ts, abs(t - self._prev_t), ts - self.noise_ms)
        # The reference only moves forward: readings more than `settle_ms` before it are
        # never part of a level again.
        _keep(self._levels, ts, t, self._ref_ts - self.settle_ms)
        self._prev_t = t
        return out

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        # Snapshots written before: (ts, value) tuples in deques, then a typed array each for
        # times and values. Older readings than the rule still looks at go at the next update.
        slots = dict(state[1])
        for new, deque_name, ts_name, c_name in (
            ("_levels", "_recent", "_recent_ts", "_recent_c"),
            ("_changes", "_diffs", "_diff_ts", "_diff_c"),
        ):
            if deque_name in slots:
                pairs = list(slots.pop(deque_name))
            elif ts_name in slots:
                pairs = list(zip(slots.pop(ts_name), slots.pop(c_name), strict=True))
            else:
                continue
            slots[new] = array("d", [x for p in pairs for x in p])
        if slots.get("_settled") == []:
            slots["_settled"] = ()
        # Written before a pull back towards the range was allowed for: none is.
        slots.setdefault("range_c", None)
        slots.setdefault("pull_back_tau_min", PULL_BACK_TAU_MIN)
        for name, value in slots.items():
            object.__setattr__(self, name, value)

    def _candidate(
        self, ts: int, t: float, amb: float | None, ref_t: float, ref_ts: int, ref_amb: float
    ) -> _Candidate | None:
        dt_ms = ts - ref_ts
        change = t - ref_t
        if dt_ms <= 0 or abs(change) < self.min_jump_c:
            return None
        noise = self._noise(ts)
        threshold = max(self.min_jump_c, self.noise_z * noise)
        if abs(change) < threshold:
            return None
        rate = change / (max(dt_ms, self.rate_base_ms) / 60_000)
        steady = amb is not None and abs(amb - ref_amb) < self.min_jump_c
        limit = min(self.max_rate, self.inertia_rate) if steady else self.max_rate
        if steady and self.range_c is not None:
            # Back towards the range from far outside it: as fast as a unit with that gap to
            # drive it can pull a loaded box (PULL_BACK_TAU_MIN).
            low, high = self.range_c
            outside = ref_t - high if change < 0 else low - ref_t
            if outside > 0:
                limit = min(self.max_rate, max(limit, outside / self.pull_back_tau_min))
        if abs(rate) <= limit:
            return None
        # The level the probe left: the median of what it read over `settle_ms` up to the
        # reference reading, so one stray reference does not make the usual level a jump.
        levels = self._levels
        before = [
            v
            for s, v in zip(levels[::2], levels[1::2], strict=True)
            if ref_ts - self.settle_ms <= s <= ref_ts
        ]
        return _Candidate(
            ref_t=ref_t,
            ref_ts=ref_ts,
            t=t,
            ts=ts,
            before_c=statistics.median(before) if before else ref_t,
            threshold_c=threshold,
            rate=rate,
            limit=limit,
            noise_c=noise,
            ambient_c=amb if steady else None,
            ref_ambient_c=ref_amb,
        )

    def _settle(self, ts: int, t: float) -> tuple[bool, tuple[str, dict[str, Any]] | None]:
        """Has the pending candidate been judged, and is it a jump?"""
        c = self._pending
        assert c is not None
        settled = self._settled
        assert isinstance(settled, list)  # a list whenever a candidate is pending
        settled.append(t)
        if ts - c.ts < self.settle_ms:
            return False, None
        self._pending, self._settled = None, ()
        # The lower median of how far the readings since the candidate went: with two readings
        # both must have gone, with more over half of them; and it is one of the readings.
        sign = math.copysign(1.0, c.t - c.ref_t)
        shift = statistics.median_low([(v - c.before_c) * sign for v in settled])
        if shift < c.threshold_c:
            return True, None  # it came back: noise, or a product that moved and returned
        return True, self._report(c, c.before_c + sign * shift, ts)

    def _report(self, c: _Candidate, after: float, ts: int) -> tuple[str, dict[str, Any]]:
        dt_ms = c.ts - c.ref_ts
        took = f"{dt_ms / 60_000:.1f} min" if dt_ms >= 60_000 else f"{dt_ms / 1000:.0f} s"
        stayed = (ts - c.ts) / 60_000
        detail = (
            f"temperature jumped {c.ref_t:.1f} → {c.t:.1f} °C in {took} and stayed"
            f" ({after:.1f} °C over {stayed:.0f} min)"
        )
        evidence: dict[str, Any] = {
            "fault": "jump",
            "temp_c": c.t,
            "jumped_at": rfc3339(c.ts),
            "previous_c": c.ref_t,
            "previous_at": rfc3339(c.ref_ts),
            "minutes": round(dt_ms / 60_000, 2),
            "rate_c_per_min": round(c.rate, 2),
            "limit_c_per_min": c.limit,
            "level_before_c": round(c.before_c, 2),
            "level_after_c": round(after, 2),
            "settled_min": round(stayed, 1),
            "noise_c": round(c.noise_c, 3),
        }
        if c.ambient_c is not None:
            detail += f" while ambient held at {c.ambient_c:.1f} °C"
            evidence.update(ambient_c=c.ambient_c, previous_ambient_c=c.ref_ambient_c)
        return detail, evidence

    def _noise(self, ts: int) -> float:
        """Robust spread of consecutive differences over the last `noise_ms` (0: unknown)."""
        changes = self._changes
        recent = [
            d for s, d in zip(changes[::2], changes[1::2], strict=True) if ts - s <= self.noise_ms
        ]
        if len(recent) < _MIN_DIFFS:
            return 0.0
        return MAD_TO_SD * statistics.median(recent)


def _keep(pairs: array[float], ts: int, value: float, oldest: int) -> None:
    """Append one (time, value) pair; keep the last `_KEPT` pairs, none older than `oldest`."""
    pairs.append(ts)
    pairs.append(value)
    n = len(pairs)
    drop = n - 2 * _KEPT if n > 2 * _KEPT else 0
    while drop < n and pairs[drop] < oldest:
        drop += 2
    if drop:
        del pairs[:drop]


#: One int object per setting value for every probe: each watch derives its milliseconds
#: afresh, and a Python int that large is an object of 32 bytes of its own.
_SHARED: dict[int, int] = {}


def _shared(ms: int) -> int:
    return _SHARED.setdefault(ms, ms)
