"""The scenario catalogue: named incidents with parameters, and how a fleet is assigned them.

A scenario says what it stages, which alert kinds (names from docs/alerts.md) a good detector
should raise for it, its parameters with defaults, and which shipments it can happen to. Names
combine: ``reefer_failure,gps_jamming`` gives every shipment both, one after the other;
``mixed`` makes a realistic fleet where a share of shipments has one incident each.
Parameters come as ``key=value`` (every scenario that has the key) or ``scenario.key=value``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from simulators import incidents as inc
from simulators.effects import Incident, Window
from simulators.physics import FAILURE_SHAPES
from simulators.profiles import PROFILES, Profile
from simulators.wire import MALFORMED_REASONS

Placer = Callable[[inc.Draft, Window, dict[str, Any]], Incident]


def _cooled(p: Profile, params: Mapping[str, Any]) -> bool:
    return p.temp_range_c is not None and p.cooling != "none"


def _powered(p: Profile, params: Mapping[str, Any]) -> bool:
    return p.cooling in ("reefer", "hvac")


def _door_no_seal(p: Profile, params: Mapping[str, Any]) -> bool:
    return p.door and not p.seal


def _sealed(p: Profile, params: Mapping[str, Any]) -> bool:
    return p.seal


def _heat_beats_cooling(p: Profile, params: Mapping[str, Any]) -> bool:
    # Only where the peak outruns the unit's capacity does a heat wave put the product at risk.
    if p.temp_range_c is None or p.setpoint_c is None:
        return False
    return float(params["peak_c"]) - p.cool_capacity_c > p.temp_range_c[1] + 1.5


def _any(p: Profile, params: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    kinds: tuple[str, ...]
    defaults: Mapping[str, Any]
    place: Placer | None = None
    eligible: Callable[[Profile, Mapping[str, Any]], bool] = _any
    road: bool = False
    #: Relative frequency among the incidents of a ``mixed`` fleet.
    weight: float = 1.0
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


#: Parameters whose default is None, and the type a given value is read as.
_NONE_TYPES: Final[dict[str, type]] = {
    "start_min": float,
    "duration_min": float,
    "mode": str,
    "shape": str,
    "rise_c_per_h": float,
}
_START: Final = {"start_min": None}

SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario("normal", "Shipments that go as planned", (), {}),
        Scenario(
            "reefer_failure",
            "Cooling fails (linear, towards ambient, cycling or in part); air, then product, warm",
            inc.TEMP_KINDS,
            {**_START, "shape": None, "rise_c_per_h": None, "duration_min": None},
            inc.place_reefer_failure,
            _cooled,
            weight=2.0,
            choices={"shape": FAILURE_SHAPES},
        ),
        Scenario(
            "power_loss",
            "The reefer loses power for a while, then recovers",
            inc.TEMP_KINDS,
            {**_START, "duration_min": 240.0},
            inc.place_power_loss,
            _powered,
            weight=1.5,
        ),
        Scenario(
            "door_left_open",
            "A door opens on the road and stays open",
            ("door_open",),
            {**_START, "duration_min": 60.0},
            inc.place_door_left_open,
            _door_no_seal,
            road=True,
        ),
        Scenario(
            "heat_wave",
            "Ambient peaks beyond what the cooling can hold",
            inc.TEMP_KINDS,
            {**_START, "peak_c": 45.0, "duration_min": 240.0, "ramp_min": 60.0},
            inc.place_heat_wave,
            _heat_beats_cooling,
        ),
        Scenario(
            "seal_tamper",
            "The truck stops between authorised stops and the seal is opened",
            ("seal_breach",),
            {**_START, "duration_min": 15.0, "forced": False},
            inc.place_seal_tamper,
            _sealed,
            road=True,
            weight=1.5,
        ),
        Scenario(
            "tamper_out_of_coverage",
            "The seal is opened at a stop while the tracker is out of coverage; what it stored"
            " arrives late, after newer readings",
            ("seal_breach",),
            {
                **_START,
                "duration_min": 15.0,
                "forced": False,
                "margin_min": 10.0,
                "delay_min": 30.0,
            },
            inc.place_tamper_out_of_coverage,
            _sealed,
            road=True,
        ),
        Scenario(
            "route_deviation",
            "The truck leaves its corridor and comes back",
            ("route_deviation",),
            {**_START, "offset_km": 8.0, "duration_min": 60.0, "ramp_min": 10.0},
            inc.place_route_deviation,
            road=True,
        ),
        Scenario(
            "detour_out_of_coverage",
            "The truck leaves its corridor and comes back while the tracker is out of coverage;"
            " what it stored arrives late, after newer readings",
            ("route_deviation",),
            {
                **_START,
                "offset_km": 8.0,
                "duration_min": 60.0,
                "ramp_min": 10.0,
                "margin_min": 10.0,
                "delay_min": 30.0,
            },
            inc.place_detour_out_of_coverage,
            road=True,
            # Rarer than a detour in coverage: it needs a gap in coverage to fall on it.
            weight=0.5,
        ),
        Scenario(
            "unscheduled_stop",
            "The truck stops away from any authorised stop",
            ("unscheduled_stop",),
            {**_START, "duration_min": 45.0},
            inc.place_unscheduled_stop,
            road=True,
        ),
        Scenario(
            "tracker_silence",
            "The tracker sends nothing for a while",
            ("silence",),
            {**_START, "duration_min": 90.0},
            inc.place_tracker_silence,
        ),
        Scenario(
            "gps_jamming",
            "No GPS fix, or a position frozen at the last fix",
            ("gps_lost",),
            {**_START, "duration_min": 45.0, "mode": None},
            inc.place_gps_jamming,
            choices={"mode": ("no_fix", "frozen")},
        ),
        Scenario(
            "gps_spoofing",
            "Positions jump to places the shipment cannot be",
            ("gps_implausible",),
            {**_START, "duration_min": 30.0, "jump_km_min": 50.0, "jump_km_max": 800.0},
            inc.place_gps_spoofing,
        ),
        Scenario(
            "sensor_fault",
            "The temperature probe sticks at one value or spikes",
            ("sensor_fault",),
            {**_START, "duration_min": 120.0, "mode": None, "spike_share": 0.2},
            inc.place_sensor_fault,
            choices={"mode": ("stuck", "spikes")},
        ),
        Scenario(
            "battery_depletion",
            "The tracker's battery drains to a low voltage",
            ("battery_low",),
            {**_START, "duration_min": 240.0, "end_v": 3.3},
            inc.place_battery_depletion,
        ),
        Scenario(
            "late_upload",
            "A coverage gap whose stored readings arrive late, after newer ones",
            (),
            {**_START, "gap_min": 20.0, "delay_min": 30.0},
            inc.place_late_upload,
        ),
        Scenario(
            "duplicate_delivery",
            "Messages delivered twice, as at-least-once delivery may",
            (),
            {**_START, "duration_min": 60.0, "share": 0.5, "max_delay_s": 120.0},
            inc.place_duplicate_delivery,
        ),
        Scenario(
            "malformed_payloads",
            "Payloads the ingester must reject, one per reason",
            (),
            {
                **_START,
                "duration_min": 30.0,
                "count": len(MALFORMED_REASONS),
                "reasons": ",".join(MALFORMED_REASONS),
            },
            inc.place_malformed_payloads,
            weight=0.0,
        ),
        Scenario(
            "mixed",
            "A realistic fleet: a share of shipments has one incident each",
            (),
            {"share": 0.3, "scenarios": "all"},
        ),
    )
}


class ScenarioError(ValueError):
    """A scenario name or parameter the catalogue does not know, or a value it cannot take."""


def parse_spec(spec: str | Sequence[str]) -> list[str]:
    """Scenario names from ``a,b`` or a list; checks they exist and ``mixed`` stands alone."""
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in names if n]
    for name in names:
        if name not in SCENARIOS:
            known = ", ".join(SCENARIOS)
            raise ScenarioError(f"unknown scenario {name!r}; known: {known}")
    if "mixed" in names and len(names) > 1:
        raise ScenarioError("mixed makes its own combination; use it alone")
    return names or ["normal"]


def resolve_params(names: Sequence[str], overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each named scenario's parameters: defaults, then ``key`` and ``scenario.key`` overrides."""
    involved = list(names)
    if involved == ["mixed"]:
        involved = ["mixed", *SCENARIOS]
    out = {n: dict(SCENARIOS[n].defaults) for n in dict.fromkeys(involved)}
    for key, value in overrides.items():
        scope, _, name = key.rpartition(".")
        targets = [scope] if scope else [n for n in out if name in out[n]]
        if (scope and (scope not in out or name not in out[scope])) or not targets:
            raise ScenarioError(f"no scenario in this run takes the parameter {key!r}")
        for target in targets:
            out[target][name] = _coerce(target, name, value)
    return out


def _coerce(scenario: str, name: str, value: Any) -> Any:
    default = SCENARIOS[scenario].defaults[name]
    kind = _NONE_TYPES.get(name, str) if default is None else type(default)
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            result: Any = value.lower() in ("true", "1", "yes")
        else:
            result = kind(value)
    except (TypeError, ValueError):
        raise ScenarioError(f"{scenario}.{name} must be {kind.__name__}, got {value!r}") from None
    if name == "reasons":
        wanted = str(result).split(",")
        if not all(r in MALFORMED_REASONS for r in wanted):
            raise ScenarioError(
                f"{scenario}.reasons must be a comma-separated subset of {list(MALFORMED_REASONS)},"
                f" got {value!r}"
            )
    allowed = SCENARIOS[scenario].choices.get(name)
    if allowed is not None and result not in allowed:
        raise ScenarioError(f"{scenario}.{name} must be one of {list(allowed)}, got {value!r}")
    if isinstance(result, float) and (result < 0 or result != result):
        raise ScenarioError(f"{scenario}.{name} must be a non-negative number, got {value!r}")
    return result


def mixed_pool(params: Mapping[str, Any]) -> list[str]:
    """The incident scenarios a ``mixed`` fleet draws from."""
    wanted = str(params["scenarios"])
    if wanted == "all":
        return [n for n, s in SCENARIOS.items() if s.place is not None and s.weight > 0]
    pool = parse_spec(wanted)
    if any(SCENARIOS[n].place is None for n in pool):
        raise ScenarioError("mixed.scenarios lists incident scenarios only")
    return pool


def assign(devices: int, names: list[str], params: Mapping[str, Any], seed: int) -> list[list[str]]:
    """Which incident scenarios each device gets; device i's share never depends on workers."""
    if names != ["mixed"]:
        incidents = [n for n in names if n != "normal"]
        return [list(incidents) for _ in range(devices)]
    share = float(params["mixed"]["share"])
    if not 0.0 <= share <= 1.0:
        raise ScenarioError(f"mixed.share must be between 0 and 1, got {share}")
    pool = mixed_pool(params["mixed"])
    rng = np.random.default_rng([seed, 3])
    count = round(share * devices)
    chosen = rng.permutation(devices)[:count]
    weights = np.array([SCENARIOS[n].weight or 1.0 for n in pool])
    picks = rng.choice(len(pool), size=count, p=weights / weights.sum())
    out: list[list[str]] = [[] for _ in range(devices)]
    for device, pick in zip(chosen.tolist(), picks.tolist(), strict=True):
        out[device] = [pool[pick]]
    return out


def profile_allows(profile: Profile, names: Sequence[str], params: Mapping[str, Any]) -> bool:
    return all(SCENARIOS[n].eligible(profile, params[n]) for n in names)


__all__ = ["PROFILES", "SCENARIOS", "Scenario", "ScenarioError", "assign", "parse_spec"]
