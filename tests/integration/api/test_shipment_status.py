"""A shipment's status read from a real InfluxDB: MKT and stability budget as the detectors count
them, the last position, temperature and contact, and nothing at all when nothing is stored."""

import json
import math

import pytest

import api.shipment_status as status_module
from api.shipment_status import (
    Position,
    ShipmentStatus,
    TimedValue,
    shipment_status,
    temperatures,
)
from detectors.profiles import PROFILES, Shipment, parse_shipment
from ingest.decode import decode
from ingest.influx_client import InfluxClient
from ingest.line_protocol import telemetry_line

pytestmark = pytest.mark.integration

T0 = 1_763_800_000_000  # 2025-11-22T08:26:40Z
MIN = 60_000
DAY = 86_400_000
DEVICE = "trk-1"
NOW = T0 + 2 * DAY

#: USP <1079>: activation energy 83.144 kJ/mol over the gas constant 8.3144 J/(mol K).
DH_R_K = 10_000.0


def hand_mkt(temps_c):
    """Mean kinetic temperature straight from its definition."""
    mean = sum(math.exp(-DH_R_K / (t + 273.15)) for t in temps_c) / len(temps_c)
    return DH_R_K / -math.log(mean) - 273.15


@pytest.fixture
def client(influx_db):
    server, db = influx_db
    c = InfluxClient(server.url, db)
    c.create_database()
    yield c
    c.close()


def store(client, objects, shipment_id="SHP-1"):
    """Store wire-format objects as the ingester does: decode, then line protocol, then /write."""
    payload = json.dumps(objects).encode()
    decoded = decode(
        f"cargo/v1/{objects[0]['device_id']}/telemetry", payload, now_ms=NOW, max_age_ms=None
    )
    assert decoded.rejects == [], decoded.rejects
    client.write("\n".join(telemetry_line(r, shipment_id) for r in decoded.readings).encode())


def vaccine(departure_ms=T0, device_id=DEVICE, **overrides):
    """A 2-8 °C shipment with a 120 min budget, readings every 5 min (continuous up to 15 min)."""
    return Shipment(
        "SHP-1", device_id, PROFILES["vaccine_2_8"], departure_ms=departure_ms, **overrides
    )


def at(minute, temp_c, **more):
    return {"device_id": DEVICE, "ts": T0 + int(minute * MIN), "temp_c": temp_c, **more}


# A hand-built excursion. Time out of range is counted from each reading taken out of range to
# the next reading, a step being at most 15 min (3 x 5 min, at least 900 s):
#   min 0 in, 5 out, 10 out (+5), 15 out (+5), 20 back in (+5), 25 out below,
#   30 a probe reading no product could (skipped, as the detectors skip it),
#   65 back in after 40 min with nothing to say otherwise (+15, the step's cap), 70 in.
EXCURSION = [
    at(0, 5.0),
    at(5, 9.0),
    at(10, 9.5),
    at(15, 10.5),
    at(20, 5.0),
    at(25, 1.5),
    at(30, 150.0),
    at(65, 5.0),
    at(70, 5.0),
]
EXCURSION_OUT_MIN = 5 + 5 + 5 + 15
EXCURSION_PLAUSIBLE = [5.0, 9.0, 9.5, 10.5, 5.0, 1.5, 5.0, 5.0]


def test_mkt_and_budget_used_are_what_the_definition_and_a_hand_count_give(client):
    store(client, EXCURSION)
    got = shipment_status(client, vaccine(), NOW)
    assert got.mkt_c == pytest.approx(hand_mkt(EXCURSION_PLAUSIBLE), abs=1e-9)
    assert got.stability_budget_used_min == pytest.approx(EXCURSION_OUT_MIN, abs=1e-9)
    assert got.stability_budget_min == 120.0
    # The last temperature is what the probe last said, plausible or not.
    assert got.last_temperature_c == TimedValue(5.0, T0 + 70 * MIN)
    assert got.last_seen_at_ms == T0 + 70 * MIN


def test_mkt_of_a_steady_temperature_is_that_temperature(client):
    store(client, [at(i * 5, 5.0) for i in range(10)])
    got = shipment_status(client, vaccine(), NOW)
    assert got.mkt_c == pytest.approx(5.0, abs=1e-9)
    assert got.stability_budget_used_min == 0.0


def test_readings_before_departure_and_after_now_do_not_count(client):
    store(client, [at(-30, 25.0), at(-10, 25.0), *EXCURSION, at(24 * 60, 30.0)])
    got = shipment_status(client, vaccine(), now_ms=T0 + 70 * MIN)
    assert got.mkt_c == pytest.approx(hand_mkt(EXCURSION_PLAUSIBLE), abs=1e-9)
    assert got.stability_budget_used_min == pytest.approx(EXCURSION_OUT_MIN, abs=1e-9)
    assert got.last_seen_at_ms == T0 + 70 * MIN


def test_the_manifests_range_and_budget_are_the_ones_counted_against(client):
    store(client, EXCURSION)
    shipment = parse_shipment(
        {
            "shipment_id": "SHP-1",
            "device_id": DEVICE,
            "profile": "vaccine_2_8",
            # Widened to 2-10 °C: minutes 10 (9.5) and 15 (10.5) are out, 5 (9.0) no longer.
            "temp_range_c": [2, 10],
            "stability_budget_min": 45,
            "departure": "2025-11-22T08:26:40Z",
        }
    )
    got = shipment_status(client, shipment, NOW)
    # Out from minute 15 to 20 (+5), and from 25 to 65 (+15).
    assert got.stability_budget_used_min == pytest.approx(5 + 15, abs=1e-9)
    assert got.stability_budget_min == 45.0


def test_last_position_is_the_newest_complete_fix_and_last_seen_the_newest_point(client):
    store(
        client,
        [
            at(0, 5.0, lat=-4.04, lon=39.66),
            at(5, 5.5, lat=0.63, lon=34.27),
            {"device_id": DEVICE, "ts": T0 + 7 * MIN, "lat": 0.7},  # a fix missing its longitude
            at(10, 6.0),
            {"device_id": DEVICE, "ts": T0 + 12 * MIN, "door": "closed"},
            {"device_id": DEVICE, "ts": T0 + 15 * MIN},  # a heartbeat: no channel at all
        ],
    )
    got = shipment_status(client, vaccine(), NOW)
    assert got.last_position == Position(lon=34.27, lat=0.63, at_ms=T0 + 5 * MIN)
    assert got.last_temperature_c == TimedValue(6.0, T0 + 10 * MIN)
    assert got.last_seen_at_ms == T0 + 15 * MIN


def test_nothing_stored_gives_no_figures_but_the_budget_the_manifest_allows(client):
    store(
        client, [{"device_id": "trk-other", "ts": T0 + MIN, "temp_c": 20.0, "lat": 1.0, "lon": 2.0}]
    )
    assert shipment_status(client, vaccine(), NOW) == ShipmentStatus(
        shipment_id="SHP-1",
        device_id=DEVICE,
        last_position=None,
        last_temperature_c=None,
        last_seen_at_ms=None,
        mkt_c=None,
        stability_budget_used_min=None,
        stability_budget_min=120.0,
    )


def test_a_shipment_not_departed_yet_has_no_figures(client):
    store(client, EXCURSION)
    got = shipment_status(client, vaccine(departure_ms=NOW + DAY), NOW)
    assert (got.last_position, got.last_temperature_c, got.last_seen_at_ms, got.mkt_c) == (
        None,
    ) * 4
    assert got.stability_budget_used_min is None


def test_a_shipment_without_departure_looks_back_over_its_recent_readings(client):
    store(client, EXCURSION)
    got = shipment_status(client, vaccine(departure_ms=None), NOW)
    assert got.mkt_c == pytest.approx(hand_mkt(EXCURSION_PLAUSIBLE), abs=1e-9)
    assert got.stability_budget_used_min == pytest.approx(EXCURSION_OUT_MIN, abs=1e-9)


def test_cargo_without_a_temperature_range_has_mkt_but_no_budget(client):
    store(client, EXCURSION)
    shipment = Shipment("SHP-1", DEVICE, PROFILES["customs_transit"], departure_ms=T0)
    got = shipment_status(client, shipment, NOW)
    assert got.mkt_c == pytest.approx(hand_mkt(EXCURSION_PLAUSIBLE), abs=1e-9)
    assert (got.stability_budget_used_min, got.stability_budget_min) == (None, None)


def test_temperatures_stream_in_pages_and_chunks_without_losing_or_repeating_one(
    client, monkeypatch
):
    # Readings on chunk edges and pages that end mid-chunk, with tiny pages and chunks.
    minutes = [0, 1, 2, 3, 10, 11, 20, 20.5, 21, 40, 41, 42, 43, 44, 45, 70]
    store(client, [at(m, 5.0 + i) for i, m in enumerate(minutes)])
    unpaged = shipment_status(client, vaccine(), NOW)
    monkeypatch.setattr(status_module, "PAGE_ROWS", 3)
    monkeypatch.setattr(status_module, "CHUNK_MS", 10 * MIN)
    streamed = list(temperatures(client, DEVICE, T0, T0 + 70 * MIN))
    assert streamed == [(T0 + int(m * MIN), 5.0 + i) for i, m in enumerate(minutes)]
    assert shipment_status(client, vaccine(), NOW) == unpaged


@pytest.mark.parametrize(
    "device_id",
    [
        pytest.param("x' OR 1=1 --", id="a quoted OR clause"),
        pytest.param('"; DROP DATABASE x', id="a statement break and DROP DATABASE"),
        pytest.param("trk-1\x00", id="the real id followed by NUL"),
        pytest.param("трекер-1 🚚", id="unicode"),
    ],
)
def test_a_hostile_device_id_is_a_bound_value_that_matches_nothing(influx_db, client, device_id):
    server, db = influx_db
    store(client, EXCURSION)
    got = shipment_status(client, vaccine(device_id=device_id), NOW)
    assert (got.last_position, got.last_temperature_c, got.last_seen_at_ms, got.mkt_c) == (
        None,
    ) * 4
    assert db in [row["name"] for row in server.query("SHOW DATABASES", db)]
    assert shipment_status(client, vaccine(), NOW).last_seen_at_ms == T0 + 70 * MIN
