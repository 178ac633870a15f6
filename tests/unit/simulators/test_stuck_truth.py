"""A stuck probe's label expects `sensor_fault` only where its run outlasts every honest one
and is one an honest probe of its noise reads rarely.

A quiet probe on a product that holds still may honestly read one value for hours, and a
coarse one reads one step for as long as its product stays on it. A stuck spell whose run of
one value is no longer than a run the same probe read honestly on the same trip is no fault
the readings show: no detector can tell it from the truth (stuck at the value it would have
read anyway, it even was the truth). Nor is one that an honest probe of the same noise,
resolution and reporting interval reads more often than once in `SHOWN_HOURS`. A stuck spell
draws nothing from the random stream, so the same fleet with its spells removed shows exactly
the honest readings, and the generator's counts are checked against them. The chance of an
honest run is checked against noisy readings drawn here.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.decode import decode
from simulators import simulate
from simulators.stuck_truth import SHOWN_HOURS, ValueRuns, honest_run_chance, shown


def _temps(fleet):
    """Every taken temperature reading, by device, in time order: [(ts_ms, value)]."""
    out = {}
    for m in fleet.messages():
        for r in decode(m.topic, m.payload, m.arrival_ms).readings:
            if r.temp_c is not None:
                out.setdefault(r.device_id, {})[r.ts_ms] = r.temp_c
    return {d: sorted(v.items()) for d, v in out.items()}


def _runs(values):
    """(first index, readings) of each run of one value."""
    runs, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            runs.append((start, i - start))
            start = i
    return runs


def _fleet(seed):
    return simulate(
        devices=12,
        scenario="sensor_fault",
        duration_s=24 * 3600,
        seed=seed,
        params={"mode": "stuck"},
    )


def test_a_stuck_spell_expects_a_fault_exactly_where_its_run_outlasts_every_honest_one():
    unchanged = outlasted = too_likely = owed = 0
    for seed in (0, 1, 2):
        stuck = _fleet(seed)
        faulty = _temps(stuck)  # generating the readings completes the labels
        labels = {lab["device_id"]: lab for lab in stuck.labels()}
        honest_fleet = _fleet(seed)
        for plan in honest_fleet.plans:
            plan.effects.stuck.clear()
        honest = _temps(honest_fleet)
        for plan in stuck.plans:
            (incident,) = [i for i in plan.incidents if i.scenario == "sensor_fault"]
            sent, true = faulty[plan.device_id], honest[plan.device_id]
            assert [ts for ts, _ in sent] == [ts for ts, _ in true], "spells change values only"
            lo, hi = incident.t0 * 1000 + stuck.start_ms, incident.t1 * 1000 + stuck.start_ms
            inside = [i for i, (ts, _) in enumerate(sent) if lo <= ts < hi]
            assert inside, "every spell here has readings"
            longest = max(n for _, n in _runs([v for _, v in true]))
            (run,) = [n for s, n in _runs([v for _, v in sent]) if s <= inside[0] < s + n]
            assert run >= len(inside), "the spell's readings are one run"
            assert (incident.stuck_run, incident.honest_run) == (run, longest), plan.device_id
            expected = "sensor_fault" in labels[plan.device_id]["kinds"]
            phys = plan.physics
            per_hour = 3600 / plan.interval_s
            rare = honest_run_chance(phys.noise_c / phys.resolution_c, run) * per_hour
            assert expected == (run > longest and rare * SHOWN_HOURS < 1), plan.device_id
            changed = sum(sent[i][1] != true[i][1] for i in inside)
            unchanged += changed == 0
            outlasted += changed > 0 and run <= longest
            too_likely += run > longest and not expected
            owed += expected
    assert unchanged, "some quiet probe is stuck at the value it would have read anyway"
    assert outlasted, "some spell changed readings yet is no longer than an honest run"
    assert too_likely, "some spell outlasts the trip's honest runs yet is an ordinary run"
    assert owed, "most spells still owe a fault"


def test_runs_carry_across_stretches_as_in_one():
    rng = np.random.default_rng(7)
    values = np.round(rng.normal(0.0, 0.3, 500) / 0.5) * 0.5
    times = np.arange(500.0) * 60
    whole = ValueRuns().runs(times, values)
    pieces, runs = [], ValueRuns()
    for cut in np.split(np.arange(500), [3, 4, 100, 101, 377]):
        pieces += runs.runs(times[cut], values[cut])
    # A run carried on is returned again, longer: keep the last word on each first reading.
    last = {first: (first, end, n) for first, end, n in pieces}
    assert sorted(last.values()) == whole
    assert [n for _, _, n in whole] == [n for _, n in _runs(values.tolist())]


def _drawn_run_share(noise_steps, readings, offset, draws, rng):
    """The share of `draws` sets of `readings` noisy readings of a product held still at
    `offset` steps from a step's centre that all show one value."""
    values = np.round(offset + rng.normal(0.0, noise_steps, (draws, readings)))
    return float(np.mean(np.all(values == values[:, :1], axis=1)))


@pytest.mark.parametrize(("noise_steps", "readings"), [(0.3, 4), (0.5, 6), (1.0, 4), (2.0, 3)])
def test_the_chance_of_an_honest_run_is_what_noisy_readings_show_at_their_likeliest(
    noise_steps, readings
):
    rng = np.random.default_rng(7)
    draws = 200_000
    shares = [_drawn_run_share(noise_steps, readings, u, draws, rng) for u in (0.0, 0.25, 0.5)]
    chance = honest_run_chance(noise_steps, readings)
    # Within four standard errors of the share drawn where the product sits mid-step, and no
    # other place drawn is likelier beyond that.
    margin = 4 * math.sqrt(chance * (1 - chance) / draws)
    assert abs(shares[0] - chance) <= margin
    assert max(shares) <= chance + margin


@given(
    noise_steps=st.floats(0.05, 4.0),
    readings=st.integers(1, 400),
    more=st.integers(1, 50),
)
def test_a_longer_honest_run_is_never_likelier(noise_steps, readings, more):
    chance = honest_run_chance(noise_steps, readings)
    assert 0.0 <= honest_run_chance(noise_steps, readings + more) <= chance <= 1.0


def test_a_run_shows_a_fault_sooner_in_readings_the_longer_a_probe_waits_between_them():
    # Twelve alike from a 0.1 °C probe with 0.1 °C of noise (a chance of 1e-5) are ordinary
    # over a year of one-minute readings, rare over 15-minute ones.
    assert not shown(12, 5, 0.1, 0.1, 60.0)
    assert shown(12, 5, 0.1, 0.1, 900.0)
    # A quiet coarse probe reads an hour of one value honestly, however long its trip's
    # honest runs happened to be.
    assert not shown(65, 45, 0.12, 0.5, 120.0)
    # A run no longer than an honest one of the trip never shows one.
    assert not shown(9, 9, 0.2, 0.1, 900.0)
