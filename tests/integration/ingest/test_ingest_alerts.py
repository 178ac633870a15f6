"""Readings through a real broker and ingester come out as alerts on MQTT and in InfluxDB."""

import json

import pytest
from ingest_process import T0_MS, AlertListener, encode, publish, topic, wait_for

pytestmark = pytest.mark.integration
MIN = 60_000


def test_a_reefer_excursion_and_a_tampered_seal_are_published_as_alerts_and_stored(
    mosquitto, influx_db, start_ingester, tmp_path
):
    influx, db = influx_db
    manifest = tmp_path / "fleet.json"
    manifest.write_text(
        json.dumps(
            {
                "shipments": [
                    {"shipment_id": "SHP-9", "device_id": "trk-9", "profile": "vaccine_2_8"},
                ]
            }
        )
    )
    listener = AlertListener(mosquitto.port)
    start_ingester(mosquitto.url, influx.url, db, shipments=str(manifest), lateness_s="0")
    temps = [5.0] * 12 + [9.5] * 4
    readings = [
        {"device_id": "trk-9", "ts": T0_MS + i * 5 * MIN, "seq": i, "temp_c": t}
        for i, t in enumerate(temps)
    ]
    readings.append(
        {
            "device_id": "trk-9",
            "ts": T0_MS + 16 * 5 * MIN,
            "seq": 16,
            "temp_c": 9.5,
            "seal": "tampered",
        }
    )
    publish(mosquitto.port, [(topic("trk-9"), encode(r)) for r in readings])

    wait_for(
        lambda: {m[1]["kind"] for m in listener.messages} >= {"temp_excursion", "seal_breach"},
        30,
        "excursion and seal alerts on MQTT",
    )
    by_kind = {m[1]["kind"]: m for m in listener.messages if m[1]["event"] == "open"}
    t, excursion = by_kind["temp_excursion"]
    assert t == "cargo/v1/alerts/trk-9/temp_excursion"
    assert excursion["shipment_id"] == "SHP-9" and excursion["severity"] == "warning"
    assert excursion["summary"].startswith("9.5 °C, 1.5 °C above the 8 °C limit")
    assert excursion["evidence"]["range_c"] == [2.0, 8.0]
    assert set(excursion) >= {
        "event",
        "alert_id",
        "kind",
        "severity",
        "device_id",
        "shipment_id",
        "at",
        "summary",
        "evidence",
    }
    seal_topic, seal = by_kind["seal_breach"]
    assert seal_topic == "cargo/v1/alerts/trk-9/seal_breach" and seal["severity"] == "critical"

    wait_for(lambda: influx.count("alerts", db, "alert_id") >= 2, 20, "alerts in InfluxDB")
    rows = influx.query("SELECT alert_id, state FROM alerts GROUP BY kind, shipment_id", db)
    kinds = {(r["kind"], r["shipment_id"]) for r in rows}
    assert ("temp_excursion", "SHP-9") in kinds and ("seal_breach", "SHP-9") in kinds
    tagged = influx.query("SELECT count(seq) FROM telemetry WHERE shipment_id = 'SHP-9'", db)
    assert tagged[0]["count"] == len(readings), "telemetry carries its shipment as a tag"
    listener.close()
