"""Temperature excursions: when they open, how they escalate, when they clear, and the budget."""

import math

from detectors.reading import Reading
from detectors.temperature import TempExcursion

MIN = 60_000


def feed(d, temps, step_min=5):
    out = []
    for i, t in enumerate(temps):
        for c in d.update(Reading("t", i * step_min * MIN, temp_c=t)) or []:
            out.append((i, c))
    return out


def test_in_range_readings_say_nothing():
    assert feed(TempExcursion(2, 8, budget_min=120), [5.0, 2.0, 8.0, 7.9, 2.1]) == []


def test_an_excursion_opens_once_out_for_the_minimum_duration_and_says_how_far_and_how_long():
    [(i, c)] = feed(TempExcursion(2, 8, budget_min=120), [5.0, 8.6, 8.6])
    assert i == 2 and c.kind == "temp_excursion" and c.active and c.severity == "warning"
    assert c.summary == "8.6 °C, 0.6 °C above the 8 °C limit for 5 min (range 2 to 8 °C)"
    assert c.evidence["range_c"] == [2, 8] and c.value == 8.6


def test_with_no_minimum_duration_the_first_reading_out_opens_and_says_so():
    [(i, c)] = feed(TempExcursion(2, 8, budget_min=120, min_duration_min=0), [5.0, 8.6])
    assert i == 1 and c.active
    assert (
        c.summary
        == "8.6 °C, 0.6 °C above the 8 °C limit on its first reading out (range 2 to 8 °C)"
    )


def test_a_deep_excursion_is_critical_at_once_and_a_long_one_becomes_critical():
    [(_, deep)] = feed(TempExcursion(2, 8, budget_min=120), [5.0, 10.5, 9.0])
    assert deep.severity == "critical", "the peak of the run counts, not only the latest reading"
    events = feed(TempExcursion(2, 8, budget_min=1000), [5.0] + [8.5] * 8)
    severities = [(i, c.severity) for i, c in events if c.kind == "temp_excursion"]
    assert severities == [(i, "warning") for i in range(2, 7)] + [(7, "critical"), (8, "critical")]
    assert events[-1][1].summary.endswith("for 35 min (range 2 to 8 °C)"), "each report is current"


def test_freezing_below_the_range_is_an_excursion_too():
    [(_, c)] = feed(TempExcursion(2, 8, budget_min=120), [3.0, 1.5, 1.5])
    assert "below the 2 °C limit" in c.summary


def test_it_clears_only_once_back_inside_the_range_by_the_margin():
    events = feed(TempExcursion(2, 8, budget_min=120), [5.0, 8.5, 8.5, 7.9, 8.4, 7.7])
    cleared = [(i, c) for i, c in events if not c.active]
    assert [i for i, _ in cleared] == [5], "7.9 is inside but within the 0.2 °C margin"
    assert [i for i, c in events if c.active] == [2, 4], "back out within the margin: same one"
    assert cleared[0][1].summary.startswith("back in range at 7.7 °C after 20 min outside")


def test_the_stability_budget_warns_at_half_and_is_critical_when_used_up():
    d = TempExcursion(2, 8, budget_min=20)
    events = feed(d, [5.0] + [9.0] * 6)
    budget = [(i, c.severity, c.value) for i, c in events if c.kind == "stability_budget"]
    assert budget == [(3, "warning", 50.0), (5, "critical", 100.0)]
    assert d.out_minutes == 25.0


def test_gaps_longer_than_max_step_count_only_up_to_the_step():
    d = TempExcursion(2, 8, budget_min=1000, max_step_s=600)
    d.update(Reading("t", 0, temp_c=9.0))
    d.update(Reading("t", 60 * MIN, temp_c=9.0))
    assert d.out_minutes == 10.0


def test_mean_kinetic_temperature_weights_warm_periods_more_than_the_average():
    d = TempExcursion(2, 8, budget_min=120)
    feed(d, [5.0] * 10 + [25.0] * 2)
    # USP <1079>: MKT = (dH/R) / -ln(mean(exp(-dH/(R T)))), dH/R = 10,000 K.
    mean = (10 * math.exp(-10_000 / 278.15) + 2 * math.exp(-10_000 / 298.15)) / 12
    assert abs(d.mkt_c - (10_000 / -math.log(mean) - 273.15)) < 1e-9
    assert d.mkt_c > 8.34 + 4, "far above the 8.3 °C arithmetic mean"


def test_a_failing_probes_values_are_left_to_the_sensor_fault_detector():
    # -127 °C (disconnected) and 85 °C (reset) are what common digital probes report when failing.
    assert feed(TempExcursion(2, 8, budget_min=120), [5.0, -127.0, 85.0, 5.0]) == []


def engine_events(temps, step_min=15, profile="chilled_reefer", **manifest):
    """Alert events of the whole engine (detector, damping policy and alert book together)."""
    from detectors.profiles import parse_shipment
    from detectors.registry import build_engine

    shipment = parse_shipment(
        {"shipment_id": "S1", "device_id": "t", "profile": profile, **manifest}
    )
    engine = build_engine([shipment], lateness_ms=0)
    events = []
    for i, t in enumerate(temps):
        events += engine.process(Reading("t", i * step_min * MIN, temp_c=t))
    return [e for e in events if e.kind == "temp_excursion"]


def test_one_reading_out_then_one_just_inside_the_limit_opens_no_alert():
    # 15-minute readings around a 4 °C limit: 4.1 is out, 3.9 is back in range but within
    # the 0.2 °C clear margin. The reading back in range ends the time out of range.
    events = engine_events([3.0, 3.0, 4.1, 3.9, 3.9, 4.1, 3.9, 3.5, 3.0])
    assert events == [], [e.summary for e in events]


def test_the_minimum_duration_is_continuous_time_out_of_range():
    d = TempExcursion(2, 8, budget_min=1000, min_duration_min=10)
    # Out, just inside (within the clear margin), out, out: the clock restarts at 15 min.
    events = feed(d, [5.0, 8.3, 7.9, 8.3, 8.3, 8.3], step_min=5)
    assert [(i, c.active) for i, c in events if c.kind == "temp_excursion"] == [(5, True)]
    assert "for 10 min" in events[0][1].summary


def test_an_excursion_opens_with_the_time_it_has_really_been_out():
    events = engine_events([3.0, 3.0, 4.6, 4.7, 4.8, 3.0], step_min=15)
    [opened] = [e for e in events if e.event == "open"]
    assert opened.at_ms == 3 * 15 * MIN
    assert "for 15 min" in opened.summary and "for 0 min" not in opened.summary
    assert opened.evidence["minutes_out"] == 15.0
