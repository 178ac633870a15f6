"""A broker that is away is said once when it goes, and once when it answers again.

As for InfluxDB ("unreachable, spooling" then "writes resumed"), the operator reads a change of
state, not a line per retry. The source is run against a real mosquitto that is stopped and
started again on the same port; every failed connection attempt paho makes is counted through
the source's own callback, so "once" is checked after several retries have really happened.
The same lines are then read in a `cargowatch ingest` process's log.
"""

import logging
import uuid

import pytest
from ingest_process import wait_for

from ingest.mqtt_source import MqttOptions, MqttSource

pytestmark = pytest.mark.integration

UNREACHABLE = "unreachable; retrying with backoff"
LOST = "lost ("
BACK = "answers again after"


def lines(caplog, text):
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def counting_source(url: str) -> tuple[MqttSource, list[int]]:
    """A source whose failed connection attempts are counted as paho reports them."""
    source = MqttSource(
        MqttOptions(
            url=url,
            client_id=f"outage-{uuid.uuid4().hex[:8]}",
            reconnect_min_s=1,
            reconnect_max_s=1,
        )
    )
    attempts = [0]
    client = source._client
    said = client.on_connect_fail

    def counted(c, userdata):
        attempts[0] += 1
        said(c, userdata)

    client.on_connect_fail = counted
    return source, attempts


def test_a_broker_down_at_start_is_said_once_then_once_when_it_answers(mosquitto, caplog):
    caplog.set_level(logging.INFO, logger="ingest.mqtt_source")
    mosquitto.stop()
    source, attempts = counting_source(mosquitto.url)
    source.start()
    try:
        wait_for(lambda: attempts[0] >= 3, 30, "three failed connection attempts")
        assert len(lines(caplog, UNREACHABLE)) == 1

        mosquitto.start()
        assert source.wait_subscribed(30), "the source did not subscribe once the broker was back"
        assert len(lines(caplog, BACK)) == 1
        assert len(lines(caplog, UNREACHABLE)) == 1
    finally:
        source.stop()


def test_a_broker_lost_mid_session_is_said_once_then_once_on_recovery(mosquitto, caplog):
    caplog.set_level(logging.INFO, logger="ingest.mqtt_source")
    source, attempts = counting_source(mosquitto.url)
    source.start()
    try:
        assert source.wait_subscribed(30)
        mosquitto.stop()
        wait_for(lambda: attempts[0] >= 3, 30, "three failed reconnection attempts")
        assert len(lines(caplog, LOST)) == 1
        # The attempts after the loss belong to the same outage: no second line.
        assert lines(caplog, UNREACHABLE) == []

        mosquitto.start()
        assert source.wait_subscribed(30)
        assert len(lines(caplog, BACK)) == 1
        assert not lines(caplog, "refused")
    finally:
        source.stop()


def test_cargowatch_ingest_logs_a_broker_restart_as_one_loss_and_one_recovery(
    mosquitto, influx_db, start_ingester
):
    influxd, db = influx_db
    ingester = start_ingester(mosquitto.url, influxd.url, db)
    offset = len(ingester.log())
    mosquitto.stop()
    wait_for(lambda: LOST in ingester.log()[offset:], 30, "the ingester to say the broker is gone")
    mosquitto.start()
    wait_for(lambda: BACK in ingester.log()[offset:], 60, "the ingester to say the broker is back")
    wait_for(
        lambda: ingester.log()[offset:].count("subscribed to") == 1, 30, "the new subscription"
    )
    log = ingester.log()[offset:]
    assert log.count(LOST) == 1, log
    assert log.count(BACK) == 1, log
    assert log.count(UNREACHABLE) == 0, log
