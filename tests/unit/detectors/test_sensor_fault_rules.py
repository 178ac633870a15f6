"""Sensor-fault jumps: what a probe fault looks like at every reporting interval, and what it does not."""

import math
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


def steady_then(interval_ms, after, *, ambient_c=25.0, n=12, hold_min=10):
    """`n` steady readings at 5 °C, then `after` (values) one reading apart, ambient held,
    then the last two of them in turn for `hold_min` (a fault stays where it went)."""
    amb = {} if ambient_c is None else {"ambient_c": ambient_c}
    after = list(after)
    hold = [
        after[-2 + i % 2] if len(after) > 1 else after[-1]
        for i in range(1, 1 + max(1, hold_min * MIN // interval_ms))
    ]
    values = [5.0 + 0.1 * (i % 2) for i in range(n)] + after + hold
    return [Reading("t", i * interval_ms, temp_c=v, **amb) for i, v in enumerate(values)]


def noisy_probe(interval_ms, hours, *, sd_c, resolution_c, ambient=True, seed=7):
    """A steady -75 °C product read by a probe with Gaussian noise, rounded to its resolution."""
    rng = random.Random(seed)
    out = []
    for i in range(int(hours * 3_600_000 / interval_ms)):
        v = round(round((-75.0 + rng.gauss(0.0, sd_c)) / resolution_c) * resolution_c, 2)
        amb = {"ambient_c": round(24.0 + rng.gauss(0, 0.3), 1)} if ambient else {}
        out.append(Reading("t", i * interval_ms, temp_c=v, **amb))
    return out


def test_the_evidence_of_a_jump_holds_the_value_before_it_and_the_new_one():
    d = SensorFault()
    d.update(Reading("t", 0, temp_c=5.0))
    assert d.update(Reading("t", MIN, temp_c=45.0)) is None, "one reading may yet come back"
    [c] = d.update(Reading("t", 6 * MIN, temp_c=45.1))
    assert c.evidence["fault"] == "jump" and c.at_ms == 6 * MIN
    assert (c.evidence["previous_c"], c.evidence["temp_c"]) == (5.0, 45.0)
    assert (c.evidence["level_before_c"], c.evidence["level_after_c"]) == (5.0, 45.0)
    assert "5.0 → 45.0" in c.summary


@pytest.mark.parametrize("interval_ms", INTERVALS)
@pytest.mark.parametrize("stray", [7.5, 45.0], ids=["2.5 °C", "40 °C"])
def test_a_stray_reading_that_comes_back_is_noise_not_a_jump(interval_ms, stray):
    # Too fast for the cargo while ambient holds still (at 15 minutes only the 40 °C one), but
    # the probe reads its old level again straight after: nothing failed.
    assert faults(steady_then(interval_ms, [stray, 5.0, 5.1], hold_min=0)) == []


@pytest.mark.parametrize(
    "interval_ms, hours",
    [
        pytest.param(SECOND, 4, id="every second"),
        pytest.param(MIN, 48, id="every minute"),
        pytest.param(2 * MIN, 48, id="every 2 minutes"),
    ],
)
@pytest.mark.parametrize("ambient", [True, False], ids=["with ambient", "without ambient"])
def test_a_noisy_coarse_probe_on_a_steady_product_is_never_a_fault(interval_ms, hours, ambient):
    # Half a degree of noise read at 0.5 °C: a 2 °C difference between two readings a minute
    # apart turns up every few hours, and never stays.
    readings = noisy_probe(interval_ms, hours, sd_c=0.5, resolution_c=0.5, ambient=ambient)
    assert faults(readings) == []


def test_a_level_shift_is_a_jump_on_a_quiet_probe_but_not_within_a_noisy_probes_spread():
    shift = [
        Reading("t", (600 + i) * MIN, temp_c=r.temp_c + 3.0, ambient_c=r.ambient_c)
        for i, r in enumerate(noisy_probe(MIN, 1, sd_c=0.05, resolution_c=0.1, seed=1))
    ]
    quiet = noisy_probe(MIN, 10, sd_c=0.05, resolution_c=0.1)
    [c] = faults(quiet + shift)
    assert c.evidence["fault"] == "jump" and c.evidence["noise_c"] < 0.5
    loud = noisy_probe(MIN, 10, sd_c=1.0, resolution_c=0.1)
    loud_shift = [
        Reading("t", r.ts_ms, temp_c=v.temp_c + 3.0, ambient_c=r.ambient_c)
        for r, v in zip(shift, noisy_probe(MIN, 1, sd_c=1.0, resolution_c=0.1, seed=2), strict=True)
    ]
    assert faults(loud + loud_shift) == []


@pytest.mark.parametrize("interval_ms", INTERVALS)
def test_a_probe_dropping_out_to_a_fixed_value_that_stays_is_a_jump(interval_ms):
    [c] = faults(steady_then(interval_ms, [-20.0, -20.0], hold_min=30))
    assert c.evidence["fault"] == "jump" and c.evidence["level_after_c"] == -20.0
    assert c.evidence["settled_min"] >= 5


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


ULTRA_COLD = (-80.0, -60.0)


def pull_down(start_c, minutes, tau_min=90.0, setpoint_c=-75.0, step_min=2):
    """An hour steady at `start_c` (ambient 25 °C), then the unit restarting: the product
    relaxing towards the setpoint with time constant `tau_min`, read every `step_min`."""
    out = [
        Reading("t", i * step_min * MIN, temp_c=start_c + 0.1 * (i % 2), ambient_c=25.0)
        for i in range(60 // step_min)
    ]
    t0 = len(out)
    for k in range(1, minutes // step_min + 1):
        c = setpoint_c + (start_c - setpoint_c) * math.exp(-k * step_min / tau_min)
        out.append(Reading("t", (t0 + k) * step_min * MIN, temp_c=round(c, 1), ambient_c=25.0))
    return out


def test_an_ultra_cold_unit_pulling_its_load_back_from_room_temperature_is_not_a_fault():
    # 26 °C, 86 °C above the range: the product first falls 1.1 °C a minute.
    readings = pull_down(26.0, 60)
    assert readings[31].temp_c - readings[30].temp_c < -2.0  # two minutes, over 1 °C/min
    assert faults(readings, SensorFault(range_c=ULTRA_COLD)) == []


def test_without_its_range_the_same_pull_down_is_faster_than_any_cargo():
    found = faults(pull_down(26.0, 60), SensorFault())
    assert found and {c.evidence["fault"] for c in found} == {"jump"}


def test_the_pull_back_allowance_is_only_towards_the_range_and_only_from_outside_it():
    d = SensorFault(range_c=ULTRA_COLD)
    # Away from the range, from far outside it: a probe jumping 2.2 °C up in 2 min and staying.
    up = [Reading("t", i * 2 * MIN, temp_c=26.0 + 0.1 * (i % 2), ambient_c=25.0) for i in range(30)]
    up += [Reading("t", (30 + i) * 2 * MIN, temp_c=28.2, ambient_c=25.0) for i in range(6)]
    assert [c.evidence["fault"] for c in faults(up, d)] == ["jump"]
    # Inside the range: a probe stepping 2.2 °C down in 2 min and staying.
    d = SensorFault(range_c=ULTRA_COLD)
    inside = [
        Reading("t", i * 2 * MIN, temp_c=-70.0 + 0.1 * (i % 2), ambient_c=25.0) for i in range(30)
    ]
    inside += [Reading("t", (30 + i) * 2 * MIN, temp_c=-72.2, ambient_c=25.0) for i in range(6)]
    assert [c.evidence["fault"] for c in faults(inside, d)] == ["jump"]
