"""The demo's fleet raises every alert its labels expect, whatever the hour the demo starts.

`cargowatch demo --check` fails when a staged incident's expected kind never opens. The demo's
timeline ends at the wall clock, so its sun and daily swing, and with them how far a power
cut takes the product, depend on the hour it is started. Here the demo's own fleet is replayed
through the real decoder and detector engine, in arrival order with a live ingester's
reordering wait, for starts every quarter of an hour across a day.
"""

from detectors.profiles import parse_manifest
from simulators.demo import DEVICES, DURATION, POOL, SEED, demo_fleet
from simulators.demo_check import incident_results
from simulators.fleet_replay import replay_fleet
from simulators.timeutil import parse_duration, parse_instant_ms

DAY_MS = 86_400_000
MIN_MS = 60_000


def opened_alerts(fleet):
    """Every alert the fleet's messages open, replayed as the ingester would receive them."""
    events = replay_fleet(fleet, parse_manifest(fleet.manifest())).events
    return [{"device_id": e.device_id, "kind": e.kind} for e in events if e.event == "open"]


def test_every_staged_incident_raises_its_expected_alerts_at_any_hour():
    midnight = parse_instant_ms("2026-12-06T00:00:00Z")
    failed = []
    for start_ms in range(midnight, midnight + DAY_MS, 15 * MIN_MS):
        fleet = demo_fleet(DEVICES, parse_duration(DURATION), SEED, POOL, start_ms)
        alerts = opened_alerts(fleet)  # generating the messages completes the labels
        results = incident_results(fleet.labels(), alerts)
        assert len(results) >= DEVICES - 2, "nearly every tracker's incident expects alerts"
        hour, minute = divmod((start_ms - midnight) // MIN_MS, 60)
        failed += [f"from {hour:02d}:{minute:02d} UTC: {r.text}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
