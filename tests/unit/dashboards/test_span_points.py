"""An alert's `alert_spans` point carries what the open-alert tables show, taken from the
alert's row: its state, severity, assignee, risk points and position."""

from datetime import UTC, datetime

from api.alert_messages import span_point
from api.models import Alert
from detectors.risk import risk_score

OPENED = datetime(2026, 11, 22, 6, tzinfo=UTC)


def alert(**changes: object) -> Alert:
    row = {
        "alert_id": "al_1",
        "kind": "seal_breach",
        "severity": "critical",
        "device_id": "trk-1",
        "shipment_id": "SHP-1",
        "state": "acknowledged",
        "assignee": "bob",
        "summary": "seal opened",
        "evidence": {"lat": 0.63, "lon": 34.24},
        "opened_at": OPENED,
    }
    return Alert(**(row | changes))


def fields(line: str) -> str:
    return line.split(" ", 1)[1].rsplit(" ", 1)[0]


def test_the_span_carries_the_state_assignee_severity_and_risk_points_of_the_row() -> None:
    line = fields(span_point(alert()))
    expected = risk_score([("al_1", "seal_breach", "critical")]).score
    assert 'state="acknowledged"' in line and 'assignee="bob"' in line
    assert "severity_rank=2i" in line and f"risk_points={expected}" in line
    assert "lat=0.63" in line and "lon=34.24" in line


def test_nobody_assigned_is_an_empty_assignee_so_a_rewrite_clears_the_previous_one() -> None:
    assert 'assignee=""' in fields(span_point(alert(assignee=None)))


def test_risk_points_follow_the_current_severity() -> None:
    line = fields(span_point(alert(severity="warning")))
    assert f"risk_points={risk_score([('al_1', 'seal_breach', 'warning')]).score}" in line


def test_evidence_without_a_position_writes_none() -> None:
    line = fields(span_point(alert(evidence={"temp_c": 9.1})))
    assert "lat=" not in line and "lon=" not in line


def test_the_span_stays_at_the_open_time_in_the_same_series() -> None:
    before, after = span_point(alert(state="open")), span_point(alert(state="resolved"))
    assert before.split(" ")[0] == after.split(" ")[0]
    assert (
        before.rsplit(" ", 1)[1]
        == after.rsplit(" ", 1)[1]
        == str(int(OPENED.timestamp()) * 1_000_000_000)
    )
