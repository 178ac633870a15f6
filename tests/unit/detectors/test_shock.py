"""Shock: an event on the reading that carries it, over on the next calm reading."""

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.shock import Shock, make_shock

T0 = 1_763_800_000_000


def readings(gs):
    return [Reading("t1", T0 + i * 60_000, shock_g=g, lat=0.5, lon=33.0) for i, g in enumerate(gs)]


def feed(d, gs, start=0):
    """(index, condition) for readings[start:] of the shock values gs, one a minute."""
    return [(start + i, c) for i, x in enumerate(readings(gs)[start:]) for c in d.update(x) or []]


@pytest.mark.parametrize(
    "g, severity",
    [
        pytest.param(2.99, None, id="just under 3 g is handling, not a shock"),
        pytest.param(3.0, "warning", id="3 g is a warning"),
        pytest.param(7.9, "warning", id="7.9 g is still a warning"),
        pytest.param(8.0, "critical", id="8 g is critical"),
        pytest.param(25.0, "critical", id="a drop off a crane is critical"),
    ],
)
def test_the_peak_decides_the_severity(g, severity):
    events = feed(Shock(), [0.1, g])
    assert [c.severity for _, c in events] == ([severity] if severity else [])


def test_a_shock_is_active_on_its_reading_and_over_on_the_next_calm_one():
    events = feed(Shock(), [0.2, 4.1, 0.3, 0.2])
    assert [(i, c.kind, c.active) for i, c in events] == [(1, "shock", True), (2, "shock", False)]
    hit, over = events[0][1], events[1][1]
    assert hit.summary == "shock of 4.1 g (warning from 3 g)" and hit.value == 4.1
    assert hit.evidence == {
        "shock_g": 4.1,
        "warning_g": 3.0,
        "critical_g": 8.0,
        "lat": 0.5,
        "lon": 33.0,
    }
    assert over.summary == "shock over (now 0.3 g)"


def test_a_run_of_shocks_reports_again_only_when_it_gets_worse():
    events = feed(Shock(), [4.0, 5.0, 9.0, 4.0, 9.5, 1.0])
    assert [(i, c.active, c.severity) for i, c in events] == [
        (0, True, "warning"),
        (2, True, "critical"),
        (5, False, "critical"),
    ]


def test_a_reading_without_a_shock_value_ends_the_shock():
    events = feed(Shock(), [9.0, None])
    assert [(i, c.active) for i, c in events] == [(0, True), (1, False)]
    assert events[-1][1].summary == "shock over (no shock reported)"


def test_thresholds_are_parameters():
    events = feed(Shock(warning_g=1.5, critical_g=4.0), [2.0, 0.0, 4.0])
    assert [(i, c.severity) for i, c in events if c.active] == [(0, "warning"), (2, "critical")]


def test_every_shipment_gets_a_shock_detector_with_the_default_thresholds():
    d = make_shock(
        parse_shipment({"shipment_id": "S1", "device_id": "t1", "profile": "vaccine_2_8"})
    )
    assert (d.warning_g, d.critical_g) == (3.0, 8.0)


@given(st.lists(st.one_of(st.none(), st.floats(0.0, 2.999)), max_size=50))
def test_handling_below_3_g_never_raises_a_shock(gs):
    assert feed(Shock(), gs) == []


@given(st.lists(st.one_of(st.none(), st.floats(0.0, 50.0)), max_size=50), st.integers(0, 50))
def test_every_shock_is_over_on_the_next_calm_reading_and_pickling_changes_nothing(gs, cut):
    events = feed(Shock(), gs)
    for i, c in events:
        g = gs[i]
        if c.active:
            assert g >= 3.0 and c.severity == ("critical" if g >= 8.0 else "warning")
        else:
            assert g is None or g < 3.0
    calm_after_shock = [
        i
        for i in range(1, len(gs))
        if (gs[i] is None or gs[i] < 3) and gs[i - 1] is not None and gs[i - 1] >= 3
    ]
    assert calm_after_shock == [i for i, c in events if not c.active]
    d = Shock()
    first = feed(d, gs[:cut])
    resumed = pickle.loads(pickle.dumps(d))
    assert first + feed(resumed, gs, start=min(cut, len(gs))) == events
