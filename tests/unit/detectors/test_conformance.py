"""Every registered detector passes the same checks: quiet warm-up, NaN-proof, deterministic, picklable."""

import math
import pickle
import random

import pytest

from detectors.alerts import KINDS, SEVERITIES
from detectors.profiles import PROFILES, parse_shipment
from detectors.reading import Reading
from detectors.registry import FACTORIES, policies

MIN = 60_000
ROUTE = [[39.66, -4.04], [37.0, -2.5], [34.27, 0.63], [32.58, 0.31]]
SHIPMENTS = [
    parse_shipment(
        {
            "shipment_id": f"SHP-{name}",
            "device_id": "trk-1",
            "profile": name,
            "route": {"type": "LineString", "coordinates": ROUTE},
            "corridor_m": 2000,
            "authorised_stops": [{"name": "Malaba", "lon": 34.27, "lat": 0.63, "radius_m": 500}],
            "seal_id": "ES-1",
            "departure": "2026-01-05T00:00:00Z",
            "arrival": "2026-01-07T00:00:00Z",
        }
    )
    for name in PROFILES
]


def normal_readings(shipment, hours=12, seed=1):
    """A healthy shipment: in range, on its route, sealed, reporting every 5 minutes."""
    rng = random.Random(seed)
    rng_c = shipment.profile.temp_range_c or (15.0, 25.0)
    mid = sum(rng_c) / 2
    out = []
    t0 = 1_767_571_200_000
    for k in range(hours * 12):
        f = k / (hours * 12)
        seg = min(int(f * 3), 2)
        g = f * 3 - seg
        lon = ROUTE[seg][0] + (ROUTE[seg + 1][0] - ROUTE[seg][0]) * g + rng.gauss(0, 0.00005)
        lat = ROUTE[seg][1] + (ROUTE[seg + 1][1] - ROUTE[seg][1]) * g + rng.gauss(0, 0.00005)
        out.append(
            Reading(
                "trk-1",
                t0 + k * 5 * MIN,
                seq=k,
                lat=lat,
                lon=lon,
                temp_c=round(mid + rng.gauss(0, 0.15), 2),
                humidity_pct=60.0 + rng.gauss(0, 1),
                battery_v=3.95,
                seal="closed",
                seal_id="ES-1",
                door="closed",
                shock_g=0.1,
            )
        )
    return out


CASES = [
    pytest.param(factory, shipment, id=f"{factory.__name__}-{shipment.profile.name}")
    for factory in FACTORIES
    for shipment in SHIPMENTS
    if factory(shipment) is not None
]


def feed(detector, readings):
    out = []
    for r in readings:
        for c in detector.update(r) or []:
            out.append(c)
        if hasattr(detector, "advance"):
            for c in detector.advance(r.ts_ms) or []:
                out.append(c)
    return out


@pytest.mark.parametrize("factory, shipment", CASES)
def test_a_healthy_shipment_raises_nothing(factory, shipment):
    assert [c for c in feed(factory(shipment), normal_readings(shipment)) if c.active] == []


@pytest.mark.parametrize("factory, shipment", CASES)
def test_non_finite_and_missing_values_do_not_raise(factory, shipment):
    d = factory(shipment)
    readings = normal_readings(shipment, hours=2)
    odd = [
        Reading("trk-1", readings[-1].ts_ms + 60_000),
        Reading("trk-1", readings[-1].ts_ms + 120_000, temp_c=math.nan, lat=math.nan, lon=math.nan),
        Reading("trk-1", readings[-1].ts_ms + 180_000, temp_c=math.inf, battery_v=-math.inf),
    ]
    for c in feed(d, readings + odd):
        assert c.kind in KINDS and c.severity in SEVERITIES


@pytest.mark.parametrize("factory, shipment", CASES)
def test_the_same_input_gives_the_same_conditions_and_state_pickles_midway(factory, shipment):
    readings = normal_readings(shipment, seed=7)
    readings[70] = readings[70]._replace(temp_c=(shipment.profile.temp_range_c or (0, 40))[1] + 3)
    a, b = factory(shipment), factory(shipment)
    first_a, first_b = feed(a, readings[:60]), feed(b, readings[:60])
    c = pickle.loads(pickle.dumps(a))
    rest = [feed(x, readings[60:]) for x in (a, b, c)]
    assert first_a == first_b and rest[0] == rest[1] == rest[2]


def test_every_kind_has_a_damping_policy():
    assert set(policies(SHIPMENTS[0])) == set(KINDS)
