"""Several ingesters share the load; a point InfluxDB refuses is isolated; stored readings flow on in order."""

import threading
from collections.abc import Sequence

import pytest
from ingest_process import encode, publish, reading, topic, wait_for

from api.schema import upgrade
from cargowatch.settings import resolve
from cargowatch.wiring import build_ingester
from detectors.reading import Reading

pytestmark = pytest.mark.integration


def test_ingesters_in_a_share_group_split_the_stream_and_store_each_reading_once(
    mosquitto, influx_db, start_ingester
):
    influx, db = influx_db
    # Storage only: a share group splits each device's readings, which detectors refuse.
    storing = {"mqtt_share_group": "ingest", "default_profile": "none"}
    first = start_ingester(mosquitto.url, influx.url, db, **storing)
    second = start_ingester(mosquitto.url, influx.url, db, **storing)
    devices = [f"trk-{k}" for k in range(10)]
    publish(
        mosquitto.port, [(topic(d), encode(reading(d, i))) for i in range(300) for d in devices]
    )
    wait_for(lambda: influx.count("telemetry", db, "seq") >= 3000, 60, "3,000 readings")
    assert influx.count("telemetry", db, "seq") == 3000
    assert first.terminate() == 0 and second.terminate() == 0
    for ingester in (first, second):
        stored = ingester.log().rsplit("ingester stopped: ", 1)[1]
        assert "stored 0 readings" not in stored, "both members of the group must take a share"


def test_a_point_influxdb_refuses_is_recorded_as_a_reject_and_its_batch_neighbours_are_stored(
    mosquitto, influx_db, start_ingester
):
    influx, db = influx_db
    influx.create_database(db)
    # light_lux already holds text in this shard, so a numeric light_lux is a field type conflict.
    influx.write(
        db, f'telemetry,device_id=trk-old light_lux="bright" {reading("trk-old", 0)["ts"]}'
    )
    ingester = start_ingester(
        mosquitto.url, influx.url, db, batch_size="100", flush_interval_ms="500"
    )
    messages = [(topic("trk-1"), encode(reading("trk-1", i))) for i in range(40)]
    messages[17] = (topic("trk-1"), encode(reading("trk-1", 17, light_lux=120.0)))
    publish(mosquitto.port, messages)

    wait_for(lambda: influx.count("ingest_rejects", db, "detail") >= 1, 30, "the refused point")
    [refused] = influx.query("SELECT * FROM ingest_rejects", db)
    assert refused["reason"] == "influx_refused"
    assert "field type conflict" in refused["detail"]
    assert "seq=17i" in refused["payload"]
    wait_for(lambda: influx.count("telemetry", db, "seq") >= 39, 30, "the 39 good readings")
    seqs = sorted(
        r["seq"] for r in influx.query("SELECT seq FROM telemetry WHERE device_id = 'trk-1'", db)
    )
    assert seqs == [i for i in range(40) if i != 17]
    assert ingester.terminate() == 0


class RecordingStage:
    def __init__(self):
        self.batches: list[list[Reading]] = []
        self.closed = threading.Event()

    def handle(self, readings: Sequence[Reading]) -> None:
        self.batches.append(list(readings))

    def close(self) -> None:
        self.closed.set()


def test_stored_readings_are_handed_to_the_next_stage_in_arrival_order_per_batch(
    mosquitto, influx_db, tmp_path
):
    influx, db = influx_db
    settings = resolve(
        {},
        env={
            "CARGOWATCH_MQTT_URL": mosquitto.url,
            "CARGOWATCH_INFLUX_URL": influx.url,
            "CARGOWATCH_INFLUX_DB": db,
            "CARGOWATCH_SPOOL_DIR": str(tmp_path / "spool"),
            "CARGOWATCH_BATCH_SIZE": "64",
            "CARGOWATCH_FLUSH_INTERVAL_MS": "20",
            "CARGOWATCH_DB_URL": f"sqlite:///{tmp_path / 'cargowatch.db'}",
            "CARGOWATCH_STATE_DIR": str(tmp_path / "state"),
        },
    )
    upgrade(settings.db_url)
    pipeline = build_ingester(settings).pipeline
    stage = RecordingStage()
    pipeline.stage = stage
    pipeline.start()
    assert pipeline.source.wait_subscribed(10)
    publish(
        mosquitto.port,
        [(topic("trk-o"), encode(reading("trk-o", i))) for i in range(500)]
        + [(topic("trk-o"), b"not json")],
    )
    wait_for(lambda: sum(len(b) for b in stage.batches) >= 500, 30, "500 readings handed on")
    assert pipeline.stop()
    assert stage.closed.is_set()
    handed_on = [r.seq for batch in stage.batches for r in batch]
    assert handed_on == list(range(500)), "each reading once, in the order it arrived"
    assert all(0 < len(b) <= 64 for b in stage.batches) and len(stage.batches) >= 8
    assert influx.count("telemetry", db, "seq") == 500, "handed on only once stored"
