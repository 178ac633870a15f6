"""The release report's risk score over time: the shipment page's score, replayed through the
alerts' stored history."""

from __future__ import annotations

from api.report_alerts import AlertRecord, HistoryEntry, risk_over_time
from api.report_data import trip_window
from detectors.risk import risk_score

MIN = 60_000


def entry(
    at_ms: int, action: str, severity: str = "critical", comment: str | None = None
) -> HistoryEntry:
    actor = "detector" if comment is None else "officer@Customs (key abc)"
    return HistoryEntry(at_ms, actor, action, severity, "summary", comment, None)


def alert(alert_id: str, kind: str, *history: HistoryEntry) -> AlertRecord:
    return AlertRecord(
        alert_id, kind, history[-1].severity, "open", history[0].at_ms, None, "s", None, history
    )


def test_the_score_follows_opens_escalations_and_resolves_but_not_acknowledgements() -> None:
    seal = alert(
        "a1",
        "seal_breach",
        entry(10 * MIN, "open"),
        entry(12 * MIN, "ack", comment="inspected at the border"),
        entry(30 * MIN, "resolve"),
    )
    route = alert(
        "a2",
        "route_deviation",
        entry(20 * MIN, "open", "warning"),
        entry(25 * MIN, "update", "critical"),
    )
    points = risk_over_time([seal, route], start_ms=0)
    both = risk_score([("a1", "seal_breach", "critical"), ("a2", "route_deviation", "warning")])
    assert [(p.at_ms, p.score, p.open_alerts) for p in points] == [
        (0, 0.0, 0),
        (10 * MIN, risk_score([("a1", "seal_breach", "critical")]).score, 1),
        (20 * MIN, both.score, 2),
        (
            25 * MIN,
            risk_score(
                [("a1", "seal_breach", "critical"), ("a2", "route_deviation", "critical")]
            ).score,
            2,
        ),
        (30 * MIN, risk_score([("a2", "route_deviation", "critical")]).score, 1),
    ]


def test_a_closed_alert_stops_counting_and_a_late_update_does_not_bring_it_back() -> None:
    closed = alert(
        "a1",
        "unscheduled_stop",
        entry(MIN, "open", "warning"),
        entry(2 * MIN, "close", comment="driver rest stop, cleared"),
        entry(3 * MIN, "update", "warning"),
    )
    assert [p.score for p in risk_over_time([closed], start_ms=0)][-1] == 0.0


def test_the_window_runs_from_departure_to_arrival_or_now() -> None:
    assert trip_window(None, None, 10 * 86_400_000) == (9 * 86_400_000, 10 * 86_400_000)
    assert trip_window(5_000, None, 10_000) == (5_000, 10_000)
    assert trip_window(20_000, None, 10_000) == (10_000, 10_000)
