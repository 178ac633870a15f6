"""Scoring a run against labels: every figure checked against a count done by hand.

One small run holds each rule at its edge: an alert exactly 5 min before an incident's start
and exactly 60 min after its end counts, one a minute earlier is a false alert; a kind that
opens in an incident's window without being expected is neither matched nor false; a breach
without a warning makes the median lead unknown when it is half of the breaches.
"""

import pytest

from simulators.scoring import (
    Exposure,
    Label,
    LeadSummary,
    RaisedAlert,
    exposure,
    rate_interval,
    score,
)

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z


def at(minutes: float) -> int:
    return T0 + round(minutes * MIN)


LABELS = [
    Label(
        "trk-1",
        at(60),
        at(180),
        ("temp_breach_predicted", "temp_excursion"),
        "reefer_failure",
        breach_at_ms=at(120),
    ),
    Label("trk-2", at(100), at(160), ("silence",), "tracker_silence"),
    Label("trk-3", at(200), at(230), ("route_deviation",), "route_deviation"),
    Label(
        "trk-4",
        at(60),
        at(240),
        ("temp_breach_predicted", "temp_excursion"),
        "reefer_failure",
        breach_at_ms=at(150),
    ),
]
ALERTS = [
    RaisedAlert("a1", "temp_breach_predicted", "trk-1", at(90)),
    RaisedAlert("a2", "temp_excursion", "trk-1", at(126)),
    RaisedAlert("a3", "stability_budget", "trk-1", at(200)),  # in the window, not expected
    RaisedAlert("a4", "silence", "trk-2", at(95)),  # exactly start - 5 min: counts
    RaisedAlert("a4b", "silence", "trk-2", at(220)),  # exactly end + 60 min: counts
    RaisedAlert("a5", "route_deviation", "trk-3", at(291)),  # a minute past end + 60: false
    RaisedAlert("a6", "temp_excursion", "trk-4", at(155)),
    RaisedAlert("a7", "battery_low", "trk-5", at(30)),  # a device with no incident: false
    RaisedAlert("a8", "temp_excursion", "trk-1", at(54)),  # a minute before start - 5: false
]
TRIPS = [(f"trk-{i}", T0, T0 + 10 * HOUR) for i in range(1, 6)]


@pytest.fixture
def result():
    return score(LABELS, ALERTS, exposure(LABELS, ALERTS, TRIPS, T0, T0 + 5 * HOUR))


def by_kind(result):
    return {k.kind: k for k in result.kinds}


@pytest.mark.parametrize(
    "kind, expected, detected, recall",
    [
        pytest.param(
            "temp_breach_predicted",
            2,
            1,
            0.5,
            id="a breach warning in one of two breaches is recall 0.5",
        ),
        pytest.param(
            "temp_excursion", 2, 2, 1.0, id="excursions opened in both windows are recall 1"
        ),
        pytest.param(
            "silence", 1, 1, 1.0, id="an alert exactly 5 min before the start is detected"
        ),
        pytest.param(
            "route_deviation", 1, 0, 0.0, id="an alert a minute past end + grace is a miss"
        ),
    ],
)
def test_recall_counts_incidents_whose_kind_opened_in_their_window(
    result, kind, expected, detected, recall
):
    k = by_kind(result)[kind]
    assert (k.expected, k.detected, k.recall) == (expected, detected, recall)


@pytest.mark.parametrize(
    "kind, opened, matched, precision, false_alerts",
    [
        pytest.param(
            "temp_breach_predicted",
            1,
            1,
            1.0,
            0,
            id="a warning in its incident's window is precise",
        ),
        pytest.param(
            "temp_excursion",
            3,
            2,
            2 / 3,
            1,
            id="an excursion a minute too early is imprecise and false",
        ),
        pytest.param("silence", 2, 2, 1.0, 0, id="alerts at both edges of the window are matched"),
        pytest.param(
            "route_deviation", 1, 0, 0.0, 1, id="an alert past the window is unmatched and false"
        ),
        pytest.param(
            "stability_budget",
            1,
            0,
            0.0,
            0,
            id="an unexpected kind inside an incident is unmatched but not false",
        ),
        pytest.param(
            "battery_low", 1, 0, 0.0, 1, id="an alert on a device with no incident is false"
        ),
    ],
)
def test_precision_and_false_alerts_per_kind(
    result, kind, opened, matched, precision, false_alerts
):
    k = by_kind(result)[kind]
    assert (k.opened, k.matched, k.precision, k.false_alerts) == (
        opened,
        matched,
        pytest.approx(precision),
        false_alerts,
    )


def test_a_kind_nobody_expected_has_no_recall_and_one_never_opened_has_no_precision(result):
    kinds = by_kind(result)
    assert kinds["battery_low"].recall is None
    assert kinds["route_deviation"].precision == 0.0
    assert (
        score(LABELS[2:3], [], Exposure(1.0, 1, None, None, "manifest")).kinds[0].precision is None
    )


def test_delay_is_from_the_start_to_the_first_open_in_the_window(result):
    kinds = by_kind(result)
    assert kinds["temp_breach_predicted"].delays_min == (30.0,)
    assert kinds["temp_excursion"].delays_min == (66.0, 95.0)
    assert kinds["temp_excursion"].median_delay_min == 80.5
    assert kinds["silence"].delays_min == (-5.0,)
    assert kinds["route_deviation"].median_delay_min is None
    assert result.median_delay_min == 48.0  # of -5, 30, 66, 95


def test_an_unwarned_breach_counts_as_the_shortest_lead(result):
    lead = result.lead
    assert (lead.breaches, lead.warned, lead.warned_ahead) == (2, 1, 1)
    assert lead.median_min is None  # half the breaches went unwarned
    assert [i.lead_min for i in result.incidents] == [30.0, None, None, None]


@pytest.mark.parametrize(
    "warnings, median, warned, ahead",
    [
        pytest.param(
            [90, 110, None], 10.0, 2, 2, id="one unwarned of three leaves the median on a warning"
        ),
        pytest.param(
            [130, 90, 90], 30.0, 3, 2, id="a warning 10 min after the breach is a lead of -10"
        ),
        pytest.param([50, 90, 90], 30.0, 2, 2, id="a warning before start - 5 min is no warning"),
        pytest.param(
            [181, 90, 90], 30.0, 2, 2, id="a warning past the breach plus the grace is no warning"
        ),
    ],
)
def test_lead_is_breach_minus_first_warning_in_its_window(warnings, median, warned, ahead):
    labels = [
        Label(f"d{i}", at(60), at(400), ("temp_excursion",), breach_at_ms=at(120)) for i in range(3)
    ]
    alerts = [
        RaisedAlert(f"w{i}", "temp_breach_predicted", f"d{i}", at(t))
        for i, t in enumerate(warnings)
        if t is not None
    ]
    lead = score(labels, alerts, Exposure(0.0, 3, None, None, "manifest")).lead
    assert (lead.median_min, lead.warned, lead.warned_ahead, lead.breaches) == (
        median,
        warned,
        ahead,
        3,
    )
    assert lead.median_onset_to_breach_min == 60.0  # whatever was warned: start 60, breach 120


def test_the_time_from_start_to_breach_is_what_a_lead_reads_against():
    labels = [
        Label("d0", at(60), at(400), ("temp_excursion",), breach_at_ms=at(100)),
        Label("d1", at(0), at(400), ("temp_excursion",), breach_at_ms=at(150)),
        Label("d2", at(30), at(400), ("temp_excursion",), breach_at_ms=at(60)),
        Label("d3", at(30), at(90), ("door_open",)),
    ]
    result = score(labels, [], Exposure(0.0, 4, None, None, "manifest"))
    assert [i.onset_to_breach_min for i in result.incidents] == [40.0, 150.0, 30.0, None]
    assert result.lead.median_onset_to_breach_min == 40.0
    assert score([labels[3]], [], Exposure(0.0, 1, None, None, "manifest")).lead == LeadSummary(
        0, 0, 0, None, None
    )


def test_a_stability_budget_spent_hours_after_a_breach_is_that_breachs_not_a_false_alert():
    late = [
        RaisedAlert("b1", "stability_budget", "trk-1", at(600)),  # breach at 120, end 180
        RaisedAlert("b2", "stability_budget", "trk-3", at(600)),  # an incident with no breach
        RaisedAlert("b4", "temp_excursion", "trk-1", at(600)),  # only the budget adds up
    ]
    s = score(LABELS, late, exposure(LABELS, late, TRIPS, T0, T0 + 12 * HOUR))
    budget = next(k for k in s.kinds if k.kind == "stability_budget")
    assert (s.false_alerts, budget.false_alerts) == (2, 1)


def test_the_false_alert_rate_is_per_1000_device_hours_of_the_manifest(result):
    assert result.exposure == Exposure(25.0, 5, T0, T0 + 5 * HOUR, "manifest")
    assert (result.false_alerts, result.alerts_opened) == (3, 9)
    assert result.false_per_1000_device_hours == 120.0


@pytest.mark.parametrize(
    ("count", "low", "high"),
    # Garwood's interval for a Poisson mean, from tables of the chi-square distribution:
    # 0.5 * chi2(0.025, 2k) and 0.5 * chi2(0.975, 2k + 2).
    [(0, 0.0, 3.6889), (1, 0.0253, 5.5716), (2, 0.2422, 7.2247), (10, 4.7954, 18.3904)],
)
def test_the_false_alert_rate_comes_with_its_95_percent_interval(count, low, high):
    # Over 1,000 device-hours the rate per 1,000 is the Poisson mean itself.
    got = rate_interval(count, 1000.0)
    assert got == pytest.approx((low, high), abs=1e-4)
    assert rate_interval(count, 4000.0) == pytest.approx((low / 4, high / 4), abs=1e-4)


def test_a_large_count_has_an_interval_around_its_rate():
    low, high = rate_interval(10_000, 1_000_000.0)  # 10 per 1,000, +-2 % at 95 %
    assert 9.80 < low < 9.81 and 10.19 < high < 10.21


def test_the_score_carries_the_false_alert_rates_interval(result):
    assert result.false_per_1000_interval == rate_interval(3, 25.0)


def test_each_incident_lists_what_opened_when_and_what_was_missed(result):
    first, silence, route, unwarned = result.incidents
    assert first.opened_ms == {
        "temp_breach_predicted": at(90),
        "temp_excursion": at(126),
        "stability_budget": at(200),
    }
    assert first.delays_min == {"temp_breach_predicted": 30.0, "temp_excursion": 66.0}
    assert first.missed == ()
    assert silence.opened_ms == {"silence": at(95)}
    assert (route.opened_ms, route.missed) == ({}, ("route_deviation",))
    assert unwarned.missed == ("temp_breach_predicted",)


def test_expected_kinds_come_first_in_the_labels_order_then_kinds_only_opened(result):
    assert [k.kind for k in result.kinds] == [
        "temp_breach_predicted",
        "temp_excursion",
        "silence",
        "route_deviation",
        "battery_low",
        "stability_budget",
    ]


@pytest.mark.parametrize(
    "trips, start, end, expected",
    [
        pytest.param(
            [("a", at(0), at(600)), ("b", at(300), None)],
            at(0),
            at(480),
            Exposure(11.0, 2, at(0), at(480), "manifest"),
            id="trips are clipped to the period, a missing arrival standing for its end",
        ),
        pytest.param(
            [("a", at(600), at(900))],
            at(0),
            at(480),
            Exposure(0.0, 1, at(0), at(480), "manifest"),
            id="a trip outside the period counts nothing",
        ),
        pytest.param(
            None,
            None,
            None,
            Exposure(2 * 4.5, 2, at(30), at(300), "devices x span"),
            id="without a manifest every named device counts from the first to the last time",
        ),
        pytest.param(
            [("a", None, None), ("b", None, None), ("c", None, None)],
            None,
            None,
            Exposure(3 * 4.5, 3, at(30), at(300), "manifest"),
            id="with a manifest its devices count even with no alert or incident",
        ),
    ],
)
def test_device_hours(trips, start, end, expected):
    labels = [Label("a", at(60), at(300), ("silence",))]
    alerts = [RaisedAlert("x", "shock", "b", at(30))]
    assert exposure(labels, alerts, trips, start, end) == expected


def test_nothing_to_score_is_zero_device_hours_and_no_rate():
    result = score([], [], exposure([], [], None))
    assert result.exposure == Exposure(0.0, 0, None, None, "devices x span")
    assert result.false_per_1000_device_hours is None
    assert (result.kinds, result.incidents, result.lead.median_min) == ((), (), None)
