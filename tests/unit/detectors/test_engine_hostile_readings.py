"""Any reading the decoder accepts goes through the whole engine without breaking it.

The decoder keeps malformed payloads out, but what it lets in is still any device's choice:
finite floats as large or as small as a double holds, positions at the poles and on the
antimeridian, timestamps repeated, out of order or days late, a door and seal that flip on
every reading, a seal id that changes. Fed through every detector of every kind of
shipment, such a stream must raise no exception, write only events the API, the store and
webhooks can serialise (no NaN or infinity in any number, as JSON has none), and give the
same events after a restart from a snapshot as without one.
"""

import json
import math

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from detectors.alerts import AlertEvent
from detectors.engine import LATENESS_MS
from detectors.profiles import PROFILES, parse_manifest
from detectors.reading import Reading
from detectors.registry import build_engine
from ingest.decode import MIN_TS_MS

T0 = 1_767_571_200_000
ROUTE = {"type": "LineString", "coordinates": [[179.5, 0.5], [-179.5, 0.6], [-179.0, 89.0]]}
STOP = {"name": "yard", "lon": 179.9, "lat": 0.55, "radius_m": 500}
ZONE = {
    "name": "zone",
    "polygon": {
        "type": "Polygon",
        "coordinates": [
            [[-179.8, 0.0], [-179.2, 0.0], [-179.2, 1.0], [-179.8, 1.0], [-179.8, 0.0]]
        ],
    },
}
MANIFEST = {
    "shipments": [
        {
            "shipment_id": "SHP-V",
            "device_id": "trk-v",
            "profile": "vaccine_2_8",
            "route": ROUTE,
            "authorised_stops": [STOP],
            "restricted_zones": [ZONE],
            "seal_id": "ES-1",
            "room": "room-1",
            "excursion_min_duration_min": 0,
        },
        {
            "shipment_id": "SHP-A",
            "device_id": "trk-a",
            "profile": "frozen_minus_20",
            "probe": "air",
            "room": "room-1",
            "gps_static_hold": True,
            "expected_interval_s": 60,
        },
        {
            "shipment_id": "SHP-C",
            "device_id": "trk-c",
            "profile": "customs_transit",
            "route": ROUTE,
            "departure": "2026-01-05T00:00:00Z",
            "arrival": "2026-01-07T00:00:00Z",
            "roadside_places": False,
            "unscheduled_stop_min": 1,
        },
    ]
}
DEVICES = ("trk-v", "trk-a", "trk-c", "trk-unlisted")

# Finite floats of every size a device may send, with plain values often enough that the
# detectors' learnt state is exercised between the extremes.
_EXTREME = st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, -5e-324, 1e15, -1e15, 3.0, -3.0])
_ANY = st.floats(allow_nan=False, allow_infinity=False)


def _channel(low: float, high: float) -> st.SearchStrategy[float | None]:
    plain = st.floats(low, high, allow_nan=False)
    return st.none() | plain | plain | _EXTREME | _ANY


_LAT = st.none() | st.floats(-90.0, 90.0) | st.sampled_from([-90.0, 90.0, 0.0, 0.55, 0.6])
_LON = st.none() | st.floats(-180.0, 180.0) | st.sampled_from([-180.0, 180.0, 179.9, -179.5])


@st.composite
def _streams(draw: st.DrawFn) -> list[tuple[Reading | None, int]]:
    """(reading, arrival ms) in arrival order: times jump ahead, repeat and go back. A reading
    of None is the clock's tick at that time, as the live service's ticker gives."""
    out: list[tuple[Reading | None, int]] = []
    ts = arrival = T0
    for _ in range(draw(st.integers(1, 60))):
        if draw(st.integers(0, 5)) == 0:
            arrival += draw(st.sampled_from([0, 1_000, 600_000, 2 * 3_600_000]))
            out.append((None, arrival))
            continue
        step = draw(st.sampled_from([0, 1, 60_000, 300_000, 900_000, 3 * 3_600_000, -600_000]))
        ts = max(MIN_TS_MS, ts + step)
        late = draw(st.sampled_from([0, 0, 0, 30_000, 3_600_000, 2 * 86_400_000]))
        arrival = max(arrival, ts + late)
        reading = Reading(
            device_id=draw(st.sampled_from(DEVICES)),
            ts_ms=ts,
            seq=draw(st.none() | st.integers(0, 2**63 - 1)),
            lat=draw(_LAT),
            lon=draw(_LON),
            temp_c=draw(_channel(-30.0, 40.0)),
            ambient_c=draw(_channel(-30.0, 50.0)),
            humidity_pct=draw(_channel(0.0, 100.0)),
            shock_g=draw(_channel(0.0, 20.0)),
            light_lux=draw(_channel(0.0, 1000.0)),
            battery_v=draw(_channel(2.5, 4.5)),
            seal=draw(st.none() | st.sampled_from(["closed", "open", "tampered"])),
            seal_id=draw(st.none() | st.sampled_from(["ES-1", "ES-2", "x" * 64])),
            door=draw(st.none() | st.sampled_from(["closed", "open"])),
        )
        out.append((reading, arrival))
    return out


def _engine(lateness_ms: int = LATENESS_MS):
    return build_engine(parse_manifest(MANIFEST), PROFILES["vaccine_2_8"], lateness_ms)


def _feed(engine, stream: list[tuple[Reading | None, int]]) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for reading, arrival in stream:
        if reading is None:
            events += engine.advance(arrival)
        else:
            events += engine.process(reading, arrival)
    return events


def _run(engine, stream: list[tuple[Reading | None, int]]) -> list[AlertEvent]:
    events = _feed(engine, stream)
    if stream:
        events += engine.advance(stream[-1][1] + 86_400_000)
    return events


def _finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_streams(), st.integers(0, 60))
def test_any_decodable_stream_is_judged_without_error_and_survives_a_restart(stream, cut):
    whole = _run(_engine(), stream)
    for event in whole:
        shape = event.to_json()
        assert _finite(shape), shape
        json.dumps(shape, allow_nan=False)
        assert event.event in {"open", "update", "resolve"}, shape
    # A restart between two readings: the snapshot taken then, restored into a new engine
    # that takes the rest, gives the events an engine never stopped gives. (Readings are
    # handed over at arrival, with no lateness, so nothing waits in a buffer the snapshot
    # leaves out.)
    cut = min(cut, len(stream) - 1)
    first = _engine(lateness_ms=0)
    before = _feed(first, stream[:cut])
    second = _engine(lateness_ms=0)
    second.restore(first.snapshot())
    after = _run(second, stream[cut:])
    straight = _run(_engine(lateness_ms=0), stream)
    assert [e.to_json() for e in before + after] == [e.to_json() for e in straight]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_streams(), st.integers(0, 60))
def test_a_clean_stop_and_restart_with_the_reorder_wait_changes_no_alert(stream, cut):
    # A clean stop hands every reading still waiting in the reorder buffer to the detectors
    # (`flush`) before the snapshot; where none is waiting, the restart must be invisible.
    cut = min(cut, len(stream) - 1)
    first = _engine()
    before = _feed(first, stream[:cut])
    assume(not any(state.buffer for state in first.devices.values()))
    second = _engine()
    second.restore(first.snapshot())
    after = _run(second, stream[cut:])
    straight = _run(_engine(), stream)
    assert [e.to_json() for e in before + after] == [e.to_json() for e in straight]
