"""Under a real `cargowatch run`, what the detectors and an operator's action through the HTTP
API commit reaches a webhook at a real HTTP receiver without waiting for the worker's poll.

The webhook worker's poll (`--webhook-poll-s`) is an hour, longer than the test may take, so a
delivery that arrives was sent because its writer's commit woke the worker: the detectors'
through the signal from their child process, the API's through the hook on its own sessions in
the same process (`api.commit_hook`). Nothing sleeps: the test waits on the receiver.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from cargowatch_run import RunProcess
from ingest_process import encode, publish, topic, wait_for
from services import InfluxServer, MosquittoServer, free_port
from webhook_receiver import Receiver

pytestmark = pytest.mark.integration

HOUR_S = "3600"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(free_port())
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def service(
    sql_url: str, mosquitto: MosquittoServer, influxd_shared: InfluxServer, tmp_path: Path
) -> Iterator[RunProcess]:
    process = RunProcess(
        mosquitto.url,
        influxd_shared.url,
        "wakeup",
        tmp_path / "run",
        db_url=sql_url,
        default_profile="none",
        lateness_s="0",
        webhook_allow_private="true",
        webhook_poll_s=HOUR_S,
    )
    process.start()
    yield process
    process.close()


def types(receiver: Receiver) -> list[str]:
    """The `type` of each webhook request answered, in arrival order."""
    return [orjson.loads(r.body)["type"] for r in receiver.delivered()]


def test_an_ack_through_the_api_reaches_the_webhook_without_waiting_for_the_poll(
    service: RunProcess, mosquitto: MosquittoServer, receiver: Receiver
) -> None:
    service.operator_key("ACME")
    shipment = {"shipment_id": "SHP-W1", "device_id": "trk-w1", "profile": "vaccine_2_8"}
    assert service.call("POST", "/shipments", json=shipment).status_code == 201
    hook = service.call("POST", "/webhooks", json={"url": receiver.url})
    assert hook.status_code == 201, hook.text
    wait_for(lambda: "watching SHP-W1 on trk-w1" in service.log(), 30, "the detectors to watch")

    reading = {"device_id": "trk-w1", "ts": int(time.time() * 1000), "seq": 1, "temp_c": 5.0}
    publish(mosquitto.port, [(topic("trk-w1"), encode({**reading, "seal": "tampered"}))])
    wait_for(lambda: types(receiver) == ["alert.open"], 60, "the detectors' alert at the webhook")
    ((opened,),) = service.store_rows("SELECT alert_id FROM alerts WHERE kind = 'seal_breach'")

    acked = service.call("POST", f"/alerts/{opened}/ack", json={"comment": "driver called"})
    assert acked.status_code == 200, acked.text
    wait_for(lambda: len(types(receiver)) == 2, 60, "the acknowledgement at the webhook")
    assert types(receiver) == ["alert.open", "alert.ack"]
    body = orjson.loads(receiver.delivered()[1].body)
    assert body["data"]["alert_id"] == opened and body["data"]["comment"] == "driver called"
    assert service.terminate() == 0
