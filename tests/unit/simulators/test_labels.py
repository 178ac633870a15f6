"""Ground truth agrees with the readings: each label describes what the readings show.

A detector scored against these labels is only as fair as they are, so each scenario's label is
checked against the decoded readings and messages it claims to describe: when the product left
its range, when the tracker fell silent, where positions froze or jumped, which messages came
twice and which arrived late.
"""

import itertools

import numpy as np
import pytest
from simruns import INCIDENTS, haversine_m, ms, product_traces, run_of

from simulators.manifest import label as label_of
from simulators.wire import MAX_UPLOAD_READINGS


def out_of_range(run, device, reading):
    entry = run.shipments[device]
    if "temp_range_c" not in entry:
        return False
    low, high = entry["temp_range_c"]
    return not low <= reading.temp_c <= high


@pytest.mark.parametrize("scenario", [*INCIDENTS, "mixed"])
def test_breach_at_is_when_the_simulated_product_temperature_leaves_its_range(catalogue, scenario):
    run = catalogue[scenario]
    traces = product_traces(run.fleet)
    assert [
        label_of(p, i, run.start_ms) for p in run.fleet.plans for i in p.incidents
    ] == run.labels
    for lab in run.labels:
        entry = run.shipments[lab["device_id"]]
        if "temp_range_c" not in entry:
            assert lab["breach_at"] is None
            continue
        low, high = entry["temp_range_c"]
        at_ms, product = traces[lab["device_id"]]
        start = ms(lab["start"])
        out = (product < low) | (product > high)
        if lab["breach_at"] is None:
            # Nothing left the range from the start to the end of the search (the run's end).
            assert not out[at_ms >= start].any(), lab
            continue
        breach = ms(lab["breach_at"])
        # Inside the range at every instant from the start to the breach, out at the next one,
        # and the crossing itself lies on the line between those two instants.
        assert not out[(at_ms >= start) & (at_ms < breach)].any(), lab
        after = np.flatnonzero(at_ms >= breach)[0]
        assert out[after], lab
        just_before = np.interp(breach - 1.0, at_ms, product)
        just_after = np.interp(breach + 1.0, at_ms, product)
        assert low - 1e-3 <= just_before <= high + 1e-3
        assert not low + 1e-3 < just_after < high - 1e-3


def longest_run_out_min(run, device, since_ms):
    """The longest run of the device's readings out of range from `since_ms`, first to last."""
    longest, first = 0.0, None
    for r in run.readings[device]:
        if r.ts_ms < since_ms or r.temp_c is None:
            continue
        if out_of_range(run, device, r):
            first = r.ts_ms if first is None else first
            longest = max(longest, (r.ts_ms - first) / 60_000)
        else:
            first = None
    return longest


def test_an_excursion_is_expected_where_the_readings_stay_out_for_its_minimum(catalogue):
    # The temperature incidents of the catalogue put one incident on each device, so a run
    # from the label's start to the end of the recording is the incident's.
    owed = {True: 0, False: 0}
    for scenario in ("reefer_failure", "power_loss", "heat_wave", "door_left_open"):
        for lab in catalogue[scenario].labels:
            if lab["breach_at"] is None:
                assert not {"temp_excursion", "temp_breach_predicted"} & set(lab["kinds"]), lab
                continue
            assert "temp_breach_predicted" in lab["kinds"], lab
            shown = longest_run_out_min(catalogue[scenario], lab["device_id"], ms(lab["start"]))
            # The excursion's minimum, 5 min, is the manifest's default.
            assert ("temp_excursion" in lab["kinds"]) == (shown >= 5.0), (lab, shown)
            owed[shown >= 5.0] += 1
    # Both sides are exercised: breaches the readings show and ones they do not (a door
    # left open that takes the product just over its limit, under the probe's resolution).
    assert owed[True] and owed[False], owed


def test_the_normal_fleet_has_no_labels_and_no_excursions(catalogue):
    run = catalogue["normal"]
    assert run.labels == []
    assert not any(out_of_range(run, d, r) for d, rows in run.readings.items() for r in rows)


@pytest.mark.parametrize("scenario", INCIDENTS)
def test_incidents_start_after_the_first_hour_and_end_within_the_run(catalogue, scenario):
    run = catalogue[scenario]
    for label in run.labels:
        first = run.readings[label["device_id"]][0].ts_ms
        start, end = ms(label["start"]), ms(label["end"])
        assert start >= first + 3_600_000
        assert start < end <= run.end_ms


def test_a_silent_tracker_sends_nothing_in_its_window_and_resumes_after(catalogue):
    run = catalogue["tracker_silence"]
    for label in run.labels:
        start, end = ms(label["start"]), ms(label["end"])
        rows = run.readings[label["device_id"]]
        assert not any(start <= r.ts_ms < end for r in rows)
        gap = min(r.ts_ms for r in rows if r.ts_ms >= end) - max(
            r.ts_ms for r in rows if r.ts_ms < start
        )
        assert gap / 60000 > run.shipments[label["device_id"]]["max_gap_min"]


def test_gps_jamming_drops_the_fix_or_freezes_the_position(catalogue):
    run = catalogue["gps_jamming"]
    modes = set()
    for label in run.labels:
        rows = run.window(label)
        interval_min = run.shipments[label["device_id"]]["expected_interval_s"] / 60
        assert len(rows) >= min(5, 45 / interval_min - 1)
        modes.add(label["params"]["mode"])
        if label["params"]["mode"] == "no_fix":
            assert all(r.lat is None and r.lon is None for r in rows)
        else:
            assert len({(r.lat, r.lon) for r in rows}) == 1
    assert modes == {"no_fix", "frozen"}


def test_gps_spoofing_makes_jumps_no_vehicle_could_drive(catalogue):
    run = catalogue["gps_spoofing"]
    for label in run.labels:
        device = label["device_id"]
        interval_ms = run.shipments[device]["expected_interval_s"] * 1000
        rows = [
            r
            for r in run.readings[device]
            if ms(label["start"]) - 2 * interval_ms <= r.ts_ms < ms(label["end"])
        ]
        fastest = max(
            haversine_m(a.lon, a.lat, b.lon, b.lat) / 1000 / ((b.ts_ms - a.ts_ms) / 3.6e6)
            for a, b in itertools.pairwise(rows)
        )
        # At least the shortest jump within one reporting interval: at a minute, faster than
        # an aircraft; at 15 minutes, still faster than anything on the road.
        assert fastest > min(1000, 0.8 * label["params"]["jump_km_min"] / (interval_ms / 3.6e6))
        spoofed = [r for r in run.window(label)]
        assert max(run.route_distance_m(device, r.lon, r.lat) for r in spoofed) > 40_000


def test_a_route_deviation_leaves_the_corridor_and_comes_back(catalogue):
    run = catalogue["route_deviation"]
    for label in run.labels:
        device = label["device_id"]
        corridor = run.shipments[device]["corridor_m"]
        inside = [run.route_distance_m(device, r.lon, r.lat) for r in run.window(label)]
        assert max(inside) > corridor
        after = [r for r in run.readings[device] if r.ts_ms >= ms(label["end"])][:5]
        assert all(run.route_distance_m(device, r.lon, r.lat) <= corridor for r in after)


@pytest.mark.parametrize("seed", [5, 11])
def test_a_route_deviation_drives_its_detour_at_road_speed(seed):
    """A truck 8 km off its road follows the road's bends: its fixes never leap (each
    segment's own normal made it jump by the offset times the bend's angle, 5-8 km in a
    minute or two, which `gps_implausible` rightly called impossible)."""
    run = run_of("route_deviation", devices=40, seed=seed)
    for label in run.labels:
        rows = sorted(
            (r for r in run.readings[label["device_id"]] if r.lat is not None),
            key=lambda r: r.ts_ms,
        )
        start, end = ms(label["start"]) - 30 * 60_000, ms(label["end"]) + 30 * 60_000
        rows = [r for r in rows if start <= r.ts_ms <= end]
        for a, b in itertools.pairwise(rows):
            km = haversine_m(a.lon, a.lat, b.lon, b.lat) / 1000
            hours = (b.ts_ms - a.ts_ms) / 3.6e6
            assert km < 1 or km / hours < 1.5 * 160, (label["device_id"], km, hours * 60)


@pytest.mark.parametrize("scenario", ["unscheduled_stop", "seal_tamper"])
def test_an_unscheduled_stop_stands_still_away_from_every_authorised_stop(catalogue, scenario):
    run = catalogue[scenario]
    for label in run.labels:
        device = label["device_id"]
        rows = run.window(label)
        assert len(rows) >= 3
        spread = max(haversine_m(rows[0].lon, rows[0].lat, r.lon, r.lat) for r in rows)
        assert spread < 50
        assert not any(run.at_authorised_stop(device, r.lon, r.lat) for r in rows)
        assert (
            run.route_distance_m(device, rows[0].lon, rows[0].lat)
            < run.shipments[device]["corridor_m"]
        )


def test_a_door_left_open_is_open_on_the_road_for_its_window(catalogue):
    run = catalogue["door_left_open"]
    for label in run.labels:
        rows = run.window(label)
        assert rows and all(r.door == "open" for r in rows)
        assert not any(run.at_authorised_stop(label["device_id"], r.lon, r.lat) for r in rows)


def test_a_sensor_fault_sticks_at_one_value_or_reports_probe_error_codes(catalogue):
    run = catalogue["sensor_fault"]
    modes = set()
    for label in run.labels:
        temps = [r.temp_c for r in run.window(label)]
        modes.add(label["params"]["mode"])
        interval_min = run.shipments[label["device_id"]]["expected_interval_s"] / 60
        if label["params"]["mode"] == "stuck":
            assert len(set(temps)) == 1 and len(temps) >= min(20, 120 / interval_min - 1)
        else:
            assert {85.0, -127.0} & set(temps)
    assert modes == {"stuck", "spikes"}


def test_a_late_upload_arrives_as_arrays_after_newer_readings_with_original_timestamps(catalogue):
    run = catalogue["late_upload"]
    for label in run.labels:
        device = label["device_id"]
        start = ms(label["start"])
        gap_end = start + int(label["params"]["gap_min"] * 60_000)
        order = [
            (m, d)
            for m, d in zip(run.messages, run.decoded, strict=True)
            if m.topic.split("/")[2] == device
        ]
        uploads = [
            i
            for i, (m, d) in enumerate(order)
            if isinstance(m.body, tuple) and start <= d.readings[0].ts_ms < gap_end
        ]
        assert uploads, "the stored readings come up as an array"
        first_upload = uploads[0]
        newest_before = max(r.ts_ms for _, d in order[:first_upload] for r in d.readings)
        assert newest_before >= gap_end
        stored = [r for i in uploads for r in order[i][1].readings]
        assert all(start <= r.ts_ms < gap_end for r in stored)
        assert len(stored) == len([r for r in run.readings[device] if start <= r.ts_ms < gap_end])
        assert ms(label["end"]) == min(order[i][0].arrival_ms for i in uploads)
        assert all(order[i][0].readings <= MAX_UPLOAD_READINGS for i in uploads)


def assert_only_in_late_uploads(run, label, window, what, shows=lambda r: True):
    """The label's device's readings in `window` (ms, inclusive) for which `shows` holds came
    only in stored uploads, each behind a newer reading sent before it."""
    device, (start, end) = label["device_id"], window
    order = [
        (m, d)
        for m, d in zip(run.messages, run.decoded, strict=True)
        if m.topic.split("/")[2] == device
    ]
    found = [
        (i, r)
        for i, (_, d) in enumerate(order)
        for r in d.readings
        if start <= r.ts_ms <= end and shows(r)
    ]
    assert found, f"the tracker kept its readings of {what}"
    for i, r in found:
        assert isinstance(order[i][0].body, tuple), f"only stored readings show {what}"
        newest_before = max(x.ts_ms for _, d in order[:i] for x in d.readings)
        assert newest_before > r.ts_ms, "and they arrive after newer readings"


def test_a_seal_opened_out_of_coverage_shows_only_in_an_upload_behind_newer_readings(catalogue):
    run = catalogue["tamper_out_of_coverage"]
    assert run.labels
    for label in run.labels:
        window = (ms(label["start"]), ms(label["end"]))
        assert_only_in_late_uploads(
            run, label, window, "the seal open", lambda r: r.seal in ("open", "tampered")
        )


def test_a_detour_out_of_coverage_shows_only_in_an_upload_behind_newer_readings(catalogue):
    run = catalogue["detour_out_of_coverage"]
    assert run.labels
    for label in run.labels:
        start = ms(label["start"])
        detour_end = start + round(label["params"]["duration_min"] * 60_000)
        assert ms(label["end"]) >= detour_end
        assert_only_in_late_uploads(run, label, (start, detour_end), "the detour")


def test_duplicate_deliveries_repeat_messages_byte_for_byte_inside_the_window(catalogue):
    run = catalogue["duplicate_delivery"]
    total = 0
    for label in run.labels:
        device = label["device_id"]
        start, end = ms(label["start"]), ms(label["end"])
        seen: dict[bytes, int] = {}
        repeats = 0
        for m in run.messages:
            if m.topic.split("/")[2] != device:
                continue
            if m.payload in seen:
                repeats += 1
                assert start <= seen[m.payload] < end
                assert m.arrival_ms > seen[m.payload]
            seen.setdefault(m.payload, m.arrival_ms)
        assert repeats >= 1
        total += repeats
    # Half of each window's messages come twice by default.
    assert total >= 3 * len(run.labels)


def test_mixed_fleets_give_the_configured_share_of_shipments_an_incident():
    from simulators import simulate

    fleet = simulate(
        devices=40, scenario="mixed", duration_s=12 * 3600, seed=3, params={"share": 0.25}
    )
    assert sum(1 for p in fleet.plans if p.incidents) == 10
    assert len({p.incidents[0].scenario for p in fleet.plans if p.incidents}) >= 5
    assert len(fleet.labels()) == 10


def test_composed_scenarios_give_each_shipment_one_incident_after_another():
    from simulators import simulate

    fleet = simulate(
        devices=6,
        scenario="reefer_failure,gps_jamming,battery_depletion",
        duration_s=20 * 3600,
        seed=8,
    )
    labels = fleet.labels()
    assert len(labels) == 18
    for device in {x["device_id"] for x in labels}:
        mine = [x for x in labels if x["device_id"] == device]
        assert [x["scenario"] for x in mine] == [
            "reefer_failure",
            "gps_jamming",
            "battery_depletion",
        ]
        # Each incident ends before the next begins (the battery stays low to the end).
        assert ms(mine[0]["end"]) <= ms(mine[1]["start"]) and ms(mine[1]["end"]) <= ms(
            mine[2]["start"]
        )


def test_start_min_puts_an_incident_at_the_minute_asked_for():
    from simulators import simulate

    fleet = simulate(
        devices=3,
        scenario="tracker_silence",
        duration_s=8 * 3600,
        seed=2,
        params={"start_min": 150},
    )
    assert {x["start"] for x in fleet.labels()} == {"2026-01-05T02:30:00Z"}
    assert all(x["params"]["start_min"] == 150 for x in fleet.labels())
