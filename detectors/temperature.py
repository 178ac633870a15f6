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
"""

from __future__ import annotations

import math
from typing import Final

from detectors.alerts import Condition, rfc3339
from detectors.profiles import Shipment
from detectors.reading import Reading
from detectors.sensor_fault import probe_plausible

#: Activation energy over the gas constant for MKT (83.144 kJ/mol, USP <1079>).
MKT_DH_R_K: Final = 10_000.0
_KELVIN: Final = 273.15


class TempExcursion:
    """Product temperature outside its range, its cumulative time out, and MKT.

    Parameters
    ----------
    low_c, high_c : the product's range in °C.
    budget_min : cumulative minutes out of range the product may take (stability budget).
    max_step_s : longest gap between readings still counted as continuous time.
    min_duration_min : continuous minutes out of range before an excursion is reported;
        0 reports the first reading out.
    clear_margin_c : how far back inside the range a reading must be to end an excursion.
    deep_c : degrees beyond the range that make an excursion critical at once.
    long_min : minutes out of range that make an excursion critical.

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

    @property
    def mkt_c(self) -> float | None:
        """Mean kinetic temperature of every reading so far, in °C."""
        if not self._mkt_n:
            return None
        return MKT_DH_R_K / -math.log(self._mkt_sum / self._mkt_n) - _KELVIN

    def update(self, r: Reading) -> list[Condition] | None:
        t = r.temp_c
        if t is None or not probe_plausible(t):
            return None  # a failing probe is SensorFault's to report, not an excursion
        ts = r.ts_ms
        self._mkt_sum += math.exp(-MKT_DH_R_K / (t + _KELVIN))
        self._mkt_n += 1
        out: list[Condition] | None = None
        if self._prev_out and self._prev_ts is not None:
            step_s = min((ts - self._prev_ts) / 1000, self.max_step_s)
            self.out_minutes += step_s / 60
            out = self._check_budget(ts)
        self._prev_ts = ts
        below, above = t < self.low_c, t > self.high_c
        if below or above:
            self._prev_out = True
            depth = (self.low_c - t) if below else (t - self.high_c)
            if self._run_since is None:
                self._run_since = ts
                if not self._open:
                    self._peak = depth
            self._peak = max(self._peak, depth)
            if not self._open:
                if ts - self._run_since < self.min_duration_ms:
                    return out  # not out long enough yet: noise, a door blip, one odd reading
                self._open = True
                self._out_since = self._run_since
            assert self._out_since is not None
            minutes = (ts - self._out_since) / 60_000
            severity = (
                "critical" if self._peak >= self.deep_c or minutes >= self.long_min else "warning"
            )
            self._severity = severity
            # Reported on every reading out of range, so the alert always shows the latest.
            return (out or []) + [self._condition(r, True, severity, depth, minutes, below)]
        self._prev_out = False
        self._run_since = None
        if self._open and (
            self.low_c + self.clear_margin_c <= t <= self.high_c - self.clear_margin_c
        ):
            assert self._out_since is not None
            minutes = (ts - self._out_since) / 60_000
            cleared = Condition(
                "temp_excursion",
                False,
                ts,
                "info",
                f"back in range at {t:.1f} °C after {minutes:.0f} min outside "
                f"{self.low_c:g} to {self.high_c:g} °C (peak {self._peak:.1f} °C beyond)",
                self._evidence(r, minutes),
                t,
            )
            self._open = False
            self._out_since = None
            self._severity = ""
            return (out or []) + [cleared]
        return out

    def _condition(
        self, r: Reading, active: bool, severity: str, depth: float, minutes: float, below: bool
    ) -> Condition:
        side = "below" if below else "above"
        limit = self.low_c if below else self.high_c
        # With no minimum duration the first reading out is reported alone: say so rather
        # than "for 0 min", which reads as a contradiction.
        how_long = f"for {minutes:.0f} min" if minutes >= 1 else "on its first reading out"
        summary = (
            f"{r.temp_c:.1f} °C, {depth:.1f} °C {side} the {limit:g} °C limit"
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

    def _evidence(self, r: Reading, minutes: float) -> dict[str, object]:
        mkt = self.mkt_c
        return {
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

    def absorb(self, late: TempExcursion, at_ms: int) -> list[Condition] | None:
        """Count a late upload's time out of range and its readings' MKT as this shipment's own.

        `late` judged readings older than this detector's (`detectors.late_upload`); its
        minutes out join the stability budget, which may now be half or all used, at `at_ms`.
        """
        self._mkt_sum += late._mkt_sum
        self._mkt_n += late._mkt_n
        if not late.out_minutes:
            return None
        self.out_minutes += late.out_minutes
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
    )
