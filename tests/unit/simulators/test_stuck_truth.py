"""A stuck probe's label expects `sensor_fault` only where the fault changed a reading.

A quiet probe on a product that holds still may honestly read one value for hours. Stuck at
that very value, it reports the truth throughout: no detector can tell, and nothing was wrong
with the data. The generator counts, per stuck spell, the readings whose honest value differs
from the stuck one. A stuck spell draws nothing from the random stream, so the same fleet with
its spells removed shows exactly those honest readings, and the count is checked against them.
"""

from ingest.decode import decode
from simulators import simulate


def _temps(fleet):
    """Every taken temperature reading, by (device, time)."""
    out = {}
    for m in fleet.messages():
        for r in decode(m.topic, m.payload, m.arrival_ms).readings:
            if r.temp_c is not None:
                out[(r.device_id, r.ts_ms)] = r.temp_c
    return out


def _fleet(seed):
    return simulate(
        devices=12,
        scenario="sensor_fault",
        duration_s=12 * 3600,
        seed=seed,
        params={"mode": "stuck"},
    )


def test_a_stuck_spell_expects_a_fault_exactly_where_its_honest_readings_differed():
    silent = 0
    for seed in (0, 1, 2):
        stuck = _fleet(seed)
        faulty = _temps(stuck)  # generating the readings completes the labels
        labels = {lab["device_id"]: lab for lab in stuck.labels()}
        honest_fleet = _fleet(seed)
        for plan in honest_fleet.plans:
            plan.effects.stuck.clear()
        honest = _temps(honest_fleet)
        assert honest.keys() == faulty.keys(), "the spells change values, never readings taken"
        for plan in stuck.plans:
            (incident,) = [i for i in plan.incidents if i.scenario == "sensor_fault"]
            lo, hi = incident.t0 * 1000 + stuck.start_ms, incident.t1 * 1000 + stuck.start_ms
            changed = sum(
                honest[key] != value
                for key, value in faulty.items()
                if key[0] == plan.device_id and lo <= key[1] < hi
            )
            assert incident.stuck_changed == changed, plan.device_id
            assert ("sensor_fault" in labels[plan.device_id]["kinds"]) == (changed > 0)
            silent += changed == 0
    assert silent, "some quiet probe is stuck at the value it would have read anyway"
