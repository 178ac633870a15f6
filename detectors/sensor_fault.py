"""Sensor faults and low battery: readings that say more about the tracker than about the cargo.

`SensorFault` watches the temperature probe and the other channels for what
no cargo can do: values outside the physical range of the sensor, a jump
faster than any product can warm or cool, and a value stuck exactly the same
for longer than noise allows. A jump must be larger than the probe's own
noise, is measured over at least a minute, so a fast-reporting tracker's
0.1 °C steps are never one, and must stay (`detectors.probe_jump`): a failed
probe stays where it went, a noisy one comes back. When the tracker's own
ambient sensor says the surroundings stayed put, the cargo's thermal inertia
sets a lower limit on the rate. A stuck probe is one whose run of identical readings has
lasted an hour and become unlikely for this probe's own noise (`detectors.probe_stuck`): a
coarse, quiet probe legitimately repeats itself for hours, a lively one does not. A run too
short in readings for that (a logger's two hours) is judged again when the probe comes free,
with the step that ends it. Each
tracker is judged alone: a probe that drifts away from a neighbour in the
same room is not compared with it. `BatteryLow` warns while there is still
time to swap or charge the tracker before it goes silent.
"""

from __future__ import annotations

import math
from typing import Any, Final

from detectors.alerts import Condition
from detectors.pickled import SlotState, restore_slots
from detectors.probe_jump import JumpWatch
from detectors.probe_stuck import STUCK_ODDS, StuckWatch
from detectors.profiles import Shipment
from detectors.reading import Reading

#: A product probe reading at or beyond these is the probe failing, not the cargo: the
#: common digital probes report exactly -127 °C when disconnected and 85 °C after a reset.
PROBE_LOW_C, PROBE_HIGH_C = -100.0, 85.0


#: After the tracker reports its door shut, how long (min) a fast change of its probe may still
#: be the door's doing: an air probe by the door reads the warm air that came in, then the
#: unit pulling it back down.
DOOR_SETTLE_MIN: Final = 15.0
_DOOR_SETTLE_MS: Final = int(DOOR_SETTLE_MIN * 60_000)


def door_quiet_until(until: float, r: Reading) -> float:
    """Until when (ms) the tracker's own door may explain a fast change of its probe.

    Infinite while the door is open (a tracker may report its door only when it changes), the
    settling time after it is reported shut; `until` as it was when the reading says nothing.

    >>> open_at = door_quiet_until(-math.inf, Reading("t", 0, door="open"))
    >>> shut = door_quiet_until(open_at, Reading("t", 60_000, door="closed"))
    >>> open_at, shut, door_quiet_until(shut, Reading("t", 120_000))
    (inf, 960000, 960000)
    """
    if r.door == "open":
        return math.inf
    if r.door == "closed" and until == math.inf:
        return r.ts_ms + _DOOR_SETTLE_MS
    return until


def probe_plausible(temp_c: float) -> bool:
    """Could a product probe honestly read this? Temperature detectors skip what it cannot.

    >>> probe_plausible(4.5), probe_plausible(85.0), probe_plausible(-127.0)
    (True, False, False)
    """
    return PROBE_LOW_C < temp_c < PROBE_HIGH_C


#: Cold-chain probes are accurate to about ±0.5 °C at 0.1 °C resolution, so two readings of
#: a product that has not changed can differ by about 1 °C (each off by half a degree, plus a
#: quantisation step). A change counts as a jump only at twice that: noise never makes one.
MIN_JUMP_C: Final = 2.0

#: Rates are measured over at least this long. A probe's own response time is of this order,
#: and over seconds a 0.1 °C quantisation step is a rate of several °C/min: dividing by the
#: time between one-second readings would turn every step of the last digit into a "jump".
RATE_BASE_MIN: Final = 1.0

#: The fastest a loaded container's product moves while its surroundings hold still: heat
#: has to cross the packaging into a mass of product, which takes hours (a failed reefer
#: warms its cargo a few °C an hour; even a unit pulling down an empty box moves its air
#: well under 0.5 °C/min). Faster than this, with the tracker's own ambient steady, the probe
#: has failed, not the cargo. Without an ambient reading a big change of surroundings (from a
#: cold store onto a sunny apron) cannot be ruled out, and only `max_rate_c_per_min` applies.
INERTIA_RATE_C_PER_MIN: Final = 0.5

#: A jump must be this many times the probe's own noise (the robust spread of its consecutive
#: differences): a probe whose ordinary readings stray a degree needs a larger change.
NOISE_Z: Final = 4.0

#: A jump counts once it has stayed this long (and at least one more reading): a failed probe
#: stays where it went, a stray noisy reading comes back.
SETTLE_MIN: Final = 5.0

#: A run of identical readings shorter than this is never stuck: a probe's response time and a
#: fast tracker's repeated sends make short runs of no meaning, and a stuck probe that lasts
#: less than an hour does little harm.
STUCK_MIN: Final = 60.0

#: A low battery that has fallen this much (V) since its alert last reported is reported again.
BATTERY_STEP_V: Final = 0.1

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

    A jump is a change of at least `min_jump_c`, and of `noise_z` times the
    probe's own noise, from the reading it is measured from, at a rate (over at
    least `rate_base_min`) above `max_rate_c_per_min`, or above
    `inertia_rate_c_per_min` when the tracker's own `ambient_c` moved less than
    `min_jump_c` meanwhile; it is reported once the probe's median level has
    stayed that far away for `settle_min` (see `detectors.probe_jump.JumpWatch`).
    On fast reporting the change is measured from a reference reading renewed
    every `rate_base_min`, so a fault spread over a few one-second readings is
    one jump.
    Trackers are judged one at a time: a probe that departs from a neighbour in
    the same room while its own ambient is missing or moving is not caught.

    Parameters
    ----------
    max_rate_c_per_min : faster product temperature change than this is a probe fault.
    min_jump_c : smaller changes are never a jump, whatever their rate (probe noise).
    rate_base_min : shortest time a rate is measured over.
    inertia_rate_c_per_min : faster than this, while ambient holds still, is a probe fault.
    noise_z : a jump is at least this many times the probe's noise (MAD of its differences).
    settle_min : how long the new level must hold before the jump is reported.
    stuck_min : identical temperatures for at least this long are stuck, once a run that
        long has become unlikely (below `stuck_odds`) for this probe's own record of
        noise (see `detectors.probe_stuck`): a coarse, quiet probe legitimately repeats
        itself far more than a fine, noisy one, and one that never showed noise is
        never called stuck.
    stuck_odds : chance of an honest run that long, below which it is called stuck.
    range_c : the product's range, if it has one: a change back towards it from far outside
        may be faster than the inertia rate (`probe_jump.PULL_BACK_TAU_MIN`).
    judge_jumps : False for a probe that reads the air, not the product: the air jumps
        honestly (a door opened, a defrost, the compressor starting), so no jump is a fault
        there; failure values and a stuck probe are still reported.
    clear_after : consecutive sane readings that end a fault.

    Examples
    --------
    >>> d = SensorFault()
    >>> d.update(Reading("t", 0, temp_c=5.0))
    >>> d.update(Reading("t", 60_000, temp_c=45.0))  # may be a stray reading: wait
    >>> jump = d.update(Reading("t", 360_000, temp_c=45.1))  # it stayed
    >>> [(c.kind, c.active, c.evidence["fault"], c.evidence["previous_c"]) for c in jump]
    [('sensor_fault', True, 'jump', 5.0)]
    """

    __slots__ = ("_door_until", "_fault", "_good", "_jumps", "_prev_t", "_stuck", "clear_after")

    def __init__(
        self,
        max_rate_c_per_min: float = 2.0,
        stuck_min: float = STUCK_MIN,
        clear_after: int = 3,
        stuck_odds: float = STUCK_ODDS,
        min_jump_c: float = MIN_JUMP_C,
        rate_base_min: float = RATE_BASE_MIN,
        inertia_rate_c_per_min: float = INERTIA_RATE_C_PER_MIN,
        noise_z: float = NOISE_Z,
        settle_min: float = SETTLE_MIN,
        range_c: tuple[float, float] | None = None,
        judge_jumps: bool = True,
    ) -> None:
        self._jumps = (
            JumpWatch(
                max_rate_c_per_min,
                min_jump_c,
                rate_base_min,
                inertia_rate_c_per_min,
                noise_z=noise_z,
                settle_min=settle_min,
                range_c=range_c,
            )
            if judge_jumps
            else None
        )
        self._stuck = StuckWatch(stuck_min, stuck_odds)
        self.clear_after = clear_after
        self._prev_t = math.nan
        self._fault = ""
        self._good = 0
        # While the tracker's own door is open, and for a while after, its surroundings are not
        # still, whatever `ambient_c` says: a fast change then is no probe fault.
        self._door_until = -math.inf

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before the door was heeded."""
        self._door_until = -math.inf
        restore_slots(self, state)

    def update(self, r: Reading) -> list[Condition] | None:
        self._door_until = door_quiet_until(self._door_until, r)
        fault, detail = self._physical(r)
        t = r.temp_c
        previous = self._prev_t
        evidence: dict[str, Any] | None = None  # built only when a fault is reported
        if not fault and t is not None:
            # Every plausible reading feeds both watches, so their records stay whole.
            door = r.ts_ms <= self._door_until
            stuck = self._stuck.update(r.ts_ms, t, door)
            if stuck is not None:
                fault, (detail, evidence) = "stuck", stuck
            jumps = self._jumps
            jump = None if jumps is None else jumps.update(r.ts_ms, t, r.ambient_c, door)
            if jump is not None and not fault:
                fault, (detail, evidence) = "jump", jump
            self._prev_t = t
        if fault:
            self._good = 0
            if fault != self._fault:
                self._fault = fault
                if evidence is None:
                    # The last plausible value before this reading, not this reading's own.
                    evidence = {"fault": fault, "temp_c": t, "previous_c": _finite(previous)}
                return [Condition("sensor_fault", True, r.ts_ms, "warning", detail, evidence)]
            return None
        if self._fault:
            self._good += 1
            if self._good >= self.clear_after:
                self._fault = ""
                return [
                    Condition("sensor_fault", False, r.ts_ms, "info", "readings plausible again")
                ]
        return None

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

    __slots__ = ("_reported_v", "_severity", "critical_v", "recover_v", "warning_v")

    def __init__(
        self, warning_v: float = 3.4, critical_v: float = 3.2, recover_v: float = 3.6
    ) -> None:
        self.warning_v, self.critical_v, self.recover_v = warning_v, critical_v, recover_v
        self._severity = ""
        # The voltage the open alert last reported: a battery that goes on falling is reported
        # again every BATTERY_STEP_V, so the alert's retained state is not left at its first value.
        self._reported_v = math.inf

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before the reported voltage was kept."""
        self._reported_v = math.inf
        restore_slots(self, state)

    def update(self, r: Reading) -> list[Condition] | None:
        v = r.battery_v
        if v is None:
            return None
        if v < self.warning_v:
            severity = "critical" if v < self.critical_v else "warning"
            rises = severity != self._severity and (not self._severity or severity == "critical")
            if rises or v <= self._reported_v - BATTERY_STEP_V:
                if rises:
                    self._severity = severity
                self._reported_v = v
                below = self.critical_v if self._severity == "critical" else self.warning_v
                return [
                    Condition(
                        "battery_low",
                        True,
                        r.ts_ms,
                        self._severity,
                        f"tracker battery at {v:.2f} V ({self._severity} below {below:g} V)",
                        {
                            "battery_v": v,
                            "warning_v": self.warning_v,
                            "critical_v": self.critical_v,
                        },
                        v,
                    )
                ]
        elif self._severity and v >= self.recover_v:
            self._severity, self._reported_v = "", math.inf
            return [Condition("battery_low", False, r.ts_ms, "info", f"battery back at {v:.2f} V")]
        return None


def make_sensor_fault(shipment: Shipment) -> SensorFault:
    air = shipment.product_lag_min is not None  # the probe reads the air (`product_probe`)
    return SensorFault(range_c=shipment.profile.temp_range_c, judge_jumps=not air)


def make_battery_low(shipment: Shipment) -> BatteryLow:
    return BatteryLow()
