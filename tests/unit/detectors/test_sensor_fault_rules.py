"""Sensor-fault jumps: what a probe fault looks like at every reporting interval, and what it does not."""

import random

import pytest

from detectors.reading import Reading
from detectors.sensor_fault import SensorFault

SECOND = 1_000
MIN = 60_000
INTERVALS = [
    pytest.param(1 * SECOND, id="every second"),
    pytest.param(1 * MIN, id="every minute"),
    pytest.param(15 * MIN, id="every 15 minutes"),
]


def faults(readings, detector=None):
    d = detector or SensorFault()
    return [c for r in readings for c in d.update(r) or [] if c.active]


def quantised_noise(interval_ms, hours, ambient=True, seed=3):
    """A steady 4 °C product read by a 0.1 °C probe whose noise moves it a step at a time."""
    rng = random.Random(seed)
    n = int(hours * 3_600_000 / interval_ms)
    value, out = 40, []
    for i in range(n):
        value = min(42, max(38, value + rng.choice((-1, 0, 1))))  # tenths of a degree
        amb = {"ambient_c": round(24.0 + rng.gauss(0, 0.3), 1)} if ambient else {}
        out.append(Reading("t", i * interval_ms, temp_c=value / 10, **amb))
    return out


def steady_then(interval_ms, after, *, ambient_c=25.0, n=12):
    """`n` steady readings at 5 °C, then `after` (values) one reading apart, ambient held."""
    amb = {} if ambient_c is None else {"ambient_c": ambient_c}
    values = [5.0 + 0.1 * (i % 2) for i in range(n)] + list(after)
    return [Reading("t", i * interval_ms, temp_c=v, **amb) for i, v in enumerate(values)]


def test_the_evidence_of_a_jump_holds_the_value_before_it_and_the_new_one():
    d = SensorFault()
    d.update(Reading("t", 0, temp_c=5.0))
    [c] = d.update(Reading("t", MIN, temp_c=45.0))
    assert c.evidence["fault"] == "jump"
    assert (c.evidence["previous_c"], c.evidence["temp_c"]) == (5.0, 45.0)
    assert "5.0 → 45.0" in c.summary


@pytest.mark.parametrize("interval_ms", INTERVALS)
@pytest.mark.parametrize("ambient", [True, False], ids=["with ambient", "without ambient"])
def test_quantised_noise_in_tenths_of_a_degree_is_never_a_fault(interval_ms, ambient):
    hours = 2 if interval_ms == SECOND else 48
    assert faults(quantised_noise(interval_ms, hours, ambient)) == []


@pytest.mark.parametrize("interval_ms", INTERVALS)
def test_a_probe_that_jumps_10_degrees_in_one_reading_is_a_fault(interval_ms):
    [c] = faults(steady_then(interval_ms, [15.1, 15.0, 15.1]))
    assert c.evidence["fault"] == "jump" and c.evidence["temp_c"] == 15.1
    assert c.evidence["previous_c"] in (5.0, 5.1)


@pytest.mark.parametrize("interval_ms", [SECOND, MIN], ids=["every second", "every minute"])
def test_a_fast_jump_is_a_fault_even_on_a_tracker_without_an_ambient_sensor(interval_ms):
    [c] = faults(steady_then(interval_ms, [15.1, 15.0], ambient_c=None))
    assert c.evidence["fault"] == "jump"


def test_a_jump_spread_over_a_few_one_second_readings_is_still_a_fault():
    ramp = [5.0 + 2.0 * k for k in range(1, 6)]  # 2 °C a second: no single step is large
    [c] = faults(steady_then(SECOND, [*ramp, 15.0, 15.1]))
    assert c.evidence["fault"] == "jump"


def test_a_probe_jumping_at_0_95_degrees_a_minute_while_its_own_ambient_stays_put_is_a_fault():
    # 15-minute readings: 0.95 °C/min is a 14 °C step between two of them.
    [c] = faults(steady_then(15 * MIN, [5.0 + 0.95 * 15, 19.3], ambient_c=18.0))
    assert c.evidence["fault"] == "jump" and c.evidence["ambient_c"] == 18.0
    assert c.evidence["rate_c_per_min"] == pytest.approx(0.95, abs=0.02)


def test_a_product_following_a_large_change_of_its_surroundings_is_not_a_fault():
    # Unloaded from a 4 °C store onto a 35 °C apron: ambient leaps, the product follows.
    d = SensorFault()
    readings = [
        Reading("t", i * 15 * MIN, temp_c=4.0, ambient_c=4.0 + 0.1 * (i % 2)) for i in range(8)
    ]
    readings += [
        Reading("t", (8 + i) * 15 * MIN, temp_c=4.0 + 6.0 * (i + 1), ambient_c=35.0)
        for i in range(4)
    ]
    assert faults(readings, d) == []


def test_a_failing_reefer_warming_its_cargo_is_not_a_fault():
    readings = [
        Reading("t", i * MIN, temp_c=round(5.0 + i * 3.0 / 60, 1), ambient_c=30.0)
        for i in range(6 * 60)
    ]
    assert faults(readings) == []


def test_without_its_own_ambient_a_moderate_jump_at_15_minutes_cannot_be_told_from_the_cargo():
    # The limit of a single-device detector: nothing says the surroundings stayed put.
    assert faults(steady_then(15 * MIN, [5.0 + 0.95 * 15, 19.3], ambient_c=None)) == []
