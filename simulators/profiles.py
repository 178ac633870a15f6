"""Shipment profiles: what each kind of shipment carries, how it is cooled and what it reports.

A profile fixes the product's allowed range (the one the detectors are told in the manifest),
how the cooling behaves (a powered reefer with defrost cycles, a passive shipper with phase
change material or dry ice, a climate unit, or nothing), the thermal time constants, the
sensors its tracker has and how often it reports. Time constants, capacities, interval, noise
and resolution here are typical values: each device draws its own around them
(`simulators.physics`). Capacities say how far below (or above)
ambient the unit can hold its setpoint: past them a heat wave wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    temp_range_c: tuple[float, float] | None
    stability_budget_min: int | None
    #: Air temperature the cooling holds; None when nothing controls it (ambient cargo).
    setpoint_c: float | None
    #: "reefer" (powered, defrosts), "passive" (coolant that can run out), "hvac", "none".
    cooling: str
    cool_capacity_c: float
    heat_capacity_c: float
    #: How fast the box's air goes to ambient with the cooling off, and the product to its air.
    tau_box_s: float
    tau_product_s: float
    interval_s: int
    noise_c: float
    resolution_c: float
    #: Defrost cycle: every ``defrost_every_h`` hours the air rises by ``defrost_rise_c``.
    defrost_every_h: float = 0.0
    defrost_min: float = 0.0
    defrost_rise_c: float = 0.0
    door: bool = False
    seal: bool = False
    light: bool = False
    ambient_sensor: bool = True
    humidity_pct: float = 60.0
    lanes: tuple[str, ...] = ()
    weight: float = 1.0
    #: Longest reporting interval a device of this profile draws (see simulators.physics):
    #: trackers on sealed cargo report often enough to follow a truck between stops.
    max_interval_s: int = 900


# fmt: off
_TABLE: Final = (
    Profile(
        name="vaccine_2_8", title="Vaccine shipper, 2-8 °C (parcel or air)",
        temp_range_c=(2.0, 8.0), stability_budget_min=120, setpoint_c=5.0,
        cooling="passive", cool_capacity_c=30.0, heat_capacity_c=25.0,
        tau_box_s=14_400.0, tau_product_s=5_400.0,
        interval_s=300, noise_c=0.08, resolution_c=0.1, light=True, humidity_pct=45.0,
        lanes=("puurs-paris", "brussels-lagos", "mombasa-kampala"), weight=0.25,
    ),
    Profile(
        name="chilled_reefer", title="Chilled reefer container, 0-4 °C (road or ocean)",
        temp_range_c=(0.0, 4.0), stability_budget_min=240, setpoint_c=2.0,
        cooling="reefer", cool_capacity_c=38.0, heat_capacity_c=30.0,
        tau_box_s=5_400.0, tau_product_s=10_800.0,
        defrost_every_h=6.0, defrost_min=20.0, defrost_rise_c=5.0,
        interval_s=120, noise_c=0.08, resolution_c=0.1, door=True, humidity_pct=90.0,
        lanes=("rotterdam-milan", "mombasa-kampala", "shanghai-los-angeles",
               "singapore-jakarta"),
        weight=0.2,
    ),
    Profile(
        name="frozen_minus_20", title="Frozen reefer container, -20 °C",
        temp_range_c=(-25.0, -15.0), stability_budget_min=480, setpoint_c=-20.0,
        cooling="reefer", cool_capacity_c=60.0, heat_capacity_c=60.0,
        tau_box_s=5_400.0, tau_product_s=10_800.0,
        defrost_every_h=8.0, defrost_min=25.0, defrost_rise_c=10.0,
        interval_s=120, noise_c=0.1, resolution_c=0.1, door=True, humidity_pct=80.0,
        lanes=("rotterdam-milan", "shanghai-los-angeles", "singapore-jakarta"), weight=0.15,
    ),
    Profile(
        name="ultra_cold_minus_70", title="Ultra-cold shipper on dry ice, -70 °C",
        temp_range_c=(-80.0, -60.0), stability_budget_min=60, setpoint_c=-75.0,
        cooling="passive", cool_capacity_c=200.0, heat_capacity_c=200.0,
        tau_box_s=10_800.0, tau_product_s=5_400.0,
        interval_s=300, noise_c=0.3, resolution_c=0.5, light=True, humidity_pct=20.0,
        lanes=("brussels-lagos", "puurs-paris"), weight=0.05,
    ),
    Profile(
        name="ambient_15_25", title="Controlled ambient pharma, 15-25 °C",
        temp_range_c=(15.0, 25.0), stability_budget_min=720, setpoint_c=20.0,
        cooling="hvac", cool_capacity_c=15.0, heat_capacity_c=30.0,
        tau_box_s=7_200.0, tau_product_s=10_800.0,
        interval_s=300, noise_c=0.1, resolution_c=0.1, door=True, humidity_pct=50.0,
        lanes=("rotterdam-milan", "puurs-paris"), weight=0.1,
    ),
    Profile(
        name="customs_transit", title="Ambient sealed cargo under customs transit",
        temp_range_c=None, stability_budget_min=None, setpoint_c=None,
        cooling="none", cool_capacity_c=0.0, heat_capacity_c=0.0,
        tau_box_s=7_200.0, tau_product_s=10_800.0,
        interval_s=60, noise_c=0.2, resolution_c=0.1, door=True, seal=True, light=True,
        ambient_sensor=False, humidity_pct=70.0,
        lanes=("mombasa-kampala", "dar-es-salaam-kigali", "rotterdam-milan"), weight=0.25,
        max_interval_s=120,
    ),
)
# fmt: on

PROFILES: Final[dict[str, Profile]] = {p.name: p for p in _TABLE}
