"""Line protocol encoding: exact text for known points, and escapes that cannot break a line."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors.reading import Reading
from ingest.line_protocol import escape_string_field, escape_tag, point_line, telemetry_line


def test_a_reading_becomes_one_telemetry_point_keyed_by_device_and_event_time():
    r = Reading(
        "trk-1",
        1_763_800_000_123,
        seq=7,
        lat=-4.04,
        lon=39.66,
        temp_c=5.0,
        seal="closed",
        seal_id='ES "1"',
        door="open",
    )
    assert telemetry_line(r) == (
        'telemetry,device_id=trk-1 seq=7i,lat=-4.04,lon=39.66,temp_c=5.0,seal="closed",'
        'seal_id="ES \\"1\\"",door="open" 1763800000123000000'
    )


def test_a_reading_with_no_channels_is_still_a_point():
    assert (
        telemetry_line(Reading("trk-1", 1_000))
        == "telemetry,device_id=trk-1 heartbeat=true 1000000000"
    )


def test_the_shipment_becomes_a_tag_when_it_is_known():
    line = telemetry_line(Reading("trk-1", 1_000, temp_c=1.5), shipment_id="SHP 1")
    assert line.startswith("telemetry,device_id=trk-1,shipment_id=SHP\\ 1 ")


def test_integers_floats_booleans_and_strings_get_their_line_protocol_types():
    assert point_line(
        "m x", {"b": "2", "a": "1", "empty": ""}, {"i": 3, "f": 0.5, "ok": True, "s": 'q"'}, 9
    ) == ('m\\ x,a=1,b=2 i=3i,f=0.5,ok=true,s="q\\"" 9')


def test_a_point_without_fields_is_a_programming_error():
    with pytest.raises(ValueError):
        point_line("m", {}, {}, 1)


@pytest.mark.parametrize("tag", ["a\nb", "a\rb", "ends with \\"])
def test_tag_values_line_protocol_cannot_carry_are_refused_not_mangled(tag):
    with pytest.raises(ValueError):
        escape_tag(tag)


@given(st.text())
def test_a_string_field_is_one_quoted_token_whatever_it_holds(s):
    quoted = escape_string_field(s)
    body = quoted[1:-1]
    # Every quote inside is escaped, so the value cannot end early.
    i = 0
    while i < len(body):
        if body[i] == "\\":
            assert body[i + 1] in '\\"'
            i += 2
        else:
            assert body[i] != '"'
            i += 1


@given(st.text().filter(lambda t: "\n" not in t and "\r" not in t and not t.endswith("\\")))
def test_an_escaped_tag_has_no_bare_separator(t):
    escaped = escape_tag(t)
    for i, ch in enumerate(escaped):
        if ch in " ,=":
            assert escaped[i - 1] == "\\"
