"""The webhook worker writes the outcomes of the requests it sends in batches, and is woken
when new entries are committed instead of waiting for its poll (`api.webhook_sender`,
`api.commit_hook`, `api.commit_signal`), on SQLite and PostgreSQL with a real HTTP receiver.

Transactions are counted with a SQLAlchemy event listener on the store's engine. The commit hook
raises the workers' signal once for every committed transaction that added something to deliver
(the detectors' entries, an operator's action through the HTTP API, an admin's redelivery),
never for the workers' own outcomes (which would wake them for nothing after every pass), nor for
a transaction rolled back. The wake-up tests give the worker a poll interval of an hour, so an
entry that arrives was sent because the worker was woken; under a real `cargowatch run`
(`--webhook-poll-s 3600`) that is the detectors' alert, through the signal from their child
process, and an operator's acknowledgement through the HTTP API, through the hook on the API's
own sessions in the same process. Nothing sleeps: the tests wait on conditions."""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from api_world import World, alert_id, event
from cargowatch_run import RunProcess
from ingest_process import encode, publish, topic
from services import InfluxServer, MosquittoServer
from sqlalchemy import event as sa_event
from sqlalchemy import select
from webhook_receiver import Receiver

from api.commit_hook import notify_on_commit
from api.commit_signal import CommitFollower, CommitSignal
from api.db import write_transaction
from api.delivery import AlertRecorder
from api.models import OutboxEntry, WebhookDelivery
from api.store import apply_events, record_events
from api.webhook_sender import WebhookOptions, WebhookSender

pytestmark = pytest.mark.integration

HOUR_S = 3_600.0


@pytest.fixture
def start_sender(world: World) -> Iterator[Callable[..., WebhookSender]]:
    started: list[WebhookSender] = []

    def start(**options: Any) -> WebhookSender:
        settings = {"timeout_s": 5.0, "allow_private": True, "poll_s": 0.01, **options}
        sender = WebhookSender(world.sessions, WebhookOptions(**settings))
        sender.start()
        started.append(sender)
        return sender

    yield start
    for sender in started:
        assert sender.stop(timeout_s=10)


def subscribe(world: World, receiver: Receiver) -> int:
    response = world.client.post(
        "/webhooks", json={"url": receiver.url}, headers=world.headers("operator")
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def alerts(count: int, start: int = 0) -> list[tuple[Any, int]]:
    """`count` alerts opened on one shipment, each a delivery of its own in the same pass."""
    return [(event("SHP-A1", "trk-a1", f"al_batch{i:03d}"), 1) for i in range(start, start + count)]


def outcomes(world: World, webhook_id: int) -> list[WebhookDelivery]:
    with world.sessions() as session:
        query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == webhook_id)
        return list(session.scalars(query.order_by(WebhookDelivery.id)))


def count_commits(world: World) -> list[int]:
    commits = [0]

    def on_commit(connection: Any) -> None:
        commits[0] += 1

    sa_event.listen(world.sessions.kw["bind"], "commit", on_commit)
    return commits


def test_a_pass_writes_its_outcomes_in_one_transaction_per_batch(
    world, receiver, start_sender, wait_for
):
    hook = subscribe(world, receiver)
    sent, every = 25, 10
    record_events(world.sessions, alerts(sent))
    commits = count_commits(world)
    # Batches by count only here, so the figure does not depend on how fast requests go.
    sender = start_sender(record_every=every, record_within_s=HOUR_S)
    wait_for(lambda: sender.delivered == sent)
    assert commits[0] == math.ceil(sent / every), "one transaction per batch, not per delivery"
    rows = outcomes(world, hook)
    assert len(rows) == sent and all(r.delivered_at is not None for r in rows)
    assert len(receiver.delivered()) == sent


def test_a_failing_request_among_successes_leaves_their_outcomes_recorded(
    world, receiver, start_sender, wait_for
):
    hook = subscribe(world, receiver)
    record_events(world.sessions, alerts(5))
    receiver.script.extend(["ok", "ok", 500, "ok", "ok"])
    sender = start_sender(record_every=100, record_within_s=HOUR_S, backoff_base_s=HOUR_S)
    wait_for(lambda: sender.delivered == 4 and sender.failed_attempts == 1)
    rows = outcomes(world, hook)
    failed = [r for r in rows if r.delivered_at is None]
    assert len(failed) == 1 and failed[0].last_status == 500 and failed[0].attempts == 1
    assert failed[0].next_attempt_at is not None and failed[0].dead_at is None
    assert sum(r.delivered_at is not None for r in rows) == 4


def test_a_pass_that_fails_midway_still_records_the_requests_it_made(world, receiver, monkeypatch):
    """A pass that ends in an error still writes the outcomes of the requests it made."""
    hook = subscribe(world, receiver)
    record_events(world.sessions, alerts(3))
    sender = WebhookSender(
        world.sessions,
        WebhookOptions(allow_private=True, record_every=100, record_within_s=HOUR_S),
    )
    sender.open()
    real_send = sender._send
    calls = [0]

    def send_then_fail(item: Any) -> Any:
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("broken on purpose")
        return real_send(item)

    monkeypatch.setattr(sender, "_send", send_then_fail)
    try:
        with pytest.raises(RuntimeError, match="broken on purpose"):
            sender.send_due()
    finally:
        sender.close()
    rows = outcomes(world, hook)
    assert sum(r.delivered_at is not None for r in rows) == 2 == len(receiver.delivered())
    assert sum(r.attempts == 0 for r in rows) == 1, "the request never made stays as it was"


def test_an_entry_recorded_in_process_is_sent_without_waiting_for_the_poll(
    world, receiver, start_sender, wait_for
):
    subscribe(world, receiver)
    signal = CommitSignal()
    sender = start_sender(poll_s=HOUR_S)
    follower = CommitFollower(signal, [sender.wake])
    follower.start()
    notify_on_commit(world.sessions, signal.notify)
    recorder = AlertRecorder(world.sessions)
    try:
        for n in range(1, 4):
            # Each entry after the worker has gone back to waiting on its hour-long poll.
            recorder.emit([dataclasses.replace(e, seq=s) for e, s in alerts(1, start=n)])
            wait_for(lambda n=n: len(receiver.delivered()) == n)
    finally:
        follower.stop()
        recorder.stop()


def test_a_commit_notified_from_another_process_wakes_the_worker(
    world, receiver, start_sender, wait_for
):
    """The detectors record in a child process of their own: the signal crosses to the parent."""
    subscribe(world, receiver)
    context = multiprocessing.get_context("spawn")
    signal = CommitSignal(context)
    sender = start_sender(poll_s=HOUR_S)
    follower = CommitFollower(signal, [sender.wake])
    follower.start()
    try:
        record_events(world.sessions, alerts(1))
        child = context.Process(target=signal.notify)
        child.start()
        child.join(30)
        assert child.exitcode == 0
        wait_for(lambda: len(receiver.delivered()) == 1)
    finally:
        follower.stop()


@pytest.fixture
def notified(world: World) -> list[int]:
    """One element per notification the hook on the API's own sessions made."""
    calls: list[int] = []
    notify_on_commit(world.sessions, lambda: calls.append(1))
    return calls


def deliveries(world: World) -> list[WebhookDelivery]:
    with world.sessions() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_each_writer_of_deliveries_notifies_once_and_a_pass_of_the_worker_never(
    world: World, receiver: Receiver, notified: list[int], wait_for: Callable[..., None]
) -> None:
    client = world.client
    assert client is not None
    hook = client.post("/webhooks", json={"url": receiver.url}, headers=world.headers("operator"))
    assert hook.status_code == 201, hook.text
    assert notified == [], "a subscription is nothing to deliver"

    record_events(world.sessions, [(event("SHP-A1", "trk-a1", "al_hook1"), 1)])
    assert len(notified) == 1, "the detectors' entries"
    acked = client.post(
        f"/alerts/{alert_id('SHP-A1')}/ack",
        json={"comment": "on it"},
        headers=world.headers("operator"),
    )
    assert acked.status_code == 200, acked.text
    assert len(notified) == 2, "an operator's action"

    sender = WebhookSender(world.sessions, WebhookOptions(allow_private=True, poll_s=0.01))
    sender.start()
    try:
        wait_for(lambda: sender.delivered == 2)
    finally:
        assert sender.stop(timeout_s=10)
    assert all(d.delivered_at is not None for d in deliveries(world))
    assert len(notified) == 2, "the worker's outcomes wake nobody"

    first = deliveries(world)[0].id
    again = client.post(f"/webhooks/deliveries/{first}/redeliver", headers=world.headers("admin"))
    assert again.status_code == 200, again.text
    assert len(notified) == 3, "an admin's redelivery"


def test_a_transaction_rolled_back_notifies_nobody(world: World, notified: list[int]) -> None:
    with (
        pytest.raises(RuntimeError, match="on purpose"),
        write_transaction(world.sessions) as session,
    ):
        assert apply_events(session, [(event("SHP-A1", "trk-a1", "al_gone"), 1)]) == 1
        raise RuntimeError("on purpose")
    assert notified == []
    # The mark went with the rollback: the next commit, with nothing to deliver, is silent too.
    with write_transaction(world.sessions) as session:
        session.scalars(select(OutboxEntry).limit(1)).one()
    assert notified == []


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
        webhook_poll_s=str(HOUR_S),
    )
    process.start()
    yield process
    process.close()


def types(receiver: Receiver) -> list[str]:
    """The `type` of each webhook request answered, in arrival order."""
    return [orjson.loads(r.body)["type"] for r in receiver.delivered()]


def test_an_ack_through_the_api_reaches_the_webhook_without_waiting_for_the_poll(
    service: RunProcess,
    mosquitto: MosquittoServer,
    receiver: Receiver,
    wait_for: Callable[..., None],
) -> None:
    service.operator_key("ACME")
    shipment = {"shipment_id": "SHP-W1", "device_id": "trk-w1", "profile": "vaccine_2_8"}
    assert service.call("POST", "/shipments", json=shipment).status_code == 201
    hook = service.call("POST", "/webhooks", json={"url": receiver.url})
    assert hook.status_code == 201, hook.text
    wait_for(lambda: "watching SHP-W1 on trk-w1" in service.log())

    reading = {"device_id": "trk-w1", "ts": int(time.time() * 1000), "seq": 1, "temp_c": 5.0}
    publish(mosquitto.port, [(topic("trk-w1"), encode({**reading, "seal": "tampered"}))])
    wait_for(lambda: types(receiver) == ["alert.open"], 60)
    ((opened,),) = service.store_rows("SELECT alert_id FROM alerts WHERE kind = 'seal_breach'")

    acked = service.call("POST", f"/alerts/{opened}/ack", json={"comment": "driver called"})
    assert acked.status_code == 200, acked.text
    wait_for(lambda: len(types(receiver)) == 2, 60)
    assert types(receiver) == ["alert.open", "alert.ack"]
    body = orjson.loads(receiver.delivered()[1].body)
    assert body["data"]["alert_id"] == opened and body["data"]["comment"] == "driver called"
    assert service.terminate() == 0
