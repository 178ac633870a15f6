"""The fleet and customs alert tables show the alert store's state, whatever order the history
entries' own times are in.

A detector event stamped before a person's acknowledgement can be stored after it (the
detectors hold readings for their reorder window; an upload can arrive late). Here it is
reproduced on purpose, through the real store, the real outbox delivery (one pass at a time,
so nothing depends on timing), a real mosquitto and a real influxd: an alert is acknowledged,
then resolved by a detector event stamped 20 s before the acknowledgement. The store says
resolved, so neither open-alert table may list it; a second alert, acknowledged and assigned
and still open, must be listed as such, so an empty table cannot pass.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api import actions
from api.db import make_engine, session_factory, write_transaction
from api.delivery import AlertRecorder, OutboxDelivery
from api.models import Alert, OutboxEntry, to_ms
from dashboards.catalogue import render_all
from dashboards.customs import CUSTOMS_KINDS
from dashboards.queries import ALL, Expander, Variable, queries_of
from detectors.alerts import AlertEvent
from ingest.influx_client import InfluxClient
from ingest.mqtt_publisher import MqttPublisher

pytestmark = pytest.mark.integration

QUERIES = {q.key: q for board in render_all() for q in queries_of(board)}
TABLES = (
    "cargowatch-fleet/panel/Open alerts: state and assignee/A",
    "cargowatch-customs/panel/Open customs alerts, by risk/A",
)
RACED, HELD = "al_race_resolved", "al_race_held"


def event(name: str, alert_id: str, device: str, at_ms: int, seq: int) -> AlertEvent:
    return AlertEvent(
        name,
        alert_id,
        "seal_breach",
        "critical",
        device,
        f"SHP-{device}",
        at_ms,
        f"seal {name}",
        {"lat": 0.63, "lon": 34.24},
        seq=seq,
    )


@dataclass
class Rig:
    """A store, its outbox delivered to a real broker and a real InfluxDB database on demand."""

    sessions: sessionmaker[Session]
    recorder: AlertRecorder
    worker: OutboxDelivery
    influx: Any
    db: str

    def deliver(self) -> None:
        """Run delivery passes until the outbox is empty: every entry is in InfluxDB after."""
        while self.worker.send_due():
            pass
        with self.sessions() as s:
            undelivered = select(func.count()).where(OutboxEntry.delivered_at.is_(None))
            assert s.scalar(undelivered) == 0

    def table(self, key: str) -> dict[str, dict[str, Any]]:
        """The rows a table panel gets, by alert id, as Grafana asks for them now."""
        now_ms = int(time.time() * 1000)
        expander = Expander(now_ms - 3_600_000, now_ms, {"kind": Variable(ALL, CUSTOMS_KINDS)})
        q = expander.expand(QUERIES[key])
        response = self.influx.http.get("/query", params={"q": q, "db": self.db, "epoch": "ms"})
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert "error" not in result, f"{result['error']}\n{q}"
        rows = {}
        for series in result.get("series", []):
            for row in series["values"]:
                fields = dict(zip(series["columns"], row, strict=True)) | series.get("tags", {})
                rows[fields["alert_id"]] = fields
        return rows


@pytest.fixture
def rig(sql_url: str, mosquitto: Any, influxd_shared: Any) -> Iterator[Rig]:
    db = f"t_{uuid.uuid4().hex}"
    influxd_shared.create_database(db)
    engine = make_engine(sql_url)
    sessions = session_factory(engine)
    influx = InfluxClient(influxd_shared.url, db)
    publisher = MqttPublisher(mosquitto.url, f"race-{uuid.uuid4().hex[:8]}")
    publisher.start()
    # Not started: the test runs each delivery pass itself, in the order the race needs.
    worker = OutboxDelivery(sessions, publisher, influx)
    yield Rig(sessions, AlertRecorder(sessions), worker, influxd_shared, db)
    publisher.stop()
    influx.close()
    engine.dispose()


def test_an_alert_resolved_by_an_event_stamped_before_its_acknowledgement_leaves_the_tables(
    rig: Rig,
) -> None:
    opened_ms = int(time.time() * 1000) - 600_000
    rig.recorder.emit(
        [event("open", RACED, "trk-r1", opened_ms, 1), event("open", HELD, "trk-r2", opened_ms, 1)]
    )
    rig.deliver()
    with write_transaction(rig.sessions) as session:
        ack = actions.acknowledge(session, RACED, "ana", "calling the border post")
        ack_ms = to_ms(ack.at)
        actions.acknowledge(session, HELD, "ana", "driver on the phone")
        actions.assign(session, HELD, "ana", "bob")
    rig.deliver()
    # The detector's resolve, judged after the reorder window, stamped before the ack.
    rig.recorder.emit([event("resolve", RACED, "trk-r1", ack_ms - 20_000, 2)])
    rig.deliver()

    with rig.sessions() as s:
        states = {a: st for a, st in s.execute(select(Alert.alert_id, Alert.state))}
    assert states == {RACED: "resolved", HELD: "acknowledged"}
    for key in TABLES:
        rows = rig.table(key)
        assert RACED not in rows, f"{key} still lists the resolved alert: {rows[RACED]}"
        assert (rows[HELD]["state"], rows[HELD]["assignee"]) == ("acknowledged", "bob"), key


def test_a_span_point_written_before_it_carried_the_assignee_and_risk_is_still_listed(
    rig: Rig,
) -> None:
    # As the outbox wrote it before: state, severity and summary, no assignee, risk or position.
    opened_ns = (int(time.time()) - 600) * 1_000_000_000
    rig.influx.write(
        rig.db,
        [
            'alert_spans,device_id=trk-old,kind=seal_breach,shipment_id=SHP-old alert_id="al_old",'
            f'severity="critical",severity_rank=2i,state="open",summary="seal open" {opened_ns}'
        ],
        precision="ns",
    )
    for key in TABLES:
        row = rig.table(key)["al_old"]
        assert (row["state"], row["severity_rank"], row["assignee"]) == ("open", 2, None), key
