"""Seal and door: where an opening happened decides whether customs hears about it."""

import math

import pytest
from detector_checks import assert_resumes_after_pickle, feed
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.door_open import DoorOpen, make_door_open
from detectors.profiles import Place, parse_shipment
from detectors.reading import Reading
from detectors.seal_breach import SealBreach, make_seal_breach
from detectors.seal_id_changed import SealIdChanged, make_seal_id_changed

MIN = 60_000
T0 = 1_763_800_000_000  # 2025-11-22T08:26:40Z
BORDER = Place("Malaba border", 34.27, 0.63, 500)
AT_BORDER = {"lat": 0.6301, "lon": 34.2702}
AWAY = {"lat": 0.66, "lon": 34.27}  # 3.3 km north of the border post


def shipment(**fields):
    return parse_shipment(
        {"shipment_id": "S1", "device_id": "t1", "profile": "customs_transit", **fields}
    )


def r(minute, **channels):
    return Reading("t1", T0 + int(minute * MIN), **channels)


# --- SealBreach --------------------------------------------------------------------------------


def test_a_closed_seal_says_nothing():
    d = SealBreach([BORDER], seal_id="ES-1")
    assert [d.update(r(m, seal="closed", **AWAY)) for m in range(5)] == [None] * 5


def test_an_open_seal_away_from_every_authorised_stop_is_critical():
    d = SealBreach([BORDER], seal_id="ES-123456")
    [(i, c)] = feed(d, [r(0, seal="closed", **AWAY), r(5, seal="open", **AWAY)])
    assert (i, c.kind, c.active, c.severity) == (1, "seal_breach", True, "critical")
    assert c.summary == "seal ES-123456 open at 0.6600, 34.2700, 3.3 km from Malaba border"
    assert c.evidence == {
        "lat": 0.66,
        "lon": 34.27,
        "nearest_stop": "Malaba border",
        "nearest_stop_m": 3336,
        "seal": "open",
        "seal_id": "ES-123456",
        "position_at": "2025-11-22T08:31:40Z",
        "first_seen": "2025-11-22T08:31:40Z",
    }


def test_opening_the_seal_at_an_authorised_stop_is_not_an_alert():
    d = SealBreach([BORDER])
    assert feed(d, [r(m, seal="open", **AT_BORDER) for m in range(10)]) == []


def test_leaving_the_stop_with_the_seal_still_open_is_a_breach():
    d = SealBreach([BORDER])
    events = feed(d, [r(0, seal="open", **AT_BORDER), r(5, seal="open", **AWAY)])
    assert [(i, c.active) for i, c in events] == [(1, True)]


def test_tampering_is_critical_even_at_an_authorised_stop():
    [(_, c)] = feed(SealBreach([BORDER], "ES-1"), [r(0, seal="tampered", **AT_BORDER)])
    assert c.severity == "critical"
    assert c.summary == "seal ES-1 reports tampering at Malaba border (0.6301, 34.2702)"


def test_an_open_seal_with_no_position_is_treated_as_outside():
    [(_, c)] = feed(SealBreach([BORDER], "ES-1"), [r(0, seal="open")])
    assert c.summary == "seal ES-1 open at an unknown position"
    assert c.evidence["lat"] is None and c.evidence["position_at"] is None


@pytest.mark.parametrize(
    "fix_age_min, alert",
    [
        pytest.param(4, False, id="a fix 4 min old places a seal event at the border"),
        pytest.param(6, True, id="a fix 6 min old is too old to say where the seal opened"),
    ],
)
def test_a_recent_fix_stands_in_for_a_seal_reading_without_one(fix_age_min, alert):
    d = SealBreach([BORDER])
    events = feed(d, [r(0, **AT_BORDER), r(fix_age_min, seal="open")])
    assert bool(events) is alert


def test_it_clears_when_the_seal_reads_closed_and_tampering_after_opening_is_news():
    d = SealBreach([BORDER], "ES-1")
    readings = [
        r(0, seal="open", **AWAY),
        r(5, seal="open", **AWAY),
        r(10, seal="tampered", **AWAY),
        r(15, seal="tampered", **AWAY),
        r(20, seal="closed", **AWAY),
        r(25, seal="closed", **AWAY),
    ]
    events = feed(d, readings)
    assert [(i, c.active, c.evidence["seal"]) for i, c in events] == [
        (0, True, "open"),
        (2, True, "tampered"),
        (4, False, "closed"),
    ]
    assert events[-1][1].summary.startswith("seal ES-1 closed again at 0.6600, 34.2700")
    assert events[-1][1].evidence["first_seen"] == "2025-11-22T08:26:40Z"


def test_the_seal_id_in_the_reading_names_the_seal_before_the_manifests():
    [(_, c)] = feed(SealBreach(seal_id="ES-1"), [r(0, seal="open", seal_id="ES-2")])
    assert c.summary.startswith("seal ES-2 open") and c.evidence["seal_id"] == "ES-2"


def test_the_seal_breach_factory_takes_the_stops_and_seal_id():
    d = make_seal_breach(
        shipment(
            authorised_stops=[{"name": "Malaba border", "lon": 34.27, "lat": 0.63}], seal_id="ES-9"
        )
    )
    assert d.seal_id == "ES-9" and d.stops[0].radius_m == 500


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["closed", "open", None]), max_size=60))
def test_whatever_the_seal_does_at_an_authorised_stop_it_is_never_a_breach(states):
    d = SealBreach([BORDER])
    assert feed(d, [r(m, seal=s, **AT_BORDER) for m, s in enumerate(states)]) == []


# --- SealIdChanged -----------------------------------------------------------------------------


def test_a_seal_id_other_than_the_manifests_is_critical_until_the_expected_one_reads_again():
    d = SealIdChanged("ES-123456")
    ids = ["ES-123456", "ES-999999", "ES-999999", None, "ES-123456", "ES-123456"]
    events = feed(d, [r(m, seal_id=s) for m, s in enumerate(ids)])
    assert [(i, c.active, c.severity) for i, c in events] == [
        (1, True, "critical"),
        (4, False, "critical"),
    ]
    assert events[0][1].summary == "seal id ES-999999 is not the manifest's ES-123456"
    assert events[0][1].evidence["expected_from"] == "manifest"
    assert events[1][1].summary == "seal id reads ES-123456 again, as expected"


def test_without_a_manifest_seal_id_the_first_one_read_is_expected():
    d = SealIdChanged()
    events = feed(d, [r(0, seal_id="ES-1"), r(1, seal_id="ES-1"), r(2, seal_id="ES-2")])
    [(i, c)] = events
    assert i == 2 and c.summary == "seal id ES-2 differs from ES-1, the first one read"


def test_a_second_swap_is_reported_again():
    d = SealIdChanged("ES-1")
    events = feed(d, [r(0, seal_id="ES-2"), r(1, seal_id="ES-2"), r(2, seal_id="ES-3")])
    assert [(i, c.evidence["seal_id"]) for i, c in events] == [(0, "ES-2"), (2, "ES-3")]


def test_the_seal_id_factory_takes_the_manifests_id():
    assert make_seal_id_changed(shipment(seal_id="ES-7")).expected == "ES-7"
    assert make_seal_id_changed(shipment()).expected is None


# --- DoorOpen ----------------------------------------------------------------------------------


def test_a_door_opened_away_from_every_authorised_stop_is_a_warning_at_once():
    d = DoorOpen([BORDER])
    [(i, c)] = feed(d, [r(0, door="closed", **AWAY), r(1, door="open", **AWAY)])
    assert (i, c.kind, c.active, c.severity) == (1, "door_open", True, "warning")
    assert (
        c.summary
        == "door opened at 0.6600, 34.2700, 3.3 km from Malaba border, outside every authorised stop"
    )


def test_a_door_open_at_a_stop_is_a_warning_only_after_the_stop_allowance():
    d = DoorOpen([BORDER], max_open_at_stop_min=15)
    events = feed(d, [r(m, door="open", **AT_BORDER) for m in range(0, 25, 5)])
    [(i, c)] = events
    assert (i, c.severity) == (3, "warning") and c.value == 15.0
    assert c.summary == "door open for 15 min at Malaba border (0.6301, 34.2702)"


def test_loading_and_inspection_at_an_authorised_stop_may_take_an_hour_by_default():
    d = DoorOpen([BORDER])
    assert feed(d, [r(m, door="open", **AT_BORDER) for m in range(0, 115, 5)]) == []
    [(_, c)] = feed(d, [r(120, door="open", **AT_BORDER)])
    assert c.summary.startswith("door open for 120 min at Malaba border")


def test_a_door_open_where_the_position_is_unknown_warns_after_max_open_min():
    d = DoorOpen([BORDER], max_open_min=15)
    events = feed(d, [r(m, door="open") for m in range(0, 25, 5)])
    assert [(i, c.severity) for i, c in events] == [(3, "warning")]


def test_cargo_warming_1_degree_with_the_door_open_is_critical():
    d = DoorOpen([BORDER])
    temps = [4.0, 4.3, 4.6, 5.0, 5.2]
    events = feed(d, [r(m, door="open", temp_c=t, **AT_BORDER) for m, t in enumerate(temps)])
    [(i, c)] = events
    assert (i, c.severity) == (3, "critical")
    assert c.summary.startswith("door open for 3 min and the cargo warmed 1.0 °C (4.0 to 5.0 °C)")
    assert (c.evidence["temp_at_open_c"], c.evidence["temp_c"], c.evidence["rise_c"]) == (
        4.0,
        5.0,
        1.0,
    )


def test_at_an_authorised_stop_warming_far_from_the_range_top_is_routine():
    # Frozen cargo inspected at a port: the open door warms it from -20 to -18.8 °C, still
    # more than 3 °C inside its range; a critical alert for every inspection is noise.
    d = DoorOpen([BORDER], high_c=-15.0)
    temps = [-20.0, -19.6, -19.2, -18.8, -18.8]
    assert feed(d, [r(m, door="open", temp_c=t, **AT_BORDER) for m, t in enumerate(temps)]) == []


def test_at_an_authorised_stop_warming_that_nears_the_range_top_is_critical():
    d = DoorOpen([BORDER], high_c=8.0)
    temps = [6.4, 6.8, 7.0, 7.2, 7.5]
    events = feed(d, [r(m, door="open", temp_c=t, **AT_BORDER) for m, t in enumerate(temps)])
    # 7.2 °C has warmed 0.8 °C; 7.5 °C has warmed 1.1 °C and is within 1 °C of 8 °C.
    [(i, c)] = events
    assert (i, c.severity, c.evidence["rise_c"]) == (4, "critical", 1.1)


def test_away_from_the_authorised_places_any_warming_of_1_degree_is_critical():
    d = DoorOpen([BORDER], high_c=-15.0)
    temps = [-20.0, -19.6, -18.9]
    events = feed(d, [r(m, door="open", temp_c=t, **AWAY) for m, t in enumerate(temps)])
    assert [(i, c.severity) for i, c in events] == [(0, "warning"), (2, "critical")]


def test_with_no_recent_position_warming_of_1_degree_is_critical_as_anywhere():
    d = DoorOpen([BORDER], high_c=-15.0)
    events = feed(d, [r(m, door="open", temp_c=t) for m, t in enumerate([-20.0, -18.9])])
    assert [(i, c.severity) for i, c in events] == [(1, "critical")]


def test_the_door_factory_takes_the_top_of_the_profiles_range():
    assert make_door_open(shipment(profile="vaccine_2_8")).high_c == 8.0
    assert make_door_open(shipment()).high_c is None


def test_a_door_check_pickled_before_the_range_top_was_known_judges_warming_as_before():
    d = DoorOpen([BORDER])
    state = d.__reduce_ex__(2)[2]
    slots = dict(state[1]) if isinstance(state, tuple) else dict(state)
    del slots["high_c"]
    old = DoorOpen.__new__(DoorOpen)
    old.__setstate__((None, slots))
    temps = [-20.0, -19.6, -18.9]
    events = feed(old, [r(m, door="open", temp_c=t, **AT_BORDER) for m, t in enumerate(temps)])
    assert [(i, c.severity) for i, c in events] == [(2, "critical")]


def test_a_warning_rises_to_critical_when_the_cargo_warms():
    d = DoorOpen([BORDER])
    temps = [4.0, 4.2, 5.3]
    events = feed(d, [r(m, door="open", temp_c=t, **AWAY) for m, t in enumerate(temps)])
    assert [(i, c.severity) for i, c in events] == [(0, "warning"), (2, "critical")]


def test_readings_without_a_door_state_leave_it_as_it_was_and_closing_clears_it():
    d = DoorOpen([BORDER])
    readings = [
        r(0, door="open", **AWAY),
        r(5, temp_c=4.0),
        r(10, door="closed"),
        r(15, temp_c=4.0),
    ]
    events = feed(d, readings)
    assert [(i, c.active) for i, c in events] == [(0, True), (2, False)]
    assert events[-1][1].summary.startswith("door closed after 10 min open")


def test_a_door_opened_and_closed_at_a_stop_within_15_minutes_says_nothing():
    d = DoorOpen([BORDER])
    readings = [
        r(0, door="open", **AT_BORDER),
        r(10, door="closed", **AT_BORDER),
        r(30, door="closed", **AT_BORDER),
    ]
    assert feed(d, readings) == []


def test_the_door_factory_counts_the_origin_and_destination_as_places_to_open_the_door():
    d = make_door_open(
        shipment(route={"type": "LineString", "coordinates": [[39.66, -4.04], [32.58, 0.31]]})
    )
    assert feed(d, [r(0, door="open", lat=-4.041, lon=39.661)]) == []
    assert feed(d, [r(1, door="closed"), r(2, door="open", lat=-3.0, lon=38.0)]) != []


# --- all three -------------------------------------------------------------------------------

anything = st.lists(
    st.tuples(
        st.integers(0, 20 * MIN),
        st.sampled_from([None, "closed", "open", "tampered", "weird"]),
        st.sampled_from([None, "ES-1", "ES-2", ""]),
        st.sampled_from([None, "closed", "open"]),
        st.one_of(st.none(), st.floats(-30, 40)),
        st.sampled_from([None, (0.6301, 34.2702), (0.66, 34.27), (math.nan, math.nan)]),
    ),
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(anything, st.integers(0, 60))
def test_any_readings_never_crash_conditions_alternate_and_pickling_changes_nothing(raw, cut):
    ts, readings = T0, []
    for dt, seal, seal_id, door, temp, pos in raw:
        ts += dt
        lat, lon = pos or (None, None)
        readings.append(
            Reading("t1", ts, lat=lat, lon=lon, seal=seal, seal_id=seal_id, door=door, temp_c=temp)
        )
    for make in (
        lambda: SealBreach([BORDER]),
        lambda: SealIdChanged("ES-1"),
        lambda: DoorOpen([BORDER]),
        lambda: DoorOpen([BORDER], high_c=8.0),
    ):
        assert_resumes_after_pickle(make, readings, cut)
