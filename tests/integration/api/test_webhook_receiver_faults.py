"""Webhooks to real receivers that fail on purpose, where `test_webhooks` leaves gaps, on SQLite
and PostgreSQL: entries keep coming while a receiver fails (500s, 429s, an unfollowed redirect,
a held request, refused connections), and they still arrive in order per alert, signed,
repeated only under their own id; and one subscription's receiver being down does not hold back
another subscription's entries. Retry time is a clock the test moves; nothing sleeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_world import World, alert_id, event
from services import free_port
from sqlalchemy import select
from webhook_checks import check_received
from webhook_receiver import Receiver

from api.models import WebhookDelivery
from api.store import record_events
from api.webhook_sender import WebhookOptions, WebhookSender

pytestmark = pytest.mark.integration


class ManualClock:
    """The worker's clock: moves only when the test says."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.start = self.now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    started: list[Receiver] = []

    def start() -> Receiver:
        receiver = Receiver(free_port())
        receiver.start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def sender(world: World) -> Iterator[tuple[WebhookSender, ManualClock]]:
    clock = ManualClock()
    options = WebhookOptions(
        timeout_s=0.5, allow_private=True, backoff_base_s=1.0, backoff_max_s=120.0, poll_s=0.01
    )
    worker = WebhookSender(world.sessions, options, clock=clock)
    worker.start()
    yield worker, clock
    assert worker.stop(timeout_s=10)


def drive(
    wait_for: Callable[..., None],
    sender: tuple[WebhookSender, ManualClock],
    condition: Callable[[], bool],
    limit_s: float = 3_600,
) -> None:
    """Move the worker's clock on, a backoff at a time, until `condition` holds; fail if that
    takes more than `limit_s` of the worker's time (well inside the deadline)."""
    worker, clock = sender

    def step() -> bool:
        if condition():
            return True
        assert clock.now - clock.start < timedelta(seconds=limit_s), "not within the time limit"
        clock.advance(20)
        worker.wake()
        return False

    wait_for(step, timeout_s=60)


def subscribe(world: World, receiver: Receiver, **filters: str) -> dict[str, Any]:
    response = world.client.post(
        "/webhooks", json={"url": receiver.url, **filters}, headers=world.headers("operator")
    )
    assert response.status_code == 201, response.text
    return response.json()


def record(world: World, shipment_id: str, device: str, name: str, seqs: range, **kw: Any) -> None:
    events = [
        (event(shipment_id, device, name, event_name="open" if s == 1 else "update", **kw), s)
        for s in seqs
    ]
    record_events(world.sessions, events)


def entries(
    world: World, webhook_id: int, *, delivered: bool | None = None
) -> set[tuple[str, int]]:
    with world.sessions() as session:
        query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == webhook_id)
        if delivered is not None:
            done = WebhookDelivery.delivered_at.is_not(None)
            query = query.where(done if delivered else ~done)
        return {(d.alert_id, d.history_seq) for d in session.scalars(query)}


def test_entries_recorded_while_the_receiver_fails_wait_their_turn_and_all_arrive(
    world, receivers, sender, wait_for
):
    receiver = receivers()
    hook = subscribe(world, receiver)
    worker, _ = sender
    a1, a2 = alert_id("SHP-A1"), "al_door"
    # Failures of every kind first; then entries keep coming while they are retried.
    receiver.script.extend([500, 429, "hang", 307, "ok", 503])
    record(world, "SHP-A1", "trk-a1", a1, range(2, 4))
    record(world, "SHP-A2", "trk-a2", a2, range(1, 3))
    drive(wait_for, sender, lambda: not receiver.script)
    record(world, "SHP-A1", "trk-a1", a1, range(4, 7))
    record(world, "SHP-A2", "trk-a2", "al_third", range(1, 4))
    drive(wait_for, sender, lambda: len(receiver.delivered()) >= 2)
    receiver.stop()  # down: connections refused, and more entries come in meanwhile
    failed = worker.failed_attempts
    record(world, "SHP-A2", "trk-a2", a2, range(3, 6))
    drive(wait_for, sender, lambda: worker.failed_attempts >= failed + 3)
    receiver.start()
    record(world, "SHP-A1", "trk-a1", a1, range(7, 9))
    drive(wait_for, sender, lambda: not entries(world, hook["id"], delivered=False))

    expected = entries(world, hook["id"])
    assert {a for a, _ in expected} == {a1, a2, "al_third"} and len(expected) == 15
    check_received(receiver.all(), hook["secret"], expected)
    assert {r.answered for r in receiver.all()} >= {500, 429, "hang", 307, "ok"}
    # The refused connections and the held request made the sender repeat entries.
    assert len(receiver.all()) > len(expected)


def test_a_receiver_that_is_down_does_not_hold_back_another_subscriptions_entries(
    world, receivers, sender, wait_for
):
    down, up = receivers(), receivers()
    everything = subscribe(world, down)
    doors = subscribe(world, up, kind="door_open")
    down.stop()
    # A backlog for the down receiver longer than what the worker reads in one pass...
    for n in range(6):
        record(world, "SHP-A1", "trk-a1", f"al_many{n}", range(1, 101))
    # ...and then a few entries for the receiver that is up.
    record(world, "SHP-A2", "trk-a2", "al_door", range(1, 4), kind="door_open")
    assert len(entries(world, everything["id"])) > WebhookOptions().batch
    worker, clock = sender
    # Every entry is due now; the down receiver's, once refused, wait out their backoff.
    clock.now = datetime.now(UTC)
    worker.wake()
    wait_for(lambda: not entries(world, doors["id"], delivered=False), timeout_s=30)
    check_received(up.all(), doors["secret"], entries(world, doors["id"]))
    assert entries(world, everything["id"], delivered=True) == set()
