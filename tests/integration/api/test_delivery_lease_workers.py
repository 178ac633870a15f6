"""Two processes' delivery workers on one store, on SQLite and PostgreSQL: each set (a webhook
and an e-mail worker sharing a lease, as `cargowatch.wiring` builds them) runs against the same
store, a real HTTP receiver and a real SMTP server. Every webhook and every e-mail arrives once,
sent by one set only; when that set stops, the other takes over and delivers what comes next.
Nothing sleeps: the test waits on the store and the receivers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from api_world import World, event
from smtp_server import SmtpServer
from sqlalchemy import Engine, func, select
from webhook_receiver import Receiver

from api.db import make_engine, session_factory
from api.delivery_lease import DeliveryLease
from api.email_sender import EmailSender, SmtpOptions
from api.models import WebhookDelivery
from api.models_notify import EmailDelivery
from api.store import record_events
from api.webhook_sender import WebhookOptions, WebhookSender

pytestmark = pytest.mark.integration


@dataclass
class WorkerSet:
    """One process's delivery workers: their own engine on the store, and one lease."""

    engine: Engine
    lease: DeliveryLease
    webhooks: WebhookSender
    email: EmailSender

    @classmethod
    def start(cls, url: str, smtp_port: int) -> WorkerSet:
        engine = make_engine(url)
        sessions = session_factory(engine)
        lease = DeliveryLease(engine)
        webhooks = WebhookSender(
            sessions, WebhookOptions(allow_private=True, timeout_s=5.0, poll_s=0.01), lease=lease
        )
        email = EmailSender(
            sessions,
            SmtpOptions(host="127.0.0.1", port=smtp_port, security="none", poll_s=0.01),
            lease=lease,
        )
        webhooks.start()
        email.start()
        return cls(engine, lease, webhooks, email)

    def stop(self) -> None:
        assert self.webhooks.stop(timeout_s=10)
        assert self.email.stop(timeout_s=10)
        self.engine.dispose()

    @property
    def delivered(self) -> tuple[int, int]:
        return self.webhooks.delivered, self.email.delivered


def undelivered(world: World) -> int:
    with world.sessions() as session:
        return sum(
            session.scalar(
                select(func.count()).select_from(model).where(model.delivered_at.is_(None))
            )
            or 0
            for model in (WebhookDelivery, EmailDelivery)
        )


def open_alerts(world: World, names: list[str]) -> None:
    # One transaction: every set finds them all due at once.
    record_events(world.sessions, [(event("SHP-A1", "trk-a1", name), 1) for name in names])


def test_two_processes_worker_sets_deliver_each_webhook_and_email_once_and_take_over(
    world: World,
    sql_url: str,
    receiver: Receiver,
    smtp: SmtpServer,
    wait_for: Callable[..., None],
) -> None:
    client = world.client
    assert client is not None
    response = client.post(
        "/webhooks", json={"url": receiver.url}, headers=world.headers("operator")
    )
    assert response.status_code == 201, response.text
    response = client.put(
        "/preferences/me", json={"email": "ops@acme.example.com"}, headers=world.headers("operator")
    )
    assert response.status_code == 200, response.text
    sets = [WorkerSet.start(sql_url, smtp.port) for _ in range(2)]
    try:
        first = [f"al_lease_{n}" for n in range(40)]
        open_alerts(world, first)
        wait_for(lambda: undelivered(world) == 0)
        # Counted once both sets have looked: one sent everything, the other nothing.
        wait_for(lambda: sum(s.webhooks.delivered for s in sets) >= len(first))
        ids = Counter(r.headers["webhook-id"] for r in receiver.all())
        assert len(ids) == len(first) and set(ids.values()) == {1}
        mails = Counter(m["Message-ID"] for m in smtp.received())
        assert len(mails) == len(first) and set(mails.values()) == {1}
        [holder] = [s for s in sets if s.delivered != (0, 0)]
        [standby] = [s for s in sets if s is not holder]
        assert holder.delivered == (len(first), len(first))
        assert standby.lease.standing_by

        holder.stop()
        sets.remove(holder)
        later = [f"al_later_{n}" for n in range(10)]
        open_alerts(world, later)
        wait_for(lambda: undelivered(world) == 0)
        assert standby.delivered == (len(later), len(later))
        ids = Counter(r.headers["webhook-id"] for r in receiver.all())
        assert len(ids) == len(first) + len(later) and set(ids.values()) == {1}
        mails = Counter(m["Message-ID"] for m in smtp.received())
        assert len(mails) == len(first) + len(later) and set(mails.values()) == {1}
    finally:
        for s in sets:
            s.stop()
