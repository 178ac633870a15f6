"""A simulated fleet with incidents, published through a real broker to the real ingester.

One fleet per module: twelve trackers, each with an incident (a failing reefer, seal tampering, stops, silence...) over the twelve hours that ended a
minute ago, published at QoS 1 to mosquitto, stored by `cargowatch ingest` in a fresh database
on the session's influxd, with the detectors' alerts in the ingester's SQL store and, through
its outbox, in the `alerts` measurement. One malformed message adds a reject, and one open
alert is acknowledged and assigned the way the API does it, so the human actions reach
InfluxDB too. The tests then ask every dashboard query of that database.
"""

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from ingest_process import IngesterProcess, publish, topic, wait_for
from services import InfluxServer, MosquittoServer

from detectors.alerts import rfc3339

SEED = 7
DEVICES = 12
SCENARIOS = (
    "reefer_failure,seal_tamper,route_deviation,tracker_silence,door_left_open,gps_spoofing,"
    "unscheduled_stop"
)


@dataclass
class Fleet:
    influx: InfluxServer
    db: str
    ingester: IngesterProcess
    start_ms: int
    end_ms: int
    manifest: dict[str, Any]
    truth: list[dict[str, Any]]
    assigned_alert: str
    ingest_start_ms: int
    #: The tracker the shipment dashboard's variables resolved to.
    chosen_device: str = ""

    def query(self, q: str) -> list[dict[str, Any]]:
        """The raw /query result's series for one statement (an error fails the test)."""
        response = self.influx.http.get("/query", params={"q": q, "db": self.db, "epoch": "ms"})
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{q}"
        (result,) = response.json()["results"]
        assert "error" not in result, f"{result['error']}\n{q}"
        return result.get("series", [])

    def store(self, sql: str) -> list[tuple[Any, ...]]:
        return self.ingester.store_rows(sql)


def _simulate(*args: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cargowatch", "simulate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def _assign_one_open_alert(ingester: IngesterProcess) -> str:
    from api import actions
    from api.db import make_engine, session_factory, write_transaction

    (alert_id,) = ingester.store_rows(
        "SELECT alert_id FROM alerts WHERE state = 'open' ORDER BY alert_id LIMIT 1"
    )[0]
    engine = make_engine(ingester.env["CARGOWATCH_DB_URL"])
    try:
        sessions = session_factory(engine)
        with write_transaction(sessions) as session:
            actions.acknowledge(session, alert_id, "ana", "calling the border post")
        with write_transaction(sessions) as session:
            actions.assign(session, alert_id, "ana", "bob")
    finally:
        engine.dispose()
    return alert_id


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, influxd_shared: InfluxServer):
    work = tmp_path_factory.mktemp("fleet")
    broker = MosquittoServer(work / "mosquitto")
    broker.start()
    db = f"t_{uuid.uuid4().hex}"
    end_ms = (int(time.time()) // 60 - 1) * 60_000
    start_ms = end_ms - 12 * 3_600_000
    common = ["--devices", DEVICES, "--scenario", "mixed", "-P", "mixed.share=1.0"]
    common += ["-P", f"mixed.scenarios={SCENARIOS}", "--duration", "12h"]
    common += ["--seed", SEED, "--start", rfc3339(start_ms)]
    paths = {n: work / n for n in ("dry.jsonl", "fleet.json", "truth.jsonl")}
    _simulate(
        *common,
        "--out",
        paths["dry.jsonl"],
        "--manifest",
        paths["fleet.json"],
        "--labels",
        paths["truth.jsonl"],
    )
    messages = [
        (topic(json.loads(line)["device_id"]), line.encode())
        for line in paths["dry.jsonl"].read_text().splitlines()
    ]
    ingester = IngesterProcess(
        broker.url, influxd_shared.url, db, work / "ingest", shipments=str(paths["fleet.json"])
    )
    try:
        ingest_start_ms = int(time.time() * 1000)
        ingester.start()
        publish(broker.port, messages)
        publish(broker.port, [(topic("trk-bad"), b"{not json")])

        def stored() -> int:
            found = influxd_shared.query("SELECT count(seq) FROM telemetry", db)
            return found[0]["count"] if found else 0

        wait_for(lambda: stored() == len(messages), 120, "every reading stored")
        stored_at_ms = int(time.time() * 1000)

        def reported_until_ms() -> int:
            last = influxd_shared.query(
                "SELECT writes FROM cargowatch_stats ORDER BY time DESC LIMIT 1", db
            )
            return last[0]["time"] if last else 0

        # The detectors hold each reading for the reorder window (30 s of the ingester's
        # clock) before they judge it, so alerts still change for a while after the last
        # reading is stored. An alert acknowledged before then may be resolved afterwards by
        # an event stamped earlier than the acknowledgement (test_alert_state_race.py shows
        # the dashboards then drop it, as the store does), and the tests here want the
        # alert they acknowledge to stay open. Wait until the ingester's own reports show
        # its clock well past the window.
        wait_for(
            lambda: reported_until_ms() >= stored_at_ms + 45_000, 120, "the reorder window past"
        )
        undelivered = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"
        wait_for(lambda: ingester.store_rows(undelivered)[0][0] == 0, 60, "alerts delivered")
        assigned = _assign_one_open_alert(ingester)
        wait_for(
            lambda: bool(
                influxd_shared.query(
                    "SELECT assignee FROM alerts WHERE alert_id = $a AND assignee = 'bob'",
                    db,
                    params={"a": assigned},
                )
            ),
            60,
            "the assignment in InfluxDB",
        )
        wait_for(
            lambda: bool(influxd_shared.query("SELECT * FROM ingest_rejects", db)),
            30,
            "the reject stored",
        )

        # Rates of the ingester's counters need reports from several 10 s intervals.
        def reported_for_ms() -> int:
            ends = [
                influxd_shared.query(
                    f"SELECT writes FROM cargowatch_stats ORDER BY time {order} LIMIT 1", db
                )
                for order in ("ASC", "DESC")
            ]
            return ends[1][0]["time"] - ends[0][0]["time"] if all(ends) else 0

        wait_for(lambda: reported_for_ms() >= 35_000, 90, "35 s of the ingester's counters")
        yield Fleet(
            influxd_shared,
            db,
            ingester,
            start_ms,
            int(time.time() * 1000),
            json.loads(paths["fleet.json"].read_text()),
            [json.loads(line) for line in paths["truth.jsonl"].read_text().splitlines()],
            assigned,
            ingest_start_ms,
        )
    finally:
        ingester.close()
        broker.stop()
