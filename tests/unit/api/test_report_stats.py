"""The release report's temperature figures: MKT against a hand computation, time-weighted
excursions with irregular intervals, the stability budget as the detector counts it, and the
plot's downsampling keeping peaks."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.report_stats import (
    TempPoint,
    budget_use,
    excursions,
    mean_kinetic_temperature_c,
    plot_points,
    step_weights_ms,
    temperature_stats,
)
from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.replay import replay, replay_engine
from detectors.temperature import TempExcursion

MIN = 60_000


def test_mkt_of_readings_with_unequal_intervals_is_the_hand_computed_value() -> None:
    # 2 °C held for 30 min, then 8 °C for 60 min; the last reading (5 °C) ends the record.
    # By hand: exp(-10000 / 275.15) = exp(-36.343812) = 1.644685e-16
    #          exp(-10000 / 281.15) = exp(-35.568202) = 3.572121e-16
    #          (30 * 1.644685e-16 + 60 * 3.572121e-16) / 90 = 2.929642e-16
    #          -ln(2.929642e-16) = 35.766481; 10000 / 35.766481 = 279.5914 K = 6.4414 °C
    points = [(0, 2.0), (30 * MIN, 8.0), (90 * MIN, 5.0)]
    stats = temperature_stats(points, max_step_s=2 * 3600)
    assert stats.mkt_c == pytest.approx(6.4414, abs=1e-4)
    # The time-weighted mean is (30 * 2 + 60 * 8) / 90 = 6 °C; MKT weighs the warm time more.
    assert stats.mean_c == pytest.approx(6.0)
    assert (stats.min_c, stats.max_c, stats.readings, stats.covered_min) == (2.0, 8.0, 3, 90.0)


def test_mkt_with_equal_weights_is_the_usp_formula() -> None:
    # Equal time at 2 and 8 °C: (1.644685e-16 + 3.572121e-16) / 2 = 2.608403e-16,
    # -ln = 35.882610, 10000 / 35.882610 = 278.6864 K = 5.5364 °C.
    assert mean_kinetic_temperature_c([2.0, 8.0], [1.0, 1.0]) == pytest.approx(5.5364, abs=1e-4)


def test_a_gap_longer_than_the_cap_counts_only_the_cap() -> None:
    assert step_weights_ms([0, 10 * MIN, 100 * MIN], max_step_s=900) == [10 * MIN, 15 * MIN, 0]


def test_an_excursion_over_irregular_intervals_counts_the_time_until_each_next_reading() -> None:
    # Out at 2, 7 and 8 min, back in at 20 min: 5 + 1 + 12 minutes out.
    points = [(0, 5.0), (2 * MIN, 9.0), (7 * MIN, 9.5), (8 * MIN, 10.25), (20 * MIN, 5.0)]
    (found,) = excursions(points, 2.0, 8.0, max_step_s=900)
    assert found.minutes == pytest.approx(18.0)
    assert (found.start_ms, found.end_ms, found.ended) == (2 * MIN, 20 * MIN, True)
    assert (found.peak_c, found.peak_at_ms, found.beyond_c) == (10.25, 8 * MIN, 2.25)
    assert (found.side, found.readings) == ("above", 3)
    # With a 10 minute cap the 12 minute silence before the return counts 10.
    (capped,) = excursions(points, 2.0, 8.0, max_step_s=600)
    assert capped.minutes == pytest.approx(16.0)


def test_separate_runs_are_separate_excursions_and_one_still_out_at_the_end_is_marked() -> None:
    points = [(0, 1.0), (5 * MIN, 5.0), (10 * MIN, 9.0), (12 * MIN, 1.5), (15 * MIN, 9.0)]
    first, second = excursions(points, 2.0, 8.0, max_step_s=900)
    assert (first.side, first.minutes, first.ended) == ("below", 5.0, True)
    assert (second.side, second.minutes, second.ended) == ("both", 5.0, False)
    assert second.end_ms == 15 * MIN


def test_implausible_probe_values_are_neither_excursions_nor_statistics() -> None:
    points = [(0, 5.0), (5 * MIN, -127.0), (10 * MIN, 85.0), (15 * MIN, 5.0)]
    assert excursions(points, 2.0, 8.0, max_step_s=900) == []
    stats = temperature_stats(points, max_step_s=900)
    assert (stats.readings, stats.implausible, stats.max_c) == (2, 2, 5.0)


def test_the_budget_is_exceeded_once_the_time_out_reaches_it() -> None:
    points = [(0, 9.0), (60 * MIN, 9.0), (120 * MIN, 5.0)]
    found = excursions(points, 2.0, 8.0, max_step_s=3600)
    assert budget_use(found, 120).exceeded and budget_use(found, 120).used_pct == 100.0
    half = budget_use(found, 240)
    assert (half.out_min, half.used_pct, half.exceeded) == (120.0, 50.0, False)


def _series(draw_steps: list[int], temps: list[float]) -> list[TempPoint]:
    at, points = 0, list[TempPoint]()
    for step, temp in zip(draw_steps, temps, strict=False):
        at += step
        points.append((at, temp))
    return points


series = st.integers(min_value=2, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(min_value=1_000, max_value=3_600_000), min_size=n, max_size=n),
        st.lists(st.floats(min_value=-10, max_value=20, allow_nan=False), min_size=n, max_size=n),
    )
)


@settings(max_examples=200, deadline=None)
@given(series, st.sampled_from([300.0, 900.0, 1800.0]))
def test_time_out_of_range_is_what_the_stability_budget_detector_counts(
    drawn: tuple[list[int], list[float]], max_step_s: float
) -> None:
    points = _series(*drawn)
    detector = TempExcursion(2.0, 8.0, budget_min=120, max_step_s=max_step_s)
    for at, temp in points:
        detector.update(Reading("t", at, temp_c=temp))
    total = sum(e.minutes for e in excursions(points, 2.0, 8.0, max_step_s))
    assert total == pytest.approx(detector.out_minutes, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(series)
def test_the_mean_lies_within_the_extremes_and_mkt_between_the_mean_and_the_maximum(
    drawn: tuple[list[int], list[float]],
) -> None:
    stats = temperature_stats(_series(*drawn), max_step_s=900)
    assert stats.min_c is not None and stats.max_c is not None
    assert stats.mean_c is not None and stats.mkt_c is not None
    tolerance = 1e-6
    assert stats.min_c - tolerance <= stats.mean_c <= stats.mkt_c + tolerance
    assert stats.mkt_c <= stats.max_c + tolerance


@settings(max_examples=100, deadline=None)
@given(series, st.integers(min_value=2, max_value=40))
def test_the_plot_keeps_the_peak_and_the_trough_and_stays_small(
    drawn: tuple[list[int], list[float]], most: int
) -> None:
    points = _series(*drawn)
    kept = plot_points(points, most)
    assert max(t for _, t in kept) == max(t for _, t in points)
    assert min(t for _, t in kept) == min(t for _, t in points)
    assert len(kept) <= max(most, 2)
    assert [at for at, _ in kept] == sorted(at for at, _ in kept)


def test_no_readings_give_no_figures() -> None:
    stats = temperature_stats([], max_step_s=900)
    assert stats.readings == 0 and stats.mkt_c is None and math.isclose(stats.covered_min, 0)


def budget_alerts_beside_the_report(points: list[TempPoint]) -> list[tuple[float, float]]:
    """(the alert's figure, the report's time out up to the alert) of every stability_budget
    alert when `points` run through the whole detector engine, as a backtest runs it, on a
    shipment with a 30-minute budget."""
    trip = parse_shipment(
        {
            "shipment_id": "SHP-B",
            "device_id": "trk-b",
            "profile": "vaccine_2_8",
            "stability_budget_min": 30,
        }
    )
    assert trip.profile.temp_range_c is not None
    low, high = trip.profile.temp_range_c
    max_step_s = max(900.0, 3 * trip.profile.expected_interval_s)  # the report's, as it reads it
    readings = [Reading("trk-b", at, temp_c=t) for at, t in points]
    found = []
    for alert in replay(readings, replay_engine([trip], None)).events:
        if alert.kind == "stability_budget":
            then = [p for p in points if p[0] <= alert.at_ms]
            out = sum(e.minutes for e in excursions(then, low, high, max_step_s))
            found.append((float(alert.evidence["cumulative_out_min"]), round(out, 1)))
    return found


def test_the_budget_alerts_of_a_warm_trip_state_the_reports_time_out_then() -> None:
    points = [(1_700_000_000_000 + n * 10 * MIN, 12.0) for n in range(20)]
    assert budget_alerts_beside_the_report(points) == [(20.0, 20.0), (30.0, 30.0)]


@settings(max_examples=100, deadline=None)
@given(series)
def test_every_stability_budget_alert_of_a_replayed_trip_states_the_reports_time_out_then(
    drawn: tuple[list[int], list[float]],
) -> None:
    points = [(at + 1_700_000_000_000, t) for at, t in _series(*drawn)]
    for alerted, reported in budget_alerts_beside_the_report(points):
        assert alerted == pytest.approx(reported, abs=0.051)
