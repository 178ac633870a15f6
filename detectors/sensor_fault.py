"""Sensor faults and low battery: readings that say more about the tracker than about the cargo.

`SensorFault` watches the temperature probe and the other channels for what
no cargo can do: values outside the physical range of the sensor, a jump
faster than any product can warm or cool, and a value stuck exactly the same
for longer than noise allows. `BatteryLow` warns while there is still time
to swap or charge the tracker before it goes silent.
"""

from __future__ import annotations

import math

from detectors.alerts import Condition
from detectors.profiles import Shipment
from detectors.reading import Reading

#: A product probe reading at or beyond these is the probe failing, not the cargo: the
#: common digital probes report exactly -127 °C when disconnected and 85 °C after a reset.
PROBE_LOW_C, PROBE_HIGH_C = -100.0, 85.0


def probe_plausible(temp_c: float) -> bool:
    """Could a product probe honestly read this? Temperature detectors skip what it cannot.

    >>> probe_plausible(4.5), probe_plausible(85.0), probe_plausible(-127.0)
    (True, False, False)
    """
    return PROBE_LOW_C < temp_c < PROBE_HIGH_C


#: Physical ranges of the other sensors (beyond them the sensor, not the cargo, is wrong).
_PHYSICAL = (
    ("ambient_c", -60.0, 85.0),
    ("humidity_pct", 0.0, 100.0),
    ("battery_v", 0.0, 20.0),
    ("shock_g", 0.0, 200.0),
    ("light_lux", 0.0, 200_000.0),
)


class SensorFault:
    """Impossible values, impossible jumps and stuck probes.

    Parameters
    ----------
    max_rate_c_per_min : faster product temperature change than this is a probe fault.
    stuck_readings, stuck_min : identical temperatures at least this many times over at
        least this long is stuck, and only once a run that long has become
        unlikely (below `stuck_odds`) for this probe: a coarse, quiet probe
        legitimately repeats itself far more than a fine, noisy one.
    stuck_odds : chance of an honest run that long, below which it is called stuck.
    clear_after : consecutive sane readings that end a fault.

    Examples
    --------
    >>> d = SensorFault()
    >>> d.update(Reading("t", 0, temp_c=5.0))
    >>> jump = d.update(Reading("t", 60_000, temp_c=45.0))
    >>> [(c.kind, c.active, c.evidence["fault"]) for c in jump]
    [('sensor_fault', True, 'jump')]
    """

    __slots__ = (
        "_changes",
        "_fault",
        "_good",
        "_pairs",
        "_prev_t",
        "_prev_ts",
        "_stuck_n",
        "_stuck_since",
        "clear_after",
        "max_rate",
        "stuck_ms",
        "stuck_odds",
        "stuck_readings",
    )

    def __init__(
        self,
        max_rate_c_per_min: float = 2.0,
        stuck_readings: int = 12,
        stuck_min: float = 60.0,
        clear_after: int = 3,
        stuck_odds: float = 1e-6,
    ) -> None:
        self.max_rate = max_rate_c_per_min
        self.stuck_readings = stuck_readings
        self.stuck_ms = int(stuck_min * 60_000)
        self.clear_after = clear_after
        self.stuck_odds = stuck_odds
        self._pairs = 0
        self._changes = 0
        self._prev_t = math.nan
        self._prev_ts = 0
        self._stuck_n = 0
        self._stuck_since = 0
        self._fault = ""
        self._good = 0

    def update(self, r: Reading) -> list[Condition] | None:
        fault, detail = self._physical(r)
        t = r.temp_c
        if not fault and t is not None:
            prev, dt_min = self._prev_t, (r.ts_ms - self._prev_ts) / 60_000
            if not math.isnan(prev):
                self._pairs += 1
                self._changes += t != prev
            if t == prev:
                if self._stuck_n == 0:
                    self._stuck_since = self._prev_ts
                self._stuck_n += 1
                if (
                    self._stuck_n >= self.stuck_readings
                    and r.ts_ms - self._stuck_since >= self.stuck_ms
                    and self._run_unlikely(self._stuck_n)
                ):
                    fault = "stuck"
                    detail = f"temperature stuck at {t:.2f} °C for {self._stuck_n + 1} readings"
            else:
                self._stuck_n = 0
                if dt_min > 0 and not math.isnan(prev) and abs(t - prev) / dt_min > self.max_rate:
                    fault = "jump"
                    detail = f"temperature jumped {prev:.1f} → {t:.1f} °C in {dt_min:.1f} min"
            self._prev_t, self._prev_ts = t, r.ts_ms
        if fault:
            self._good = 0
            if fault != self._fault:
                self._fault = fault
                return [
                    Condition(
                        "sensor_fault",
                        True,
                        r.ts_ms,
                        "warning",
                        detail,
                        {"fault": fault, "temp_c": t, "previous_c": _finite(self._prev_t)},
                    )
                ]
            return None
        if self._fault:
            self._good += 1
            if self._good >= self.clear_after:
                self._fault = ""
                return [
                    Condition("sensor_fault", False, r.ts_ms, "info", "readings plausible again")
                ]
        return None

    def _run_unlikely(self, n: int) -> bool:
        # How often this probe's consecutive readings differ over the whole shipment (with
        # a prior of one change in two pairs) gives the odds of an honest run of n.
        p_change = (self._changes + 1) / (self._pairs + 2)
        return self._pairs >= 24 and (1.0 - p_change) ** n < self.stuck_odds

    @staticmethod
    def _physical(r: Reading) -> tuple[str, str]:
        t = r.temp_c
        if t is not None and not probe_plausible(t):
            return "out_of_range", f"temp_c {t:g} is a probe failure value, not a temperature"
        for name, low, high in _PHYSICAL:
            v = getattr(r, name)
            if v is not None and not low <= v <= high:
                return (
                    "out_of_range",
                    f"{name} {v:g} is outside the sensor's range {low:g} to {high:g}",
                )
        return "", ""


def _finite(v: float) -> float | None:
    return None if math.isnan(v) else v


class BatteryLow:
    """Tracker battery running down.

    Parameters
    ----------
    warning_v, critical_v : voltages below which the alert is a warning, then critical.
    recover_v : voltage that clears it (a swapped or charged battery).

    Examples
    --------
    >>> d = BatteryLow()
    >>> [(c.severity, c.value) for c in d.update(Reading("t", 0, battery_v=3.35))]
    [('warning', 3.35)]
    """

    __slots__ = ("_severity", "critical_v", "recover_v", "warning_v")

    def __init__(
        self, warning_v: float = 3.4, critical_v: float = 3.2, recover_v: float = 3.6
    ) -> None:
        self.warning_v, self.critical_v, self.recover_v = warning_v, critical_v, recover_v
        self._severity = ""

    def update(self, r: Reading) -> list[Condition] | None:
        v = r.battery_v
        if v is None:
            return None
        if v < self.warning_v:
            severity = "critical" if v < self.critical_v else "warning"
            if severity != self._severity and (not self._severity or severity == "critical"):
                self._severity = severity
                return [
                    Condition(
                        "battery_low",
                        True,
                        r.ts_ms,
                        severity,
                        f"tracker battery at {v:.2f} V (warning below {self.warning_v:g} V)",
                        {
                            "battery_v": v,
                            "warning_v": self.warning_v,
                            "critical_v": self.critical_v,
                        },
                        v,
                    )
                ]
        elif self._severity and v >= self.recover_v:
            self._severity = ""
            return [Condition("battery_low", False, r.ts_ms, "info", f"battery back at {v:.2f} V")]
        return None


def make_sensor_fault(shipment: Shipment) -> SensorFault:
    return SensorFault()


def make_battery_low(shipment: Shipment) -> BatteryLow:
    return BatteryLow()
