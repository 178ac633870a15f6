"""Silence, sensor faults and low battery: exact moments of opening, escalating and clearing."""

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.geo import haversine_m
from detectors.reading import Reading
from detectors.sensor_fault import BatteryLow, SensorFault
from detectors.silence import Silence

MIN = 60_000


def heard(d, ts_min, now_min=None, late=False):
    r = Reading("t", ts_min * MIN)
    d.late(r) if late else d.update(r)
    return d.advance((ts_min if now_min is None else now_min) * MIN)


def test_silence_opens_after_the_tolerated_gap_escalates_and_clears_when_readings_resume():
    d = Silence(max_gap_min=30)
    assert heard(d, 0) is None
    assert d.advance(30 * MIN) is None
    [opened] = d.advance(31 * MIN)
    assert (opened.active, opened.severity, opened.value) == (True, "warning", 31.0)
    assert opened.summary == "no reading for 31 min (tolerated 30 min)"
    assert opened.evidence["last_reading"] == "1970-01-01T00:00:00Z"
    assert d.advance(60 * MIN) is None
    [escalated] = d.advance(90 * MIN)
    assert escalated.severity == "critical"
    [cleared] = heard(d, 95)
    assert not cleared.active and cleared.summary == "readings resumed"


def test_silence_timed_as_the_gap_passes_what_is_tolerated_says_it_is_over():
    # A logger every 15 min with the default 30 min: the alert is timed 1 ms past the gap,
    # which rounds to the tolerated minutes; "for 30 min (tolerated 30 min)" read as no fault.
    d = Silence(max_gap_min=30)
    heard(d, 0)
    [opened] = d.advance(30 * MIN + 1)
    assert opened.summary == "no reading for over 30 min (tolerated 30 min)"


def test_a_late_upload_clears_silence():
    d = Silence(max_gap_min=30)
    heard(d, 0)
    assert d.advance(40 * MIN)[0].active
    [cleared] = heard(d, 35, now_min=41, late=True)
    assert not cleared.active and "late upload" in cleared.summary


def test_a_late_reading_long_before_a_silence_does_not_say_how_it_ended():
    # One reading reordered early in the trip; hours later a silence that live readings end.
    d = Silence(max_gap_min=30)
    heard(d, 10)
    heard(d, 5, now_min=10, late=True)
    heard(d, 15)
    assert d.advance(50 * MIN)[0].active
    [cleared] = heard(d, 55)
    assert not cleared.active and cleared.summary == "readings resumed"


def test_a_backlog_of_old_readings_arriving_now_is_not_silence():
    d = Silence(max_gap_min=30)
    for m in range(0, 600, 5):  # ten hours of readings, all arriving within a minute
        assert heard(d, m, now_min=10_000 + m / 600) is None


def test_silence_after_arrival_is_expected():
    d = Silence(max_gap_min=30, arrival_ms=10 * MIN)
    heard(d, 12)
    assert d.advance(120 * MIN) is None


def test_no_silence_before_the_first_reading():
    assert Silence().advance(10 * 24 * 60 * MIN) is None


def test_a_stuck_probe_is_reported_once_its_run_is_implausible_for_this_probe():
    d = SensorFault(stuck_min=60)
    noisy = [4.2, 4.3, 4.3, 4.4, 4.2, 4.3]  # a lively probe: most readings differ
    readings = [Reading("t", i * 5 * MIN, temp_c=noisy[i % 6]) for i in range(48)]
    readings += [Reading("t", (48 + i) * 5 * MIN, temp_c=4.25) for i in range(40)]
    events = [(i, c) for i, r in enumerate(readings) for c in d.update(r) or []]
    [(i, c)] = events
    assert c.evidence["fault"] == "stuck" and "stuck at 4.25 °C" in c.summary
    assert 48 + 12 <= i <= 48 + 24, "stuck after an hour, not at the first repeat"


def test_a_coarse_quiet_probe_repeating_itself_is_not_stuck():
    d = SensorFault(stuck_min=60)
    # -75.0 most of the time, -74.5 now and then: runs of 14 are ordinary for this probe.
    values = ([-75.0] * 14 + [-74.5]) * 12
    assert [
        c for i, v in enumerate(values) for c in d.update(Reading("t", i * 5 * MIN, temp_c=v)) or []
    ] == []


def test_a_coarse_probe_settling_after_pull_down_is_not_stuck():
    # A 0.5 °C probe in a freezer: while the box pulls down every reading differs, then the
    # product holds still and the probe sits on one step for an hour or more at a time.
    # The probe's recent behaviour, not its pull-down, says how long an honest run is.
    d = SensorFault(stuck_min=60)
    pull_down = [-10.0 - 0.5 * i for i in range(20)]  # -10.0 ... -19.5, one step a reading
    held = ([-20.0] * 70 + [-19.5]) * 6
    values = pull_down + held
    events = [
        c for i, v in enumerate(values) for c in d.update(Reading("t", i * MIN, temp_c=v)) or []
    ]
    assert events == []


def test_values_beyond_the_sensors_range_are_faults_not_excursions():
    d = SensorFault()
    [c] = d.update(Reading("t", 0, temp_c=250.0))
    assert c.evidence["fault"] == "out_of_range" and "temp_c 250" in c.summary
    assert d.update(Reading("t", 1, humidity_pct=130.0)) is None, "same fault continues"


def test_a_fault_clears_after_three_plausible_readings():
    d = SensorFault()
    d.update(Reading("t", 0, temp_c=5.0))
    d.update(Reading("t", MIN, temp_c=250.0))
    outs = [d.update(Reading("t", (2 + i) * 5 * MIN, temp_c=5.0 + i * 0.1)) for i in range(3)]
    assert outs[:2] == [None, None] and not outs[2][0].active


def battery(volts):
    """(voltage, condition) for every condition a fresh watch raises on these readings."""
    d = BatteryLow()
    return [
        (v, c) for i, v in enumerate(volts) for c in d.update(Reading("t", i, battery_v=v)) or []
    ]


def test_battery_warns_then_goes_critical_then_recovers_when_swapped():
    events = [(v, c.active, c.severity) for v, c in battery([3.7, 3.39, 3.38, 3.19, 3.1, 3.5, 3.9])]
    assert events == [(3.39, True, "warning"), (3.19, True, "critical"), (3.9, False, "info")]


def test_a_battery_that_goes_on_falling_is_reported_again_every_tenth_of_a_volt():
    reported = [
        (v, c.severity, c.summary) for v, c in battery([3.38, 3.18, 3.12, 3.08, 3.02, 2.98, 2.92])
    ]
    assert reported == [
        (3.38, "warning", "tracker battery at 3.38 V (warning below 3.4 V)"),
        (3.18, "critical", "tracker battery at 3.18 V (critical below 3.2 V)"),
        (3.08, "critical", "tracker battery at 3.08 V (critical below 3.2 V)"),
        (2.98, "critical", "tracker battery at 2.98 V (critical below 3.2 V)"),
    ]


def test_a_battery_watch_from_an_older_snapshot_loads_and_reports_its_next_fall():
    d = BatteryLow.__new__(BatteryLow)
    d.__setstate__(
        (None, {"_severity": "critical", "critical_v": 3.2, "recover_v": 3.6, "warning_v": 3.4})
    )
    [c] = d.update(Reading("t", 0, battery_v=3.0))
    assert (c.active, c.severity, c.value) == (True, "critical", 3.0)


@settings(max_examples=300, deadline=None)
@given(
    dlat=st.floats(-0.02, 0.02),
    dlon=st.floats(-0.02, 0.02),
    lat0=st.floats(-89.0, 89.0),
    radius_m=st.sampled_from([0.0, 1.0, 1000.0, 2222.0]),
)
def test_at_the_destination_is_exactly_within_its_radius_however_close_to_the_edge(
    dlat, dlon, lat0, radius_m
):
    dest = (30.0, lat0)
    silence = Silence(30, destination=dest, destination_m=radius_m)
    lon, lat = 30.0 + dlon, lat0 + dlat
    silence.update(Reading("t1", 0, lat=lat, lon=lon))
    assert silence._at_destination == (haversine_m(lon, lat, *dest) <= radius_m)
