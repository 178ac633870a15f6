"""The breach warning through the whole engine: holds in time and reporting interval, brief exits, steps, thermostats.

These run the detector, its damping policy and the alert book together (`build_engine`),
because a warning that the detector raises but the book never opens is lost all the same.
"""

import random

import pytest

from detectors.predicted_breach import PredictedBreach
from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000


def run(temp_at, minutes, step_min, **manifest):
    shipment = parse_shipment(
        {"shipment_id": "S1", "device_id": "t", "profile": "vaccine_2_8", **manifest}
    )
    engine = build_engine([shipment], lateness_ms=0)
    readings, events = [], []
    for m in range(0, minutes, step_min):
        r = Reading("t", m * MIN, temp_c=round(temp_at(m), 1))
        readings.append(r)
        events += [e for e in engine.process(r) if e.kind == "temp_breach_predicted"]
    return readings, events


def warming(rate_c_per_h, onset_min=360, seed=1):
    rng = random.Random(seed)
    return lambda m: 5.0 + rng.gauss(0, 0.1) + max(0.0, rate_c_per_h * (m - onset_min) / 60)


def lead_min(readings, events):
    """Minutes between the first warning that opened and the first reading above 8 °C."""
    breach = next(r.ts_ms for r in readings if r.temp_c > 8.0)
    opens = [e.at_ms for e in events if e.event == "open" and e.at_ms <= breach]
    return (breach - opens[0]) / MIN if opens else None


@pytest.mark.parametrize(
    "step_min, rate",
    [(1, 1.0), (1, 2.0), (5, 1.0), (5, 2.0), (15, 1.0), (15, 2.0)],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_steady_warming_is_warned_at_least_30_min_ahead_at_any_reporting_interval(
    step_min, rate, seed
):
    # Stable at 5 °C for 6 h, then warming steadily: the breach of 8 °C is 90 min (2 °C/h)
    # or 3 h (1 °C/h) after the onset, and the warning must leave half an hour to act.
    minutes = 360 + int(3.0 / rate * 60) + 60
    lead = lead_min(*run(warming(rate, seed=seed), minutes, step_min))
    assert lead is not None and lead >= 30, f"lead {lead} min"


def test_at_15_minute_readings_one_confident_forecast_opens_the_warning():
    d = PredictedBreach(2.0, 8.0, hold_min=5)
    readings = [
        Reading("t", m * MIN, temp_c=5.0 + max(0.0, (m - 240) / 60)) for m in range(0, 480, 15)
    ]
    for r in readings:
        conds = d.update(r) or []
        if any(c.active for c in conds):
            assert r.temp_c < 8.0
            return
    pytest.fail("never warned")


def test_at_1_minute_readings_the_forecast_must_hold_for_the_hold_time():
    # A forecast that agrees for only two readings a minute apart is not enough.
    d = PredictedBreach(2.0, 8.0, hold_min=5)
    first = None
    for m in range(0, 600):
        conds = d.update(Reading("t", m * MIN, temp_c=5.0 + max(0.0, 2.0 * (m - 240) / 60))) or []
        if first is None and d.confident_since_ms is not None:
            first = d.confident_since_ms
        if any(c.active for c in conds):
            assert m * MIN - first >= 4 * MIN
            return
    pytest.fail("never warned")


def test_a_brief_exit_keeps_what_the_forecaster_has_learnt():
    # Warming at 1 °C/h with one reading spiking out of range (a sensor blip or door): the
    # warning is back at the next reading instead of after a fresh 30-minute warm-up.
    def temp(m):
        base = 4.0 + max(0.0, (m - 240) / 60)
        return 8.4 if m == 445 else base

    _, events = run(temp, 700, 5)
    opened = [e.at_ms // MIN for e in events if e.event == "open"]
    assert opened and opened[0] < 445
    active_after = [
        e.at_ms // MIN for e in events if e.at_ms > 445 * MIN and e.event in ("open", "update")
    ]
    resolved = [e.at_ms // MIN for e in events if e.event == "resolve"]
    assert not resolved or resolved[0] > 480, "the warning stays open through the blip"
    assert active_after or not resolved


def test_a_room_that_cycles_out_of_range_is_warned_before_each_later_exit():
    # A failing room drifting up 0.5 °C/h under a 0.6 °C thermostat cycle: it leaves the
    # range briefly at each cycle's top, then for good. After the first exits the forecaster
    # must not start from zero each time.
    def temp(m):
        return 6.0 + 0.5 * m / 60 + 0.3 * (1 if (m // 30) % 2 else -1)

    readings, events = run(temp, 8 * 60, 15)
    exits = [r.ts_ms for r in readings if r.temp_c > 8.0]
    assert exits
    warned_before_last = [e for e in events if e.event == "open" and e.at_ms < exits[-1]]
    assert warned_before_last


@pytest.mark.parametrize("step_min", [1, 5])
@pytest.mark.parametrize("period_min", [20, 60, 90, 120, 180])
def test_a_thermostat_cycling_just_under_the_limit_raises_no_warning(step_min, period_min):
    # A sawtooth peaking 0.3 °C under the limit: slow warming while the compressor is off,
    # quick pull-down when it starts. It never crosses, so a warning would be false.
    rng = random.Random(period_min)

    def temp(m):
        phase = (m % period_min) / period_min
        v = 6.7 + phase / 0.8 if phase < 0.8 else 7.7 - (phase - 0.8) / 0.2
        return v + rng.gauss(0, 0.05)

    _, events = run(temp, 24 * 60, step_min)
    assert [e for e in events if e.event == "open"] == []


@pytest.mark.parametrize("step_min", [1, 5, 15])
def test_after_a_step_a_steady_rise_is_still_warned_before_the_breach(step_min):
    # The probe is moved (a 1.5 °C step up), then the product warms at 1 °C/h.
    rng = random.Random(4)

    def temp(m):
        step = 1.5 if m >= 300 else 0.0
        return 3.5 + step + rng.gauss(0, 0.1) + max(0.0, (m - 360) / 60)

    readings, events = run(temp, 10 * 60, step_min)
    lead = lead_min(readings, events)
    assert lead is not None and lead >= 30, f"lead {lead} min"
    assert all(e.at_ms >= 360 * MIN for e in events), "the step alone warns of nothing"


@pytest.mark.parametrize("step_min", [1, 5, 15])
def test_a_3_degree_step_is_taken_by_the_level_and_a_rise_after_it_still_warned(step_min):
    # The probe is moved (2.5 to 5.5 °C): the step is a new level, not a trend; the
    # product then warms at 1 °C/h, which the readings after the step must show.
    rng = random.Random(6)

    def temp(m):
        step = 3.0 if m >= 300 else 0.0
        return 2.5 + step + rng.gauss(0, 0.1) + max(0.0, (m - 360) / 60)

    readings, events = run(temp, 10 * 60, step_min)
    lead = lead_min(readings, events)
    assert lead is not None and lead >= 30, f"lead {lead} min"
    assert all(e.at_ms >= 360 * MIN for e in events), "the step alone warns of nothing"
