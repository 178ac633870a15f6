"""The outbox worker marks an entry delivered only once every channel has it, and never loses one.

The store is real (SQLite and PostgreSQL); the two channels are fakes here, since what is
tested is the worker's bookkeeping. tests/integration/ingest/test_ingest_alert_store.py runs
the same path with a real broker and a real InfluxDB.
"""

import threading

import pytest
from sqlalchemy import func, select
from waiting import wait_until

from api.db import StoreUnavailable, make_engine, session_factory
from api.delivery import AlertRecorder, OutboxDelivery
from api.models import AlertHistory, OutboxEntry
from detectors.alerts import AlertEvent
from ingest.influx_client import InfluxUnavailable

pytestmark = pytest.mark.integration


def event(name, seq, alert_id="al_1", at_ms=1_795_000_000_000):
    return AlertEvent(
        name,
        alert_id,
        "seal_breach",
        "critical",
        "trk-1",
        "SHP-1",
        at_ms + seq,
        "seal",
        {},
        seq=seq,
    )


class Channel:
    """Records what it was given; fails while `down` is set."""

    def __init__(self, error):
        self.sent: list[object] = []
        self.retained: list[bool] = []
        self.down = threading.Event()
        self.error = error

    def publish(self, topic, payload, timeout_s, retain=False):
        if self.down.is_set():
            raise self.error
        self.sent.append((topic, payload))
        self.retained.append(retain)

    def write(self, body):
        if self.down.is_set():
            raise self.error
        self.sent.extend(body.decode().split("\n"))


@pytest.fixture
def sessions(sql_url):
    engine = make_engine(sql_url)
    yield session_factory(engine)
    engine.dispose()


def pending(sessions):
    with sessions() as s:
        return s.scalar(select(func.count()).where(OutboxEntry.delivered_at.is_(None)))


def test_every_entry_goes_to_both_channels_and_is_then_marked_delivered(sessions):
    recorder = AlertRecorder(sessions)
    recorder.emit([event("open", 1), event("update", 2), event("resolve", 3)])
    mqtt, influx = Channel(OSError("down")), Channel(InfluxUnavailable("down"))
    worker = OutboxDelivery(sessions, mqtt, influx, poll_s=0.01)
    worker.start()
    wait_until(lambda: pending(sessions) == 0)
    assert worker.stop(timeout_s=5)
    # The resolve goes out unretained, then an empty retained message clears the topic.
    assert [t for t, _ in mqtt.sent] == ["cargo/v1/alerts/trk-1/seal_breach"] * 4
    assert [p == b"" for _, p in mqtt.sent] == [False, False, False, True]
    assert mqtt.retained == [True, True, False, True]
    alerts = [line for line in influx.sent if line.startswith("alerts,")]
    assert [line.split(" ")[0] for line in alerts] == [
        "alerts,device_id=trk-1,kind=seal_breach,severity=critical,shipment_id=SHP-1"
    ] * 3
    # The alert's span, at its open time: every write rewrites it, the last with its resolve.
    spans = [line for line in influx.sent if line.startswith("alert_spans,")]
    assert {line.split(" ")[2] for line in spans} == {alerts[0].split(" ")[2]}
    assert "resolved_at_ms=" in spans[-1] and 'state="resolved"' in spans[-1]


@pytest.mark.parametrize("failing", ["mqtt", "influx"])
def test_a_channel_that_fails_delays_delivery_and_loses_nothing(sessions, failing):
    AlertRecorder(sessions).emit([event("open", 1)])
    mqtt, influx = Channel(OSError("down")), Channel(InfluxUnavailable("down"))
    broken = mqtt if failing == "mqtt" else influx
    broken.down.set()
    worker = OutboxDelivery(sessions, mqtt, influx, poll_s=0.01, retry_max_s=0.05)
    worker.start()
    wait_until(lambda: worker.failures >= 3)
    assert pending(sessions) == 1, "nothing is marked delivered while a channel fails"
    broken.down.clear()
    wait_until(lambda: pending(sessions) == 0)
    assert worker.stop(timeout_s=5)
    assert len(broken.sent) >= 1


def test_the_recorder_holds_events_while_the_store_is_unavailable_and_stores_them_once(
    sessions, monkeypatch
):
    import api.delivery as delivery

    real = delivery.record_events
    outages = iter([StoreUnavailable("locked"), StoreUnavailable("locked")])

    def flaky(sessions_, batch):
        failure = next(outages, None)
        if failure is not None:
            raise failure
        return real(sessions_, batch)

    monkeypatch.setattr(delivery, "record_events", flaky)
    recorder = AlertRecorder(sessions, retry_max_s=0.05)
    recorder.emit([event("open", 1)])
    recorder.emit([event("open", 1)])  # the same event again: a no-op
    assert recorder.recorded == 1
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AlertHistory)) == 1
