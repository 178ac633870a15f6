"""The bundled lanes: real corridors with named waypoints, authorised stops and climate.

Each lane is a list of waypoints (lon, lat) in travel order. Some are authorised stops (the
ports, border posts, weighbridges, depots and designated truck parks a shipment may halt at),
the rest only shape the corridor. Coordinates are those of the real places to a few hundred
metres; the sea and air lanes follow the usual shipping route or great circle loosely. Mean
ambient temperatures are typical for the place, so a reefer on the Northern Corridor works
harder than one crossing the Alps. Restricted zones are illustrative areas placed well clear
of each corridor, for restricted-zone alerts to be tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Waypoint:
    name: str
    lon: float
    lat: float
    #: Kind of authorised stop (a key of routes.STOP_KINDS), or None for a point that shapes
    #: the route.
    stop: str | None = None
    #: Mode of the leg that starts here, when it differs from the lane's.
    leg: str | None = None
    ambient_c: float | None = None
    dwell_min: tuple[float, float] | None = None


@dataclass(frozen=True)
class ZoneSpec:
    """A restricted zone: a square ``size_km`` wide, ``offset_km`` to one side of the route
    (``side`` 1 is left of travel), centred ``at`` that fraction of the route's length."""

    name: str
    at: float
    side: int
    offset_km: float
    size_km: float


@dataclass(frozen=True)
class LaneSpec:
    name: str
    title: str
    mode: str
    speed_kmh: float
    corridor_m: float
    diurnal_c: float
    waypoints: tuple[Waypoint, ...]
    zones: tuple[ZoneSpec, ...] = ()


W = Waypoint

# fmt: off
LANE_SPECS: Final[tuple[LaneSpec, ...]] = (
    LaneSpec(
        name="mombasa-kampala", title="Mombasa to Kampala by road (Northern Corridor)",
        mode="road", speed_kmh=48.0, corridor_m=2000.0, diurnal_c=5.0,
        waypoints=(
            W("Mombasa port", 39.6432, -4.0547, stop="port", ambient_c=28.0, dwell_min=(40, 120)),
            W("Changamwe", 39.6180, -4.0230),
            W("Mariakani weighbridge", 39.4700, -3.8640, stop="weighbridge"),
            W("Mackinnon Road", 39.0400, -3.7300),
            W("Voi truck park", 38.5600, -3.3900, stop="rest", ambient_c=27.0),
            W("Mtito Andei", 38.1660, -2.6870),
            W("Emali", 37.4700, -2.0800),
            W("Athi River weighbridge", 36.9800, -1.4500, stop="weighbridge", ambient_c=21.0),
            W("Nairobi inland container depot", 36.9000, -1.3200, stop="depot"),
            W("Limuru", 36.6400, -1.1100),
            W("Naivasha", 36.4300, -0.7200),
            W("Gilgil weighbridge", 36.3200, -0.4900, stop="weighbridge"),
            W("Nakuru", 36.0700, -0.2900),
            W("Salgaa truck park", 35.8500, -0.2000, stop="rest"),
            W("Eldoret", 35.2700, 0.5100, ambient_c=18.0),
            W("Webuye weighbridge", 34.7700, 0.6100, stop="weighbridge"),
            W("Bungoma", 34.5600, 0.5700),
            W("Malaba border post", 34.2750, 0.6350, stop="border", ambient_c=24.0),
            W("Tororo", 34.1800, 0.6900),
            W("Iganga", 33.4700, 0.6100),
            W("Jinja", 33.2000, 0.4400),
            W("Mukono", 32.7500, 0.3500),
            W("Kampala depot", 32.6100, 0.3300, stop="depot", ambient_c=23.0),
        ),
        zones=(
            ZoneSpec("Tsavo protected area (no stopping)",
                     at=0.22, side=1, offset_km=25.0, size_km=12.0),
            ZoneSpec("Military area near Gilgil", at=0.5, side=-1, offset_km=20.0, size_km=8.0),
        ),
    ),
    LaneSpec(
        name="dar-es-salaam-kigali", title="Dar es Salaam to Kigali by road (Central Corridor)",
        mode="road", speed_kmh=45.0, corridor_m=2000.0, diurnal_c=6.0,
        waypoints=(
            W("Dar es Salaam port", 39.2900, -6.8300, stop="port", ambient_c=28.0, dwell_min=(40,
               120)),
            W("Chalinze", 38.3500, -6.6400),
            W("Mikese weighbridge", 37.9000, -6.7800, stop="weighbridge"),
            W("Morogoro", 37.6600, -6.8200),
            W("Dodoma", 35.7400, -6.1700, ambient_c=23.0),
            W("Singida", 34.7500, -4.8200),
            W("Nzega", 33.1800, -4.2100),
            W("Isaka dry port", 32.9300, -3.9000, stop="depot"),
            W("Kahama", 32.6000, -3.8400),
            W("Nyakanazi", 31.2900, -3.0700),
            W("Rusumo one-stop border post", 30.7800, -2.3800, stop="border", ambient_c=21.0),
            W("Kayonza", 30.5000, -1.9000),
            W("Kigali Masaka dry port", 30.1600, -1.9900, stop="depot", ambient_c=21.0),
        ),
        zones=(
            ZoneSpec("Game reserve near Singida", at=0.45, side=1, offset_km=22.0, size_km=10.0),
        ),
    ),
    LaneSpec(
        name="rotterdam-milan", title="Rotterdam to Milan by road (Rhine-Alpine corridor)",
        mode="road", speed_kmh=70.0, corridor_m=2000.0, diurnal_c=6.0,
        waypoints=(
            W("Rotterdam Maasvlakte terminal", 4.0300, 51.9600, stop="port", ambient_c=11.0,
               dwell_min=(40, 120)),
            W("Rotterdam", 4.4000, 51.8800),
            W("Breda", 4.7800, 51.5900),
            W("Eindhoven", 5.4700, 51.4400),
            W("Venlo logistics depot", 6.1700, 51.3700, stop="depot"),
            W("Cologne", 6.9600, 50.9400),
            W("Koblenz", 7.5900, 50.3600),
            W("Frankfurt", 8.6800, 50.1100, ambient_c=12.0),
            W("Mannheim", 8.4700, 49.4900),
            W("Karlsruhe", 8.4000, 49.0100),
            W("Bühl truck park", 8.1300, 48.7000, stop="rest"),
            W("Freiburg", 7.8500, 48.0000),
            W("Weil am Rhein customs yard", 7.6100, 47.5900, stop="border", ambient_c=12.0),
            W("Olten", 7.9000, 47.3500),
            W("Lucerne", 8.3100, 47.0500),
            W("Erstfeld heavy vehicle centre", 8.6500, 46.8200, stop="weighbridge", ambient_c=8.0),
            W("Gotthard", 8.5900, 46.5500),
            W("Bellinzona", 9.0200, 46.1900),
            W("Chiasso border", 9.0300, 45.8400, stop="border", ambient_c=14.0),
            W("Como", 9.0900, 45.8000),
            W("Milan Segrate depot", 9.2600, 45.4800, stop="depot", ambient_c=14.0),
        ),
        zones=(
            ZoneSpec("Military training area near Koblenz",
                     at=0.3, side=-1, offset_km=18.0, size_km=8.0),
        ),
    ),
    LaneSpec(
        name="puurs-paris", title="Puurs to Paris by parcel van",
        mode="road", speed_kmh=72.0, corridor_m=2000.0, diurnal_c=6.0,
        waypoints=(
            W("Puurs fill-finish site", 4.2800, 51.0700, stop="depot", ambient_c=11.0),
            W("Brussels parcel hub", 4.4400, 50.9100, stop="depot"),
            W("Tournai", 3.3900, 50.6000),
            W("Lille Lesquin hub", 3.1100, 50.5800, stop="depot"),
            W("Arras", 2.7800, 50.2900),
            W("Paris Roissy hub", 2.5500, 49.0000, stop="depot", ambient_c=12.0),
        ),
    ),
    LaneSpec(
        name="brussels-lagos", title="Brussels to Lagos by air",
        mode="air", speed_kmh=780.0, corridor_m=50_000.0, diurnal_c=5.0,
        waypoints=(
            W("Brussels Airport cargo", 4.4600, 50.9000, stop="airport", ambient_c=11.0),
            W("Lagos airport cargo terminal", 3.3200, 6.5800, stop="airport", leg="road",
               ambient_c=28.0, dwell_min=(90, 180)),
            W("Lagos Apapa cold store", 3.3700, 6.4400, stop="depot", ambient_c=28.0),
        ),
        zones=(
            ZoneSpec("Restricted airspace", at=0.5, side=1, offset_km=150.0, size_km=60.0),
        ),
    ),
    LaneSpec(
        name="shanghai-los-angeles", title="Shanghai to Los Angeles by sea (via Busan)",
        mode="sea", speed_kmh=33.0, corridor_m=30_000.0, diurnal_c=3.0,
        waypoints=(
            W("Shanghai Yangshan port", 122.0700, 30.6200, stop="port", ambient_c=18.0),
            W("East China Sea", 123.5000, 31.0000),
            W("East of Jeju", 127.5000, 33.8000),
            W("Busan New Port", 128.8000, 35.0700, stop="port", ambient_c=15.0, dwell_min=(600,
               1000)),
            W("Sea of Japan south", 130.5000, 36.0000),
            W("Sea of Japan", 135.0000, 38.5000),
            W("Tsugaru Strait west", 139.3000, 41.3000),
            W("Tsugaru Strait east", 141.9000, 41.5000, ambient_c=10.0),
            W("North Pacific 150E", 150.0000, 43.5000),
            W("North Pacific 160E", 160.0000, 46.0000),
            W("North Pacific 170E", 170.0000, 47.8000, ambient_c=7.0),
            W("North Pacific 180", 180.0000, 48.5000),
            W("North Pacific 170W", -170.0000, 48.3000),
            W("North Pacific 160W", -160.0000, 47.0000),
            W("North Pacific 150W", -150.0000, 45.0000, ambient_c=11.0),
            W("North Pacific 140W", -140.0000, 42.0000),
            W("Off California", -130.0000, 38.0000),
            W("Off Point Conception", -122.0000, 34.5000),
            W("Santa Barbara Channel south", -119.5000, 33.6000),
            W("Port of Los Angeles", -118.2600, 33.7300, stop="port", ambient_c=18.0),
        ),
        zones=(
            ZoneSpec("Naval exercise area", at=0.55, side=-1, offset_km=120.0, size_km=60.0),
        ),
    ),
    LaneSpec(
        name="singapore-jakarta", title="Singapore to Jakarta by sea",
        mode="sea", speed_kmh=30.0, corridor_m=30_000.0, diurnal_c=2.0,
        waypoints=(
            W("Singapore Pasir Panjang terminal", 103.7600, 1.2700, stop="port", ambient_c=28.0),
            W("Singapore Strait east", 104.1000, 1.1500),
            W("Riau Archipelago", 104.4000, 0.5000),
            W("Lingga", 105.1000, -0.9000),
            W("Bangka Strait north", 105.7000, -2.4000),
            W("Bangka Strait south", 106.2000, -3.6000),
            W("Java Sea", 106.7000, -5.2000),
            W("Jakarta Tanjung Priok port", 106.8800, -6.1000, stop="port", ambient_c=28.0),
        ),
        zones=(
            ZoneSpec("Offshore platform exclusion zone",
                     at=0.6, side=1, offset_km=70.0, size_km=30.0),
        ),
    ),
)
# fmt: on
