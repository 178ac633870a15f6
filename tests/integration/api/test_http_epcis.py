"""``GET /shipments/{id}/epcis.jsonld`` and ``cargowatch epcis``, on a real InfluxDB and SQL store
(SQLite and PostgreSQL): the document validates against GS1's EPCIS 2.0 schema and holds every
stored reading and every detector step of the shipment's alerts with their values; event ids are
the same in every export; long ranges come in buckets that keep the peak; a key sees exactly the
shipments it may read; InfluxDB away is a 503; the command writes the same events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from api_world import KEYS, T0_MS, VISIBLE, World, build_world
from epcis_checks import schema_errors
from fastapi.testclient import TestClient
from services import InfluxServer, free_port

from api.app import create_app
from api.epcis_fields import shipment_urn
from api.store import record_events
from cargowatch.cli import main
from detectors.alerts import AlertEvent
from detectors.reading import Reading
from ingest.influx_client import InfluxClient
from ingest.line_protocol import telemetry_line

pytestmark = pytest.mark.integration

MIN = 60_000
#: Twelve readings five minutes apart from T0 + 5 min, 5 °C but for one at 9.5 °C; the seal
#: opens at the seventh.
TEMPS = [5.0] * 6 + [9.5] + [5.0] * 5
FROM, TO = "2025-11-22T08:00:00Z", "2025-11-22T10:00:00Z"
EXCURSION = "al_shpa1_temp"
#: The excursion's detector steps: (event, seq, minutes after T0, temp_c).
STEPS = [("open", 1, 35, 9.5), ("update", 2, 36, 9.6), ("resolve", 3, 40, 5.0)]


def _readings() -> list[Reading]:
    return [
        Reading(
            "trk-a1",
            T0_MS + (i + 1) * 5 * MIN,
            i,
            lat=-4.0 + i / 100,
            lon=39.6,
            temp_c=t,
            seal="open" if i == 6 else "closed",
        )
        for i, t in enumerate(TEMPS)
    ]


@pytest.fixture
def influx(influx_db: tuple[InfluxServer, str]) -> Iterator[InfluxClient]:
    server, db = influx_db
    client = InfluxClient(server.url, db)
    client.create_database()
    client.write("\n".join(telemetry_line(r, "SHP-A1") for r in _readings()).encode())
    yield client
    client.close()


@pytest.fixture
def world(sql_url: str, influx: InfluxClient) -> Iterator[World]:
    world = build_world(sql_url)  # holds a seal_breach open at T0 on every shipment
    record_events(
        world.sessions,
        [
            (
                AlertEvent(
                    event=event,
                    alert_id=EXCURSION,
                    kind="temp_excursion",
                    severity="warning",
                    device_id="trk-a1",
                    shipment_id="SHP-A1",
                    at_ms=T0_MS + minutes * MIN,
                    summary=f"{temp} °C",
                    evidence={"temp_c": temp, "position": [39.6, -3.94]},
                    value=temp,
                ),
                seq,
            )
            for event, seq, minutes, temp in STEPS
        ],
    )
    with TestClient(create_app(world.sessions, influx=influx)) as client:
        world.client = client
        yield world
    world.close()


def utc(ms: int) -> str:
    """An epoch-ms time as the document writes it (UTC, milliseconds, Z)."""
    at = datetime.fromtimestamp(ms / 1000, UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def export(world: World, who: str = "operator", shipment: str = "SHP-A1", **params: Any) -> Any:
    assert world.client is not None
    params = {"from": FROM, "to": TO, **params}
    return world.client.get(
        f"/shipments/{shipment}/epcis.jsonld", params=params, headers=world.headers(who)
    )


def document(world: World, **params: Any) -> dict[str, Any]:
    answer = export(world, **params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/ld+json")
    found: dict[str, Any] = answer.json()
    errors = schema_errors(found)
    assert not errors, "\n".join(errors[:10])
    return found


def readings_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in doc["epcisBody"]["eventList"] if "cargowatch:alertId" not in e]


def alerts_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in doc["epcisBody"]["eventList"] if "cargowatch:alertId" in e]


def report(event: dict[str, Any], channel: str | None = None) -> dict[str, Any]:
    reports = event["sensorElementList"][0]["sensorReport"]
    found: dict[str, Any] = next(
        r for r in reports if channel is None or r.get("cargowatch:channel") == channel
    )
    return found


def test_the_document_holds_every_stored_reading_with_its_values_and_place(world: World) -> None:
    doc = document(world)
    events = readings_of(doc)
    stored = _readings()
    assert [e["eventTime"] for e in events] == [utc(r.ts_ms) for r in stored]
    for event, reading in zip(events, stored, strict=True):
        assert report(event, "temp_c") == {
            "type": "Temperature",
            "value": reading.temp_c,
            "uom": "CEL",
            "cargowatch:channel": "temp_c",
        }
        assert report(event, "seal")["stringValue"] == reading.seal
        assert event["readPoint"]["id"] == f"geo:{reading.lat:g},{reading.lon:g}"
        expected = "container_open" if reading.seal == "open" else "container_closed"
        assert event["disposition"] == expected
        assert event["epcList"] == [shipment_urn("ACME", "SHP-A1")]
        assert event["sensorElementList"][0]["sensorMetadata"]["deviceID"].endswith(":trk-a1")


def test_each_detector_step_of_the_shipments_alerts_is_an_event_with_its_exception(
    world: World,
) -> None:
    steps = {
        (e["cargowatch:alertId"], e["cargowatch:alertEvent"]): e for e in alerts_of(document(world))
    }
    assert set(steps) == {("al_shpa1", "open")} | {(EXCURSION, event) for event, *_ in STEPS}
    breach = steps[("al_shpa1", "open")]
    assert breach["cargowatch:alertKind"] == "seal_breach"
    assert report(breach) == {
        "type": "urn:cargowatch:epcis:SealState",
        "exception": "ALARM_CONDITION",
        "stringValue": "open",
    }
    assert breach["disposition"] == "container_open"
    for event, _, minutes, temp in STEPS:
        step = steps[(EXCURSION, event)]
        assert step["readPoint"] == {"id": "geo:-3.94,39.6"}
        assert report(step)["value"] == temp and report(step)["uom"] == "CEL"
        assert ("exception" in report(step)) is (event != "resolve")
        assert step["eventTime"] == utc(T0_MS + minutes * MIN)


def test_event_ids_are_the_same_in_every_export_and_in_a_narrower_range(world: World) -> None:
    whole = document(world)
    again = document(world)
    ids = [e["eventID"] for e in whole["epcisBody"]["eventList"]]
    assert len(set(ids)) == len(ids) == len(TEMPS) + 1 + len(STEPS)
    assert [e["eventID"] for e in again["epcisBody"]["eventList"]] == ids
    part = document(world, **{"from": "2025-11-22T09:00:00Z", "to": "2025-11-22T09:10:00Z"})
    narrower = [e["eventID"] for e in part["epcisBody"]["eventList"]]
    assert narrower and set(narrower) < set(ids)


def test_a_long_range_comes_in_buckets_that_keep_the_peak(world: World) -> None:
    doc = document(world, max_events=3)
    assert doc["cargowatch:bucketMs"] >= 40 * MIN
    events = readings_of(doc)
    assert len(events) <= 3
    temps = [report(e, "temp_c") for e in events]
    assert max(r["maxValue"] for r in temps) == 9.5 and min(r["minValue"] for r in temps) == 5.0
    assert all("startTime" in e["sensorElementList"][0]["sensorMetadata"] for e in events)
    # Alert steps are never bucketed.
    assert len(alerts_of(doc)) == 1 + len(STEPS)


@pytest.mark.parametrize("who", sorted(KEYS))
@pytest.mark.parametrize("shipment", ["SHP-A1", "SHP-G1", "SHP-A2"])
def test_a_key_gets_exactly_the_shipments_it_may_read(
    world: World, who: str, shipment: str
) -> None:
    answer = export(world, who, shipment)
    if shipment in VISIBLE[who]:
        assert answer.status_code == 200, answer.text
        assert not schema_errors(answer.json())
    else:
        assert answer.status_code == 404
        assert "trk-" not in answer.text


def test_an_unknown_shipment_is_a_404_and_no_key_a_401(world: World) -> None:
    assert export(world, shipment="SHP-NOPE").status_code == 404
    assert world.client is not None
    assert world.client.get("/shipments/SHP-A1/epcis.jsonld").status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"from": TO, "to": FROM}, id="a reversed range"),
        pytest.param({"from": "2025-11-22T08:00:00"}, id="a time without a zone"),
        pytest.param({"max_events": 0}, id="no events at all"),
    ],
)
def test_a_range_that_cannot_be_served_is_a_422(world: World, params: dict[str, Any]) -> None:
    assert export(world, **params).status_code == 422


def test_with_influxdb_away_the_export_is_a_503(sql_url: str) -> None:
    world = build_world(sql_url)
    away = InfluxClient(f"http://127.0.0.1:{free_port()}", "none", timeout_s=2)
    with TestClient(create_app(world.sessions, influx=away)) as client:
        answer = client.get("/shipments/SHP-A1/epcis.jsonld", headers=world.headers("operator"))
        assert answer.status_code == 503 and answer.headers["Retry-After"]
    away.close()
    world.close()


def test_the_command_writes_the_same_events_as_the_api(
    world: World, sql_url: str, influx_db: tuple[InfluxServer, str], tmp_path: Path
) -> None:
    server, db = influx_db
    out = tmp_path / "SHP-A1.epcis.jsonld"
    settings = ["--db-url", sql_url, "--influx-url", server.url, "--influx-db", db]
    code = main(["epcis", "SHP-A1", "--from", FROM, "--to", TO, "-o", str(out), *settings])
    assert code == 0
    written = json.loads(out.read_bytes())
    assert not schema_errors(written)
    from_api = document(world)
    assert [e["eventID"] for e in written["epcisBody"]["eventList"]] == [
        e["eventID"] for e in from_api["epcisBody"]["eventList"]
    ]
    assert main(["epcis", "SHP-NOPE", "-o", str(tmp_path / "none.jsonld"), *settings]) == 1
    assert not (tmp_path / "none.jsonld").exists()
