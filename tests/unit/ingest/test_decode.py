"""The wire contract: what a tracker may send, and the named reason for everything it may not."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors.reading import Reading
from ingest.decode import DEFAULT_MAX_AGE_MS, EXCERPT_BYTES, MAX_PAYLOAD_BYTES, REASONS, decode

NOW_MS = 1_763_800_000_000  # 2025-11-22T08:26:40Z
TOPIC = "cargo/v1/trk-1/telemetry"


def one(payload: bytes | str, topic: str = TOPIC) -> tuple[list[Reading], list[str]]:
    raw = payload.encode() if isinstance(payload, str) else payload
    d = decode(topic, raw, NOW_MS)
    return d.readings, [r.reason for r in d.rejects]


def test_a_full_object_becomes_a_reading_with_every_channel():
    payload = {
        "device_id": "trk-1",
        "ts": NOW_MS,
        "seq": 42,
        "lat": -4.04,
        "lon": 39.66,
        "temp_c": 5,
        "ambient_c": 31.5,
        "humidity_pct": 80.0,
        "seal": "closed",
        "seal_id": "ES-123456",
        "door": "closed",
        "shock_g": 0.2,
        "light_lux": 0.0,
        "battery_v": 3.61,
    }
    readings, rejects = one(json.dumps(payload))
    assert rejects == []
    assert readings == [
        Reading(
            "trk-1",
            NOW_MS,
            seq=42,
            lat=-4.04,
            lon=39.66,
            temp_c=5.0,
            ambient_c=31.5,
            humidity_pct=80.0,
            seal="closed",
            seal_id="ES-123456",
            door="closed",
            shock_g=0.2,
            light_lux=0.0,
            battery_v=3.61,
        )
    ]
    assert type(readings[0].temp_c) is float


@pytest.mark.parametrize(
    "ts, expected_ms",
    [
        pytest.param(NOW_MS, NOW_MS, id="integer epoch milliseconds are taken as they are"),
        pytest.param("2025-11-22T08:26:40Z", NOW_MS, id="RFC 3339 in UTC"),
        pytest.param(
            "2025-11-22T11:26:40.5+03:00", NOW_MS + 500, id="RFC 3339 with an offset and a fraction"
        ),
        pytest.param(
            "2025-11-22T08:26:40.123456789Z", NOW_MS + 123, id="nanoseconds are truncated to ms"
        ),
    ],
)
def test_both_timestamp_forms_are_accepted(ts, expected_ms):
    readings, rejects = one(json.dumps({"device_id": "trk-1", "ts": ts}))
    assert rejects == []
    assert readings[0].ts_ms == expected_ms


def test_an_array_is_a_store_and_forward_upload_and_each_element_stands_alone():
    upload = [
        {"device_id": "trk-1", "ts": NOW_MS - 2000, "temp_c": 4.0},
        {"device_id": "trk-1", "ts": "not a time", "temp_c": 4.1},
        {"device_id": "trk-1", "ts": NOW_MS - 1000, "temp_c": 4.2},
    ]
    d = decode(TOPIC, json.dumps(upload).encode(), NOW_MS)
    assert [r.temp_c for r in d.readings] == [4.0, 4.2]
    assert [(r.reason, b"not a time" in r.excerpt) for r in d.rejects] == [("invalid_ts", True)]


def test_unknown_fields_are_ignored_and_reported_by_name():
    d = decode(TOPIC, b'{"device_id":"trk-1","ts":1763800000000,"co2_ppm":410,"temp_c":3}', NOW_MS)
    assert d.rejects == []
    assert d.readings[0].temp_c == 3.0
    assert d.unknown_fields == ["co2_ppm"]


def test_physically_implausible_but_well_formed_values_are_kept_for_the_detectors():
    readings, rejects = one('{"device_id":"trk-1","ts":1763800000000,"temp_c":250,"battery_v":-1}')
    assert rejects == []
    assert (readings[0].temp_c, readings[0].battery_v) == (250.0, -1.0)


def test_null_channels_count_as_absent():
    readings, rejects = one('{"device_id":"trk-1","ts":1763800000000,"temp_c":null,"seq":null}')
    assert rejects == [] and readings[0].temp_c is None and readings[0].seq is None


BAD = [
    pytest.param(
        b"{not json", "invalid_json", id="text that is not JSON is rejected as invalid_json"
    ),
    pytest.param(
        b"", "empty_payload", id="an empty message (a retained-message clear) is not a JSON error"
    ),
    pytest.param(b"  \r\n", "empty_payload", id="a message of white space carries nothing"),
    pytest.param(b"\xff\xfe{}", "invalid_encoding", id="bytes that are not UTF-8"),
    pytest.param(b"[]", "empty_payload", id="an empty array carries nothing"),
    pytest.param(b"42", "not_an_object", id="a bare number is not a reading"),
    pytest.param(b'"trk-1"', "not_an_object", id="a bare string is not a reading"),
    pytest.param(b"[[1]]", "not_an_object", id="an array of arrays is not an upload"),
    pytest.param(b'{"ts":1763800000000}', "missing_device_id", id="device_id is required"),
    pytest.param(
        b'{"device_id":7,"ts":1763800000000}', "invalid_device_id", id="device_id must be a string"
    ),
    pytest.param(
        '{"device_id":"trk 1","ts":1763800000000}', "invalid_device_id", id="device_id with a space"
    ),
    pytest.param(
        b'{"device_id":"trk-2","ts":1763800000000}',
        "device_mismatch",
        id="device_id must equal the topic's",
    ),
    pytest.param(b'{"device_id":"trk-1"}', "missing_ts", id="ts is required"),
    pytest.param(
        b'{"device_id":"trk-1","ts":"yesterday"}', "invalid_ts", id="an unparseable ts is rejected"
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":"2025-11-22T08:26:40"}',
        "invalid_ts",
        id="an RFC 3339 time needs an offset",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":"2025-W47-6"}',
        "invalid_ts",
        id="ISO week dates are not RFC 3339",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":"2025-02-30T00:00:00Z"}',
        "invalid_ts",
        id="a date that does not exist",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000.5}',
        "invalid_ts",
        id="epoch ms must be an integer",
    ),
    pytest.param(b'{"device_id":"trk-1","ts":true}', "invalid_ts", id="a boolean is not a time"),
    pytest.param(b'{"device_id":"trk-1","ts":0}', "invalid_ts", id="a tracker clock stuck at 1970"),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800660001}', "future_ts", id="more than 10 min ahead"
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"temp_c":"4.5"}',
        "invalid_type",
        id="a number sent as a string",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"temp_c":true}',
        "invalid_type",
        id="a boolean is not a temperature",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"temp_c":[4]}',
        "invalid_type",
        id="a list is not a temperature",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"temp_c":NaN}', "non_finite", id="NaN is rejected"
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"temp_c":-Infinity}',
        "non_finite",
        id="Infinity is rejected",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"temp_c":1e999}',
        "non_finite",
        id="an overflowing literal",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"temp_c":' + b"9" * 400 + b"}",
        "non_finite",
        id="an integer too big for a float",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"lat":91}',
        "out_of_range",
        id="latitude beyond the pole",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"lon":-180.5}',
        "out_of_range",
        id="longitude beyond the antimeridian",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"seq":-1}',
        "out_of_range",
        id="a negative sequence number",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"seq":1.5}',
        "invalid_type",
        id="a fractional sequence number",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"seq":9223372036854775808}',
        "out_of_range",
        id="seq past int64",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"seal":"ajar"}',
        "invalid_value",
        id="an unknown seal state",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"door":1}',
        "invalid_type",
        id="a door state must be text",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"seal_id":""}',
        "invalid_value",
        id="an empty seal id",
    ),
    pytest.param(
        b'{"device_id":"trk-1","ts":1763800000000,"seal_id":"' + b"x" * 129 + b'"}',
        "invalid_value",
        id="an overlong seal id",
    ),
    pytest.param(
        b"[" * 100_000 + b"]" * 100_000,
        "invalid_json",
        id="nesting deep enough to exhaust the stack",
    ),
    pytest.param(b" " * (MAX_PAYLOAD_BYTES + 1), "payload_too_large", id="a payload over 256 KiB"),
]


@pytest.mark.parametrize("payload, reason", BAD)
def test_structurally_bad_input_is_rejected_with_its_reason(payload, reason):
    readings, rejects = one(payload)
    assert readings == []
    assert rejects == [reason]
    assert reason in REASONS


@pytest.mark.parametrize(
    "topic",
    [
        pytest.param("cargo/v1/trk-1/status", id="another message type"),
        pytest.param("cargo/v1/a+b/telemetry", id="a device id outside the allowed characters"),
        pytest.param("cargo/v1/" + "x" * 65 + "/telemetry", id="a device id over 64 characters"),
        pytest.param("", id="a topic that was not UTF-8"),
    ],
)
def test_a_message_on_a_topic_that_is_not_telemetry_is_rejected(topic):
    assert one('{"device_id":"trk-1","ts":1763800000000}', topic=topic) == ([], ["invalid_topic"])


def test_rejects_keep_a_bounded_excerpt_and_the_device_for_evidence():
    payload = b'{"device_id":"trk-1","ts":"x","pad":"' + b"a" * 5000 + b'"}'
    reject = decode(TOPIC, payload, NOW_MS).rejects[0]
    assert reject.device_id == "trk-1"
    assert reject.excerpt == payload[:EXCERPT_BYTES]
    assert "RFC 3339" in reject.detail


# -- properties ------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
readings = st.builds(
    Reading,
    device_id=st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True),
    ts_ms=st.integers(NOW_MS - DEFAULT_MAX_AGE_MS, NOW_MS + 600_000),
    seq=st.none() | st.integers(0, 2**63 - 1),
    lat=st.none() | st.floats(-90, 90),
    lon=st.none() | st.floats(-180, 180),
    temp_c=st.none() | finite,
    humidity_pct=st.none() | finite,
    battery_v=st.none() | finite,
    ambient_c=st.none() | finite,
    shock_g=st.none() | finite,
    light_lux=st.none() | finite,
    seal=st.none() | st.sampled_from(["closed", "open", "tampered"]),
    seal_id=st.none()
    | st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=128),
    door=st.none() | st.sampled_from(["closed", "open"]),
)


def to_wire(r: Reading) -> dict[str, object]:
    fields = {k: getattr(r, k) for k in Reading._fields if getattr(r, k) is not None}
    fields["ts"] = fields.pop("ts_ms")
    return fields


@given(readings)
def test_any_valid_reading_survives_the_wire_unchanged(reading):
    topic = f"cargo/v1/{reading.device_id}/telemetry"
    d = decode(topic, json.dumps(to_wire(reading)).encode(), NOW_MS)
    assert d.rejects == []
    assert d.readings == [reading]


@given(st.lists(readings, min_size=1, max_size=20))
def test_an_upload_of_valid_readings_yields_them_all_in_order(batch):
    device = batch[0].device_id
    batch = [
        Reading(**{**{k: getattr(r, k) for k in Reading._fields}, "device_id": device})
        for r in batch
    ]
    d = decode(
        f"cargo/v1/{device}/telemetry", json.dumps([to_wire(r) for r in batch]).encode(), NOW_MS
    )
    assert d.readings == batch


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_and_always_give_a_reading_or_a_reason(payload):
    d = decode(TOPIC, payload, NOW_MS)
    assert d.readings or d.rejects
    assert all(r.reason in REASONS for r in d.rejects)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["device_id", "ts", "seq", "lat", "temp_c", "seal", "seal_id", "door", "x"]
        ),
        json_values,
    )
)
def test_hostile_json_of_any_shape_is_either_a_reading_or_a_named_reject(obj):
    d = decode(TOPIC, json.dumps(obj).encode(), NOW_MS)
    assert len(d.readings) + len(d.rejects) == 1
    assert all(r.reason in REASONS for r in d.rejects)
