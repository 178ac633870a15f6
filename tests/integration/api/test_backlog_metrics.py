"""``/metrics`` shows what the delivery workers have still to send: outbox entries pending and
dead-lettered, and webhook and e-mail deliveries pending, counted from the store at scrape
time (no worker runs here, so nothing moves but what the test does)."""

from __future__ import annotations

import re

import pytest
from api_world import World, event
from sqlalchemy import func, select, update

from api.db import write_transaction
from api.models import OutboxEntry, utcnow
from api.store import record_events

pytestmark = pytest.mark.integration


def gauges(world: World) -> dict[str, float]:
    assert world.client is not None
    answer = world.client.get("/metrics", headers=world.headers("admin"))
    assert answer.status_code == 200
    found = re.findall(
        r"^(cargowatch_(?:outbox_\w+|deliveries_pending\{[^}]*\})) (\S+)$", answer.text, re.M
    )
    return {name: float(value) for name, value in found}


def outbox_rows(world: World) -> int:
    with world.sessions() as s:
        return s.scalar(select(func.count()).select_from(OutboxEntry)) or 0


def test_the_backlog_gauges_follow_the_store(world: World):
    assert world.client is not None
    entries = outbox_rows(world)
    assert entries > 2
    assert gauges(world) == {
        "cargowatch_outbox_pending": entries,
        "cargowatch_outbox_dead": 0.0,
        'cargowatch_deliveries_pending{channel="webhook"}': 0.0,
        'cargowatch_deliveries_pending{channel="email"}': 0.0,
    }

    with write_transaction(world.sessions) as s:
        first, second = s.scalars(select(OutboxEntry.id).order_by(OutboxEntry.id).limit(2))
        s.execute(update(OutboxEntry).where(OutboxEntry.id == first).values(dead_at=utcnow()))
        s.execute(update(OutboxEntry).where(OutboxEntry.id == second).values(delivered_at=utcnow()))
    now = gauges(world)
    assert now["cargowatch_outbox_pending"] == entries - 2
    assert now["cargowatch_outbox_dead"] == 1.0

    created = world.client.post(
        "/webhooks",
        json={"url": "https://hooks.example.com/cargo"},
        headers=world.headers("operator"),
    )
    assert created.status_code == 201
    record_events(world.sessions, [(event("SHP-A1", "trk-a1", "al_backlog"), 1)])
    now = gauges(world)
    assert now["cargowatch_outbox_pending"] == outbox_rows(world) - 2
    assert now['cargowatch_deliveries_pending{channel="webhook"}'] == 1.0

    # A deleted subscription's deliveries stop: they are no longer a backlog.
    deleted = world.client.delete(
        f"/webhooks/{created.json()['id']}", headers=world.headers("operator")
    )
    assert deleted.status_code == 204
    assert gauges(world)['cargowatch_deliveries_pending{channel="webhook"}'] == 0.0


def test_only_an_admin_reads_the_backlog(world: World):
    assert world.client is not None
    for who in ("operator", "viewer", "customs"):
        assert world.client.get("/metrics", headers=world.headers(who)).status_code == 403
