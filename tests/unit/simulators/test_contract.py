"""The simulator speaks the wire contract: the real ingest decoder accepts all it sends.

Every payload of every scenario goes through ``ingest.decode`` with the ingester's clock at the
message's arrival; only the malformed scenario's payloads may be refused, and each of those
must be refused for the reason it was made for. The manifest and labels have exactly the
documented shapes.
"""

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from simruns import INCIDENTS

from detectors.alerts import KINDS
from detectors.profiles import parse_manifest
from ingest.decode import REASONS, decode
from simulators import SCENARIOS, simulate
from simulators.physics import HOLDOUT_SEED_MIN
from simulators.plan import PlanError
from simulators.wire import MALFORMED_REASONS

#: The consumers' own definitions are the contract: the detectors' kind names and manifest parser.
ALERT_KINDS = set(KINDS)
LABEL_KEYS = {
    "device_id",
    "shipment_id",
    "scenario",
    "start",
    "end",
    "kinds",
    "breach_at",
    "params",
}
PROFILE_RANGES = {
    "vaccine_2_8": [2.0, 8.0],
    "chilled_reefer": [0.0, 4.0],
    "frozen_minus_20": [-25.0, -15.0],
    "ultra_cold_minus_70": [-80.0, -60.0],
    "ambient_15_25": [15.0, 25.0],
}


@pytest.mark.parametrize(
    "scenario", [s for s in [*INCIDENTS, "normal", "mixed"] if s != "malformed_payloads"]
)
def test_every_payload_of_every_scenario_is_accepted_by_the_ingest_decoder(catalogue, scenario):
    run = catalogue[scenario]
    rejects = [(r.reason, r.detail) for d in run.decoded for r in d.rejects]
    unknown = {name for d in run.decoded for name in d.unknown_fields}
    assert rejects == []
    assert unknown == set()
    assert sum(m.readings for m in run.messages) == sum(len(d.readings) for d in run.decoded)


def test_malformed_payloads_are_all_rejected_each_for_the_reason_it_was_made_for(catalogue):
    run = catalogue["malformed_payloads"]
    bad = [(m, d) for m, d in zip(run.messages, run.decoded, strict=True) if m.readings == 0]
    assert len(bad) == len(run.labels) * len(MALFORMED_REASONS)
    got = []
    for message, decoded in bad:
        assert decoded.readings == []
        assert decoded.rejects, message.payload[:100]
        assert {r.reason for r in decoded.rejects} <= set(REASONS)
        got.append(decoded.rejects[0].reason)
    assert sorted(set(got)) == sorted(MALFORMED_REASONS)
    good = [d for m, d in zip(run.messages, run.decoded, strict=True) if m.readings]
    assert all(d.rejects == [] for d in good)


def test_topics_are_the_telemetry_topic_of_the_device_that_sent_the_reading(catalogue):
    run = catalogue["mixed"]
    for message, decoded in zip(run.messages, run.decoded, strict=True):
        device = message.topic.split("/")[2]
        assert message.topic == f"cargo/v1/{device}/telemetry"
        assert all(r.device_id == device for r in decoded.readings)


def test_seq_counts_each_devices_readings_without_gaps_or_repeats(catalogue):
    for run in (catalogue["normal"], catalogue["late_upload"], catalogue["tracker_silence"]):
        for rows in run.readings.values():
            seqs = [r.seq for r in rows]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


@pytest.mark.parametrize("scenario", ["normal", "mixed", "seal_tamper"])
def test_manifest_entries_carry_exactly_the_documented_keys(catalogue, scenario):
    run = catalogue[scenario]
    # The detectors' parser refuses unknown keys and bad values: it is the contract test.
    parsed = parse_manifest({"shipments": list(run.shipments.values())})
    assert {s.device_id for s in parsed} == set(run.shipments)
    for device, entry in run.shipments.items():
        assert {"shipment_id", "device_id", "profile"} <= set(entry)
        assert entry["device_id"] == device
        assert entry["shipment_id"] == "SHP-" + device.removeprefix("trk-")
        if entry["profile"] == "customs_transit":
            assert "temp_range_c" not in entry
            assert entry["seal_id"].startswith("ES-")
        else:
            assert entry["temp_range_c"] == PROFILE_RANGES[entry["profile"]]
        assert 60 <= entry["expected_interval_s"] <= 900
        assert entry["max_gap_min"] >= 30
        assert entry["route"]["type"] == "LineString"
        for lon, lat in entry["route"]["coordinates"]:
            assert -180 <= lon <= 180 and -90 <= lat <= 90
        assert all(set(s) == {"name", "lon", "lat", "radius_m"} for s in entry["authorised_stops"])
        for zone in entry["restricted_zones"]:
            ring = zone["polygon"]["coordinates"][0]
            assert zone["polygon"]["type"] == "Polygon" and ring[0] == ring[-1]
        json.dumps(entry, allow_nan=False)


def test_a_manifest_route_is_in_lon_lat_order_and_starts_where_the_tracker_does(catalogue):
    run = catalogue["normal"]
    for device, entry in run.shipments.items():
        first = run.readings[device][0]
        lon, lat = entry["route"]["coordinates"][0]
        assert run.route_distance_m(device, first.lon, first.lat) < 1000
        assert abs(lon - first.lon) < 0.05 and abs(lat - first.lat) < 0.05


@pytest.mark.parametrize("scenario", INCIDENTS)
def test_labels_have_the_documented_keys_and_only_documented_alert_kinds(catalogue, scenario):
    run = catalogue[scenario]
    assert run.labels, "every device of a single-scenario run has its incident"
    for label in run.labels:
        assert set(label) == LABEL_KEYS
        assert label["scenario"] == scenario
        assert set(label["kinds"]) <= ALERT_KINDS
        assert label["start"].endswith("Z") and label["end"].endswith("Z")
        assert label["shipment_id"] == run.shipments[label["device_id"]]["shipment_id"]
        json.dumps(label, allow_nan=False)


def test_kinds_follow_the_agreed_scenario_to_alert_mapping(catalogue):
    expected = {
        "door_left_open": {"door_open"},
        "seal_tamper": {"seal_breach", "unscheduled_stop"},
        "tamper_out_of_coverage": {"seal_breach", "unscheduled_stop"},
        "route_deviation": {"route_deviation"},
        "detour_out_of_coverage": {"route_deviation"},
        "unscheduled_stop": {"unscheduled_stop"},
        "tracker_silence": {"silence"},
        "gps_jamming": {"gps_lost"},
        "gps_spoofing": {"gps_implausible"},
        "sensor_fault": {"sensor_fault"},
        "battery_depletion": {"battery_low"},
        "late_upload": set(),
        "duplicate_delivery": set(),
        "malformed_payloads": set(),
    }
    # A breach always owes a warning; an excursion only where the readings showed one
    # (tests/unit/simulators/test_labels.py checks which). A probe stuck for no longer than it
    # read one value honestly on the trip owes nothing (tests/unit/simulators/test_stuck_truth.py).
    for scenario, kinds in expected.items():
        for label in catalogue[scenario].labels:
            got = set(label["kinds"])
            if scenario == "sensor_fault" and label["params"]["mode"] == "stuck" and not got:
                continue
            if label["breach_at"]:
                assert got - {"temp_excursion"} == kinds | {"temp_breach_predicted"}, label
            else:
                assert got == kinds, label
    for scenario in ("reefer_failure", "heat_wave"):
        labels = catalogue[scenario].labels
        # A unit that fails only in part, or in cool weather, may keep its product in range;
        # then no temperature alert is expected of it.
        for label in labels:
            assert set(label["kinds"]) <= {"temp_breach_predicted", "temp_excursion"}, label
        assert sum(1 for x in labels if x["breach_at"]) >= 0.75 * len(labels)


def test_the_catalogue_names_every_scenario_the_issue_asks_for():
    asked = {
        "normal",
        "reefer_failure",
        "power_loss",
        "door_left_open",
        "heat_wave",
        "seal_tamper",
        "tamper_out_of_coverage",
        "route_deviation",
        "detour_out_of_coverage",
        "unscheduled_stop",
        "tracker_silence",
        "gps_jamming",
        "gps_spoofing",
        "sensor_fault",
        "battery_depletion",
        "late_upload",
        "duplicate_delivery",
        "malformed_payloads",
        "mixed",
    }
    assert set(SCENARIOS) == asked


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    seed=st.one_of(st.integers(0, HOLDOUT_SEED_MIN - 1), st.integers(HOLDOUT_SEED_MIN, 2**32 - 1)),
    devices=st.integers(1, 4),
    hours=st.sampled_from([3, 7, 30]),
    scenario=st.sampled_from([s for s in INCIDENTS if s != "malformed_payloads"] + ["mixed"]),
)
def test_any_seed_size_and_scenario_yields_payloads_the_decoder_accepts(
    seed, devices, hours, scenario
):
    physics = "holdout" if seed >= HOLDOUT_SEED_MIN else "dev"
    try:
        fleet = simulate(
            devices=devices,
            scenario=scenario,
            duration_s=hours * 3600,
            seed=seed,
            physics=physics,
        )
    except PlanError:  # a run too short for the incident is refused, never staged badly
        assume(False)
    last: dict[str, int] = {}
    for message in fleet.messages():
        decoded = decode(message.topic, message.payload, message.arrival_ms)
        assert decoded.rejects == [] and len(decoded.readings) == message.readings
        assert last.get(message.topic, 0) <= message.arrival_ms
        last[message.topic] = message.arrival_ms
        assert all(r.ts_ms <= message.arrival_ms for r in decoded.readings)
