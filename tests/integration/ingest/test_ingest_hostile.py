"""Through a real broker and a real InfluxDB: no message stops ingestion, and nothing acked is lost.

Each test publishes what once stopped or fooled the ingester (a crash-looping payload, a
conflicting duplicate, a flood of new device ids, a hostile upload, a retained message, a
backlog at shutdown) and then checks what actually landed in InfluxDB.
"""

import json
import time

import pytest
from ingest_process import encode, publish, reading, refused_start_up, topic, wait_for
from services import InfluxServer

pytestmark = pytest.mark.integration


def rows(influx, db, q, **params):
    return influx.query(q, db, params=params or None)


def reject_reasons(influx, db) -> dict[str, int]:
    found = rows(influx, db, "SELECT count(detail) FROM ingest_rejects GROUP BY reason")
    return {r["reason"]: r["count"] for r in found}


def stored(influx, db, device) -> int:
    found = rows(influx, db, "SELECT count(seq) FROM telemetry WHERE device_id = $d", d=device)
    return found[0]["count"] if found else 0


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


CRASHERS = [
    pytest.param(
        b'{"device_id":"trk-h","ts":' + b"9" * 400 + b"}",
        "future_ts",
        id="an integer timestamp hundreds of digits long",
    ),
    pytest.param(
        b'{"device_id":' + deep(1000) + b',"ts":1}',
        "invalid_device_id",
        id="a device_id nested a thousand levels deep",
    ),
    pytest.param(
        b'[{"device_id":"trk-h","ts":1,"seq":' + b"9" * 25 + b"}," + deep(1000) + b"]",
        "not_an_object",
        id="an upload with one element nested a thousand levels deep",
    ),
]


@pytest.mark.parametrize("payload, reason", CRASHERS)
def test_a_payload_that_once_crash_looped_the_ingester_is_rejected_and_ingestion_goes_on(
    mosquitto, influx_db, start_ingester, payload, reason
):
    influx, db = influx_db
    ingester = start_ingester(mosquitto.url, influx.url, db)
    good = [(topic("trk-h"), encode(reading("trk-h", i))) for i in range(20)]
    publish(mosquitto.port, [*good[:10], (topic("trk-h"), payload), *good[10:]])
    wait_for(lambda: stored(influx, db, "trk-h") >= 20, 30, "the readings around it")
    assert ingester.process.poll() is None, ingester.log()
    wait_for(lambda: reason in reject_reasons(influx, db), 10, f"a {reason} reject")
    assert ingester.terminate() == 0


def test_a_manifest_shipment_id_ending_in_a_backslash_stops_start_up_with_one_line(
    mosquitto, influx_db, tmp_path
):
    influx, db = influx_db
    manifest = tmp_path / "fleet.json"
    manifest.write_text(
        json.dumps(
            {
                "shipments": [
                    {"shipment_id": "SHP-1\\", "device_id": "trk-1", "profile": "vaccine_2_8"}
                ]
            }
        )
    )
    line = refused_start_up(
        mqtt_url=mosquitto.url,
        influx_url=influx.url,
        influx_db=db,
        shipments=str(manifest),
        spool_dir=str(tmp_path / "spool"),
    )
    assert "shipment_id must match" in line


def test_a_conflicting_duplicate_is_recorded_and_never_merged_into_the_stored_reading(
    mosquitto, influx_db, start_ingester
):
    influx, db = influx_db
    start_ingester(mosquitto.url, influx.url, db)
    first = reading("trk-c", 1, temp_c=5.0, seal="closed")
    conflicting = {"device_id": "trk-c", "ts": first["ts"], "temp_c": 9.0, "seal": "tampered"}
    publish(mosquitto.port, [(topic("trk-c"), encode(first))])
    publish(mosquitto.port, [(topic("trk-c"), encode(conflicting))])
    publish(mosquitto.port, [(topic("trk-c"), encode(first))])  # an identical redelivery
    wait_for(
        lambda: "conflicting_duplicate" in reject_reasons(influx, db), 30, "the conflict reject"
    )
    (point,) = rows(influx, db, "SELECT * FROM telemetry WHERE device_id = $d", d="trk-c")
    assert (point["temp_c"], point["seal"], point["seq"]) == (5.0, "closed", 1)
    assert reject_reasons(influx, db) == {"conflicting_duplicate": 1}


def test_a_reading_older_than_the_age_bound_is_too_old_and_opens_no_shard(
    mosquitto, influx_db, start_ingester
):
    influx, db = influx_db
    start_ingester(mosquitto.url, influx.url, db, max_reading_age_days="7")
    old = {"device_id": "trk-o", "ts": int(time.time() * 1000) - 30 * 86_400_000}
    publish(mosquitto.port, [(topic("trk-o"), encode(old))])
    wait_for(lambda: "too_old" in reject_reasons(influx, db), 30, "a too_old reject")
    assert stored(influx, db, "trk-o") == 0


def test_a_hostile_upload_flood_is_summarised_and_ingestion_goes_on(
    mosquitto, influx_db, start_ingester
):
    influx, db = influx_db
    ingester = start_ingester(mosquitto.url, influx.url, db)
    flood = b"[" + b",".join([b"1"] * 120_000) + b"]"
    publish(mosquitto.port, [(topic("trk-f"), flood)] * 10)
    publish(mosquitto.port, [(topic("trk-f"), encode(reading("trk-f", i))) for i in range(5)])
    wait_for(lambda: stored(influx, db, "trk-f") >= 5, 60, "the readings after the flood")
    summary = rows(
        influx,
        db,
        "SELECT count(detail), sum(count) FROM ingest_rejects WHERE reason = 'not_an_object'",
    )[0]
    # Ten detailed points and one summary point per message; the summaries count the rest.
    assert summary["count"] == 10 * 11
    assert summary["sum"] == 10 * (120_000 - 10)
    assert ingester.process.poll() is None


def test_retained_telemetry_is_not_taken_again_at_every_restart(
    mosquitto, influx_db, start_ingester
):
    influx, db = influx_db
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    ingester = start_ingester(mosquitto.url, influx.url, db)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    client.publish(
        topic("trk-r"), encode(reading("trk-r", 0)), qos=1, retain=True
    ).wait_for_publish(10)
    wait_for(lambda: stored(influx, db, "trk-r") == 1, 30, "the retained reading, taken live once")
    assert ingester.terminate() == 0
    ingester.start()
    # A marker after the restart: once it is stored, anything retained would have arrived first.
    client.publish(topic("trk-m"), encode(reading("trk-m", 0)), qos=1).wait_for_publish(10)
    wait_for(lambda: stored(influx, db, "trk-m") == 1, 30, "the marker")
    client.publish(topic("trk-r"), b"", qos=1, retain=True).wait_for_publish(10)  # clear it
    client.loop_stop()
    client.disconnect()
    assert "retained" not in reject_reasons(influx, db)
    assert "invalid_json" not in reject_reasons(influx, db)


def test_sigterm_with_a_backlog_stops_intake_exits_cleanly_and_the_backlog_is_stored_next_run(
    mosquitto, influx_db, start_ingester
):
    influx, db = influx_db
    ingester = start_ingester(mosquitto.url, influx.url, db, batch_size="10")
    assert ingester.terminate() == 0
    devices = [f"trk-b{k}" for k in range(10)]
    backlog = [(topic(d), encode(reading(d, i))) for i in range(3000) for d in devices]
    publish(mosquitto.port, backlog)
    ingester.start()
    wait_for(lambda: sum(stored(influx, db, d) for d in devices) > 0, 30, "the first writes")
    # Before, the ingester worked through its whole inbox ten readings at a time and was
    # still at it when its own timeout made it exit 1.
    assert ingester.terminate(timeout_s=60) == 0, ingester.log()[-3000:]
    ingester.start()
    wait_for(
        lambda: sum(stored(influx, db, d) for d in devices) >= 30_000,
        180,
        "the whole backlog after the restart",
    )
    assert sum(stored(influx, db, d) for d in devices) == 30_000


def test_a_tampered_seal_stored_just_before_a_graceful_restart_still_raises_its_alert(
    mosquitto, influx_db, start_ingester
):
    influx, db = influx_db
    ingester = start_ingester(mosquitto.url, influx.url, db, lateness_s="30")
    now = int(time.time() * 1000)
    tampered = {"device_id": "trk-s", "ts": now, "seq": 1, "seal": "tampered"}
    publish(mosquitto.port, [(topic("trk-s"), encode(tampered))])
    wait_for(lambda: stored(influx, db, "trk-s") == 1, 30, "the tampered reading")
    assert ingester.terminate() == 0
    found = rows(influx, db, "SELECT * FROM alerts WHERE device_id = $d", d="trk-s")
    assert [a["kind"] for a in found if a["event"] == "open"] == ["seal_breach"]


def test_new_devices_refused_for_capacity_are_spooled_not_rejected_and_stored_once_room_is_made(
    mosquitto, start_ingester, tmp_path
):
    db = "cargowatch"
    influx = InfluxServer(tmp_path / "influx", data_options={"max-values-per-tag": 5})
    influx.start()
    try:
        ingester = start_ingester(mosquitto.url, influx.url, db, retry_window_s="1")
        devices = [f"trk-n{k:02d}" for k in range(30)]
        # InfluxDB 1.x checks the limit against what it held before a write, so fill it up
        # one write at a time; every new device after that is refused.
        for d in devices[:5]:
            publish(mosquitto.port, [(topic(d), encode(reading(d, 0)))])
            wait_for(lambda d=d: stored(influx, db, d) == 1, 30, f"{d}'s reading")
        publish(mosquitto.port, [(topic(d), encode(reading(d, 0))) for d in devices[5:]])
        wait_for(lambda: "refuses" in ingester.log(), 60, "the capacity refusal in the log")
        assert "influx_refused" not in reject_reasons(influx, db)
        assert ingester.log().count("refuses new series") == 1
        influx.stop()
        influx.data_options = {"max-values-per-tag": 0}  # 0: no limit
        influx.start()
        wait_for(
            lambda: sum(stored(influx, db, d) for d in devices) >= 30,
            120,
            "every device's reading once InfluxDB has room",
        )
        assert sum(stored(influx, db, d) for d in devices) == 30
        assert ingester.terminate() == 0
    finally:
        influx.stop()
