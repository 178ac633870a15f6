"""The pieces under the wire: encoding, broker URLs, durations, and the module examples."""

import doctest
import importlib
import json
import pkgutil

import numpy as np
import pytest

import simulators
from simulators.publisher import parse_mqtt_url
from simulators.timeutil import parse_duration, parse_instant_ms, rfc3339
from simulators.wire import MALFORMED_REASONS, encode, malformed


def test_encoded_readings_are_compact_json_in_field_order():
    [line] = encode(
        "trk-9",
        ("lat", "temp_c", "seal", "light_lux"),
        np.array([1767571200000]),
        np.array([3]),
        [np.array([-4.043215]), np.array([-0.0]), np.array([b"open"]), np.array([120])],
    )
    assert (
        line
        == b'{"device_id":"trk-9","ts":1767571200000,"seq":3,"lat":-4.043215,"temp_c":-0.0,"seal":"open","light_lux":120}'
    )
    assert json.loads(line)["temp_c"] == 0.0


def test_an_empty_stretch_encodes_to_nothing():
    assert (
        encode(
            "trk-9",
            ("temp_c",),
            np.array([], dtype=np.int64),
            np.array([], dtype=np.int64),
            [np.array([])],
        )
        == []
    )


def test_every_malformed_payload_is_one_line_and_unknown_reasons_are_refused():
    for reason in MALFORMED_REASONS:
        assert b"\n" not in malformed("trk-1", 1767571200000, reason)
    with pytest.raises(ValueError, match="no malformed payload"):
        malformed("trk-1", 0, "cosmic_ray")


@pytest.mark.parametrize(
    "url, host, port, user, tls",
    [
        ("mqtt://127.0.0.1", "127.0.0.1", 1883, None, False),
        ("mqtts://broker.example:8884", "broker.example", 8884, None, True),
        ("mqtt://sim%40ops:p%3Ass@10.0.0.1:1884", "10.0.0.1", 1884, "sim@ops", False),
    ],
)
def test_broker_urls_give_host_port_credentials_and_tls(url, host, port, user, tls):
    b = parse_mqtt_url(url)
    assert (b.host, b.port, b.username, b.tls) == (host, port, user, tls)
    assert "p:ss" not in b.redacted()


@pytest.mark.parametrize(
    "text, seconds",
    [("12h", 43200), ("90m", 5400), ("1h30m", 5400), ("2d", 172800), ("45s", 45), ("600", 600)],
)
def test_durations_read_as_a_person_writes_them(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-1h", "0", "1x", "1h 30m"])
def test_durations_that_are_not_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_instants_round_trip_through_rfc3339():
    ms = parse_instant_ms("2026-11-22T06:00:00Z")
    assert rfc3339(ms) == "2026-11-22T06:00:00Z"
    assert parse_instant_ms("2026-11-22T08:00:00+02:00") == ms


def test_the_module_examples_run():
    failures = 0
    for info in pkgutil.iter_modules(simulators.__path__):
        module = importlib.import_module(f"simulators.{info.name}")
        failures += doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed
    assert failures == 0
