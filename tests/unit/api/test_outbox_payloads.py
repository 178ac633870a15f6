"""What the outbox delivers for a history entry: the alert event shape of docs/alerts.md for
detector events and human actions alike, so every channel can treat them the same."""

from __future__ import annotations

from datetime import UTC, datetime

from api.models import Alert, AlertHistory
from api.timeline import action_payload, detector_payload
from detectors.alerts import AlertEvent

EVENT = AlertEvent(
    "update",
    "a1",
    "seal_breach",
    "critical",
    "trk-1",
    None,
    1_763_800_000_000,
    "seal opened",
    {"seal": "open"},
)


def test_a_detector_events_payload_is_its_event_with_its_place_in_the_history_and_the_state():
    payload = detector_payload(EVENT, seq=2, history_seq=3, state="acknowledged")
    assert payload == {**EVENT.to_json(), "seq": 2, "history_seq": 3, "state": "acknowledged"}


def test_a_human_actions_payload_has_every_key_a_detector_events_has_plus_who_and_why():
    alert = Alert(
        alert_id="a1",
        kind="seal_breach",
        severity="critical",
        device_id="trk-1",
        shipment_id=None,
        state="acknowledged",
        summary="seal opened",
        evidence={"seal": "open"},
    )
    entry = AlertHistory(
        seq=3,
        action="ack",
        actor="ana",
        comment="Border post called",
        assignee=None,
        at=datetime(2025, 11, 22, 8, 30, tzinfo=UTC),
    )
    payload = action_payload(alert, entry)
    detector_keys = set(detector_payload(EVENT, 2, 2, "open"))
    assert detector_keys <= set(payload)
    assert set(payload) - detector_keys == {"actor", "comment", "assignee"}
    assert (payload["event"], payload["at"], payload["seq"], payload["history_seq"]) == (
        "ack",
        "2025-11-22T08:30:00Z",
        None,
        3,
    )
