"""Air probes in simulated fleets: a share of cooled shipments whose probe reads the box's air.

`simulate(air_probes=SHARE)` (`--air-probes`) puts that share of cooled shipments' probes in the
air, which the product follows slowly, and their manifest declares it (`"probe": "air"`), as an
operator who knows where the probe sits would; the labels still follow the product. The draw
has a stream of its own: every other device, and every other channel, is the same as without.
"""

import json
import statistics
from collections import Counter

import pytest

from detectors.profiles import parse_manifest
from simulators import simulate
from simulators.fleet_replay import replay_fleet

HOURS = 12 * 3600


def temps(fleet) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for m in fleet.messages():
        body = json.loads(m.payload)
        for r in body if isinstance(body, list) else [body]:
            if isinstance(r, dict) and r.get("temp_c") is not None:
                out.setdefault(m.topic.split("/")[2], []).append(r["temp_c"])
    return out


def test_without_a_share_no_manifest_declares_an_air_probe_and_with_one_every_cooled_does():
    plain = simulate(devices=12, scenario="normal", duration_s=HOURS, seed=5)
    assert all("probe" not in s for s in plain.manifest()["shipments"])
    every = simulate(devices=12, scenario="normal", duration_s=HOURS, seed=5, air_probes=1.0)
    for plan, s in zip(every.plans, every.manifest()["shipments"], strict=True):
        cooled = plan.profile.temp_range_c is not None and plan.profile.cooling != "none"
        assert plan.air_probe == cooled
        assert s.get("probe") == ("air" if cooled else None)
        assert "product_lag_min" not in s  # the operator does not know the product's lag
    assert any(p.air_probe for p in every.plans) and not all(p.air_probe for p in every.plans)
    parse_manifest(every.manifest())  # the declaration is a manifest the engine takes


def test_a_reefers_air_probe_reads_its_thermostat_swings_where_the_product_holds_still():
    kw = {"devices": 4, "scenario": "normal", "duration_s": HOURS, "seed": 7}
    product = simulate(profiles=["chilled_reefer"], **kw)
    air = simulate(profiles=["chilled_reefer"], air_probes=1.0, **kw)
    product_temps, air_temps = temps(product), temps(air)
    for device, readings in air_temps.items():
        assert statistics.pstdev(readings) > 2 * statistics.pstdev(product_temps[device])
    # The product is the same either way: so are the labels' breaches (none on a normal run).
    assert [p.physics for p in product.plans] == [p.physics for p in air.plans]


def test_the_draw_moves_nothing_else_and_the_labels_follow_the_product():
    kw = {"devices": 16, "scenario": "reefer_failure", "duration_s": 24 * 3600, "seed": 3}
    plain = simulate(**kw)
    half = simulate(air_probes=0.5, **kw)
    swapped = {p.device_id for p in half.plans if p.air_probe}
    assert 0 < len(swapped) < 16
    plain_temps, half_temps = temps(plain), temps(half)
    for device in plain_temps:
        if device not in swapped:
            assert half_temps[device] == plain_temps[device]
    breaches = [(x["device_id"], x["breach_at"]) for x in plain.labels()]
    assert [(x["device_id"], x["breach_at"]) for x in half.labels()] == breaches
    assert any(at for _, at in breaches)


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValueError, match="air probes must be a share from 0 to 1"):
        simulate(devices=1, air_probes=share)


def test_declaring_the_air_probes_of_a_normal_reefer_fleet_takes_away_its_door_and_defrost_alerts():
    fleet = simulate(
        devices=30,
        scenario="normal",
        duration_s=48 * 3600,
        seed=9,
        profiles=["chilled_reefer", "vaccine_2_8"],
        air_probes=1.0,
    )
    manifest = fleet.manifest()
    undeclared = {"shipments": [{**s, "probe": None} for s in manifest["shipments"]]}

    def alerts(doc) -> Counter:
        run = replay_fleet(fleet, parse_manifest(doc))
        return Counter(e.kind for e in run.events if e.event == "open")

    as_product, as_air = alerts(undeclared), alerts(manifest)
    # Read as the product, every door opened at a stop and every defrost is an excursion,
    # and a door opened at a stop is critical once the air in the box warms a degree.
    assert as_product["temp_excursion"] >= 10 and as_product["door_open"] >= 1
    assert sum(as_air.values()) * 10 <= sum(as_product.values())
