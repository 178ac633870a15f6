"""``/shipments/{id}/readings`` and a shipment page's live conditions, through the app, on a real
InfluxDB and SQL store: exact values, buckets that keep an excursion's peak, the caller's
visibility, hostile channel names refused before InfluxDB sees them, and InfluxDB away."""

import pytest
from api_world import T0_MS, TestClient, build_world
from services import free_port

from api.app import create_app
from api.conditions import influx_conditions
from detectors.reading import Reading
from ingest.influx_client import InfluxClient
from ingest.line_protocol import telemetry_line

pytestmark = pytest.mark.integration

MIN = 60_000
#: Twelve readings five minutes apart, 5 °C but for one at 9.5 °C, each with a position.
TEMPS = [5.0] * 6 + [9.5] + [5.0] * 5
SINCE, UNTIL = "2025-11-22T08:00:00Z", "2025-11-22T10:00:00Z"


@pytest.fixture
def influx(influx_db):
    server, db = influx_db
    client = InfluxClient(server.url, db)
    client.create_database()
    client.write(
        "\n".join(
            telemetry_line(
                Reading("trk-a1", T0_MS + i * 5 * MIN, i, lat=-4.0 + i / 100, lon=39.6, temp_c=t),
                "SHP-A1",
            )
            for i, t in enumerate(TEMPS)
        ).encode()
    )
    yield client
    client.close()


@pytest.fixture
def world(sql_url, influx):
    world = build_world(sql_url)
    now = T0_MS + 2 * 3_600_000
    app = create_app(
        world.sessions, influx=influx, conditions=influx_conditions(influx, lambda: now)
    )
    with TestClient(app) as client:
        world.client = client
        yield world
    world.close()


def get(world, who, path, **params):
    return world.client.get(path, params=params, headers=world.headers(who))


def test_the_readings_of_a_range_are_the_stored_values(world):
    answer = get(
        world, "operator", "/shipments/SHP-A1/readings", since=SINCE, until=UNTIL, channel="temp_c"
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["device_id"] == "trk-a1" and body["downsampled"] is False
    (series,) = body["channels"]
    assert [p["value"] for p in series["points"]] == TEMPS
    assert series["points"][0]["at"].startswith("2025-11-22T08:26:40")


def test_a_long_range_comes_back_in_buckets_that_keep_the_peak(world):
    body = get(
        world,
        "viewer",
        "/shipments/SHP-A1/readings",
        since=SINCE,
        until=UNTIL,
        channel="temp_c",
        max_points=3,
    ).json()
    assert body["downsampled"] is True and body["interval_ms"] >= 40 * MIN
    points = body["channels"][0]["points"]
    assert len(points) <= 3
    assert max(p["max"] for p in points) == 9.5
    assert min(p["min"] for p in points) == 5.0


def test_every_channel_by_default_and_positions_among_them(world):
    body = get(world, "customs", "/shipments/SHP-A1/readings", since=SINCE, until=UNTIL).json()
    by_name = {c["channel"]: c["points"] for c in body["channels"]}
    assert [p["value"] for p in by_name["lat"]][:2] == [-4.0, -3.99]
    assert by_name["door"] == []


def test_the_default_range_runs_from_departure(world):
    body = get(world, "admin", "/shipments/SHP-A1/readings", channel="temp_c").json()
    assert len(body["channels"][0]["points"]) == len(TEMPS)


@pytest.mark.parametrize(
    "params, where",
    [
        ({"channel": "temperature"}, "channel"),
        ({"channel": 'temp_c" FROM telemetry; DROP DATABASE x --'}, "channel"),
        ({"since": UNTIL, "until": SINCE}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2025-11-22T08:00:00"}, "since"),  # no time zone: ambiguous
        ({"max_points": 0}, "max_points"),
        ({"max_points": 10**9}, "max_points"),
    ],
)
def test_a_bad_parameter_is_a_422_naming_it_and_the_data_stays(world, influx, params, where):
    answer = get(world, "operator", "/shipments/SHP-A1/readings", **params)
    assert answer.status_code == 422, answer.text
    assert [e["loc"][-1] for e in answer.json()["detail"]] == [where]
    (series,) = influx.query("SELECT count(temp_c) FROM telemetry")
    assert series["values"][0][1] == len(TEMPS)


@pytest.mark.parametrize("who, status", [("other_operator", 404), ("admin", 200)])
def test_another_organisations_shipment_is_a_404(world, who, status):
    answer = get(world, who, "/shipments/SHP-A1/readings", since=SINCE, until=UNTIL)
    assert answer.status_code == status
    if status == 404:
        assert "trk-a1" not in answer.text


def test_no_key_no_readings(world):
    answer = world.client.get("/shipments/SHP-A1/readings")
    assert answer.status_code == 401 and "trk-a1" not in answer.text


def test_the_shipment_page_carries_the_live_conditions(world):
    body = get(world, "operator", "/shipments/SHP-A1").json()
    conditions = body["conditions"]
    assert conditions["last_temperature_c"] == 5.0
    assert conditions["last_position"]["lat"] == pytest.approx(-3.89)
    assert conditions["stability_budget_used_min"] == 5.0
    assert 5.0 < conditions["mkt_c"] < 9.5


def test_with_influxdb_away_readings_are_a_503_and_the_page_has_no_conditions(sql_url):
    world = build_world(sql_url)
    away = InfluxClient(f"http://127.0.0.1:{free_port()}", "none", timeout_s=2)
    app = create_app(world.sessions, influx=away, conditions=influx_conditions(away))
    with TestClient(app) as client:
        headers = world.headers("operator")
        readings = client.get("/shipments/SHP-A1/readings", headers=headers)
        assert readings.status_code == 503 and readings.headers["Retry-After"]
        page = client.get("/shipments/SHP-A1", headers=headers)
        assert page.status_code == 200
        assert set(page.json()["conditions"].values()) == {None}
    world.close()
