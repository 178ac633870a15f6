"""Escalation policies end to end on SQLite and PostgreSQL: a policy made through the API, an
open alert nobody acknowledges, and the escalation worker driven by a clock the test moves
(never by sleeping). Level N is notified at its minute, the last level reached is reminded every
M minutes, and it all stops when the alert is acknowledged or resolved. Every notice is a history
entry with its level and e-mails to the level's keys, and none is written twice, whether the
worker runs again, a second worker runs at the same moment, or a new one starts after a crash."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_world import SHIPMENTS, T0_MS, World, alert_id, event
from manual_clock import ManualClock
from sqlalchemy import select

from api.escalation import EscalationWorker
from api.models import AlertHistory, to_ms
from api.models_notify import EmailDelivery
from api.store import record_events

pytestmark = pytest.mark.integration

ALERT = "al_escalating"


def prefix(world: World, who: str) -> str:
    return world.keys[who].split("_")[1]


def make_policy(world: World, who: str = "operator", **overrides) -> dict:
    body = {
        "name": "night shift",
        "min_severity": "critical",
        "levels": [
            {"after_min": 5, "keys": [prefix(world, "operator")]},
            {"after_min": 15, "keys": [prefix(world, "viewer")]},
        ],
        "remind_every_min": 10,
        **overrides,
    }
    response = world.client.post("/escalation-policies", json=body, headers=world.headers(who))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def escalating(world: World) -> tuple[World, ManualClock]:
    """ACME with a policy, e-mail addresses for its operator and viewer, and a critical alert
    opened now by the clock."""
    for who in ("operator", "viewer"):
        response = world.client.put(
            "/preferences/me", json={"email": f"{who}@acme.example.com"}, headers=world.headers(who)
        )
        assert response.status_code == 200
    # The world's own ACME alerts opened long ago: resolved, so only this test's alert counts.
    record_events(
        world.sessions,
        [
            (event(s, device, alert_id(s), event_name="resolve", at_ms=T0_MS + 1), 2)
            for s, (org, device, _) in SHIPMENTS.items()
            if org == "ACME"
        ],
    )
    make_policy(world)
    clock = ManualClock()
    record_events(world.sessions, [(event("SHP-A1", "trk-a1", ALERT, at_ms=to_ms(clock.now)), 1)])
    return world, clock


def notices(world: World, alert_id: str = ALERT) -> list[tuple[str, int | None]]:
    with world.sessions() as session:
        query = select(AlertHistory).where(AlertHistory.alert_id == alert_id)
        return [
            (
                h.action,
                (h.evidence or {}).get("level") if h.action in ("escalate", "remind") else None,
            )
            for h in session.scalars(query.order_by(AlertHistory.seq))
            if h.action not in ("open", "update")
        ]


def emails(world: World) -> list[tuple[str, str, int]]:
    with world.sessions() as session:
        query = select(EmailDelivery).where(EmailDelivery.reason != "alert")
        return [
            (e.reason, e.address, e.history_seq)
            for e in session.scalars(query.order_by(EmailDelivery.id))
        ]


def at(worker: EscalationWorker, clock: ManualClock, start, minutes: float) -> int:
    clock.set(start + timedelta(minutes=minutes))
    return worker.run_once()


def test_levels_fire_at_their_minute_reminders_follow_and_an_acknowledgement_stops_them(escalating):
    world, clock = escalating
    start = clock.now
    worker = EscalationWorker(world.sessions, clock=clock)
    assert at(worker, clock, start, 4.99) == 0
    assert at(worker, clock, start, 5) == 1
    assert at(worker, clock, start, 5) == 0
    assert at(worker, clock, start, 14.99) == 0
    assert at(worker, clock, start, 15) == 1
    assert at(worker, clock, start, 24.99) == 0
    assert at(worker, clock, start, 25) == 1
    assert at(worker, clock, start, 35) == 1
    assert notices(world) == [("escalate", 1), ("escalate", 2), ("remind", 2), ("remind", 2)]
    assert [(r, a) for r, a, _ in emails(world)] == [
        ("escalate", "operator@acme.example.com"),
        ("escalate", "viewer@acme.example.com"),
        ("remind", "viewer@acme.example.com"),
        ("remind", "viewer@acme.example.com"),
    ]

    ack = world.client.post(
        f"/alerts/{ALERT}/ack", json={"comment": "on it"}, headers=world.headers("operator")
    )
    assert ack.status_code == 200
    assert at(worker, clock, start, 45) == 0
    assert at(worker, clock, start, 600) == 0
    assert notices(world)[-1] == ("ack", None) and len(notices(world)) == 5


def test_a_resolved_alert_is_not_escalated_or_reminded_again(escalating):
    world, clock = escalating
    start = clock.now
    worker = EscalationWorker(world.sessions, clock=clock)
    assert at(worker, clock, start, 5) == 1
    record_events(
        world.sessions,
        [(event("SHP-A1", "trk-a1", ALERT, event_name="resolve", at_ms=to_ms(start) + 60_000), 2)],
    )
    assert at(worker, clock, start, 15) == 0
    assert at(worker, clock, start, 120) == 0
    assert notices(world) == [("escalate", 1), ("resolve", None)]


def test_an_alert_below_the_policys_severity_is_not_escalated(escalating):
    world, clock = escalating
    record_events(
        world.sessions,
        [(event("SHP-A2", "trk-a2", "al_mild", severity="warning", at_ms=to_ms(clock.now)), 1)],
    )
    worker = EscalationWorker(world.sessions, clock=clock)
    assert at(worker, clock, clock.now, 60) == 2  # al_escalating's two levels, nothing for al_mild
    assert notices(world, "al_mild") == []


def test_a_restarted_or_second_worker_never_notifies_twice(escalating):
    world, clock = escalating
    start = clock.now
    first = EscalationWorker(world.sessions, clock=clock)
    assert at(first, clock, start, 25) == 2  # both levels were due; the reminder is not yet
    # A crash after the commit: the next worker reads what was done from the history.
    again = EscalationWorker(world.sessions, clock=clock)
    assert again.run_once() == 0
    assert at(again, clock, start, 35) == 1
    assert first.run_once() == 0
    assert notices(world) == [("escalate", 1), ("escalate", 2), ("remind", 2)]


def test_the_worker_thread_escalates_as_the_clock_moves(escalating, wait_for):
    world, clock = escalating
    worker = EscalationWorker(world.sessions, clock=clock, poll_s=0.01)
    worker.start()
    try:
        clock.advance(minutes=5)
        worker.wake()
        wait_for(lambda: notices(world) == [("escalate", 1)])
    finally:
        assert worker.stop(timeout_s=10)


@pytest.mark.parametrize("who", ["viewer", "customs"])
def test_a_viewer_or_customs_key_cannot_create_or_delete_policies(world, who):
    body = {"name": "x", "levels": [{"after_min": 0, "keys": [prefix(world, "viewer")]}]}
    response = world.client.post("/escalation-policies", json=body, headers=world.headers(who))
    assert response.status_code == 403
    policy = make_policy(world)
    deleted = world.client.delete(
        f"/escalation-policies/{policy['id']}", headers=world.headers(who)
    )
    assert deleted.status_code == 403
    listed = world.client.get("/escalation-policies", headers=world.headers("operator")).json()
    assert [p["id"] for p in listed["data"]] == [policy["id"]]


def test_a_policy_naming_a_key_of_another_organisation_is_refused(world):
    body = {"name": "x", "levels": [{"after_min": 0, "keys": [prefix(world, "other_operator")]}]}
    response = world.client.post(
        "/escalation-policies", json=body, headers=world.headers("operator")
    )
    assert response.status_code == 422
    assert "no key of the organisation" in response.text


def test_a_deleted_policy_escalates_nothing_more(escalating):
    world, clock = escalating
    [policy] = world.client.get("/escalation-policies", headers=world.headers("viewer")).json()[
        "data"
    ]
    deleted = world.client.delete(
        f"/escalation-policies/{policy['id']}", headers=world.headers("operator")
    )
    assert deleted.status_code == 204
    assert at(EscalationWorker(world.sessions, clock=clock), clock, clock.now, 60) == 0
