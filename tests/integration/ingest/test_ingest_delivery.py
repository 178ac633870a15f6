"""End to end through a real mosquitto and a real influxd: what is published is what is stored."""

import pytest
from ingest_process import encode, publish, reading, topic, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def ingester(mosquitto, influx_db, start_ingester):
    influx, db = influx_db
    return start_ingester(mosquitto.url, influx.url, db)


def telemetry_count(influx, db):
    return influx.count("telemetry", db, "seq")


def test_every_published_reading_is_stored_exactly_once(mosquitto, influx_db, ingester):
    influx, db = influx_db
    devices = [f"trk-{k:03d}" for k in range(40)]
    messages = []
    for k, device in enumerate(devices):
        if k % 2:  # store-and-forward uploads: arrays of 25
            for start in range(0, 100, 25):
                batch = [reading(device, i) for i in range(start, start + 25)]
                messages.append((topic(device), encode(batch)))
        else:
            messages += [(topic(device), encode(reading(device, i))) for i in range(100)]
    publish(mosquitto.port, messages)

    wait_for(lambda: telemetry_count(influx, db) >= 4000, 60, "4,000 readings in InfluxDB")
    rows = influx.query("SELECT count(seq) FROM telemetry GROUP BY device_id", db)
    assert {r["device_id"]: r["count"] for r in rows} == {d: 100 for d in devices}
    [point] = influx.query(
        "SELECT * FROM telemetry WHERE device_id = $d AND seq = 17", db, params={"d": "trk-001"}
    )
    assert point["time"] == reading("trk-001", 17)["ts"] and point["temp_c"] == 4.3


def test_duplicate_delivery_is_stored_once(mosquitto, influx_db, ingester):
    influx, db = influx_db
    once = [(topic("trk-dup"), encode(reading("trk-dup", i))) for i in range(50)]
    again_as_upload = [(topic("trk-dup"), encode([reading("trk-dup", i) for i in range(50)]))]
    publish(mosquitto.port, once + once + again_as_upload + once)

    def duplicates_counted():
        rows = influx.query("SELECT last(duplicates) FROM cargowatch_stats", db)
        return bool(rows) and rows[0]["last"] == 150

    wait_for(duplicates_counted, 30, "all 200 deliveries, 150 of them recognised as duplicates")
    assert telemetry_count(influx, db) == 50


HOSTILE_ID = 'ES-"quote" \\back\\slash, comma=eq\nnewline ☃ \u202e'


def test_malformed_input_is_rejected_by_reason_and_the_valid_readings_around_it_are_stored(
    mosquitto, influx_db, ingester
):
    influx, db = influx_db
    dev = "trk-bad"
    malformed = [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_encoding"),
        (b"[]", "empty_payload"),
        (b"[1]", "not_an_object"),
        (encode({"ts": 1}), "missing_device_id"),
        (encode({**reading(dev, 900), "device_id": "trk-other"}), "device_mismatch"),
        (encode({**reading(dev, 901), "temp_c": "warm"}), "invalid_type"),
        (b'{"device_id":"trk-bad","ts":1763800000000,"temp_c":NaN}', "non_finite"),
        (encode({**reading(dev, 902), "lat": 123.0}), "out_of_range"),
        (encode({**reading(dev, 903), "ts": 4_102_444_800_000}), "future_ts"),
        (encode({**reading(dev, 904), "ts": "last tuesday"}), "invalid_ts"),
        (encode({**reading(dev, 905), "seal": "'; DROP DATABASE x; --"}), "invalid_value"),
        (b"[" * 50_000 + b"]" * 50_000, "invalid_json"),
        (encode({**reading(dev, 906), "pad": "x" * 300_000}), "payload_too_large"),
    ]
    messages = []
    for i, (payload, _) in enumerate(malformed):
        messages.append((topic(dev), encode(reading(dev, i))))
        messages.append((topic(dev), payload))
    hostile = reading(dev, 500, seal_id=HOSTILE_ID, note="unknown fields are ignored")
    messages.append((topic(dev), encode(hostile)))
    messages.append(("cargo/v1/has space/telemetry", encode(reading("x", 1))))
    publish(mosquitto.port, messages)

    expected = {reason: 0 for _, reason in malformed}
    for _, reason in malformed:
        expected[reason] += 1
    expected["invalid_topic"] = 1
    wait_for(
        lambda: influx.count("ingest_rejects", db, "detail") >= len(malformed) + 1,
        30,
        "every reject to be recorded",
    )
    rows = influx.query("SELECT count(detail) FROM ingest_rejects GROUP BY reason", db)
    assert {r["reason"]: r["count"] for r in rows} == expected
    assert telemetry_count(influx, db) == len(malformed) + 1
    [stored] = influx.query("SELECT seal_id FROM telemetry WHERE seq = 500", db)
    assert stored["seal_id"] == HOSTILE_ID

    [mismatch] = influx.query("SELECT * FROM ingest_rejects WHERE reason = 'device_mismatch'", db)
    assert mismatch["device_id"] == dev and "trk-other" in mismatch["payload"]
    wait_for(lambda: "rejected 15" in ingester.log(), 10, "the stats line to count 15 rejects")


def test_sigterm_flushes_acks_and_exits_0_and_nothing_is_lost_across_the_restart(
    mosquitto, influx_db, ingester
):
    influx, db = influx_db
    messages = [(topic(f"trk-{i % 10}"), encode(reading(f"trk-{i % 10}", i))) for i in range(3000)]
    publish(mosquitto.port, messages[:1500])
    assert ingester.terminate() == 0
    assert "ingester stopped" in ingester.log()
    publish(mosquitto.port, messages[1500:])  # queued by the broker for the persistent session
    ingester.start()
    wait_for(lambda: telemetry_count(influx, db) >= 3000, 60, "3,000 readings after the restart")
    assert telemetry_count(influx, db) == 3000


def test_the_service_counts_itself_in_cargowatch_stats(mosquitto, influx_db, ingester):
    influx, db = influx_db
    publish(
        mosquitto.port,
        [(topic("trk-s"), encode(reading("trk-s", i))) for i in range(10)]
        + [(topic("trk-s"), b"nope")],
    )

    def stored_reported():
        rows = influx.query("SELECT last(readings_stored) FROM cargowatch_stats", db)
        return bool(rows) and rows[0]["last"] == 10

    wait_for(stored_reported, 20, "stats to report 10 stored readings")
    [last] = influx.query(
        "SELECT last(rejected_invalid_json) AS bad, last(messages_received) AS received FROM cargowatch_stats",
        db,
    )
    assert (last["bad"], last["received"]) == (1, 11)

    def delivering_reported():
        # The only process on its store holds the delivery lease from its workers' first pass.
        rows = influx.query("SELECT last(delivering) FROM cargowatch_stats", db)
        return bool(rows) and rows[0]["last"] == 1

    wait_for(delivering_reported, 20, "stats to say this ingester delivers")
