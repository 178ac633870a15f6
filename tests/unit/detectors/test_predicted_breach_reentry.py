"""The breach warning after the product comes back into its range: the trend that carried it out
says nothing of the way back, yet a blip out and back in on the way up keeps the warning."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.predicted_breach import PredictedBreach
from detectors.reading import Reading

MIN = 60_000


def opens_after(d, temps, step_min, after_min):
    """Minutes at which a warning opens from `after_min` on."""
    out = []
    for i, t in enumerate(temps):
        m = i * step_min
        for c in d.update(Reading("t", m * MIN, temp_c=t)) or []:
            if c.active and m >= after_min:
                out.append(m)
    return out


def frozen_out_and_back(step_min, rate_c_per_h=2.0, fall_c_per_h=1.5):
    """-17 °C for 2 h, up to -14.6 °C (out of -25..-15), three readings out, then falling."""
    temps, t = [-17.0] * (120 // step_min), -17.0
    while t < -14.6:
        t = min(-14.6, t + rate_c_per_h * step_min / 60)
        temps.append(round(t, 1))
    temps += [-14.6] * 2
    back = len(temps)
    for k in range(1, int(180 / step_min)):
        temps.append(round(max(-18.0, -15.1 - fall_c_per_h * k * step_min / 60), 1))
    return temps, back * step_min


@pytest.mark.parametrize("step_min", [1, 5, 15])
def test_a_product_falling_back_into_range_is_not_warned_of_a_breach(step_min):
    temps, back_min = frozen_out_and_back(step_min)
    assert opens_after(PredictedBreach(-25.0, -15.0), temps, step_min, back_min) == []


@settings(max_examples=40, deadline=None)
@given(
    step_min=st.sampled_from([1, 2, 5, 10, 15]),
    rate=st.floats(1.0, 4.0),
    fall=st.floats(0.3, 3.0),
)
def test_no_fall_back_into_range_opens_a_warning(step_min, rate, fall):
    temps, back_min = frozen_out_and_back(step_min, rate, fall)
    assert opens_after(PredictedBreach(-25.0, -15.0), temps, step_min, back_min) == []


def test_a_rise_that_goes_on_after_a_blip_out_is_warned_again_at_once():
    # 1 °C/h from 4 °C; one reading of 8.4 at 445 min, then the rise goes on from 7.5 °C.
    temps = [
        8.4 if m == 445 else round(4.0 + max(0.0, (m - 240) / 60), 1) for m in range(0, 600, 5)
    ]
    d = PredictedBreach(2.0, 8.0)
    warned = opens_after(d, temps, 5, 450)
    assert warned and warned[0] <= 455
