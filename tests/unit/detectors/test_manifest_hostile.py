"""A manifest from anyone (a file today, an API client tomorrow) is parsed or refused, never crashes.

A shipment id ending in a backslash once passed start-up and then crashed the writer on
the first reading of its device, because line protocol cannot carry it in a tag. Ids are
now checked where the manifest is read, and whatever a valid manifest holds encodes.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.profiles import ManifestError, parse_manifest
from detectors.reading import Reading
from detectors.registry import build_engine
from ingest.line_protocol import telemetry_line


def manifest(**fields: object) -> dict[str, object]:
    shipment = {"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "vaccine_2_8", **fields}
    return {"shipments": [shipment]}


def nested(depth: int) -> object:
    value: object = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "fields, message",
    [
        pytest.param(
            {"shipment_id": "SHP-1\\"},
            "shipment_id must match",
            id="a shipment id ending in a backslash",
        ),
        pytest.param(
            {"shipment_id": "SHP\n1"},
            "shipment_id must match",
            id="a shipment id with a line break",
        ),
        pytest.param(
            {"shipment_id": "x" * 65},
            "shipment_id must match",
            id="a shipment id over 64 characters",
        ),
        pytest.param(
            {"device_id": "trk 1"},
            "device_id must match",
            id="a device id the wire format does not allow",
        ),
        pytest.param(
            {"corridor_m": nested(5000)},
            "must be a positive number, got an array",
            id="a deeply nested number",
        ),
        pytest.param(
            {"departure": nested(5000)}, "must be an RFC 3339 time", id="a deeply nested time"
        ),
        pytest.param(
            {"route": {"type": "LineString", "coordinates": [nested(5000), [1, 1]]}},
            "got an array",
            id="a deeply nested coordinate",
        ),
        pytest.param(
            {
                "restricted_zones": [
                    {"name": "Z", "polygon": {"type": "Polygon", "coordinates": [7]}}
                ]
            },
            "a restricted zone is",
            id="a polygon whose ring is not a list",
        ),
        pytest.param(
            {"authorised_stops": [{"name": nested(5000), "lon": 1, "lat": 1}]},
            "name must be a string",
            id="a stop whose name is not text",
        ),
        pytest.param(
            {nested_key: 1 for nested_key in ["x" * 10_000]},
            "unknown key 'xxx",
            id="an unknown key of 10,000 characters is shortened",
        ),
    ],
)
def test_a_bad_manifest_is_refused_with_a_message_naming_the_field(fields, message):
    with pytest.raises(ManifestError, match=message) as info:
        parse_manifest(manifest(**fields))
    assert len(str(info.value)) < 300


def test_a_shipment_id_of_every_allowed_character_reaches_storage_tags():
    sid = "SHP-2026/11:A#7.b_c"
    (shipment,) = parse_manifest(manifest(shipment_id=sid))
    line = telemetry_line(Reading("trk-1", 1_700_000_000_000, temp_c=5.0), shipment.shipment_id)
    assert f"shipment_id={sid} " in line


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_any = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        "shipment_id",
        "device_id",
        "profile",
        "temp_range_c",
        "stability_budget_min",
        "max_gap_min",
        "departure",
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
        "roadside_places",
        "probe",
        "product_lag_min",
        "unknown",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, json_any, max_size=8))
def test_any_manifest_shape_is_parsed_or_refused_and_what_parses_encodes(fields):
    doc = json.loads(json.dumps(manifest(**fields)))
    try:
        shipments = parse_manifest(doc)
    except ManifestError:
        return
    for s in shipments:
        telemetry_line(Reading(s.device_id, 1_700_000_000_000, temp_c=1.0), s.shipment_id).encode()
    # What parses, the detectors take: every duration becomes milliseconds there, and a
    # finite 1e308 minutes has none (refused in the manifest instead, naming the key).
    engine = build_engine(shipments)
    for s in shipments:
        reading = Reading(s.device_id, 1_700_000_000_000, temp_c=1.0, lat=0.5, lon=34.05)
        engine.process(reading, reading.ts_ms)
    engine.advance(1_700_000_000_000 + 10 * 365 * 86_400_000)


durations = st.sampled_from(
    [
        "stability_budget_min",
        "expected_interval_s",
        "max_gap_min",
        "excursion_min_duration_min",
        "breach_horizon_min",
        "unscheduled_stop_min",
    ]
)


@settings(max_examples=200, deadline=None)
@given(key=durations, value=st.floats(min_value=0.0, allow_nan=False, allow_infinity=False))
def test_any_finite_duration_is_refused_naming_it_or_watched_without_failing(key, value):
    route = {"type": "LineString", "coordinates": [[34.0, 0.5], [34.1, 0.5]]}
    try:
        shipments = parse_manifest(manifest(**{key: value, "route": route}))
    except ManifestError as exc:
        assert key in str(exc)
        return
    engine = build_engine(shipments)
    reading = Reading("trk-1", 1_700_000_000_000, temp_c=1.0, lat=0.5, lon=34.05)
    engine.process(reading, reading.ts_ms)
    engine.advance(reading.ts_ms + 10 * 365 * 86_400_000)
    assert engine.devices["trk-1"].shipment == shipments[0]
