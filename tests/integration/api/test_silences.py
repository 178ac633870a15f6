"""Silences and maintenance windows end to end on SQLite and PostgreSQL: made, listed and
expired through the API; while one covers an alert its webhook and e-mail deliveries and its
escalations are held back, and its history says so once per silence; detection, the alert
store and the outbox (MQTT, SSE, InfluxDB) go on as before. When the silence ends, new entries
are delivered again and escalation resumes at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from api_world import SHIPMENTS, T0_MS, World, alert_id, event
from manual_clock import ManualClock
from sqlalchemy import func, select

from api.escalation import EscalationWorker
from api.models import Alert, AlertHistory, OutboxEntry, WebhookDelivery, to_ms
from api.models_notify import EmailDelivery
from api.store import record_events

pytestmark = pytest.mark.integration


def iso(at: datetime) -> str:
    return at.isoformat()


def silence(world: World, who: str = "operator", status: int = 201, **body) -> dict:
    body.setdefault("ends_at", iso(datetime.now(UTC) + timedelta(hours=2)))
    body.setdefault("reason", "reefer swap at the depot")
    response = world.client.post("/silences", json=body, headers=world.headers(who))
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def listening(world: World) -> World:
    """ACME with a webhook subscription and an operator who wants e-mail."""
    hook = world.client.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=world.headers("operator")
    )
    assert hook.status_code == 201
    pref = world.client.put(
        "/preferences/me", json={"email": "ops@acme.example.com"}, headers=world.headers("operator")
    )
    assert pref.status_code == 200
    return world


def open_alert(world: World, shipment_id: str, name: str, seq: int = 1, **kw) -> None:
    device = SHIPMENTS[shipment_id][1]
    kw.setdefault("event_name", "open" if seq == 1 else "update")
    record_events(world.sessions, [(event(shipment_id, device, name, **kw), seq)])


def deliveries(world: World, name: str) -> tuple[int, int]:
    with world.sessions() as session:
        hooks = session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.alert_id == name)
        )
        mails = session.scalar(
            select(func.count()).select_from(EmailDelivery).where(EmailDelivery.alert_id == name)
        )
        return hooks or 0, mails or 0


def history(world: World, name: str) -> list[AlertHistory]:
    with world.sessions() as session:
        query = select(AlertHistory).where(AlertHistory.alert_id == name)
        return list(session.scalars(query.order_by(AlertHistory.seq)))


def test_a_silenced_shipment_holds_back_delivery_but_not_detection_or_the_outbox(listening):
    world = listening
    made = silence(world, shipment_id="SHP-A1")
    assert made["state"] == "active"
    for seq in (1, 2, 3):
        open_alert(world, "SHP-A1", "al_quiet", seq)
    open_alert(world, "SHP-A2", "al_loud")

    assert deliveries(world, "al_quiet") == (0, 0)
    assert deliveries(world, "al_loud") == (1, 1)
    entries = history(world, "al_quiet")
    assert [h.action for h in entries] == ["open", "silenced", "update", "update"]
    held = entries[1]
    assert held.evidence["silence_id"] == made["id"] and "reefer swap" in held.comment
    with world.sessions() as session:
        alert = session.get(Alert, "al_quiet")
        assert alert is not None and alert.events_applied == 3 and alert.history_length == 4
        outbox = session.scalar(
            select(func.count()).select_from(OutboxEntry).where(OutboxEntry.alert_id == "al_quiet")
        )
        assert outbox == 3  # MQTT, SSE and InfluxDB get every detector entry
    shown = world.client.get("/alerts/al_quiet", headers=world.headers("viewer"))
    assert shown.status_code == 200 and "silenced" in shown.text


def test_a_person_acting_on_a_silenced_alert_is_not_announced_either(listening):
    world = listening
    silence(world, kind="seal_breach", device_id="trk-a1")
    open_alert(world, "SHP-A1", "al_quiet")
    ack = world.client.post(
        "/alerts/al_quiet/ack", json={"comment": "on it"}, headers=world.headers("operator")
    )
    assert ack.status_code == 200
    assert deliveries(world, "al_quiet") == (0, 0)
    assert [h.action for h in history(world, "al_quiet")] == ["open", "silenced", "ack"]


@pytest.mark.parametrize(
    "scope, silenced",
    [
        pytest.param({"kind": "temp_excursion"}, False, id="another kind is not silenced"),
        pytest.param({"device_id": "trk-a2"}, False, id="another device is not silenced"),
        pytest.param(
            {"kind": "seal_breach", "shipment_id": "SHP-A2"},
            False,
            id="every named scope must match",
        ),
        pytest.param(
            {"kind": "seal_breach", "shipment_id": "SHP-A1"}, True, id="kind and shipment together"
        ),
    ],
)
def test_a_silence_covers_only_what_it_names(listening, scope, silenced):
    silence(listening, **scope)
    open_alert(listening, "SHP-A1", "al_scoped")
    assert (deliveries(listening, "al_scoped") == (0, 0)) is silenced


def test_a_maintenance_window_holds_nothing_back_until_it_starts(listening):
    world = listening
    later = datetime.now(UTC) + timedelta(hours=1)
    window = silence(
        world, shipment_id="SHP-A1", starts_at=iso(later), ends_at=iso(later + timedelta(hours=1))
    )
    assert window["state"] == "scheduled"
    open_alert(world, "SHP-A1", "al_before")
    assert deliveries(world, "al_before") == (1, 1)


def test_an_expired_silence_lets_delivery_and_escalation_resume(listening):
    world = listening
    # The world's ACME alerts opened long ago: resolved, so only this test's alert escalates.
    record_events(
        world.sessions,
        [
            (event(s, dev, alert_id(s), event_name="resolve", at_ms=T0_MS + 1), 2)
            for s, (org, dev, _) in SHIPMENTS.items()
            if org == "ACME"
        ],
    )
    key = world.keys["operator"].split("_")[1]
    policy = {"name": "p", "levels": [{"after_min": 5, "keys": [key]}], "remind_every_min": 10}
    assert (
        world.client.post(
            "/escalation-policies", json=policy, headers=world.headers("operator")
        ).status_code
        == 201
    )
    clock = ManualClock()
    start = clock.now
    open_alert(world, "SHP-A1", "al_paused", at_ms=to_ms(start))
    assert deliveries(world, "al_paused") == (1, 1)  # opened before the silence
    made = silence(world, shipment_id="SHP-A1")
    worker = EscalationWorker(world.sessions, clock=clock)
    clock.set(start + timedelta(minutes=6))
    assert worker.run_once() == 1  # the silenced entry instead of the escalation, once
    clock.set(start + timedelta(minutes=7))
    assert worker.run_once() == 0
    assert [h.action for h in history(world, "al_paused")] == ["open", "silenced"]

    expired = world.client.post(f"/silences/{made['id']}/expire", headers=world.headers("operator"))
    assert expired.status_code == 200 and expired.json()["state"] == "ended"
    listed = world.client.get("/silences", headers=world.headers("viewer")).json()
    assert listed["count"] == 0
    assert (
        world.client.get("/silences?ended=true", headers=world.headers("viewer")).json()["count"]
        == 1
    )
    clock.set(max(start + timedelta(minutes=8), datetime.now(UTC) + timedelta(seconds=1)))
    assert worker.run_once() == 1
    assert [h.action for h in history(world, "al_paused")] == ["open", "silenced", "escalate"]
    open_alert(world, "SHP-A1", "al_paused", 2)
    # The open's and the update's webhooks; the open's and the escalation's e-mails.
    assert deliveries(world, "al_paused") == (2, 2)


@pytest.mark.parametrize(
    "who, status",
    [
        pytest.param("viewer", 403, id="a viewer key cannot create silences"),
        pytest.param("customs", 403, id="a customs key cannot create silences"),
        pytest.param("operator", 201, id="an operator key can"),
        pytest.param("admin", 201, id="an admin key can"),
    ],
)
def test_who_may_create_silences(world, who, status):
    silence(world, who, status, kind="seal_breach")


@pytest.mark.parametrize(
    "body, message",
    [
        pytest.param(
            {"reason": "r"}, "name a shipment, a device or a kind", id="a silence must name a scope"
        ),
        pytest.param(
            {"kind": "seal_breach", "reason": "r", "ends_at": "2020-01-01T00:00:00Z"},
            "in the future",
            id="an end in the past is refused",
        ),
        pytest.param(
            {"kind": "seal_breach", "reason": "r", "ends_at": "2099-01-01T00:00:00"},
            "time zone",
            id="a time without a zone is refused",
        ),
        pytest.param(
            {"kind": "seal_breach", "reason": "  "}, "blank", id="a blank reason is refused"
        ),
    ],
)
def test_a_silence_that_cannot_work_is_refused_with_422(world, body, message):
    body.setdefault("ends_at", iso(datetime.now(UTC) + timedelta(hours=1)))
    response = world.client.post("/silences", json=body, headers=world.headers("operator"))
    assert response.status_code == 422 and message in response.text


def test_another_organisations_silence_cannot_be_expired(world):
    made = silence(world, kind="seal_breach")
    response = world.client.post(
        f"/silences/{made['id']}/expire", headers=world.headers("other_operator")
    )
    assert response.status_code == 404
