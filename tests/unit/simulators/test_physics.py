"""Physics that looks real: bands held, failures that warm at plausible rates, lanes kept.

Normal shipments are run over several seeds and a day and a half so that door openings,
defrost cycles, hot afternoons and border inspections all happen; what must hold is checked on
the decoded readings against the manifest the detectors would be given.
"""

import itertools
import math

import pytest
from simruns import Run, haversine_m, ms, run_of

NORMAL_SEEDS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def normal_runs() -> list[Run]:
    return [run_of("normal", devices=24, hours=36, seed=seed) for seed in NORMAL_SEEDS]


def test_normal_shipments_keep_their_product_inside_its_band(normal_runs):
    checked = set()
    for run in normal_runs:
        for device, rows in run.readings.items():
            entry = run.shipments[device]
            if "temp_range_c" not in entry:
                continue
            low, high = entry["temp_range_c"]
            temps = [r.temp_c for r in rows]
            assert low <= min(temps) and max(temps) <= high, (
                entry["profile"],
                min(temps),
                max(temps),
            )
            checked.add(entry["profile"])
    assert checked == {
        "vaccine_2_8",
        "chilled_reefer",
        "frozen_minus_20",
        "ultra_cold_minus_70",
        "ambient_15_25",
    }


def test_sensor_readings_respect_their_resolution_and_plausible_limits(normal_runs):
    for run in normal_runs:
        steps = {p.device_id: p.physics.resolution_c for p in run.fleet.plans}
        for device, rows in run.readings.items():
            step = steps[device]
            for r in rows:
                assert abs(r.temp_c / step - round(r.temp_c / step)) < 1e-6
                assert 3.3 < r.battery_v <= 4.2
                assert 0 <= r.humidity_pct <= 100
                assert 0 <= r.shock_g < 2.0


def test_normal_positions_stay_within_the_corridor_of_the_manifest_route(normal_runs):
    for run in normal_runs:
        for device, rows in run.readings.items():
            corridor = run.shipments[device]["corridor_m"]
            worst = max(run.route_distance_m(device, r.lon, r.lat) for r in rows[::5])
            assert worst <= corridor, (run.shipments[device]["route"]["coordinates"][0], worst)


def test_road_trucks_move_at_road_speeds_and_stand_still_at_stops(normal_runs):
    speeds = []
    for run in normal_runs:
        for device, rows in run.readings.items():
            if run.shipments[device]["corridor_m"] != 2000:
                continue  # sea and air lanes
            for a, b in itertools.pairwise(rows):
                hours = (b.ts_ms - a.ts_ms) / 3.6e6
                speeds.append(haversine_m(a.lon, a.lat, b.lon, b.lat) / 1000 / hours)
    assert max(speeds) < 110
    stopped = sum(1 for v in speeds if v < 2) / len(speeds)
    assert 0.05 < stopped < 0.7


def test_doors_and_seals_open_only_at_authorised_stops_in_normal_shipments(normal_runs):
    opened = 0
    for run in normal_runs:
        for device, rows in run.readings.items():
            for r in rows:
                if r.door == "open" or r.seal not in (None, "closed"):
                    opened += 1
                    assert run.at_authorised_stop(device, r.lon, r.lat), (device, r)
                assert r.seal != "tampered"
    assert opened > 100, "loading, inspections and unloading all open doors"


def test_seals_open_away_from_authorised_stops_only_in_a_seal_tamper_window(catalogue):
    run = catalogue["seal_tamper"]
    for label in run.labels:
        device = label["device_id"]
        start, end = ms(label["start"]), ms(label["end"])
        inside = 0
        for r in run.readings[device]:
            if r.seal != "closed" and not run.at_authorised_stop(device, r.lon, r.lat):
                assert start <= r.ts_ms < end, r
                inside += 1
        assert inside >= 3


def test_a_reefer_failure_warms_the_product_gradually_until_it_leaves_its_range(catalogue):
    run = catalogue["reefer_failure"]
    for label in run.labels:
        low, high = run.shipments[label["device_id"]]["temp_range_c"]
        if label["breach_at"] is None:
            continue  # a partial loss, or cool weather, can leave the product in range
        start, breach = ms(label["start"]), ms(label["breach_at"])
        hours_to_breach = (breach - start) / 3.6e6
        assert 0.5 < hours_to_breach < 12
        rows = [
            r for r in run.readings[label["device_id"]] if breach - 3_600_000 <= r.ts_ms <= breach
        ]
        rate = abs(rows[-1].temp_c - rows[0].temp_c) / ((rows[-1].ts_ms - rows[0].ts_ms) / 3.6e6)
        assert rate < 8, rate  # °C per hour: a failing unit, not a jump
        before = [r.temp_c for r in run.readings[label["device_id"]] if r.ts_ms < start]
        assert all(low <= t <= high for t in before)


def test_a_power_loss_warms_the_box_towards_ambient_and_recovery_cools_it_again(catalogue):
    run = catalogue["power_loss"]
    recovered = 0
    for label in run.labels:
        rows = run.readings[label["device_id"]]
        end = ms(label["end"])
        during = [r.temp_c for r in rows if ms(label["start"]) <= r.ts_ms < end]
        after = [r.temp_c for r in rows if end + 2 * 3_600_000 <= r.ts_ms]
        if label["breach_at"] and after:
            entry = run.shipments[label["device_id"]]
            setpoint = sum(entry["temp_range_c"]) / 2
            assert abs(after[-1] - setpoint) < abs(
                max(during, key=lambda t: abs(t - setpoint)) - setpoint
            )
            recovered += 1
    assert sum(1 for x in run.labels if x["breach_at"]) >= len(run.labels) // 2
    assert recovered >= 1


def test_a_heat_wave_shows_on_the_ambient_sensor_before_the_product_breaches(catalogue):
    run = catalogue["heat_wave"]
    for label in run.labels:
        rows = run.window(label)
        assert max(r.ambient_c for r in rows) > label["params"]["peak_c"] - 3
        breach = ms(label["breach_at"])
        hot = min(r.ts_ms for r in rows if r.ambient_c > 35)
        assert hot < breach


def test_ambient_follows_the_day_warmest_in_the_afternoon(normal_runs):
    run = normal_runs[0]
    by_hour: dict[int, list[float]] = {}
    for device, rows in run.readings.items():
        if run.shipments[device]["profile"] == "customs_transit":
            continue
        for r in rows:
            if r.ambient_c is not None and r.lon is not None:
                hour = int((r.ts_ms / 3.6e6 + r.lon / 15) % 24)
                by_hour.setdefault(hour, []).append(r.ambient_c)
    mean = {h: sum(v) / len(v) for h, v in by_hour.items()}
    assert mean[15] > mean[4] + 3


def test_the_battery_drains_slowly_in_normal_use_and_fast_when_depleting(normal_runs, catalogue):
    for rows in normal_runs[0].readings.values():
        assert rows[0].battery_v - rows[-1].battery_v < 0.1
    for label in catalogue["battery_depletion"].labels:
        rows = catalogue["battery_depletion"].readings[label["device_id"]]
        start = ms(label["start"])
        assert min(r.battery_v for r in rows if r.ts_ms < start) > 3.8
        assert rows[-1].battery_v <= label["params"]["end_v"] + 0.05


def test_air_shipments_log_during_the_flight_and_upload_on_landing():
    run = run_of("normal", devices=40, hours=16, seed=5)
    flown = [d for d, s in run.shipments.items() if s["corridor_m"] == 50_000]
    assert flown
    for device in flown:
        sent = [m for m in run.messages if m.topic.split("/")[2] == device]
        assert any(m.readings > 1 for m in sent), (
            "the flight comes down as store-and-forward arrays"
        )
        quiet_min = max((b.arrival_ms - a.arrival_ms) / 60000 for a, b in itertools.pairwise(sent))
        assert 300 < quiet_min <= run.shipments[device]["max_gap_min"]


def test_a_pacific_crossing_is_one_continuous_route_across_the_antimeridian():
    run = run_of("normal", devices=3, hours=2, seed=1, lanes=("shanghai-los-angeles",))
    coords = next(iter(run.shipments.values()))["route"]["coordinates"]
    steps = [haversine_m(*a, *b) for a, b in itertools.pairwise(coords)]
    assert max(steps) < 60_000
    assert any(lon > 179 for lon, _ in coords) and any(lon < -179 for lon, _ in coords)
    assert not math.isclose(coords[0][0], coords[-1][0])
