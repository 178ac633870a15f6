"""The breach warning's confidence is a calibrated probability, and the forecaster holds on any input."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.forecast_calibration import POINTS, calibrate, fit_isotonic
from detectors.predicted_breach import PredictedBreach
from detectors.reading import Reading

MIN = 60_000

finite = st.floats(allow_nan=False, allow_infinity=False)
timestamps = st.integers(-(2**62), 2**62)


def test_the_fitted_points_rise_with_the_raw_probability_and_stay_probabilities():
    xs = [x for x, _ in POINTS]
    ys = [y for _, y in POINTS]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert ys == sorted(ys)
    assert all(0.0 <= v <= 1.0 for v in xs + ys)


def test_a_warning_states_the_calibrated_confidence_of_its_raw_forecast():
    # Steady at 5 °C for 3 h, then warming 2 °C/h: every active condition carries
    # calibrate(raw), and the raw value is kept in the evidence for the record.
    d = PredictedBreach(2.0, 8.0)
    seen = 0
    for m in range(0, 420, 5):
        temp = 5.0 + max(0.0, 2.0 * (m - 180) / 60)
        for c in d.update(Reading("t", m * MIN, temp_c=temp)) or []:
            if c.active:
                assert d.raw_confidence is not None
                assert c.confidence == round(calibrate(d.raw_confidence), 3)
                assert c.evidence["raw_confidence"] == round(d.raw_confidence, 3)
                seen += 1
    assert seen


@given(st.one_of(finite, st.just(math.nan)))
def test_calibration_gives_a_probability_for_any_raw_value(raw):
    assert 0.0 <= calibrate(raw) <= 1.0


@given(finite, finite)
def test_calibration_never_lowers_a_higher_raw_probability(a, b):
    lo, hi = sorted((a, b))
    assert calibrate(lo) <= calibrate(hi)


@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans()), min_size=1, max_size=200))
def test_an_isotonic_fit_rises_and_keeps_the_share_of_samples_followed(samples):
    points = fit_isotonic(samples)
    raws = [x for x, _ in points]
    shares = [y for _, y in points]
    assert raws == sorted(raws) and shares == sorted(shares)
    assert all(0.0 <= y <= 1.0 for y in shares)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(timestamps, st.one_of(finite, st.none(), st.just(math.nan))), max_size=80),
    st.floats(-50.0, 30.0),
    st.floats(0.1, 40.0),
)
def test_the_forecaster_never_raises_and_its_confidence_stays_a_probability(points, low, width):
    # Any finite temperatures at any timestamps: out of order, repeated, far apart.
    d = PredictedBreach(low, low + width)
    for ts, temp in points:
        for c in d.update(Reading("t", ts, temp_c=temp)) or []:
            assert c.confidence is None or 0.0 <= c.confidence <= 1.0
        assert d.raw_confidence is None or 0.0 <= d.raw_confidence <= 1.0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 30 * MIN), st.floats(-2.0, 2.0)), min_size=10, max_size=200)
)
def test_a_drifting_series_at_irregular_intervals_keeps_confidence_a_probability(steps):
    # A random walk near the range at irregular gaps reaches the forecast, not only warm-up.
    d = PredictedBreach(2.0, 8.0)
    ts, temp = 0, 5.0
    for gap, change in steps:
        ts, temp = ts + gap, min(9.0, max(1.0, temp + change * gap / (30 * MIN)))
        for c in d.update(Reading("t", ts, temp_c=temp)) or []:
            assert c.confidence is None or 0.0 <= c.confidence <= 1.0
        assert d.raw_confidence is None or 0.0 <= d.raw_confidence <= 1.0
