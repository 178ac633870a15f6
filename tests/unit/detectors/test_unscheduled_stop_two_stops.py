"""Two stops a few minutes' drive apart are two alerts, however seldom the tracker reports.

The stop detector ends a stop on two consecutive fixes beyond 300 m of it, which is its own
damping against a stray fix. The alert book used to wait a further quiet period on top, and on
a tracker reporting every 15 minutes that wait outlasted the drive to a second stop: the two
stops became one alert, whose evidence was the second stop's while the first was only in its
history.
"""

import pytest

from detectors.alerts import AlertEvent, rfc3339
from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.unscheduled_stop import UnscheduledStop

MIN = 60_000
T0 = 1_763_800_000_000
KM_PER_DEG = 111.32


def kilometre(minute: float) -> float:
    """Where the truck is along its route: it drives at 1 km/min, stands at km 60 from minute
    60 to 105, drives 5 km, stands at km 65 from minute 110 to 155, and drives on."""
    if minute < 60:
        return minute
    if minute < 105:
        return 60.0
    if minute < 110:
        return 60.0 + (minute - 105)
    if minute < 155:
        return 65.0
    return 65.0 + (minute - 155)


def stop_events(interval_min: int) -> list[AlertEvent]:
    shipment = parse_shipment(
        {
            "shipment_id": "SHP-1",
            "device_id": "trk-1",
            "profile": "customs_transit",
            "route": {"type": "LineString", "coordinates": [[33.0, 0.0], [34.0, 0.0]]},
            "expected_interval_s": interval_min * 60,
        }
    )
    engine = build_engine([shipment], lateness_ms=0)
    events = []
    for i, minute in enumerate(range(0, 240, interval_min)):
        # A live receiver's few metres of noise, so no fix repeats another to the last digit.
        lat = 0.00002 * (i % 3)
        lon = 33.0 + kilometre(minute) / KM_PER_DEG + 0.00001 * (i % 2)
        ts = T0 + minute * MIN
        events += engine.process(Reading("trk-1", ts, lat=lat, lon=lon), now_ms=ts)
    return [e for e in events if e.kind == "unscheduled_stop"]


@pytest.mark.parametrize("interval_min", [1, 5, 15])
def test_two_stops_five_km_apart_are_two_alerts_each_with_its_own_place(
    interval_min: int,
) -> None:
    events = stop_events(interval_min)
    opens = [e for e in events if e.event == "open"]
    resolves = [e for e in events if e.event == "resolve"]
    assert len(opens) == 2 and len(resolves) == 2
    first, second = opens
    assert first.alert_id != second.alert_id
    # Each alert is anchored where its own stop was.
    km = [(e.evidence["lon"] - 33.0) * KM_PER_DEG for e in opens]
    assert km[0] == pytest.approx(60.0, abs=0.2) and km[1] == pytest.approx(65.0, abs=0.2)
    # The first stop is resolved before the second opens (on a 15-minute tracker by the same
    # fix, as the second stop has already lasted by then), once the truck has left it: two
    # fixes away at most.
    [left_first] = [e for e in resolves if e.alert_id == first.alert_id]
    assert events.index(left_first) < events.index(second) and left_first.at_ms <= second.at_ms
    assert left_first.at_ms - (T0 + 105 * MIN) <= 2 * interval_min * MIN
    # Its end is bounded by its last fix there and its first away, one reporting interval on.
    last_there = T0 + (105 - 105 % interval_min) * MIN
    assert left_first.evidence["last_stopped_at"] == rfc3339(last_there)
    assert left_first.evidence["moved_at"] == rfc3339(last_there + interval_min * MIN)
    # And each opened within one reporting interval of its stop's 10 minutes.
    for e, began in zip(opens, (60, 110), strict=True):
        assert (e.at_ms - T0) / MIN - began <= 10 + interval_min


def test_a_snapshot_from_before_the_last_fix_was_kept_reports_the_stop_to_its_first_fix_away() -> (
    None
):
    d = UnscheduledStop()
    here, away = (33.5, 0.02), (33.6, 0.02)
    for m in range(0, 35, 5):
        d.update(Reading("trk-1", T0 + m * MIN, lat=here[1], lon=here[0] + 1e-6 * (m % 2)))
    state = {k: getattr(d, k) for k in UnscheduledStop.__slots__ if k != "_last"}
    old = UnscheduledStop.__new__(UnscheduledStop)
    old.__setstate__((None, state))
    assert old.update(Reading("trk-1", T0 + 35 * MIN, lat=away[1], lon=away[0])) is None
    [cleared] = old.update(Reading("trk-1", T0 + 40 * MIN, lat=away[1], lon=away[0])) or []
    assert not cleared.active and cleared.summary.startswith("moving again after 35 min")
    assert cleared.evidence["last_stopped_at"] == cleared.evidence["moved_at"]
