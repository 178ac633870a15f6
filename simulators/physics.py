"""Each device's physics, drawn from the ranges of a named regime, and the seed split.

Detectors tuned against one fixed thermal model learn that model, not refrigeration. So every
simulated device draws its own physics from ranges, seeded per device: insulation (how fast
the box warms with the cooling off), the product's and the controller's time constants, the
unit's capacity, defrost, the heat an open door lets in, sun on the box, how large the daily
swing is, an occasional step in setpoint or ambient, its reporting interval (1 to 15 min for
cold-chain loggers) and its probe's resolution and noise; a failing unit draws the shape of
its failure. Two regimes name the ranges: ``dev``, which anyone tuning detectors may look at,
and ``holdout``, wider and shifted, kept for measuring. Seeds are split the same way: seeds
from `HOLDOUT_SEED_MIN` up are held out and run only with the held-out ranges, and the
held-out ranges only with them (`check_split`), so a figure on held-out seeds is a figure on
physics no tuning has seen. Ranges keep a normal shipment inside its band: the unit's
capacity is raised to hold the hottest (and coldest) air its lane can give it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from simulators.profiles import Profile

FloatArray = npt.NDArray[np.float64]
Range = tuple[float, float]

#: Seeds from here up are held out: tuning never runs on them, figures are reported on them.
HOLDOUT_SEED_MIN: Final = 1_000_000
#: Failure shapes of a cooling unit, in the order the regimes weight them.
FAILURE_SHAPES: Final = ("linear", "exponential", "cycling", "partial")
#: Largest slow departure of the weather from the climate mean (three sinusoids, see thermal).
_WEATHER_MAX_C: Final = 2.6
#: How far inside its band a normal shipment's air stays at the worst moment its lane allows.
_BAND_MARGIN_C: Final = 2.0


@dataclass(frozen=True)
class Regime:
    """The ranges device physics is drawn from; multipliers apply to the profile's values."""

    name: str
    tau_box: Range
    tau_product: Range
    tau_control_s: Range
    capacity: Range
    defrost_rise: Range
    door_mix: Range
    tau_door_s: Range
    sun_c: Range
    diurnal: Range
    step_chance: float
    #: Largest setpoint step, as a share of the band's width.
    setpoint_step: float
    ambient_step_c: Range
    #: Reporting intervals (s) and their weights; a profile's cap removes the longer ones.
    intervals_s: tuple[tuple[float, float], ...]
    resolutions_c: tuple[tuple[float, float], ...]
    noise: Range
    #: Weights of `FAILURE_SHAPES`.
    failure_weights: tuple[float, float, float, float]
    rise_c_per_h: Range
    approach_tau_h: Range
    cycle_period_min: Range
    cycle_degrade_h: Range
    #: Where a partly failed unit settles its air: above the upper limit by this share of the
    #: band's width (negative: it still holds inside the band, and nothing breaches).
    partial_over_limit: Range
    #: Routine stops of a truck that makes them (`simulators.routine`, `--routine-stops`):
    #: the chance it rests or refuels at each service area it passes, and for how long (min).
    rest_chance: float
    rest_min: Range
    #: Traffic jams per hour of road driving, and how long each standstill lasts (min).
    jam_per_h: float
    jam_min: Range
    #: The chance of a queue before a border post reached by road, and its length (min).
    queue_chance: float
    queue_min: Range


REGIMES: Final[dict[str, Regime]] = {
    "dev": Regime(
        name="dev",
        tau_box=(0.7, 1.4),
        tau_product=(0.8, 1.3),
        tau_control_s=(400.0, 900.0),
        capacity=(0.95, 1.25),
        defrost_rise=(0.7, 1.2),
        door_mix=(0.25, 0.45),
        tau_door_s=(360.0, 600.0),
        sun_c=(0.0, 5.0),
        diurnal=(0.7, 1.3),
        step_chance=0.3,
        setpoint_step=0.2,
        ambient_step_c=(3.0, 8.0),
        intervals_s=((60.0, 0.15), (120.0, 0.2), (300.0, 0.3), (600.0, 0.2), (900.0, 0.15)),
        resolutions_c=((0.1, 0.75), (0.5, 0.25)),
        noise=(0.5, 1.5),
        failure_weights=(0.4, 0.25, 0.15, 0.2),
        rise_c_per_h=(1.5, 5.0),
        approach_tau_h=(2.0, 6.0),
        cycle_period_min=(20.0, 45.0),
        cycle_degrade_h=(2.0, 6.0),
        partial_over_limit=(-0.3, 1.2),
        rest_chance=0.35,
        rest_min=(20.0, 45.0),
        jam_per_h=0.12,
        jam_min=(5.0, 35.0),
        queue_chance=0.5,
        queue_min=(10.0, 45.0),
    ),
    "holdout": Regime(
        name="holdout",
        tau_box=(0.45, 2.0),
        tau_product=(0.75, 1.7),
        tau_control_s=(300.0, 1500.0),
        capacity=(0.9, 1.4),
        defrost_rise=(0.5, 1.3),
        door_mix=(0.15, 0.5),
        tau_door_s=(240.0, 900.0),
        sun_c=(0.0, 9.0),
        diurnal=(0.5, 1.8),
        step_chance=0.5,
        setpoint_step=0.25,
        ambient_step_c=(3.0, 12.0),
        intervals_s=(
            (60.0, 0.1),
            (90.0, 0.1),
            (180.0, 0.1),
            (240.0, 0.1),
            (420.0, 0.15),
            (540.0, 0.15),
            (720.0, 0.15),
            (900.0, 0.15),
        ),
        resolutions_c=((0.1, 0.5), (0.5, 0.5)),
        noise=(0.3, 2.0),
        failure_weights=(0.15, 0.3, 0.3, 0.25),
        rise_c_per_h=(0.8, 7.0),
        approach_tau_h=(1.0, 10.0),
        cycle_period_min=(10.0, 60.0),
        cycle_degrade_h=(1.0, 10.0),
        partial_over_limit=(-0.5, 1.8),
        rest_chance=0.5,
        rest_min=(15.0, 60.0),
        jam_per_h=0.2,
        jam_min=(5.0, 45.0),
        queue_chance=0.6,
        queue_min=(10.0, 60.0),
    ),
}


class SeedSplitError(ValueError):
    """A seed run with the other split's physics: held-out seeds go only with held-out ranges."""


def check_split(seed: int, physics: str) -> None:
    """Refuse a seed and regime from different sides of the split (message names both)."""
    if physics not in REGIMES:
        raise ValueError(f"physics must be one of {', '.join(REGIMES)}, got {physics!r}")
    if seed >= HOLDOUT_SEED_MIN and physics != "holdout":
        raise SeedSplitError(
            f"seed {seed} is held out (>= {HOLDOUT_SEED_MIN:,}) and runs only with the"
            " held-out physics (--physics holdout)"
        )
    if seed < HOLDOUT_SEED_MIN and physics == "holdout":
        raise SeedSplitError(
            f"the held-out physics runs only on held-out seeds (>= {HOLDOUT_SEED_MIN:,}),"
            f" got seed {seed}"
        )


@dataclass(frozen=True)
class DevicePhysics:
    """One device's drawn physics; times in seconds from the run's start, temperatures in °C."""

    regime: str
    interval_s: float
    setpoint_c: float | None
    tau_box_s: float
    tau_product_s: float
    tau_control_s: float
    cool_capacity_c: float
    heat_capacity_c: float
    defrost_rise_c: float
    door_mix: float
    tau_door_s: float
    #: Peak of the sun's heat on the box at solar noon.
    sun_c: float
    #: Amplitude of the daily swing of ambient.
    diurnal_c: float
    noise_c: float
    resolution_c: float
    #: When the setpoint or ambient steps (None: never), and by how much.
    step_s: float | None = None
    setpoint_step_c: float = 0.0
    ambient_step_c: float = 0.0

    def setpoint(self, t: FloatArray) -> FloatArray:
        """The setpoint at each instant (the operator may step it once)."""
        sp = np.full(len(t), self.setpoint_c if self.setpoint_c is not None else math.nan)
        if self.step_s is not None and self.setpoint_step_c:
            sp = np.where(t >= self.step_s, sp + self.setpoint_step_c, sp)
        return sp

    def ambient_shift(self, t: FloatArray) -> FloatArray | float:
        """Ambient's step at each instant: a box moved from a cool store to a hot dock, say."""
        if self.step_s is None or not self.ambient_step_c:
            return 0.0
        return np.where(t >= self.step_s, self.ambient_step_c, 0.0)


def _u(rng: np.random.Generator, span: Range) -> float:
    return float(rng.uniform(span[0], span[1]))


def _pick(rng: np.random.Generator, choices: tuple[tuple[float, float], ...]) -> float:
    weights = np.array([w for _, w in choices])
    return choices[int(rng.choice(len(choices), p=weights / weights.sum()))][0]


def draw(
    profile: Profile,
    regime: Regime,
    rng: np.random.Generator,
    climate_c: Range,
    lane_diurnal_c: float,
    window_s: Range,
) -> DevicePhysics:
    """Draw one device's physics for ``profile`` on a lane whose climate spans ``climate_c``.

    ``window_s`` is the part of the run a step change may fall in. Every value is drawn, in a
    fixed order, whether the profile uses it or not, so a device's draws never shift with
    its profile.
    """
    tau_box = profile.tau_box_s * _u(rng, regime.tau_box)
    tau_product = profile.tau_product_s * _u(rng, regime.tau_product)
    tau_control = _u(rng, regime.tau_control_s)
    capacity = _u(rng, regime.capacity)
    defrost = profile.defrost_rise_c * _u(rng, regime.defrost_rise)
    door_mix, tau_door = _u(rng, regime.door_mix), _u(rng, regime.tau_door_s)
    sun, diurnal = _u(rng, regime.sun_c), lane_diurnal_c * _u(rng, regime.diurnal)
    allowed = tuple((s, w) for s, w in regime.intervals_s if s <= profile.max_interval_s)
    interval = _pick(rng, allowed or ((float(profile.max_interval_s), 1.0),))
    resolution = _pick(rng, regime.resolutions_c)
    noise = profile.noise_c * _u(rng, regime.noise)
    stepping = rng.uniform() < regime.step_chance
    step_at = _u(rng, window_s) if window_s[1] > window_s[0] else None
    on_setpoint = rng.uniform() < 0.5
    size = rng.uniform(-1.0, 1.0)
    ambient_step = _u(rng, regime.ambient_step_c) * (1.0 if rng.uniform() < 0.5 else -1.0)
    setpoint_step = 0.0
    sp = profile.setpoint_c
    band = profile.temp_range_c
    if not stepping or step_at is None:
        step_at, ambient_step = None, 0.0
    elif on_setpoint and sp is not None and band is not None:
        setpoint_step, ambient_step = float(size) * regime.setpoint_step * (band[1] - band[0]), 0.0
    cool = profile.cool_capacity_c * capacity
    heat = profile.heat_capacity_c * capacity
    if sp is not None and band is not None:
        # A normal shipment stays in its band: the unit holds the hottest afternoon its lane,
        # the sun and a step can give it, and the coldest night.
        hot = climate_c[1] + diurnal + sun + max(ambient_step, 0.0) + _WEATHER_MAX_C
        cold = climate_c[0] - diurnal + min(ambient_step, 0.0) - _WEATHER_MAX_C
        cool = max(cool, hot - band[1] + _BAND_MARGIN_C + max(setpoint_step, 0.0))
        heat = max(heat, band[0] + _BAND_MARGIN_C - cold - min(setpoint_step, 0.0))
    return DevicePhysics(
        regime=regime.name,
        interval_s=interval,
        setpoint_c=sp,
        tau_box_s=tau_box,
        tau_product_s=tau_product,
        tau_control_s=tau_control,
        cool_capacity_c=cool,
        heat_capacity_c=heat,
        defrost_rise_c=defrost,
        door_mix=door_mix,
        tau_door_s=tau_door,
        sun_c=sun,
        diurnal_c=diurnal,
        noise_c=noise,
        resolution_c=resolution,
        step_s=step_at,
        setpoint_step_c=setpoint_step,
        ambient_step_c=ambient_step,
    )


def draw_failure(
    regime: Regime, profile: Profile, rng: np.random.Generator, params: dict[str, Any]
) -> dict[str, Any]:
    """A failing unit's shape and its parameters; values given in ``params`` are kept.

    Giving ``rise_c_per_h`` alone asks for the linear failure it describes.
    """
    out = dict(params)
    if out.get("shape") is None:
        if out.get("rise_c_per_h") is not None:
            out["shape"] = "linear"
        else:
            weights = np.array(regime.failure_weights)
            out["shape"] = FAILURE_SHAPES[int(rng.choice(4, p=weights / weights.sum()))]
    shape = out["shape"]
    if shape == "linear" and out.get("rise_c_per_h") is None:
        out["rise_c_per_h"] = round(_u(rng, regime.rise_c_per_h), 2)
    elif shape == "exponential":
        out["approach_tau_h"] = round(_u(rng, regime.approach_tau_h), 2)
    elif shape == "cycling":
        out["cycle_period_min"] = round(_u(rng, regime.cycle_period_min), 1)
        out["cycle_degrade_h"] = round(_u(rng, regime.cycle_degrade_h), 2)
    elif shape == "partial":
        assert profile.temp_range_c is not None and profile.setpoint_c is not None
        low, high = profile.temp_range_c
        over = _u(rng, regime.partial_over_limit) * (high - low)
        out["settles_c"] = round(high + over, 2)
        out["ramp_min"] = round(_u(rng, (20.0, 90.0)), 1)
    return out


def daylight(hour: FloatArray) -> FloatArray:
    """Share of the sun's peak heat at each local solar hour: none at night, 1 at noon."""
    return np.maximum(0.0, np.sin(math.pi * (hour - 6.0) / 12.0))
