"""A rise whose readings have stopped keeping up with the trend opens no breach warning.

The smoothed trend lags a rise that has stalled at its top (a defrost's heat, a door's, a
thermostat's cycle read every 10 minutes near its limit), so its forecast still points at the
limit after the readings have stopped climbing. A steady or quickening rise leaves no such
shortfall and is warned as before.
"""

import math

import pytest
from detector_checks import feed
from hypothesis import given, settings
from hypothesis import strategies as st

import detectors.predicted_breach as predicted_breach
from detectors.predicted_breach import PredictedBreach
from detectors.reading import Reading

MIN = 60_000

#: A vaccine unit's return-air probe, read every 10 min, whose thermostat tops out half a
#: degree under the 8 °C limit (from a fleet generated outside this project): the cycle,
#: sampled at a different point each time, climbs from 6.1 to 7.7 °C in two hours and goes on
#: cycling under the limit for the rest of the trip.
AIR_NEAR_LIMIT = [
    6.1, 6.4, 7.0, 7.3, 7.1, 7.1, 7.3, 7.1, 7.5, 7.1, 7.5, 7.4, 7.7, 7.6, 7.3, 6.7, 5.6, 6.7,
    7.1, 7.0, 7.2, 7.3, 7.2, 7.3, 7.4, 7.2, 7.4, 7.5, 6.6, 6.0, 6.4, 7.1, 7.4, 7.4, 7.4, 7.2,
    7.0, 6.7, 7.1, 7.4, 6.5, 6.2, 6.2, 7.0, 7.3, 7.0, 6.3, 6.1, 6.5, 7.1, 7.4, 6.6, 6.1, 5.9,
    6.8, 7.5, 6.8, 6.1, 6.0, 6.2, 7.1, 7.6, 6.9, 6.0, 6.1, 6.5, 7.3,
]  # fmt: skip


def warnings(temps: list[float], interval_min: float, low: float, high: float) -> list[int]:
    """The minutes at which a breach warning opened over readings every `interval_min`."""
    readings = [Reading("t", int(i * interval_min * MIN), temp_c=t) for i, t in enumerate(temps)]
    return [
        i * int(interval_min) for i, c in feed(PredictedBreach(low, high), readings) if c.active
    ]


def test_a_thermostat_cycle_read_every_10_minutes_under_its_limit_is_not_warned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert warnings(AIR_NEAR_LIMIT, 10, 2.0, 8.0) == []
    # Without the rule the lagging trend warned as the cycle topped out at 7.7 °C.
    monkeypatch.setattr(predicted_breach, "STALL_SHARE", math.inf)
    assert warnings(AIR_NEAR_LIMIT, 10, 2.0, 8.0)[:1] == [120]


def ramp(interval_min: int, rate: float, quickening: float, hours: float) -> list[float]:
    """Two hours steady at 4 °C, then a rise of `rate` °C/h quickening by `quickening` °C/h
    each hour, read at 0.1 °C until it passes 8 °C or `hours` have passed."""
    out = []
    for i in range(int(hours * 60 / interval_min)):
        h = max(0.0, i * interval_min / 60 - 2.0)
        t = round(4.0 + rate * h + quickening * h * h / 2, 1)
        if t > 8.0:
            break
        out.append(t)
    return out


@settings(max_examples=100, deadline=None)
@given(
    interval_min=st.sampled_from([1, 2, 5, 10, 15]),
    rate=st.floats(0.3, 6.0),
    quickening=st.floats(0.0, 4.0),
)
def test_a_rise_that_never_slows_is_warned_as_early_as_without_the_stall_rule(
    interval_min: int, rate: float, quickening: float
) -> None:
    temps = ramp(interval_min, rate, quickening, 8.0)
    with_rule = warnings(temps, interval_min, 2.0, 8.0)
    saved = predicted_breach.STALL_SHARE
    predicted_breach.STALL_SHARE = math.inf
    try:
        without = warnings(temps, interval_min, 2.0, 8.0)
    finally:
        predicted_breach.STALL_SHARE = saved
    assert with_rule[:1] == without[:1]


@pytest.mark.parametrize(("interval_min", "rate"), [(1, 2.0), (5, 1.0), (15, 0.5)])
def test_a_steady_rise_is_still_warned_ahead_of_its_breach(interval_min: int, rate: float) -> None:
    # The property above would hold vacuously if ramps were never warned: these are, with
    # the breach still ahead.
    temps = ramp(interval_min, rate, 0.0, 12.0)
    opened = warnings(temps, interval_min, 2.0, 8.0)
    assert opened and opened[0] < len(temps) * interval_min
