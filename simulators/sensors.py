"""What the tracker's sensors see, as arrays over a stretch of readings.

Ambient air along the lane, the cooling's target for the box's air under the plan's effects
(defrost, a failing unit of any shape, a power cut, an open door) and the device's own drawn
physics (`simulators.physics`), the product probe with its noise and
resolution, and the other channels: humidity, shock, battery, door, seal and light. These are
pure functions of the plan, the instants and a random stream; `DeviceSim` owns the state that
carries between stretches.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from simulators import physics, thermal
from simulators.effects import Effects, Failure, in_windows
from simulators.motion import MOVING
from simulators.physics import DevicePhysics
from simulators.plan import DevicePlan
from simulators.profiles import Profile
from simulators.routes import AIR_HOLD_C

FloatArray = thermal.FloatArray
#: Relative humidity of outside air, which an open door lets in.
_OUTSIDE_RH: Final = 65.0


def ambient(
    p: DevicePlan,
    t: FloatArray,
    epoch_s: FloatArray,
    lon: FloatArray,
    d: FloatArray,
    flying: np.ndarray,
) -> tuple[FloatArray, FloatArray]:
    """The lane's climate at each position, and the air around the box.

    That air is the climate, the day's swing, the weather, the sun on the box, a step (a box
    moved between a cool store and a hot dock) and heat waves. In flight the box sits in a
    cargo hold, whose temperature replaces the outside air.
    """
    phys = p.physics
    climate = np.interp(d, p.lane.line.cum_m, p.lane.ambient_mean_c)
    weather = p.weather.at(t)
    hour = thermal.local_hour(epoch_s, lon)
    air = climate + thermal.diurnal(epoch_s, lon, phys.diurnal_c) + weather
    air = air + phys.ambient_shift(t)
    for t0, t1, peak, ramp in p.effects.heat:
        air = air + thermal.trapezoid(t, t0, t1, ramp) * np.maximum(peak - air, 0.0)
    if phys.sun_c:
        air = air + phys.sun_c * physics.daylight(hour)
    if flying.any():
        air = np.where(flying, AIR_HOLD_C + 0.3 * weather, air)
    return climate, air


def cooling(
    prof: Profile,
    phys: DevicePhysics,
    eff: Effects,
    t: FloatArray,
    outside: FloatArray,
    door: np.ndarray,
) -> tuple[FloatArray, FloatArray]:
    """The temperature the box's air heads for, and its time constant, at each instant."""
    n = len(t)
    if prof.setpoint_c is None:
        target, tau = outside.copy(), np.full(n, phys.tau_box_s)
    else:
        sp = phys.setpoint(t)
        # Past its capacity the unit holds only so far below (or above) ambient.
        target = np.clip(sp, outside - phys.cool_capacity_c, outside + phys.heat_capacity_c)
        tau = np.full(n, phys.tau_control_s)
        target = np.where(in_windows(t, eff.defrost), sp + phys.defrost_rise_c, target)
        for f in eff.failure:
            on = (t >= f.t0) & (t < f.t1)
            if on.any():
                target = np.where(on, _failing(f, t, sp, outside, target), target)
        off = in_windows(t, eff.power_off) | in_windows(t, eff.compressor_off)
        target = np.where(off, outside, target)
        tau = np.where(off, phys.tau_box_s, tau)
    target = np.where(door, target + phys.door_mix * (outside - target), target)
    tau = np.where(door, np.minimum(tau, phys.tau_door_s), tau)
    return target, tau


def _failing(
    f: Failure, t: FloatArray, sp: FloatArray, outside: FloatArray, target: FloatArray
) -> FloatArray:
    """The target of a failing unit: it loses ground towards ambient and never gains it back."""
    since = np.maximum(t - f.t0, 0.0)
    gap = outside - sp
    if f.shape == "linear":
        lost = f.rate_c_per_h * since / 3600.0
    elif f.shape == "exponential":
        lost = np.abs(gap) * (1.0 - np.exp(-since / f.tau_s))
    elif f.shape == "partial":
        ramp = np.clip(since / f.ramp_s, 0.0, 1.0) if f.ramp_s > 0 else 1.0
        lost = np.abs(f.settles_c - sp) * ramp
    else:
        # A cycling compressor holds the setpoint while it runs; its off spells do the harm.
        return target
    drift = np.clip(gap, -lost, lost)
    return np.where(drift > 0, np.maximum(target, sp + drift), np.minimum(target, sp + drift))


def probe(phys: DevicePhysics, product: FloatArray, rng: np.random.Generator) -> FloatArray:
    """The product probe's reading: noise, then the sensor's resolution."""
    res = phys.resolution_c
    noisy = product + rng.normal(0.0, phys.noise_c, len(product))
    # Rounding twice drops the float tails a multiple of 0.1 would otherwise keep.
    return np.round(np.round(noisy / res) * res, 4)


def columns(
    p: DevicePlan,
    rng: np.random.Generator,
    t: FloatArray,
    epoch_s: FloatArray,
    lon: FloatArray,
    lat: FloatArray,
    idx: np.ndarray,
    outside: FloatArray,
    climate: FloatArray,
    door: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every channel but the product temperature, rounded as the tracker sends it."""
    eff, prof, n = p.effects, p.profile, len(t)
    moving = p.motion.stop[idx] == MOVING
    if prof.setpoint_c is None:
        # Air that warms holds more water: relative humidity falls as ambient rises.
        humidity = prof.humidity_pct - 1.5 * (outside - climate) + p.humidity.at(t)
    else:
        humidity = prof.humidity_pct + p.humidity.at(t) + rng.normal(0.0, 0.8, n)
    humidity = np.where(door, 0.5 * (humidity + _OUTSIDE_RH), humidity)
    road = p.motion.road[idx]
    shock = np.where(moving, np.where(road, 0.06, 0.03), 0.01)
    shock = shock + np.abs(rng.normal(0.0, 1.0, n)) * shock
    # Potholes and kerbs: the odd sharp jolt on the road, never near an impact alarm.
    bump = moving & road & (rng.uniform(size=n) < 0.02)
    shock = np.where(bump, rng.uniform(0.4, 1.2, n), shock)
    volts = p.battery_v0 - p.battery_drain_v_per_h * t / 3600.0 + rng.normal(0.0, 0.004, n)
    for t0, t1, end_v in eff.drain:
        start_v = p.battery_v0 - p.battery_drain_v_per_h * t0 / 3600.0
        volts = volts - np.clip((t - t0) / (t1 - t0), 0.0, 1.0) * (start_v - end_v)
    cols: dict[str, np.ndarray] = {
        "lat": np.round(lat, 6),
        "lon": np.round(lon, 6),
        "ambient_c": np.round(outside + rng.normal(0.0, 0.3, n), 1),
        "humidity_pct": np.round(np.clip(humidity, 5.0, 100.0), 1),
        "shock_g": np.round(shock, 2),
        "battery_v": np.round(volts, 2),
    }
    if prof.door:
        cols["door"] = np.where(door, b"open", b"closed")
    if prof.seal:
        seal = np.where(in_windows(t, eff.seal_open), b"open", b"closed")
        cols["seal"] = np.where(in_windows(t, eff.seal_tampered), b"tampered", seal)
        cols["seal_id"] = np.full(n, str(p.seal_id).encode())
    if prof.light:
        lux = np.where(door, thermal.daylight_lux(epoch_s, lon), 0.0)
        cols["light_lux"] = np.rint(lux).astype(np.int64)
    return cols
