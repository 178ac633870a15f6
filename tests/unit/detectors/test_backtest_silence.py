"""Silence in backtests: a tracker that goes quiet while the fleet reports is caught at the event time it would be live."""

import pytest
from detector_checks import backtest

from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.replay import replay, replay_engine
from detectors.silence import Silence

MIN = 60_000
HOUR = 60 * MIN
WAIT = 30_000  # the reorder window, after which a reading reaches the detectors
T0 = 1_763_800_000_000  # 2025-11-22T08:26:40Z
ROUTE = [[39.66, -4.04], [37.0, -2.5], [34.27, 0.63]]
DESTINATION = ROUTE[-1]


def shipment(device, **extra):
    return {
        "shipment_id": f"SHP-{device}",
        "device_id": device,
        "profile": "customs_transit",
        **extra,
    }


def fleet_readings(hours, quiet=None, devices=("trk-1", "trk-2", "trk-3"), every_min=5, fix=None):
    """Readings of a fleet reporting every `every_min`, in time order.

    `quiet` maps a device to the (from, to) hours it sends nothing (to None: never again);
    `fix` maps a device to a function of the hour giving its (lon, lat).
    """
    quiet, fix = quiet or {}, fix or {}
    out = []
    for k in range(int(hours * 60 / every_min) + 1):
        ts = T0 + k * every_min * MIN
        for d in devices:
            lo, hi = quiet.get(d, (None, None))
            h = (ts - T0) / HOUR
            if lo is not None and h > lo and (hi is None or h < hi):
                continue
            where = {}
            if d in fix:
                lon, lat = fix[d](h)
                where = {"lon": lon, "lat": lat}
            out.append({"device_id": d, "ts": ts, "battery_v": 3.9, **where})
    return out


def silences(events, device=None):
    return [
        (e.event, e.severity, e.at_ms)
        for e in events
        if e.kind == "silence" and (device is None or e.device_id == device)
    ]


def replayed(readings, shipments):
    rs = [Reading(r["device_id"], r["ts"], lat=r.get("lat"), lon=r.get("lon")) for r in readings]
    return replay(rs, replay_engine([parse_shipment(s) for s in shipments], None)).events


def test_a_tracker_quiet_for_four_hours_mid_trip_while_two_others_report_is_one_silence(tmp_path):
    readings = fleet_readings(10, quiet={"trk-2": (3, 7)})
    shipments = [shipment(d) for d in ("trk-1", "trk-2", "trk-3")]
    events = [e for e in backtest(tmp_path, readings, shipments) if e["kind"] == "silence"]
    assert {e["device_id"] for e in events} == {"trk-2"}
    assert [e["event"] for e in events] == ["open", "update", "resolve"]
    opened, escalated, resolved = events
    # 30 min and a second after 11:27:10, when the 11:26:40 reading had waited out the reorder
    # window (30 s) and reached the detectors, as it does live.
    assert opened["at"] == "2025-11-22T11:57:11Z"
    assert opened["evidence"]["last_reading"] == "2025-11-22T11:26:40Z"
    assert escalated["severity"] == "critical" and escalated["at"] == "2025-11-22T12:57:10Z"
    assert resolved["at"] == "2025-11-22T15:27:10Z"  # the first reading after the gap, released


def test_silence_opens_at_the_same_event_time_however_the_fleet_reports_around_it():
    shipments = [shipment(d) for d in ("trk-1", "trk-2", "trk-3")]
    every_5 = replayed(fleet_readings(10, quiet={"trk-2": (3, 7)}), shipments)
    every_13 = replayed(fleet_readings(10, quiet={"trk-2": (3, 7)}, every_min=13), shipments)
    last_5 = T0 + 3 * HOUR
    last_13 = T0 + (3 * 60 // 13) * 13 * MIN
    assert silences(every_5, "trk-2")[0][2] == last_5 + WAIT + 30 * MIN + 1_000
    assert silences(every_13, "trk-2")[0][2] == last_13 + WAIT + 30 * MIN + 1_000


def test_the_clock_stops_at_the_last_reading_of_the_recording():
    shipments = [shipment(d) for d in ("trk-1", "trk-2")]
    # trk-2 stops 20 min before the recording ends: no one knows whether it spoke after.
    tail = fleet_readings(10, quiet={"trk-2": (10 - 20 / 60, None)}, devices=("trk-1", "trk-2"))
    assert silences(replayed(tail, shipments)) == []
    # trk-2 stops two hours before: that silence is in the recording, and never ends in it.
    long_tail = fleet_readings(10, quiet={"trk-2": (8, None)}, devices=("trk-1", "trk-2"))
    assert [(e, s) for e, s, _ in silences(replayed(long_tail, shipments))] == [
        ("open", "warning"),
        ("update", "critical"),
    ]


def test_a_tracker_alone_in_its_recording_is_not_silent_between_its_own_readings():
    readings = fleet_readings(10, devices=("trk-1",), every_min=25)
    assert silences(replayed(readings, [shipment("trk-1")])) == []


def along_route(arrive_h):
    """Travelling the route's last leg, at its end from `arrive_h` on."""

    def at(h):
        f = min(h / arrive_h, 1.0)
        return (
            ROUTE[1][0] + (ROUTE[2][0] - ROUTE[1][0]) * f,
            ROUTE[1][1] + (ROUTE[2][1] - ROUTE[1][1]) * f,
        )

    return at


def test_a_tracker_that_goes_quiet_at_its_destination_has_arrived_and_raises_nothing():
    route = {"type": "LineString", "coordinates": ROUTE}
    shipments = [shipment("trk-1"), shipment("trk-2", route=route)]
    readings = fleet_readings(
        10, quiet={"trk-2": (6, None)}, devices=("trk-1", "trk-2"), fix={"trk-2": along_route(5)}
    )
    assert silences(replayed(readings, shipments)) == []


def test_a_late_truck_quiet_short_of_its_destination_after_the_planned_arrival_is_silent():
    route = {"type": "LineString", "coordinates": ROUTE}
    planned = "2025-11-22T12:26:40Z"  # 4 h in; the truck is still on the road at 6 h
    shipments = [shipment("trk-1"), shipment("trk-2", route=route, arrival=planned)]
    readings = fleet_readings(
        10, quiet={"trk-2": (6, None)}, devices=("trk-1", "trk-2"), fix={"trk-2": along_route(12)}
    )
    assert [e for e, _, _ in silences(replayed(readings, shipments))] == ["open", "update"]


def test_without_a_route_silence_after_the_planned_arrival_is_expected():
    shipments = [shipment("trk-1"), shipment("trk-2", arrival="2025-11-22T13:26:40Z")]
    readings = fleet_readings(10, quiet={"trk-2": (6, None)}, devices=("trk-1", "trk-2"))
    assert silences(replayed(readings, shipments)) == []


@pytest.mark.parametrize(
    "now_min, due",
    [
        pytest.param(0, 30 * MIN + 1, id="just heard: when the gap passes what is tolerated"),
        pytest.param(45, 90 * MIN, id="silent: when it turns critical"),
        pytest.param(95, None, id="critical: nothing more to raise"),
    ],
)
def test_silence_says_when_it_next_falls_due(now_min, due):
    d = Silence(max_gap_min=30)
    d.update(Reading("t", 0))
    d.advance(0)
    for m in range(0, now_min + 1, 5):
        d.advance(m * MIN)
    assert d.due_ms() == due
