"""Any device can send any bytes: the decoder is total and the cost of one message is bounded.

Each case here once made the decoder raise (which, unacked, crash-looped the ingester) or
answered with a misleading reason. The property tests then generate whole families of such
input: nesting of any depth in any position, integers of any size in any field, uploads of
any mix of valid and invalid elements.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.decode import (
    DEFAULT_MAX_AGE_MS,
    MAX_PAYLOAD_BYTES,
    MAX_REJECTS_PER_MESSAGE,
    REASONS,
    decode,
    describe,
)

NOW_MS = 1_763_800_000_000
TOPIC = "cargo/v1/trk-1/telemetry"
OK = b'{"device_id":"trk-1","ts":1763800000000}'


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def reasons(payload: bytes) -> list[str]:
    d = decode(TOPIC, payload, NOW_MS)
    assert not d.readings
    return [r.reason for r in d.rejects]


@pytest.mark.parametrize(
    "payload, reason",
    [
        pytest.param(
            b'{"device_id":"trk-1","ts":' + b"9" * 400 + b"}",
            "future_ts",
            id="an integer timestamp hundreds of digits long is a future_ts, not an overflow",
        ),
        pytest.param(
            b'{"device_id":"trk-1","ts":-' + b"9" * 400 + b"}",
            "invalid_ts",
            id="a negative timestamp hundreds of digits long is an invalid_ts",
        ),
        pytest.param(
            b'{"device_id":"trk-1","ts":18446744073709551617}',
            "invalid_ts",
            id="a timestamp past 64 bits is not reported as a float",
        ),
        pytest.param(
            b'{"device_id":"trk-1","ts":1763800000000,"seq":18446744073709551617}',
            "out_of_range",
            id="a seq past 64 bits is out of range, not 'got float'",
        ),
        pytest.param(
            b'{"device_id":' + deep(1000) + b',"ts":1763800000000}',
            "invalid_device_id",
            id="a device_id nested a thousand levels deep is described, not printed",
        ),
        pytest.param(
            b'{"device_id":' + deep(1000) + b',"ts":' + b"9" * 30 + b"}",
            "invalid_device_id",
            id="the same through the slow parser (an integer past 64 bits elsewhere)",
        ),
        pytest.param(
            b'{"device_id":"trk-1","ts":' + deep(900) + b"}",
            "invalid_ts",
            id="a deeply nested timestamp",
        ),
        pytest.param(
            b'{"device_id":"trk-1","ts":1763800000000,"temp_c":' + deep(900) + b"}",
            "invalid_type",
            id="a deeply nested channel value",
        ),
        pytest.param(
            b'{"device_id":"trk-1","ts":1763800000000,"seal":' + deep(900) + b"}",
            "invalid_type",
            id="a deeply nested seal state",
        ),
        pytest.param(
            b'{"device_id":"trk-1","ts":' + str(NOW_MS - DEFAULT_MAX_AGE_MS - 1).encode() + b"}",
            "too_old",
            id="a reading older than the age bound is too_old (one shard per week it spans)",
        ),
    ],
)
def test_hostile_values_get_a_named_reason_instead_of_an_exception(payload, reason):
    assert reasons(payload) == [reason]


@pytest.mark.parametrize("depth", [500, 1000, 1023, 1100, 5000])
@pytest.mark.parametrize("slow", [False, True], ids=["fast parser", "slow parser"])
def test_an_element_nested_deeply_inside_an_upload_is_rejected_alone(depth, slow):
    big = b"," + b"9" * 25 if slow else b""  # an integer past 64 bits forces the slow parser
    payload = b"[" + OK + b"," + deep(depth) + big + b"]"
    d = decode(TOPIC, payload, NOW_MS)
    # Either the parser refuses the whole message, or the valid element stands on its own.
    if d.readings:
        assert len(d.readings) == 1
        assert {r.reason for r in d.rejects} == {"not_an_object"}
    else:
        assert [r.reason for r in d.rejects] == ["invalid_json"]


def test_a_leading_byte_order_mark_is_ignored_as_rfc_8259_allows():
    d = decode(TOPIC, b"\xef\xbb\xbf" + OK, NOW_MS)
    assert d.rejects == [] and len(d.readings) == 1


def test_the_age_bound_can_be_lifted_for_replaying_recordings():
    old = b'{"device_id":"trk-1","ts":1000000000000}'
    assert decode(TOPIC, old, NOW_MS, max_age_ms=None).readings[0].ts_ms == 1_000_000_000_000


def test_an_upload_of_bare_numbers_costs_ten_rejects_and_a_count_not_one_per_element():
    payload = b"[" + b",".join([b"1"] * 100_000) + b"]"
    assert len(payload) <= MAX_PAYLOAD_BYTES
    d = decode(TOPIC, payload, NOW_MS)
    assert len(d.rejects) == MAX_REJECTS_PER_MESSAGE
    assert d.more_rejects == {"not_an_object": 100_000 - MAX_REJECTS_PER_MESSAGE}
    assert d.reject_count == 100_000


def test_valid_elements_of_a_mostly_hostile_upload_are_all_kept():
    elements = [b"1"] * 50 + [
        OK.replace(b"1763800000000", str(NOW_MS - i).encode()) for i in range(5)
    ]
    d = decode(TOPIC, b"[" + b",".join(elements) + b"]", NOW_MS)
    assert len(d.readings) == 5
    assert d.reject_count == 50


def test_a_huge_unknown_field_name_is_counted_under_a_bounded_name():
    name = "x" * 10_000
    d = decode(TOPIC, json.dumps({"device_id": "trk-1", "ts": NOW_MS, name: 1}).encode(), NOW_MS)
    assert d.unknown_fields == ["x" * 64]


def test_describe_names_values_without_formatting_them_whole():
    nested: list[object] = []
    for _ in range(100_000):
        nested = [nested]
    assert describe(nested) == "an array"
    assert describe(-(10**4000)).startswith("an integer of ")
    assert describe({"a": 1}) == "an object"


# -- generated families ----------------------------------------------------------------------

FIELDS = ["device_id", "ts", "seq", "lat", "lon", "temp_c", "seal", "seal_id", "door", "other"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 5, max_value=10**300)
    | st.integers(max_value=-(2**63) + 5, min_value=-(10**300))
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["trk-1", "2025-11-22T08:26:40Z", "closed", "open", "tampered"])
)


@st.composite
def nested(draw: st.DrawFn) -> str:
    """A JSON value as text, possibly nested far deeper than a generated structure would go."""
    depth = draw(st.sampled_from([0, 1, 3, 200, 1000, 1024, 1025, 3000]))
    leaf = json.dumps(draw(scalars)) if depth == 0 or draw(st.booleans()) else ""
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"k":', "}")]))
    if opener == '{"k":' and not leaf:
        leaf = "1"
    return opener * depth + leaf + closer * depth


@st.composite
def element(draw: st.DrawFn) -> str:
    keys = draw(st.lists(st.sampled_from(FIELDS), max_size=6, unique=True))
    parts = [f"{json.dumps(k)}:{draw(nested())}" for k in keys]
    if draw(st.booleans()):
        parts.insert(0, '"device_id":"trk-1","ts":1763800000000')
    return "{" + ",".join(parts) + "}" if draw(st.integers(0, 5)) else draw(nested())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(element(), min_size=1, max_size=15), st.booleans(), st.booleans())
def test_any_json_shaped_message_gives_readings_or_named_rejects_and_never_raises(
    elements, as_array, bom
):
    text = ("[" + ",".join(elements) + "]") if as_array else elements[0]
    payload = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass")
    d = decode(TOPIC, payload, NOW_MS)
    assert all(r.reason in REASONS for r in d.rejects)
    assert all(reason in REASONS for reason in d.more_rejects)
    assert len(d.rejects) <= MAX_REJECTS_PER_MESSAGE
    assert d.readings or d.rejects
    for r in d.rejects:
        assert len(r.detail) < 400 and len(r.excerpt) <= 1024
    if as_array and d.readings:
        # The message parsed: every element is accounted for exactly once.
        assert len(d.readings) + d.reject_count == len(elements)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.binary(max_size=600))
def test_any_topic_and_any_bytes_never_raise(topic, payload):
    d = decode(topic, payload, NOW_MS)
    assert d.readings or d.rejects
    assert all(r.reason in REASONS for r in d.rejects)
