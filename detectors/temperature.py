"""Temperature excursions: out of range now, the stability budget used up, mean kinetic temperature.

`TempExcursion` is the plain, certain check: the product is outside its
range. An excursion counts once the readings have stayed out of range for the
minimum duration without a break, and is then reported with its depth and
duration (warning, critical when deep or long) until the readings are back
inside by the clear margin. It keeps two shipment-long figures that quality assurance
asks for after the fact: cumulative minutes out of range against the
stability budget (its own alert kind, `stability_budget`, at half and all of
the budget), and the mean kinetic temperature. It misses nothing slow or
fast, but it only speaks once the range is left; see PredictedBreach for the
early warning.

Late readings (a store-and-forward upload, `detectors.late_upload`) fall between readings
already judged. So that they count as if they had come in order, the detector remembers,
at the few readings where that can matter (the first after a gap while out of range, and
where the readings leave the range, come back or clear an excursion), its state at the
reading before: a `_Gap`. A late reading inside such a gap is judged from that state, the
gap's time out of range is counted anew around it, and an excursion or unbroken run that
carries on through the gap's end gets its true start. Elsewhere (between in-order readings
in range, or out of range and close together) the count can miss at most the step from
the late readings to the next in-order one.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

from detectors.alerts import Condition, rfc3339
from detectors.pickled import SlotState, restore_slots
from detectors.product_probe import judged_temperature, product_lag
from detectors.profiles import Shipment
from detectors.reading import Reading
from detectors.sensor_fault import probe_plausible
from detectors.spans import lasted

#: Activation energy over the gas constant for MKT (83.144 kJ/mol, USP <1079>).
MKT_DH_R_K: Final = 10_000.0
_KELVIN: Final = 273.15
#: Gaps remembered for late readings: an upload fills the latest gaps, and each costs memory.
_GAPS_KEPT: Final = 4


class _Gap(NamedTuple):
    """The detector's state at reading `a_ts`, taken when the next reading, at `b_ts`, came."""

    a_ts: int
    b_ts: int
    a_out: bool
    run_since: int | None
    out_since: int | None
    open: bool
    peak: float
    severity: str
    out_minutes: float


class TempExcursion:
    """Product temperature outside its range, its cumulative time out, and MKT.

    Parameters
    ----------
    low_c, high_c : the product's range in °C.
    budget_min : cumulative minutes out of range the product may take (stability budget).
    max_step_s : longest gap between readings still counted as continuous time.
    min_duration_min : continuous minutes out of range before an excursion is reported, less
        `spans.SPAN_SLACK` of it (as `long_min`); 0 reports the first reading out.
    clear_margin_c : how far back inside the range a reading must be to end an excursion.
    deep_c : degrees beyond the range that make an excursion critical at once.
    long_min : minutes out of range that make an excursion critical.
    product_lag_min : for a probe that reads the air, the product's time constant: the
        readings are judged as the product they simulate (`detectors.product_probe`); None
        for a probe in the product.

    Examples
    --------
    >>> d = TempExcursion(2.0, 8.0, budget_min=120)
    >>> d.update(Reading("t", 0, temp_c=5.0)) is None
    True
    >>> d.update(Reading("t", 300_000, temp_c=9.1)) is None  # out, but only just now
    True
    >>> [(c.kind, c.active, c.severity) for c in d.update(Reading("t", 600_000, temp_c=9.2))]
    [('temp_excursion', True, 'warning')]
    """

    __slots__ = (
        "_budget_level",
        "_gaps",
        "_mkt_n",
        "_mkt_sum",
        "_open",
        "_out_since",
        "_peak",
        "_prev_out",
        "_prev_ts",
        "_run_since",
        "_severity",
        "budget_min",
        "clear_margin_c",
        "deep_c",
        "high_c",
        "long_min",
        "low_c",
        "max_step_s",
        "min_duration_ms",
        "out_minutes",
        "product",
    )

    def __init__(
        self,
        low_c: float,
        high_c: float,
        budget_min: float,
        max_step_s: float = 900.0,
        clear_margin_c: float = 0.2,
        deep_c: float = 2.0,
        long_min: float = 30.0,
        min_duration_min: float = 5.0,
        product_lag_min: float | None = None,
    ) -> None:
        self.low_c, self.high_c = low_c, high_c
        self.budget_min = budget_min
        self.max_step_s = max_step_s
        self.clear_margin_c = clear_margin_c
        self.deep_c = deep_c
        self.long_min = long_min
        self.min_duration_ms = int(min_duration_min * 60_000)
        self.out_minutes = 0.0
        self._prev_ts: int | None = None
        self._prev_out = False
        # Two clocks: `_run_since` is when the current unbroken run of readings out of range
        # began (any reading in range, even within the clear margin, restarts it), and only
        # it can open an excursion; `_out_since` is when the reported excursion began, kept
        # through readings within the margin so a hovering excursion stays one excursion.
        self._run_since: int | None = None
        self._out_since: int | None = None
        self._open = False
        self._peak = 0.0
        self._severity = ""
        self._budget_level = 0  # 0 none, 1 half used, 2 all used
        self._mkt_sum = 0.0
        self._mkt_n = 0
        # Where late readings may be judged in their place (see the module doc); None, not
        # an empty list, until the first, as most shipments never leave their range.
        self._gaps: list[_Gap] | None = None
        # The simulated product behind an air probe (`detectors.product_probe`); None for a
        # probe in the product, which is judged as it reads.
        self.product = product_lag(product_lag_min)

    def __setstate__(self, state: SlotState) -> None:
        self._gaps = None  # a snapshot written before gaps were remembered
        self.product = None  # ... or before air probes were simulated
        restore_slots(self, state)

    @property
    def mkt_c(self) -> float | None:
        """Mean kinetic temperature of every reading so far, in °C."""
        if not self._mkt_n:
            return None
        return MKT_DH_R_K / -math.log(self._mkt_sum / self._mkt_n) - _KELVIN

    def update(self, r: Reading) -> list[Condition] | None:
        if self.product is not None:
            r = self.product.reading(r)
        t = r.temp_c
        if t is None or not probe_plausible(t):
            return None  # a failing probe is SensorFault's to report, not an excursion
        ts = r.ts_ms
        self._mkt_sum += math.exp(-MKT_DH_R_K / (t + _KELVIN))
        self._mkt_n += 1
        below, above = t < self.low_c, t > self.high_c
        out: list[Condition] | None = None
        # `_prev_ts` is moved on in each branch, not here: in range and still in range (nearly
        # every reading) costs no more than before gaps were remembered.
        if self._prev_out and (prev_ts := self._prev_ts) is not None:
            step_s = (ts - prev_ts) / 1000
            # Back in range, or a gap while out: over half the longest step counted, which
            # is one and a half reporting intervals at 5-minute reporting or slower.
            if not (below or above) or step_s > self.max_step_s / 2:
                self._remember_gap(prev_ts, ts, True)
            self.out_minutes += min(step_s, self.max_step_s) / 60
            out = self._check_budget(ts)
        if below or above:
            prev_ts, self._prev_ts = self._prev_ts, ts
            self._prev_out = True
            depth = (self.low_c - t) if below else (t - self.high_c)
            if self._run_since is None:
                if prev_ts is not None:
                    self._remember_gap(prev_ts, ts, False)  # the readings leave the range
                self._run_since = ts
                if not self._open:
                    self._peak = depth
            self._peak = max(self._peak, depth)
            if not self._open:
                if not lasted(ts - self._run_since, self.min_duration_ms):
                    # Not out long enough yet: noise, a door blip, one odd reading. (A run a
                    # second short by the stamps lasted the minimum by the schedule: `spans`.)
                    return out
                self._open = True
                self._out_since = self._run_since
            assert self._out_since is not None
            minutes = (ts - self._out_since) / 60_000
            severity = (
                "critical"
                if self._peak >= self.deep_c or lasted(minutes, self.long_min)
                else "warning"
            )
            self._severity = severity
            # Reported on every reading out of range, so the alert always shows the latest.
            return (out or []) + [self._condition(r, True, severity, depth, minutes, below)]
        if self._open and (
            self.low_c + self.clear_margin_c <= t <= self.high_c - self.clear_margin_c
        ):
            assert self._out_since is not None
            prev_ts, self._prev_ts = self._prev_ts, ts
            if not self._prev_out and prev_ts is not None:
                # Cleared after readings within the margin (one out of range was remembered
                # above): late ones before this may yet have been out.
                self._remember_gap(prev_ts, ts, False)
            self._prev_out = False
            self._run_since = None
            minutes = (ts - self._out_since) / 60_000
            cleared = Condition(
                "temp_excursion",
                False,
                ts,
                "info",
                f"back in range at {self._what(r)} after {minutes:.0f} min outside "
                f"{self.low_c:g} to {self.high_c:g} °C (peak {self._peak:.1f} °C beyond)",
                self._evidence(r, minutes),
                t,
            )
            self._open = False
            self._out_since = None
            self._severity = ""
            return (out or []) + [cleared]
        self._prev_ts = ts
        self._prev_out = False
        self._run_since = None
        return out

    def _gap(self, a_ts: int, b_ts: int, a_out: bool) -> _Gap:
        """This detector's state as at reading `a_ts`, for a gap up to `b_ts` (see `_resume`)."""
        return _Gap(
            a_ts,
            b_ts,
            a_out,
            self._run_since,
            self._out_since,
            self._open,
            self._peak,
            self._severity,
            self.out_minutes,
        )

    def _remember_gap(self, a_ts: int, b_ts: int, a_out: bool) -> None:
        """Keep the state at reading `a_ts`, before the reading at `b_ts` changes it."""
        gap = self._gap(a_ts, b_ts, a_out)
        gaps = self._gaps
        if gaps is None:
            self._gaps = [gap]
            return
        gaps.append(gap)
        if len(gaps) > _GAPS_KEPT:
            del gaps[0]

    def judge_late(self, r: Reading, judge: TempExcursion) -> list[Condition] | None:
        """Judge a late reading with `judge`, counting its time out of range in this one's.

        `judge` is a detector of the same settings that takes this shipment's late readings,
        oldest first (`detectors.late_upload`). Inside a remembered gap it starts from this
        detector's state at the gap's first reading, so its conditions carry the figures the
        readings in order would have given; the gap's time out of range is counted anew
        around the reading, and this detector's excursion and run out of range, when they
        carry on through the gap's end, start where the late readings say. Outside one,
        `judge` carries on from its own last reading. The stability budget is checked when the
        upload is over (`absorb`).
        """
        t = r.temp_c
        if t is None or not probe_plausible(t):
            return None
        ts = r.ts_ms
        gaps = self._gaps or []
        at = next((i for i in range(len(gaps) - 1, -1, -1) if gaps[i].a_ts < ts < gaps[i].b_ts), -1)
        if at < 0:
            if any(g.a_ts == judge._prev_ts for g in gaps):
                # `judge` last took a reading inside a gap that ends before this one: the
                # time between them is the in-order readings', counted already.
                judge._prev_out = False
            before = judge.out_minutes
            conds = judge.update(r)
            self.out_minutes += judge.out_minutes - before
            return conds
        gap = gaps[at]
        judge._resume(gap)
        conds = judge.update(r)
        # The step from the gap's first reading to its last, as counted, gives way to the
        # steps to and from the late reading (the one to it `judge` has just counted).
        max_s = self.max_step_s
        minutes = judge.out_minutes - gap.out_minutes
        if judge._prev_out:
            minutes += min((gap.b_ts - ts) / 1000, max_s) / 60
        if gap.a_out:
            minutes -= min((gap.b_ts - gap.a_ts) / 1000, max_s) / 60
        self.out_minutes += minutes
        # The gap now runs from the late reading: a later one of the upload falls after it.
        gaps[at] = judge._gap(ts, gap.b_ts, judge._prev_out)
        self._carry_through(gap.b_ts, judge)
        return conds

    def _resume(self, gap: _Gap) -> None:
        """Take the state a remembered gap holds, to judge a late reading inside it."""
        self._prev_ts = gap.a_ts
        self._prev_out = gap.a_out
        self._run_since = gap.run_since
        self._out_since = gap.out_since
        self._open = gap.open
        self._peak = gap.peak
        self._severity = gap.severity
        self.out_minutes = gap.out_minutes

    def _carry_through(self, b_ts: int, judge: TempExcursion) -> None:
        """Give the run and excursion that go on through the reading at `b_ts` their start.

        `judge` holds the state at the last late reading before it. A run out of range this
        detector counts from `b_ts` or before passes through that reading, so it began where
        the late readings' run began, or at `b_ts` if the last of them was in range; an open
        excursion that began by `b_ts` is the late readings' one if they leave it open, else
        the run's.
        """
        run = self._run_since
        if run is not None and run <= b_ts:
            run = self._run_since = (
                judge._run_since if judge._prev_out and judge._run_since is not None else b_ts
            )
        since = self._out_since
        if not self._open or since is None or since > b_ts:
            return
        if judge._open and judge._out_since is not None:
            self._out_since = judge._out_since
        elif run is not None and run <= b_ts:
            self._out_since = run
        else:
            return
        if judge._open or judge._prev_out:
            self._peak = max(self._peak, judge._peak)

    def _condition(
        self, r: Reading, active: bool, severity: str, depth: float, minutes: float, below: bool
    ) -> Condition:
        side = "below" if below else "above"
        limit = self.low_c if below else self.high_c
        # With no minimum duration the first reading out is reported alone: say so rather
        # than "for 0 min", which reads as a contradiction.
        how_long = f"for {minutes:.0f} min" if minutes >= 1 else "on its first reading out"
        summary = (
            f"{self._what(r)}, {depth:.1f} °C {side} the {limit:g} °C limit"
            f" {how_long} (range {self.low_c:g} to {self.high_c:g} °C)"
        )
        return Condition(
            "temp_excursion",
            active,
            r.ts_ms,
            severity,
            summary,
            self._evidence(r, minutes),
            r.temp_c,
        )

    def _what(self, r: Reading) -> str:
        """The temperature judged, as a summary says it: an air probe's product is simulated."""
        assert r.temp_c is not None  # only readings with a temperature are judged
        return judged_temperature(r.temp_c, self.product)

    def _evidence(self, r: Reading, minutes: float) -> dict[str, object]:
        mkt = self.mkt_c
        evidence: dict[str, object] = {
            "temp_c": r.temp_c,
            "range_c": [self.low_c, self.high_c],
            "out_since": rfc3339(self._out_since) if self._out_since is not None else None,
            "minutes_out": round(minutes, 1),
            "peak_beyond_c": round(self._peak, 2),
            "cumulative_out_min": round(self.out_minutes, 1),
            "stability_budget_min": self.budget_min,
            "mkt_c": round(mkt, 2) if mkt is not None else None,
            "position": [r.lon, r.lat] if r.lat is not None else None,
        }
        if self.product is not None:
            evidence["air_c"] = self.product.air_c
        return evidence

    def absorb(
        self, late: TempExcursion, at_ms: int, minutes: float = 0.0
    ) -> list[Condition] | None:
        """Count a late upload's readings in the MKT, and check the stability budget at `at_ms`.

        `late` judged readings older than this detector's (`detectors.late_upload`), through
        `judge_late`, which has already counted their time out of range here; `minutes` is
        time out of range counted by `late` alone (a snapshot taken mid-upload by a release
        that counted it only now).
        """
        self._mkt_sum += late._mkt_sum
        self._mkt_n += late._mkt_n
        self.out_minutes += minutes
        return self._check_budget(at_ms)

    def _check_budget(self, at_ms: int) -> list[Condition] | None:
        level = (
            2
            if self.out_minutes >= self.budget_min
            else 1
            if self.out_minutes >= self.budget_min / 2
            else 0
        )
        if level <= self._budget_level:
            return None
        self._budget_level = level
        used = 100 * self.out_minutes / self.budget_min
        return [
            Condition(
                "stability_budget",
                True,
                at_ms,
                "critical" if level == 2 else "warning",
                f"{self.out_minutes:.0f} of {self.budget_min:g} min stability budget used"
                f" ({used:.0f}%)",
                {
                    "cumulative_out_min": round(self.out_minutes, 1),
                    "budget_min": self.budget_min,
                    "range_c": [self.low_c, self.high_c],
                },
                round(used, 1),
            )
        ]


def make_temp_excursion(shipment: Shipment) -> TempExcursion | None:
    p = shipment.profile
    if p.temp_range_c is None:
        return None
    return TempExcursion(
        p.temp_range_c[0],
        p.temp_range_c[1],
        p.stability_budget_min,
        max_step_s=max(900.0, 3 * p.expected_interval_s),
        min_duration_min=p.excursion_min_duration_min,
        product_lag_min=shipment.product_lag_min,
    )
