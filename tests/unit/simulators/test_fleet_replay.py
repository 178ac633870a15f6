"""The in-process replay the benches and the demo fleet's test score: what it feeds the engine,
and the breaches and device-hours it keeps beside the alerts."""

from detectors.profiles import parse_manifest
from simulators import simulate
from simulators.fleet_replay import replay_fleet

HOUR_MS = 3_600_000


def _failing_fleet():
    return simulate(devices=3, scenario="reefer_failure", duration_s=12 * 3600, seed=4)


def test_a_replay_raises_the_failures_alerts_and_notes_every_reading_out_of_range():
    fleet = _failing_fleet()
    shipments = parse_manifest(fleet.manifest())
    run = replay_fleet(fleet, shipments)
    breached = {lab["device_id"] for lab in fleet.labels() if lab["breach_at"]}
    assert breached, "a reefer failure of 12 h takes its product out of range"
    assert set(run.outside) == breached
    for times in run.outside.values():
        assert times == sorted(times)
    opened = {(e.device_id, e.kind) for e in run.events if e.event == "open"}
    assert {(d, "temp_excursion") for d in breached} <= opened
    assert run.first_ms is not None and run.last_ms is not None
    hours = run.exposure(shipments)
    assert hours.devices == 3
    assert hours.device_hours == 3 * (run.last_ms - run.first_ms) / HOUR_MS


def test_readings_kept_from_the_engine_are_still_noted_as_breaches():
    fleet = _failing_fleet()
    shipments = parse_manifest(fleet.manifest())
    seen = []

    def keep(reading):
        seen.append(reading.device_id)
        return False

    run = replay_fleet(fleet, shipments, keep)
    assert len(set(seen)) == 3
    assert not [e for e in run.events if e.kind.startswith("temp_")]
    assert run.outside == replay_fleet(_failing_fleet(), shipments).outside
