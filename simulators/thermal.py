"""The thermal model: ambient air, the cooling's air, and the product that follows it.

Ambient is the lane's mean at the shipment's position, a diurnal swing peaking mid-afternoon
local solar time, and slow weather (a few random sinusoids per shipment, so it is a smooth
function of time that needs no state). The box's air relaxes towards a target: the setpoint
while the cooling holds (clipped by its capacity against ambient), ambient when it is off, a
mix of both with the door open. The product relaxes towards the air with its own, slower time
constant, which is what makes a failing reefer a gradual, predictable rise. Both relaxations
are exact for inputs held constant between readings, so the reporting interval does not
change the physics. How fast each relaxation is, and how much an open door lets in, is each
device's own (`simulators.physics`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_DAY_S: Final = 86_400.0


@dataclass(frozen=True)
class Weather:
    """Slow departures from the climate mean: a sum of sinusoids (°C, seconds, radians)."""

    amplitude_c: tuple[float, ...]
    period_s: tuple[float, ...]
    phase: tuple[float, ...]

    @classmethod
    def draw(cls, rng: np.random.Generator, spread_c: float = 1.5) -> Weather:
        n = 3
        return cls(
            tuple((rng.uniform(0.3, 1.0, n) * spread_c / math.sqrt(n)).tolist()),
            tuple(rng.uniform(4 * 3600.0, 48 * 3600.0, n).tolist()),
            tuple(rng.uniform(0.0, 2 * math.pi, n).tolist()),
        )

    def at(self, t: FloatArray) -> FloatArray:
        out = np.zeros_like(t)
        for a, p, ph in zip(self.amplitude_c, self.period_s, self.phase, strict=True):
            out += a * np.sin(2 * math.pi * t / p + ph)
        return out


def local_hour(epoch_s: FloatArray, lon: FloatArray) -> FloatArray:
    """Local solar hour of day (0-24) at each longitude."""
    return ((epoch_s % _DAY_S) / 3600.0 + lon / 15.0) % 24.0


def diurnal(epoch_s: FloatArray, lon: FloatArray, amplitude_c: float) -> FloatArray:
    """Daily swing around the mean: lowest before dawn, highest at 15:00 local solar time."""
    return amplitude_c * np.sin(2 * math.pi * (local_hour(epoch_s, lon) - 9.0) / 24.0)


def daylight_lux(epoch_s: FloatArray, lon: FloatArray) -> FloatArray:
    """Light on an open door: daylight by local solar time, a lamp's 40 lux at night."""
    h = local_hour(epoch_s, lon)
    return np.maximum(0.0, np.sin(math.pi * (h - 6.0) / 12.0)) * 20_000.0 + 40.0


def trapezoid(t: FloatArray, t0: float, t1: float, ramp_s: float) -> FloatArray:
    """0 outside [t0, t1], rising over ``ramp_s`` to 1 and falling back before t1."""
    if ramp_s <= 0:
        return ((t >= t0) & (t < t1)).astype(float)
    up = np.clip((t - t0) / ramp_s, 0.0, 1.0)
    down = np.clip((t1 - t) / ramp_s, 0.0, 1.0)
    return np.minimum(up, down)


def relax(
    t: FloatArray,
    target: FloatArray,
    tau_s: FloatArray,
    tau_product_s: float,
    t_prev: float,
    air: float,
    product: float,
) -> tuple[FloatArray, FloatArray]:
    """Air and product temperature at each instant, from their values at ``t_prev``.

    The recurrence is sequential by nature; the decay factors are computed as arrays and the
    loop itself touches only Python floats, which keeps it well under a microsecond a step.
    """
    dt = np.diff(t, prepend=t_prev)
    a_air = np.exp(-dt / tau_s).tolist()
    a_prod = np.exp(-dt / tau_product_s).tolist()
    air_out = [0.0] * len(a_air)
    prod_out = [0.0] * len(a_air)
    for i, (tgt, aa, ap) in enumerate(zip(target.tolist(), a_air, a_prod, strict=True)):
        # The product sees the mean of the air over the step, which the midpoint approximates.
        new_air = tgt + (air - tgt) * aa
        mid = 0.5 * (air + new_air)
        product = mid + (product - mid) * ap
        air = new_air
        air_out[i] = air
        prod_out[i] = product
    return np.array(air_out), np.array(prod_out)
