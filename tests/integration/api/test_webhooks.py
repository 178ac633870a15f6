"""Webhooks end to end on SQLite and PostgreSQL: subscriptions made through the API, alert
entries fanned out to them in the transaction that records them, and the webhook worker
sending them to a real HTTP receiver that fails on purpose (500s, timeouts, refused
connections, down for a while and back). Every entry arrives, signed so that the Standard
Webhooks library verifies it, in order per alert, repeated only under the same ``webhook-id``;
one that outlives its deadline is dead-lettered, listed, and redelivered by an admin. Time
for retries and deadlines is a clock the test moves; nothing sleeps."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from api_world import World, alert_id, event
from sqlalchemy import func, select
from standardwebhooks import Webhook
from webhook_receiver import Receiver

from api.models import Alert, OutboxEntry, WebhookDelivery
from api.store import record_events
from api.webhook_sender import WebhookOptions, WebhookSender
from api.webhook_target import TargetRefused, pin

pytestmark = pytest.mark.integration


class ManualClock:
    """The worker's clock: moves only when the test says."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def start_sender(world: World, clock: ManualClock) -> Iterator[Callable[..., WebhookSender]]:
    started: list[WebhookSender] = []

    def start(**options: Any) -> WebhookSender:
        settings = {
            "deadline_s": 86_400.0,
            "timeout_s": 0.5,
            "allow_private": True,
            "backoff_base_s": 1.0,
            "backoff_max_s": 120.0,
            "poll_s": 0.01,
            **options,
        }
        sender = WebhookSender(world.sessions, WebhookOptions(**settings), clock=clock)
        sender.start()
        started.append(sender)
        return sender

    yield start
    for sender in started:
        assert sender.stop(timeout_s=10)


def drive(wait_for, clock: ManualClock, sender: WebhookSender, condition, step_s=20.0) -> None:
    """Move the worker's clock on until `condition` holds: each backoff passes in a step."""

    def step() -> bool:
        if condition():
            return True
        clock.advance(step_s)
        sender.wake()
        return False

    wait_for(step, timeout_s=60)


def subscribe(world: World, receiver: Receiver, who: str = "operator", **filters: Any) -> dict:
    response = world.client.post(
        "/webhooks", json={"url": receiver.url, **filters}, headers=world.headers(who)
    )
    assert response.status_code == 201, response.text
    return response.json()


def record(world: World, shipment_id: str | None, device: str, name: str, seqs, **kw) -> None:
    record_events(
        world.sessions,
        [
            (event(shipment_id, device, name, event_name="open" if s == 1 else "update", **kw), s)
            for s in seqs
        ],
    )


def deliveries(world: World, webhook_id: int) -> list[WebhookDelivery]:
    with world.sessions() as session:
        query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == webhook_id)
        return list(session.scalars(query.order_by(WebhookDelivery.id)))


def entry_ids(received) -> list[tuple[str, int]]:
    out = []
    for r in received:
        data = orjson.loads(r.body)["data"]
        out.append((data["alert_id"], data["history_seq"]))
    return out


def test_every_entry_arrives_signed_in_order_per_alert_through_500s_timeouts_and_an_outage(
    world, receiver, clock, start_sender, wait_for
):
    with world.sessions() as session:
        before = session.scalar(select(func.max(OutboxEntry.id)))
    hook = subscribe(world, receiver)
    assert hook["secret"].startswith("whsec_")
    # A second alert on ACME, and entries on GLOBEX that ACME's webhook must never see.
    record(world, "SHP-A1", "trk-a1", alert_id("SHP-A1"), range(2, 6))
    record(world, "SHP-A2", "trk-a2", "al_second", range(1, 5), kind="door_open")
    record(world, "SHP-G1", "trk-g1", alert_id("SHP-G1"), range(2, 4))
    acked = world.client.post(
        f"/alerts/{alert_id('SHP-A1')}/ack",
        json={"comment": "on it"},
        headers=world.headers("operator"),
    )
    assert acked.status_code == 200
    with world.sessions() as session:
        acme = select(Alert.alert_id).where(Alert.organisation_id == hook["organisation_id"])
        expected = {
            (e.alert_id, e.history_seq)
            for e in session.scalars(
                select(OutboxEntry).where(OutboxEntry.alert_id.in_(acme), OutboxEntry.id > before)
            )
        }
    assert {(d.alert_id, d.history_seq) for d in deliveries(world, hook["id"])} == expected

    receiver.script.extend([500, 500, "hang", 503, "ok", 500])
    sender = start_sender()
    drive(wait_for, clock, sender, lambda: len(receiver.delivered()) >= 3)
    receiver.stop()  # down for a while: connections refused
    failed = sender.failed_attempts
    drive(wait_for, clock, sender, lambda: sender.failed_attempts >= failed + 3)
    receiver.start()
    drive(
        wait_for,
        clock,
        sender,
        lambda: all(d.delivered_at is not None for d in deliveries(world, hook["id"])),
    )

    verifier = Webhook(hook["secret"])
    seen_body: dict[str, bytes] = {}
    per_alert: dict[str, list[int]] = defaultdict(list)
    for request in receiver.all():
        verifier.verify(request.body, request.headers)
        msg_id = request.headers["webhook-id"]
        # Duplicates only with the same id: one id, one body.
        assert seen_body.setdefault(msg_id, request.body) == request.body
        data = orjson.loads(request.body)["data"]
        assert msg_id == f"{data['alert_id']}.{data['history_seq']}"
        per_alert[data["alert_id"]].append(data["history_seq"])
    assert set(entry_ids(receiver.all())) == set(entry_ids(receiver.delivered())) == expected
    for seqs in per_alert.values():
        # Retries repeat an entry; a later entry never comes before an earlier one succeeded.
        assert seqs == sorted(seqs)
        assert sorted(set(seqs)) == [s for s in dict.fromkeys(seqs)]
    # The failures were real: every kind of answer was given, and retried.
    assert {r.answered for r in receiver.all()} == {500, 503, "hang", "ok"}
    assert any(d.attempts > 1 for d in deliveries(world, hook["id"]))


def test_a_delivery_past_its_deadline_is_dead_lettered_listed_and_redelivered_by_an_admin(
    world, receiver, clock, start_sender, wait_for
):
    hook = subscribe(world, receiver)
    receiver.default = 500
    record(world, "SHP-A1", "trk-a1", alert_id("SHP-A1"), [2, 3])
    sender = start_sender(deadline_s=300)
    drive(
        wait_for,
        clock,
        sender,
        lambda: all(d.dead_at is not None for d in deliveries(world, hook["id"])),
    )
    # The second entry waited for the first to die: nothing of it came before.
    assert entry_ids(receiver.all())[0] == (alert_id("SHP-A1"), 2)
    assert entry_ids(receiver.all())[-1] == (alert_id("SHP-A1"), 3)

    listed = world.client.get(
        f"/webhooks/{hook['id']}/deliveries",
        params={"state": "dead"},
        headers=world.headers("operator"),
    ).json()
    assert listed["count"] == 2
    dead = listed["data"][-1]
    assert (dead["state"], dead["last_status"], dead["event_id"]) == (
        "dead",
        500,
        f"{alert_id('SHP-A1')}.2",
    )
    assert dead["attempts"] >= 2 and dead["last_error"] == "answered 500"

    path = f"/webhooks/deliveries/{dead['id']}/redeliver"
    assert world.client.post(path, headers=world.headers("operator")).status_code == 403
    receiver.default = "ok"
    redelivered = world.client.post(path, headers=world.headers("admin"))
    assert redelivered.status_code == 200 and redelivered.json()["state"] == "pending"
    # The receiver answers before the worker records the delivery: wait for the record too.
    drive(
        wait_for,
        clock,
        sender,
        lambda: any(d.delivered_at is not None for d in deliveries(world, hook["id"])),
    )
    (request,) = receiver.delivered()
    assert request.headers["webhook-id"] == dead["event_id"]
    Webhook(hook["secret"]).verify(request.body, request.headers)
    states = world.client.get(
        f"/webhooks/{hook['id']}/deliveries", headers=world.headers("admin")
    ).json()
    assert sorted(d["state"] for d in states["data"]) == ["dead", "delivered"]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:9/hook", id="loopback IPv4"),
        pytest.param("http://10.1.2.3/hook", id="private 10.x"),
        pytest.param("http://169.254.169.254/latest/meta-data", id="link-local (cloud metadata)"),
        pytest.param("http://[::1]:9/hook", id="loopback IPv6"),
        pytest.param("http://localhost:9/hook", id="a name that resolves to loopback"),
    ],
)
def test_the_guard_refuses_internal_targets_unless_private_ones_are_allowed(url):
    with pytest.raises(TargetRefused, match="address"):
        pin(url, allow_private=False)
    assert pin(url, allow_private=True).url.scheme == "http"


def test_the_worker_without_the_setting_never_reaches_a_loopback_receiver(
    world, receiver, clock, start_sender, wait_for
):
    hook = subscribe(world, receiver)
    record(world, "SHP-A1", "trk-a1", alert_id("SHP-A1"), [2])
    sender = start_sender(allow_private=False)
    drive(wait_for, clock, sender, lambda: sender.failed_attempts >= 2)
    assert receiver.all() == []
    (delivery,) = world.client.get(
        f"/webhooks/{hook['id']}/deliveries", headers=world.headers("operator")
    ).json()["data"]
    assert delivery["state"] == "pending"
    assert delivery["last_error"].startswith("refused: 127.0.0.1 is 127.0.0.1, a loopback address")


def test_filters_pick_entries_by_kind_severity_and_shipment(world, receiver):
    by_kind = subscribe(world, receiver, kind="door_open")["id"]
    by_shipment = subscribe(world, receiver, shipment_id="SHP-A2")["id"]
    critical = subscribe(world, receiver, min_severity="critical")["id"]
    record(world, "SHP-A1", "trk-a1", alert_id("SHP-A1"), [2], severity="warning")
    record(world, "SHP-A2", "trk-a2", "al_door", [1], kind="door_open", severity="critical")
    assert [d.alert_id for d in deliveries(world, by_kind)] == ["al_door"]
    assert [d.alert_id for d in deliveries(world, by_shipment)] == ["al_door"]
    assert [d.alert_id for d in deliveries(world, critical)] == ["al_door"]


def test_the_secret_is_shown_once_and_only_admins_and_operators_manage_webhooks(world, receiver):
    created = subscribe(world, receiver)
    listed = world.client.get("/webhooks", headers=world.headers("operator")).json()
    assert listed["count"] == 1 and "secret" not in listed["data"][0]
    assert created["secret"] not in str(listed)
    for who in ("viewer", "customs"):
        refused = world.client.post(
            "/webhooks", json={"url": receiver.url}, headers=world.headers(who)
        )
        assert refused.status_code == 403
        assert world.client.get("/webhooks", headers=world.headers(who)).status_code == 403
    other = world.headers("other_operator")
    assert world.client.get("/webhooks", headers=other).json()["count"] == 0
    assert world.client.delete(f"/webhooks/{created['id']}", headers=other).status_code == 404
    assert world.client.get("/webhooks", headers=world.headers("admin")).json()["count"] == 1
    deleted = world.client.delete(f"/webhooks/{created['id']}", headers=world.headers("operator"))
    assert deleted.status_code == 204
    record(world, "SHP-A1", "trk-a1", alert_id("SHP-A1"), [2])
    assert deliveries(world, created["id"]) == []


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://hooks.example.com/x", id="not http"),
        pytest.param("https://user:pw@hooks.example.com/x", id="credentials in the URL"),
        pytest.param("https:///x", id="no host"),
        pytest.param("https://hooks.example.com:99999/x", id="a port out of range"),
    ],
)
def test_a_url_that_cannot_be_a_webhook_is_refused(world, url):
    response = world.client.post("/webhooks", json={"url": url}, headers=world.headers("operator"))
    assert response.status_code == 422


def test_deliveries_left_pending_by_a_stopped_worker_are_sent_by_the_next_one(
    world, receiver, clock, start_sender, wait_for
):
    hook = subscribe(world, receiver)
    receiver.stop()
    first = start_sender()
    record(world, "SHP-A1", "trk-a1", alert_id("SHP-A1"), [2, 3, 4])
    drive(wait_for, clock, first, lambda: first.failed_attempts >= 2)
    assert first.stop(timeout_s=10)
    # Nothing was held in the worker: the store's rows are what the next one starts from.
    receiver.start()
    second = start_sender()
    drive(
        wait_for,
        clock,
        second,
        lambda: all(d.delivered_at is not None for d in deliveries(world, hook["id"])),
    )
    assert entry_ids(receiver.delivered()) == [(alert_id("SHP-A1"), s) for s in (2, 3, 4)]
