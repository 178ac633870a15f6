"""The outbox worker's bookkeeping when a channel refuses an entry or is down, one pass at a
time (`send_due` called by the test, the clock moved by the test): the store is real (SQLite
and PostgreSQL), the two channels are fakes that refuse or fail on cue.
tests/integration/api/test_outbox_dead_letters.py runs the same paths through a real
mosquitto and a real influxd.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from manual_clock import ManualClock
from sqlalchemy import select, update

from api.db import make_engine, session_factory, write_transaction
from api.delivery import AlertRecorder, OutboxDelivery
from api.models import OutboxEntry
from api.retrying import ChannelUnavailable, send_again
from detectors.alerts import AlertEvent
from ingest.influx_client import InfluxRejected, InfluxUnavailable

pytestmark = pytest.mark.integration

DEADLINE_S = 300.0
TOPIC_1 = "cargo/v1/alerts/trk-1/seal_breach"
TOPIC_2 = "cargo/v1/alerts/trk-2/seal_breach"


def event(name: str, seq: int, alert_id: str, device_id: str) -> AlertEvent:
    return AlertEvent(
        name,
        alert_id,
        "seal_breach",
        "critical",
        device_id,
        None,
        1_795_000_000_000 + seq * 1000,
        f"{alert_id} {name}",
        {},
        seq=seq,
    )


class Influx:
    """Takes every point but those naming a refused alert; or is down."""

    def __init__(self) -> None:
        self.refuse: set[str] = set()
        self.down = False
        self.written: list[str] = []

    def write(self, body: bytes) -> None:
        if self.down:
            raise InfluxUnavailable("connection refused")
        lines = body.decode().split("\n")
        if any(f'alert_id="{a}"' in line for a in self.refuse for line in lines):
            raise InfluxRejected('HTTP 400: {"error":"partial write: field type conflict"}')
        self.written.extend(lines)


class Broker:
    """Records what it is given, with the retain flag; fails after `fail_after` messages."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []
        self.fail_after: int | None = None

    def publish(self, topic: str, payload: bytes, timeout_s: float, retain: bool = False) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise OSError("not connected")
        self.sent.append((topic, payload, retain))

    def alerts_on(self, topic: str) -> list[tuple[str, bool]]:
        """(alert_id and event, retained) of the non-empty messages on `topic`, in order."""
        found = []
        for t, body, retain in self.sent:
            if t == topic and body:
                payload = json.loads(body)
                found.append((f"{payload['alert_id']} {payload['event']}", retain))
        return found


@pytest.fixture
def sessions(sql_url: str) -> Iterator[object]:
    engine = make_engine(sql_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def rig(sessions) -> tuple[OutboxDelivery, Broker, Influx, ManualClock]:
    broker, influx, clock = Broker(), Influx(), ManualClock()
    worker = OutboxDelivery(
        sessions,
        broker,
        influx,  # type: ignore[arg-type]
        deadline_s=DEADLINE_S,
        clock=clock,
        jitter=lambda: 1.0,
    )
    return worker, broker, influx, clock


def entry(sessions, alert_id: str, history_seq: int = 1) -> OutboxEntry:
    with sessions() as s:
        row = s.scalar(
            select(OutboxEntry).where(
                OutboxEntry.alert_id == alert_id, OutboxEntry.history_seq == history_seq
            )
        )
        assert row is not None
        return row


def test_a_refused_entry_holds_back_only_the_later_entries_on_its_topic_until_it_is_dead(
    sessions, rig
):
    worker, broker, influx, clock = rig
    influx.refuse.add("al_p")
    AlertRecorder(sessions).emit(
        [
            event("open", 1, "al_a", "trk-1"),
            event("open", 1, "al_p", "trk-1"),
            event("update", 2, "al_a", "trk-1"),
            event("open", 1, "al_r", "trk-2"),
        ]
    )
    assert worker.send_due() == 4
    assert broker.alerts_on(TOPIC_1) == [("al_a open", True)], "earlier entries go, later wait"
    assert broker.alerts_on(TOPIC_2) == [("al_r open", True)], "other topics flow"
    refused = entry(sessions, "al_p")
    assert (refused.attempts, refused.retry_since, refused.dead_at) == (1, clock.now, None)
    assert "field type conflict" in (refused.last_error or "")
    assert entry(sessions, "al_a", 2).delivered_at is None

    # While it waits for its next attempt, the later entry stays behind it.
    assert worker.send_due() == 0
    assert entry(sessions, "al_a", 2).delivered_at is None

    # Its next attempts are on the backoff, the last at the deadline: then it is dead.
    while entry(sessions, "al_p").dead_at is None:
        clock.set(entry(sessions, "al_p").next_attempt_at)
        worker.send_due()
        assert clock.now <= refused.retry_since + timedelta(seconds=DEADLINE_S)
    dead = entry(sessions, "al_p")
    assert dead.attempts >= 3 and dead.delivered_at is None
    worker.send_due()
    assert broker.alerts_on(TOPIC_1) == [("al_a open", True), ("al_a update", True)]
    assert worker.stop(timeout_s=0), "dead letters aside, nothing is pending"

    # An admin redelivers it once the store takes it: overtaken on its topic, it goes out
    # unretained and clears nothing, so the topic keeps al_a's update.
    influx.refuse.clear()
    with write_transaction(sessions) as s:
        send_again(s.get(OutboxEntry, dead.id), clock.now)
    sent_before = len(broker.sent)
    assert worker.send_due() == 1
    assert broker.sent[sent_before:] == [(TOPIC_1, broker.sent[-1][1], False)]
    assert entry(sessions, "al_p").delivered_at is not None
    assert any('alert_id="al_p"' in line for line in influx.written)


def test_an_entry_that_cannot_be_sent_at_all_is_refused_and_dead_lettered_like_one_refused(
    sessions, rig
):
    worker, broker, _, clock = rig
    AlertRecorder(sessions).emit([event("open", 1, "al_bad", "trk-1")])
    with write_transaction(sessions) as s:
        s.execute(update(OutboxEntry).values(payload={"event": "open"}))
    worker.send_due()
    refused = entry(sessions, "al_bad")
    assert refused.attempts == 1 and "not an alert entry" in (refused.last_error or "")
    clock.advance(DEADLINE_S)
    worker.send_due()
    assert entry(sessions, "al_bad").dead_at is not None and broker.sent == []


@pytest.mark.parametrize("channel", ["influx", "mqtt"])
def test_a_channel_down_charges_no_entry_however_long_it_lasts(sessions, rig, channel):
    worker, broker, influx, clock = rig
    AlertRecorder(sessions).emit(
        [event("open", 1, "al_1", "trk-1"), event("open", 1, "al_2", "trk-2")]
    )
    if channel == "influx":
        influx.down = True
    else:
        broker.fail_after = 1  # the broker goes away after the first message
    for _ in range(3):
        with pytest.raises(ChannelUnavailable):
            worker.send_due()
        clock.advance(DEADLINE_S)
    first, second = entry(sessions, "al_1"), entry(sessions, "al_2")
    if channel == "mqtt":
        assert first.delivered_at is not None, "what the broker acked is marked delivered"
    for row in (first, second)[1 if channel == "mqtt" else 0 :]:
        assert (row.attempts, row.retry_since, row.dead_at, row.delivered_at) == (
            0,
            None,
            None,
            None,
        )
    influx.down, broker.fail_after = False, None
    worker.send_due()
    assert entry(sessions, "al_2").delivered_at is not None
    assert worker.stop(timeout_s=0)


def test_stopping_drains_what_is_due(sessions, rig):
    worker, broker, _, _ = rig
    worker.start()
    AlertRecorder(sessions).emit([event("open", 1, f"al_{i}", f"trk-{i}") for i in range(5)])
    assert worker.stop(timeout_s=10)
    assert len(broker.sent) == 5
    with sessions() as s:
        assert all(r.delivered_at is not None for r in s.scalars(select(OutboxEntry)))
