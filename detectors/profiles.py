"""Shipment profiles and the shipment manifest: what a tracker is supposed to be doing.

A profile is a named set of expectations (temperature range, excursion budget,
reporting interval, corridor width) for a kind of cargo. A shipment names a
profile and may override any of it, and adds its route, authorised stops,
restricted zones, seal id and the room it shares with other trackers.
`parse_manifest` reads the JSON shape of docs/manifest.md and refuses unknown
keys and bad values with a message that says which shipment and which key,
because a typo in a manifest silently turning a check off is worse than a
refusal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, Final

from detectors.jsonvalue import describe
from detectors.reading import DEVICE_ID_RE, SHIPMENT_ID_RE

#: Stops shorter than this, away from authorised places, are traffic, not a customs question
#: (every profile's default; `unscheduled_stop_min` sets it per shipment).
UNSCHEDULED_STOP_MIN: Final = 10.0


class ManifestError(ValueError):
    """The manifest cannot be used; the message names the shipment and the key."""


@dataclass(frozen=True, slots=True)
class Profile:
    """Expectations for one kind of cargo; every field carries its unit."""

    name: str
    temp_range_c: tuple[float, float] | None
    stability_budget_min: float = 120.0
    expected_interval_s: float = 300.0
    max_gap_min: float = 30.0
    corridor_m: float = 2000.0
    #: An excursion must last this long, out of range without a break, before it is an
    #: alert (sensor noise, door blips); 0 alerts on the first reading out.
    excursion_min_duration_min: float = 5.0
    #: How far ahead the predicted-breach detector looks.
    breach_horizon_min: float = 90.0
    #: Standing still this long away from authorised stops is an `unscheduled_stop`; shorter
    #: stops are traffic. A corridor with long queues or mandated rests may set it longer.
    unscheduled_stop_min: float = UNSCHEDULED_STOP_MIN
    #: Fastest plausible ground speed for the mode of transport.
    max_speed_kmh: float = 160.0

    def __setstate__(self, state: list[object]) -> None:
        # A profile pickled before `unscheduled_stop_min` was added holds one value fewer,
        # `max_speed_kmh` last: the stop threshold takes its default, so a snapshot of that
        # release restores with its devices' detectors, as a `Shipment` does.
        names = [f.name for f in fields(self)]
        if len(state) == len(names) - 1:
            state = [*state[:-1], UNSCHEDULED_STOP_MIN, state[-1]]
        for name, value in zip(names, state, strict=True):
            object.__setattr__(self, name, value)


PROFILES: Final = {
    p.name: p
    for p in (
        Profile("vaccine_2_8", (2.0, 8.0), stability_budget_min=120, expected_interval_s=300),
        Profile("chilled_reefer", (0.0, 4.0), stability_budget_min=180, expected_interval_s=300),
        Profile("frozen_minus_20", (-25.0, -15.0), stability_budget_min=240),
        Profile("ultra_cold_minus_70", (-80.0, -60.0), stability_budget_min=60),
        Profile("ambient_15_25", (15.0, 25.0), stability_budget_min=480),
        Profile("customs_transit", None, expected_interval_s=300),
    )
}


@dataclass(frozen=True, slots=True)
class Place:
    """An authorised stop: a named circle."""

    name: str
    lon: float
    lat: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class Zone:
    """A restricted zone: a named polygon ring of (lon, lat) vertices."""

    name: str
    ring: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Shipment:
    """One manifest element, resolved against its profile."""

    shipment_id: str
    device_id: str
    profile: Profile
    departure_ms: int | None = None
    arrival_ms: int | None = None
    route: tuple[tuple[float, float], ...] = ()
    authorised_stops: tuple[Place, ...] = ()
    restricted_zones: tuple[Zone, ...] = ()
    seal_id: str | None = None
    #: The space (a cold-store room, a chamber) this tracker shares with the other trackers of
    #: the same room and organisation: their probes are each other's check (`probe_peers`).
    room: str | None = None
    #: Whose shipment this is, where that is known (the store's organisation); trackers of
    #: different organisations are never neighbours. Never a manifest key: the caller sets it.
    organisation: str | None = None
    #: The tracker's GPS receiver pins its fix while the vehicle stands still (static hold):
    #: a fix repeated bit for bit is then a parked truck, not a frozen receiver (`gps_lost`).
    gps_static_hold: bool = False
    #: The tracker's probe reads the air, not the product: the product's time constant (min),
    #: by which its temperature is simulated from the air's for the excursion, breach and door
    #: checks (`detectors.product_probe`), and the air's jumps are no sensor fault. None: the
    #: probe reads the product.
    product_lag_min: float | None = None
    #: A stop where other trackers have stood (a service area) is held to the critical time
    #: before it is reported (`detectors.roadside_places`); False: every stop is reported at
    #: `unscheduled_stop_min`, wherever it is (a shipment whose every halt is a question).
    roadside_places: bool = True

    def __setstate__(self, state: list[object]) -> None:
        # Snapshots written before a field was added hold fewer values, in field order: the
        # missing trailing fields take their defaults, so such a snapshot still restores.
        names = fields(self)
        values = list(state) + [f.default for f in names[len(state) :]]
        for f, value in zip(names, values, strict=True):
            object.__setattr__(self, f.name, value)


_SHIPMENT_KEYS: Final = frozenset(
    {
        "shipment_id",
        "device_id",
        "profile",
        "temp_range_c",
        "stability_budget_min",
        "expected_interval_s",
        "max_gap_min",
        "departure",
        "arrival",
        "route",
        "corridor_m",
        "authorised_stops",
        "restricted_zones",
        "seal_id",
        "excursion_min_duration_min",
        "breach_horizon_min",
        "unscheduled_stop_min",
        "room",
        "gps_static_hold",
        "probe",
        "product_lag_min",
        "roadside_places",
    }
)
#: What a tracker's temperature probe reads: the product (or a buffered probe standing for it),
#: or the air around it (`product_lag_min`).
PROBES: Final = ("product", "air")
#: The product's time constant when a shipment whose probe reads the air names none: a loaded
#: reefer's or cold room's pallets, whose product follows the air over hours. Chosen on the
#: development seeds of `bench/air_probes.py`, whose loads draw 1.2 to 3.9 h: 30, 60, 90, 120
#: and 180 min declared on every air probe gave 13-21, 5-7, 2.5-3.9, 0.6-1.3 and 0 false
#: temperature alerts per 1,000 device-hours on normal fleets, and warned ahead of 33-47 %,
#: 56-68 %, 77-86 %, 88-95 % and 75-86 % of breaches; at 180 the excursion came a median
#: 12-15 min after the product's breach, at 120 2-5 min before it. A lighter load (a parcel, a
#: carton of vials, a buffered probe of 100-250 ml: 15 to 30 min) must say so: a lag longer
#: than the product's hides excursions it really has.
PRODUCT_LAG_MIN: Final = 120.0
#: Longer lags hold the product's warmth for most of a day: a pallet of dense cargo, whose
#: core an air probe cannot speak for at all.
MAX_PRODUCT_LAG_MIN: Final = 720.0
#: A shipment that declares its reporting interval but no `max_gap_min` tolerates at least
#: this many intervals of silence, plus `GAP_SLACK_MIN`: two lost readings and a third that
#: comes a little late. The profiles' 30 minutes are six readings at 5-minute reporting, but a
#: logger reporting every 15 minutes would be called silent on one lost reading and a second's
#: jitter, and real loggers lose readings.
GAP_INTERVALS: Final = 3
GAP_SLACK_MIN: Final = 10.0
_PROFILE_OVERRIDES: Final = (
    "stability_budget_min",
    "expected_interval_s",
    "max_gap_min",
    "corridor_m",
    "breach_horizon_min",
    "unscheduled_stop_min",
)


def parse_manifest(doc: object) -> list[Shipment]:
    """Parse `{"shipments": [...]}`; raise ManifestError naming what is wrong.

    >>> [s.profile.temp_range_c for s in parse_manifest({"shipments": [
    ...     {"shipment_id": "S1", "device_id": "t1", "profile": "vaccine_2_8"}]})]
    [(2.0, 8.0)]
    >>> try:
    ...     parse_manifest({"shipments": [{"shipment_id": "S1", "device_id": "t1",
    ...                     "profile": "vaccine_2_8", "temp_rnage_c": [1, 2]}]})
    ... except ManifestError as e:
    ...     print(e)
    shipment 'S1': unknown key 'temp_rnage_c'
    """
    if (
        not isinstance(doc, dict)
        or set(doc) != {"shipments"}
        or not isinstance(doc["shipments"], list)
    ):
        raise ManifestError('a manifest is {"shipments": [...]} and nothing else')
    shipments = [parse_shipment(item) for item in doc["shipments"]]
    devices: set[str] = set()
    ids: set[str] = set()
    for s in shipments:
        if s.device_id in devices:
            raise ManifestError(f"device {s.device_id!r} is in more than one shipment")
        if s.shipment_id in ids:
            raise ManifestError(f"shipment {s.shipment_id!r} is in the manifest more than once")
        devices.add(s.device_id)
        ids.add(s.shipment_id)
    return shipments


def parse_shipment(obj: object) -> Shipment:
    """Parse one manifest element (the body `POST /shipments` takes)."""
    if not isinstance(obj, dict):
        raise ManifestError("a shipment is a JSON object")
    sid = obj.get("shipment_id")
    # The id names the shipment in every message; anything else is described, not printed
    # (a manifest can come from an API client, and a value nested deep enough to exhaust
    # the stack must not be formatted whole).
    where = f"shipment {sid[:64]!r}" if isinstance(sid, str) else "shipment"
    for key in obj:
        if key not in _SHIPMENT_KEYS:
            name = repr(key[:64]) if isinstance(key, str) else "?"
            raise ManifestError(f"{where}: unknown key {name}")
    for key in ("shipment_id", "device_id", "profile"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise ManifestError(f"{where}: {key} is required and must be a string")
    # Both ids are written into storage tags and topics: only characters that need no escaping.
    if not SHIPMENT_ID_RE.fullmatch(obj["shipment_id"]):
        raise ManifestError(f"{where}: shipment_id must match {SHIPMENT_ID_RE.pattern}")
    if not DEVICE_ID_RE.fullmatch(obj["device_id"]):
        raise ManifestError(f"{where}: device_id must match {DEVICE_ID_RE.pattern}")
    profile = PROFILES.get(obj["profile"])
    if profile is None:
        raise ManifestError(
            f"{where}: unknown profile {obj['profile']!r}; one of {sorted(PROFILES)}"
        )
    overrides: dict[str, Any] = {}
    for key in _PROFILE_OVERRIDES:
        if key in obj:
            overrides[key] = _positive(obj[key], where, key)
            _at_most_a_decade(overrides[key], where, key)
    if "expected_interval_s" in overrides:
        interval_s = overrides["expected_interval_s"]
        if "max_gap_min" not in overrides:
            overrides["max_gap_min"] = max(
                profile.max_gap_min, GAP_INTERVALS * interval_s / 60 + GAP_SLACK_MIN
            )
        elif (gap_min := overrides["max_gap_min"]) * 60 <= interval_s:
            # Every gap between two readings would be a silence.
            raise ManifestError(
                f"{where}: max_gap_min ({gap_min:g} min) must be longer than the reporting"
                f" interval, expected_interval_s ({interval_s:g} s)"
            )
    if "excursion_min_duration_min" in obj:
        # Zero is meaningful here (report the first reading out), unlike the other durations.
        v = obj["excursion_min_duration_min"]
        if not _is_number(v) or not v >= 0:
            raise ManifestError(
                f"{where}: excursion_min_duration_min must be a number >= 0, got {describe(v)}"
            )
        overrides["excursion_min_duration_min"] = float(v)
        _at_most_a_decade(float(v), where, "excursion_min_duration_min")
    if "temp_range_c" in obj:
        rng = obj["temp_range_c"]
        if rng is None:
            overrides["temp_range_c"] = None
        elif (
            not isinstance(rng, list)
            or len(rng) != 2
            or not all(_is_number(v) for v in rng)
            or not rng[0] < rng[1]
        ):
            raise ManifestError(f"{where}: temp_range_c must be [low, high] with low < high")
        else:
            overrides["temp_range_c"] = (float(rng[0]), float(rng[1]))
    if overrides:
        profile = replace(profile, **overrides)
    departure_ms = _time(obj.get("departure"), where, "departure")
    arrival_ms = _time(obj.get("arrival"), where, "arrival")
    if departure_ms is not None and arrival_ms is not None and arrival_ms <= departure_ms:
        raise ManifestError(f"{where}: arrival must be after departure")
    return Shipment(
        shipment_id=obj["shipment_id"],
        device_id=obj["device_id"],
        profile=profile,
        departure_ms=departure_ms,
        arrival_ms=arrival_ms,
        route=_route(obj.get("route"), where),
        authorised_stops=tuple(_place(p, where) for p in _list(obj, "authorised_stops", where)),
        restricted_zones=tuple(_zone(z, where) for z in _list(obj, "restricted_zones", where)),
        seal_id=_optional_str(obj.get("seal_id"), where, "seal_id"),
        room=_room(obj.get("room"), where),
        gps_static_hold=_flag(obj.get("gps_static_hold"), where, "gps_static_hold"),
        product_lag_min=_product_lag(obj, where),
        roadside_places=_flag(obj.get("roadside_places"), where, "roadside_places", default=True),
    )


def _is_number(v: object) -> bool:
    """A JSON number a float holds: `1e400` parses as infinity, and an integer past a float's
    range cannot be compared with one without losing what it was."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v.bit_length() <= 1023
    return isinstance(v, float) and math.isfinite(v)


def _positive(v: object, where: str, key: str) -> float:
    if not _is_number(v) or not v > 0:  # type: ignore[operator]
        raise ManifestError(f"{where}: {key} must be a positive number, got {describe(v)}")
    return float(v)  # type: ignore[arg-type]


#: The longest duration a manifest may give, in its key's unit: ten years. Every duration
#: becomes a count of milliseconds in the detectors, and a value such as 1e308 minutes, a
#: finite number a float holds, has none (it would fail there, for every reading, instead of
#: here, once, naming the key). Distances (`corridor_m`, `radius_m`) are not durations.
_DECADE: Final = {"s": 10 * 365 * 24 * 3600.0, "min": 10 * 365 * 24 * 60.0}


def _at_most_a_decade(v: float, where: str, key: str) -> None:
    unit = key.rsplit("_", 1)[-1]
    bound = _DECADE.get(unit)
    if bound is not None and v > bound:
        raise ManifestError(
            f"{where}: {key} must be at most {bound:.0f} {unit} (ten years), got {v:g}"
        )


def _optional_str(v: object, where: str, key: str) -> str | None:
    if v is None or isinstance(v, str):
        return v
    raise ManifestError(f"{where}: {key} must be a string")


def _flag(v: object, where: str, key: str, default: bool = False) -> bool:
    # JSON's true or false only (null: not given): a "false" string is truthy, and 0 or 1 may
    # be a typo for another key's number.
    if v is None:
        return default
    if not isinstance(v, bool):
        raise ManifestError(f"{where}: {key} must be true or false, got {describe(v)}")
    return v


def _product_lag(obj: dict[str, Any], where: str) -> float | None:
    """The product's time constant for a probe that reads the air (`probe`, `product_lag_min`)."""
    probe = obj.get("probe")
    if probe is not None and probe not in PROBES:
        raise ManifestError(f"{where}: probe must be one of {list(PROBES)}, got {describe(probe)}")
    lag = obj.get("product_lag_min")
    if lag is None:
        return PRODUCT_LAG_MIN if probe == "air" else None
    if probe != "air":
        # A lag for a probe in the product would be silently ignored: a contradiction.
        raise ManifestError(f'{where}: product_lag_min applies only to "probe": "air"')
    value = _positive(lag, where, "product_lag_min")
    if value > MAX_PRODUCT_LAG_MIN:
        raise ManifestError(
            f"{where}: product_lag_min must be at most {MAX_PRODUCT_LAG_MIN:g}, got {value:g}"
        )
    return value


def _room(v: object, where: str) -> str | None:
    # A room id names the room in alerts' summaries and evidence: the characters a shipment id
    # may hold, which need no escaping anywhere.
    if v is None:
        return None
    if not isinstance(v, str) or not SHIPMENT_ID_RE.fullmatch(v):
        raise ManifestError(f"{where}: room must match {SHIPMENT_ID_RE.pattern}, got {describe(v)}")
    return v


def _time(v: object, where: str, key: str) -> int | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise ManifestError(f"{where}: {key} must be an RFC 3339 time")
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise ManifestError(f"{where}: {key} is not an RFC 3339 time: {describe(v)}") from None
    if dt.tzinfo is None:
        raise ManifestError(f"{where}: {key} needs a UTC offset: {describe(v)}")
    return int(dt.timestamp() * 1000)


def _lon_lat(v: object, where: str, what: str) -> tuple[float, float]:
    if (
        isinstance(v, list)
        and len(v) >= 2
        and _is_number(v[0])
        and _is_number(v[1])
        and -180 <= v[0] <= 180
        and -90 <= v[1] <= 90
    ):
        return (float(v[0]), float(v[1]))
    if isinstance(v, list) and len(v) >= 2 and _is_number(v[0]) and _is_number(v[1]):
        # Two numbers, one out of its range: most often a position written [lat, lon].
        axis, value, bound = ("longitude", v[0], 180) if abs(v[0]) > 180 else ("latitude", v[1], 90)
        raise ManifestError(
            f"{where}: {what} must be [lon, lat] in degrees, got [{v[0]:g}, {v[1]:g}]"
            f" ({axis} {value:g} is outside -{bound} to {bound})"
        )
    raise ManifestError(f"{where}: {what} must be [lon, lat] in degrees, got {describe(v)}")


def _route(v: object, where: str) -> tuple[tuple[float, float], ...]:
    if v is None:
        return ()
    if (
        not isinstance(v, dict)
        or v.get("type") != "LineString"
        or not isinstance(v.get("coordinates"), list)
    ):
        raise ManifestError(
            f'{where}: route must be {{"type": "LineString", "coordinates": [...]}}'
        )
    points = tuple(_lon_lat(p, where, "route coordinates") for p in v["coordinates"])
    if len(points) < 2:
        raise ManifestError(f"{where}: a route needs at least two points")
    return points


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    v = obj.get(key, [])
    if not isinstance(v, list):
        raise ManifestError(f"{where}: {key} must be a list")
    return v


def _place(v: object, where: str) -> Place:
    keys = {"name", "lon", "lat", "radius_m"}
    if not isinstance(v, dict) or not set(v) <= keys or not {"lon", "lat"} <= set(v):
        raise ManifestError(f"{where}: an authorised stop is {{name, lon, lat, radius_m}}")
    lon, lat = _lon_lat([v["lon"], v["lat"]], where, "authorised stop")
    radius = _positive(v.get("radius_m", 500), where, "radius_m")
    name = v.get("name", "")
    if not isinstance(name, str):
        raise ManifestError(f"{where}: an authorised stop's name must be a string")
    return Place(name, lon, lat, radius)


def _zone(v: object, where: str) -> Zone:
    poly = v.get("polygon") if isinstance(v, dict) else None
    if (
        not isinstance(v, dict)
        or not set(v) <= {"name", "polygon"}
        or not isinstance(poly, dict)
        or poly.get("type") != "Polygon"
        or not isinstance(poly.get("coordinates"), list)
        or not poly["coordinates"]
        or not isinstance(poly["coordinates"][0], list)
    ):
        raise ManifestError(
            f'{where}: a restricted zone is {{name, polygon: {{"type": "Polygon", ...}}}}'
        )
    ring = tuple(_lon_lat(p, where, "zone vertex") for p in poly["coordinates"][0])
    if len(ring) < 4:
        raise ManifestError(f"{where}: a zone's ring needs at least four points (closed)")
    if ring[0] != ring[-1]:
        raise ManifestError(f"{where}: a zone's ring must end at its first point (closed)")
    name = v.get("name", "")
    if not isinstance(name, str):
        raise ManifestError(f"{where}: a restricted zone's name must be a string")
    return Zone(name, ring)
