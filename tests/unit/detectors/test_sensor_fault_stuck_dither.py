"""A dithering probe's run judged at its likeliest step, for the noise its repeats speak for.

Two readings of a probe whose noise spans its steps agree less often than each reading shows
the step its product sits on: the repeat rate is a measure of the noise, not the chance of
each reading of a run. The tables the judgement rests on are checked here against Gaussian
noise drawn afresh, and the judgement's chances for what they are: chances.
"""

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.probe_stuck import DITHER_SIGMAS, dither_chances, log_dither_run, noise_for_repeats


@pytest.mark.parametrize("sigma", [0.5, 0.8, 1.5])
def test_the_tabulated_chances_are_those_of_gaussian_noise_on_a_product_anywhere_in_a_step(
    sigma: float,
) -> None:
    # Products at random places between two steps, each read twice: how often the readings
    # agree among those that agree or differ by one step, and how often a reading shows the
    # step nearest the product, which is the likeliest.
    rng = random.Random(11)
    repeats = one_step = nearest = 0
    n = 200_000
    for _ in range(n):
        u = rng.uniform(-0.5, 0.5)
        a, b = round(u + rng.gauss(0.0, sigma)), round(u + rng.gauss(0.0, sigma))
        repeats += a == b
        one_step += abs(a - b) == 1
        nearest += a == 0
    share, likeliest = dither_chances(sigma)
    assert share == pytest.approx(repeats / (repeats + one_step), abs=0.01)
    assert sum(likeliest) / len(likeliest) == pytest.approx(nearest / n, abs=0.01)


def test_a_run_is_likeliest_mid_step_and_less_likely_the_noisier_the_probe() -> None:
    for quieter, noisier in itertools.pairwise(DITHER_SIGMAS):
        q_share, q_likeliest = dither_chances(quieter)
        n_share, n_likeliest = dither_chances(noisier)
        assert n_share < q_share
        assert max(n_likeliest) < max(q_likeliest)
        # Mid-step (the middle offsets) a run is likelier than on a boundary (the ends).
        assert q_likeliest[len(q_likeliest) // 2] > q_likeliest[0]


@settings(max_examples=300, deadline=None)
@given(share=st.floats(0.0, 1.0))
def test_the_noise_read_from_a_repeat_share_never_overstates_it(share: float) -> None:
    sigma = noise_for_repeats(share)
    assert sigma in DITHER_SIGMAS
    if sigma != DITHER_SIGMAS[0]:
        # At that noise the probe repeats at least as often as it did: more noise would make
        # a run less likely than it is.
        assert dither_chances(sigma)[0] >= share


@settings(max_examples=200, deadline=None)
@given(
    repeats=st.integers(0, 5_000),
    changes=st.integers(0, 5_000),
    more=st.integers(1, 2_000),
)
def test_a_dithering_run_has_a_chance_that_falls_with_every_reading(
    repeats: int, changes: int, more: int
) -> None:
    chance = log_dither_run(repeats, changes, more)
    longer = log_dither_run(repeats, changes, more + 1)
    assert chance <= 0.0 and not math.isnan(chance)
    assert longer <= chance
    # Never less likely than a run on a step's edge for the noisiest tabulated probe.
    noisiest = min(dither_chances(DITHER_SIGMAS[-1])[1])
    assert chance >= more * math.log(noisiest) - 1e-9 or chance == -math.inf
