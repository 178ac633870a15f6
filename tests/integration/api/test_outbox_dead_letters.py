"""MQTT and InfluxDB delivery of alert entries retries like webhooks and e-mail, through a real
mosquitto, a real influxd and the SQL store (SQLite and PostgreSQL), time driven by a clock the
test moves.

An InfluxDB outage, even one longer than the deadline, delays entries and loses none. An entry
InfluxDB refuses on its own (a field type conflict in its week's shard) is retried until the
deadline and then dead-lettered, while entries of other alerts keep flowing; the later entries
on its MQTT topic wait behind it until then, so the retained topic is never overwritten by an
older entry. An admin lists it and redelivers it; other keys may not.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from api_world import World
from manual_clock import ManualClock
from sqlalchemy import select
from webhook_checks import retained_alerts

from api.delivery import AlertRecorder, OutboxDelivery
from api.models import OutboxEntry
from detectors.alerts import AlertEvent
from ingest.influx_client import InfluxClient
from ingest.mqtt_publisher import MqttPublisher

pytestmark = pytest.mark.integration

DEADLINE_S = 600.0
#: A week of its own (InfluxDB keeps field types per weekly shard), where the poison lands.
POISON_MS = int(datetime(2026, 1, 7, 8, tzinfo=UTC).timestamp() * 1000)
#: Where every other entry lands, weeks later.
LATER_MS = int(datetime(2026, 3, 4, 8, tzinfo=UTC).timestamp() * 1000)


def alert_event(
    alert_id: str, device_id: str, name: str = "open", seq: int = 1, at_ms: int = LATER_MS
) -> AlertEvent:
    return AlertEvent(
        name,
        alert_id,
        "seal_breach",
        "critical",
        device_id,
        None,
        at_ms + seq * 60_000,
        f"{alert_id} step {seq}",
        {"seal": "open"},
        seq=seq,
    )


@dataclass
class Rig:
    world: World
    worker: OutboxDelivery
    clock: ManualClock
    recorder: AlertRecorder
    db: str

    def entry(self, alert_id: str, history_seq: int = 1) -> OutboxEntry:
        with self.world.sessions() as s:
            row = s.scalar(
                select(OutboxEntry).where(
                    OutboxEntry.alert_id == alert_id, OutboxEntry.history_seq == history_seq
                )
            )
            assert row is not None, f"no outbox entry {alert_id} #{history_seq}"
            return row

    def nothing_pending(self) -> bool:
        with self.world.sessions() as s:
            return (
                s.scalar(select(OutboxEntry.id).where(OutboxEntry.delivered_at.is_(None))) is None
            )

    def delivered(self, alert_id: str, history_seq: int = 1) -> bool:
        return self.entry(alert_id, history_seq).delivered_at is not None


@pytest.fixture
def rig(world: World, mosquitto, influxd) -> Iterator[Rig]:
    db = f"t_{uuid.uuid4().hex}"
    influxd.create_database(db)
    influx = InfluxClient(influxd.url, db, timeout_s=2.0)
    publisher = MqttPublisher(mosquitto.url, f"outbox-test-{uuid.uuid4().hex[:8]}")
    publisher.start()
    clock = ManualClock()
    worker = OutboxDelivery(
        world.sessions,
        publisher,
        influx,
        poll_s=0.01,
        retry_max_s=0.05,
        deadline_s=DEADLINE_S,
        clock=clock,
        jitter=lambda: 1.0,
    )
    worker.start()
    yield Rig(world, worker, clock, AlertRecorder(world.sessions), db)
    worker.stop(timeout_s=5)
    publisher.stop()
    influx.close()


def alert_points(influxd, db: str) -> set[tuple[str, int]]:
    rows = influxd.query('SELECT "alert_id", "history_seq" FROM "alerts"', db)
    return {(r["alert_id"], int(r["history_seq"])) for r in rows}


def test_an_influxdb_outage_longer_than_the_deadline_delays_entries_and_loses_none(
    rig: Rig, influxd, mosquitto, wait_for
):
    wait_for(rig.nothing_pending)  # the world's own alerts went out
    influxd.stop()
    events = [alert_event(f"al_out{i}", f"trk-out{i}", seq=1) for i in range(3)]
    events += [alert_event("al_out0", "trk-out0", "update", 2)]
    rig.recorder.emit(events)
    outages = rig.worker.outages
    wait_for(lambda: rig.worker.outages >= outages + 3)
    # The whole deadline, and more, passes while InfluxDB is down.
    rig.clock.advance(3 * DEADLINE_S)
    rig.worker.wake()
    wait_for(lambda: rig.worker.outages >= outages + 6)
    keys = [(e.alert_id, e.seq) for e in events]
    for alert_id, seq in keys:
        entry = rig.entry(alert_id, seq)
        assert entry.delivered_at is None and entry.dead_at is None, "an outage dead-letters none"
        assert entry.attempts == 0 and entry.retry_since is None, "and charges no entry"
    influxd.start()
    wait_for(lambda: all(rig.delivered(a, s) for a, s in keys), timeout_s=60)
    assert set(keys) <= alert_points(influxd, rig.db)
    retained = retained_alerts(mosquitto.port)
    assert retained["cargo/v1/alerts/trk-out0/seal_breach"]["history_seq"] == 2
    assert {f"cargo/v1/alerts/trk-out{i}/seal_breach" for i in range(3)} <= set(retained)


def _drop_shard_of(influxd, db: str, at_ms: int) -> None:
    """What an operator does about a field type conflict: drop the week's shard."""
    at = datetime.fromtimestamp(at_ms / 1000, UTC)
    for row in influxd.query("SHOW SHARDS", db):
        start = datetime.fromisoformat(row["start_time"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(row["end_time"].replace("Z", "+00:00"))
        if row["database"] == db and start <= at < end:
            response = influxd.http.post("/query", params={"q": f"DROP SHARD {row['id']}"})
            assert response.status_code == 200, response.text
            return
    raise AssertionError(f"no shard of {db} holds {at.isoformat()}")


def test_a_refused_entry_is_dead_lettered_at_the_deadline_and_an_admin_redelivers_it(
    rig: Rig, influxd, mosquitto, wait_for
):
    world, client = rig.world, rig.world.client
    assert client is not None
    # `summary` is a string in every alert point; an integer one in the poison's week makes
    # InfluxDB refuse that week's alert points, and only them.
    influxd.write(rig.db, f"alerts,device_id=elsewhere summary=1i {POISON_MS}")
    rig.recorder.emit([alert_event("al_poison", "trk-p", at_ms=POISON_MS)])
    wait_for(lambda: rig.entry("al_poison").retry_since is not None)
    refused = rig.entry("al_poison")
    assert refused.attempts == 1 and "field type conflict" in (refused.last_error or "")
    assert refused.next_attempt_at is not None and refused.dead_at is None

    # A later alert on the poison's topic waits behind it; an alert elsewhere does not.
    rig.recorder.emit([alert_event("al_same_topic", "trk-p"), alert_event("al_other", "trk-o")])
    wait_for(lambda: rig.delivered("al_other"))
    assert not rig.delivered("al_same_topic")

    # The deadline passes: the next refusal is the last, and the topic flows again.
    rig.clock.advance(DEADLINE_S)
    rig.worker.wake()
    wait_for(lambda: rig.entry("al_poison").dead_at is not None)
    wait_for(lambda: rig.delivered("al_same_topic"))
    assert not rig.delivered("al_poison")
    rig.recorder.emit([alert_event("al_after", "trk-o2")])
    wait_for(lambda: rig.delivered("al_after"))

    # Only an admin sees the dead letters and sends one again.
    for who in ("operator", "viewer", "customs"):
        assert client.get("/outbox/entries", headers=world.headers(who)).status_code == 403
        answer = client.post(f"/outbox/entries/{refused.id}/redeliver", headers=world.headers(who))
        assert answer.status_code == 403
    dead = client.get("/outbox/entries?state=dead", headers=world.headers("admin"))
    assert dead.status_code == 200
    [listed] = dead.json()["data"]
    assert (listed["id"], listed["alert_id"], listed["state"]) == (refused.id, "al_poison", "dead")
    assert listed["attempts"] >= 2 and "field type conflict" in listed["last_error"]
    missing = client.post("/outbox/entries/999999999/redeliver", headers=world.headers("admin"))
    assert missing.status_code == 404

    _drop_shard_of(influxd, rig.db, POISON_MS)
    again = client.post(f"/outbox/entries/{refused.id}/redeliver", headers=world.headers("admin"))
    assert again.status_code == 200 and again.json()["state"] == "pending"
    rig.worker.wake()
    wait_for(lambda: rig.delivered("al_poison"))
    assert ("al_poison", 1) in alert_points(influxd, rig.db)
    # The redelivered open went out after the later alert on its topic: that one stays retained.
    retained: dict[str, Any] = retained_alerts(mosquitto.port)
    assert retained["cargo/v1/alerts/trk-p/seal_breach"]["alert_id"] == "al_same_topic"
    listed_now = client.get("/outbox/entries?state=dead", headers=world.headers("admin")).json()
    assert listed_now["count"] == 0
