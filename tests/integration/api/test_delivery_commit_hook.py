"""The commit hook (`api.commit_hook`) raises the delivery workers' signal once for every
committed transaction that added something to deliver, whoever wrote it, and never for the
workers' own outcomes (which would wake them for nothing after every pass), nor for a
transaction rolled back; on SQLite and PostgreSQL, through the HTTP API and the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from api_world import World, alert_id, event
from services import free_port
from sqlalchemy import select
from webhook_receiver import Receiver

from api.commit_hook import notify_on_commit
from api.db import write_transaction
from api.models import OutboxEntry, WebhookDelivery
from api.store import apply_events, record_events
from api.webhook_sender import WebhookOptions, WebhookSender

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(free_port())
    receiver.start()
    yield receiver
    receiver.stop()


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
