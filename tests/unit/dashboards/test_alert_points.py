"""Human actions reach InfluxDB with the alert's state and assignee, and every alert point
carries what the dashboards aggregate (severity rank, risk points, position, forecast)."""

from datetime import UTC, datetime

from api.delivery import alert_point
from api.models import Alert, AlertHistory
from api.timeline import action_payload, detector_payload
from detectors.alerts import AlertEvent
from detectors.risk import risk_score
from ingest.line_protocol import point_line

ALERT = Alert(
    alert_id="a1",
    kind="seal_breach",
    severity="critical",
    device_id="trk-1",
    shipment_id="SHP-1",
    state="acknowledged",
    summary="seal opened",
    evidence={},
)


def fields(line: str) -> str:
    """The field set: between the series key and the timestamp (tags hold no spaces here)."""
    return line.split(" ", 1)[1].rsplit(" ", 1)[0]


def action(name: str, assignee: str | None, state: str = "acknowledged") -> str:
    ALERT.state = state
    entry = AlertHistory(
        seq=4,
        action=name,
        actor="ana",
        comment="on it",
        assignee=assignee,
        at=datetime(2026, 1, 5, 8, 30, tzinfo=UTC),
    )
    return alert_point(action_payload(ALERT, entry))


def test_an_assignment_reaches_influxdb_with_the_assignee_the_actor_and_the_state():
    line = action("assign", "bob")
    assert 'assignee="bob"' in fields(line)
    assert 'actor="ana"' in fields(line)
    assert 'state="acknowledged"' in fields(line)
    assert 'event="assign"' in fields(line)


def test_unassigning_writes_an_empty_assignee_so_the_last_one_is_nobody():
    assert 'assignee=""' in fields(action("assign", None))


def test_an_acknowledgement_keeps_the_assignee_it_does_not_change():
    line = action("ack", None)
    assert "assignee=" not in fields(line)
    assert 'state="acknowledged"' in fields(line)


def test_an_opened_alert_has_nobody_assigned_so_it_does_not_inherit_the_previous_alerts():
    event = AlertEvent("open", "a2", "seal_breach", "warning", "trk-1", "SHP-1", 0, "s", {})
    assert 'assignee=""' in fields(alert_point(detector_payload(event, 1, 1, "open")))


def test_severity_rank_and_risk_points_are_the_detectors_own():
    event = AlertEvent("update", "a2", "seal_breach", "warning", "trk-1", "SHP-1", 0, "s", {})
    line = alert_point(detector_payload(event, 2, 2, "open"))
    expected = risk_score([("a2", "seal_breach", "warning")]).score
    assert f"risk_points={expected}" in fields(line)
    assert "severity_rank=1i" in fields(line)


def test_where_an_alert_happened_and_a_forecast_breach_are_fields():
    event = AlertEvent(
        "open",
        "a3",
        "temp_breach_predicted",
        "warning",
        "trk-1",
        "SHP-1",
        1_767_600_000_000,
        "breach in 40 min",
        {"lat": 0.63, "lon": 34.27},
        predicted_breach_at_ms=1_767_602_400_000,
        confidence=0.9,
    )
    line = fields(alert_point(detector_payload(event, 1, 1, "open")))
    assert "lat=0.63" in line and "lon=34.27" in line
    assert "predicted_breach_at_ms=1767602400000i" in line and "confidence=0.9" in line


def test_the_point_is_the_line_protocol_encoders_own():
    event = AlertEvent("resolve", "a4", "silence", "info", "trk-1", None, 0, "back", {})
    line = alert_point(detector_payload(event, 3, 3, "resolved"))
    assert line.startswith(
        point_line(
            "alerts",
            {"device_id": "trk-1", "kind": "silence", "severity": "info", "shipment_id": ""},
            {"x": 1},
            0,
        ).split(" ")[0]
    )
