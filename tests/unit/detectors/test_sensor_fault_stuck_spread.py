"""Stuck probes judged on the spread of their noise: a run no honest probe that noisy makes.

A coarse probe whose noise is about half its step zigzags across two steps now and then, but
not often enough to count as dithering; its zigzags within a step may be a boundary's flicker.
The share of its zigzags that span two steps still says how noisy it is at least, and so how
long it can honestly read one value wherever its product sits.
"""

import math
import pickle

import pytest
from detector_checks import opened, probe, stuck_after
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.probe_stuck import (
    DITHER_MIN_ZIGZAGS,
    SPREAD_LONGEST_RATIO,
    SPREAD_SHARES,
    STUCK_ODDS,
    StuckWatch,
    log_honest_run,
    log_spread_run,
    noise_steps_at_least,
)

MIN = 60_000


def _value_chances(sigma: float, at: float) -> dict[int, float]:
    """The chance of each reading (in steps) of a product `at` steps from a step's centre."""

    def below(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / (sigma * math.sqrt(2.0))))

    return {k: below(k + 0.5 - at) - below(k - 0.5 - at) for k in range(-16, 17)}


def _wide_share(sigma: float, at: float) -> float:
    """The share of zigzags (three readings that step one way, then back) spanning two steps."""
    p = _value_chances(sigma, at)
    zigzags = wide = 0.0
    for a, pa in p.items():
        for b, pb in p.items():
            for c, pc in p.items():
                if b == a or c == b or (b > a) == (c > b):
                    continue
                zigzags += pa * pb * pc
                if max(a, b, c) - min(a, b, c) >= 2:
                    wide += pa * pb * pc
    return wide / zigzags


@pytest.mark.parametrize(("sigma", "most"), SPREAD_SHARES)
def test_each_share_in_the_table_is_the_most_that_noise_shows_anywhere_between_steps(
    sigma: float, most: float
) -> None:
    shares = [_wide_share(sigma, at / 20) for at in range(11)]
    assert max(shares) == pytest.approx(shares[0]), "mid-step shows the most"
    assert shares[0] <= most < shares[0] + 0.001, "rounded up, never down"
    # And mid-step is where one value is likeliest: the chance a run is judged on.
    assert max(_value_chances(sigma, 0.0).values()) == pytest.approx(
        math.exp(log_spread_run(sigma, 1))
    )


@pytest.mark.parametrize("seed", range(4))
def test_a_coarse_probe_with_half_a_step_of_noise_stuck_for_two_hours_is_reported(
    seed: int,
) -> None:
    # 0.27 °C of noise on 0.5 °C steps: about a third of its zigzags span two steps, short of
    # dithering, and its wide zigzags alone leave a run of two hours likely enough. Its noise
    # says more: mid-step it reads its likeliest value with a chance of about 0.65, so no
    # honest run of 60 readings is likelier than one in 10^11.
    history = probe(2, 24, level=23.5, sd_c=0.27, resolution_c=0.5, seed=seed)
    w = StuckWatch()
    for r in history:
        assert r.temp_c is not None
        w.update(r.ts_ms, r.temp_c)
    assert not w._dithers() and w._zigzags >= DITHER_MIN_ZIGZAGS
    [(r, c)] = opened(stuck_after(history, 2, 2))
    e = c.evidence
    assert (r.ts_ms - history[-1].ts_ms) / MIN <= 120
    assert e["fault"] == "stuck" and isinstance(e["odds"], float) and e["odds"] < STUCK_ODDS
    noise = e["noise_steps"]
    assert isinstance(noise, float) and 0.3 <= noise <= 0.6
    readings, longest = e["readings"], e["longest_run"]
    assert isinstance(readings, int) and isinstance(longest, int)
    assert readings - 1 > SPREAD_LONGEST_RATIO * (longest - 1)
    changes, pairs = e["noise_changes"], e["noise_pairs"]
    assert isinstance(changes, int) and isinstance(pairs, int)
    zigzags_alone = log_honest_run(changes, pairs - changes, readings - 1)
    assert zigzags_alone > math.log(STUCK_ODDS), "its zigzags alone do not call it stuck"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("steps", [0.3, 0.4, 0.5, 0.7])
@pytest.mark.parametrize("offset", [0.0, 0.25, 0.5])
def test_an_honest_coarse_probe_over_two_days_is_never_stuck(
    seed: int, steps: float, offset: float
) -> None:
    # Mid-step (offset 0) is where a run is likeliest for its noise: the runs it makes there
    # are what the spread's chance must allow for.
    readings = probe(1, 48, level=4.0 + offset * 0.5, sd_c=steps * 0.5, resolution_c=0.5, seed=seed)
    assert opened(readings) == []


def test_a_probe_whose_record_holds_long_runs_is_not_judged_on_its_spread_until_twice_them() -> (
    None
):
    # A filtered or slow probe's noise is not independent between readings: it shows long
    # runs of its own, however widely it zigzags between them.
    w = StuckWatch()
    ts = 0
    for _ in range(3):
        for v in [4.0, 5.0, 4.0, 5.0, 4.5, 5.5, 4.5, 3.5, 4.5, 4.0] * 2:
            w.update(ts, v)
            ts += MIN
        for _ in range(40):
            w.update(ts, 4.0)
            ts += MIN
        w.update(ts, 4.5)
        ts += MIN
    assert w._longest == 40 and noise_steps_at_least(w._wide, w._zigzags) is not None
    while w._run_n < SPREAD_LONGEST_RATIO * 40:
        w.update(ts, 4.0)
        ts += MIN
        assert w._spread_log_chance() is None
    w.update(ts, 4.0)
    assert w._spread_log_chance() is not None


def test_a_reported_run_does_not_count_as_an_honest_one() -> None:
    history = probe(2, 8, level=23.5, sd_c=0.27, resolution_c=0.5, seed=0)
    readings = stuck_after(history, 2, 3)
    w = StuckWatch()
    reported = []
    for r in readings:
        assert r.temp_c is not None
        reported.append(w.update(r.ts_ms, r.temp_c))
    longest = w._longest
    assert any(reported)
    w.update(readings[-1].ts_ms + 2 * MIN, 25.0)
    assert w._longest == longest


def test_a_snapshot_from_before_runs_were_kept_starts_a_fresh_record_of_them() -> None:
    w = StuckWatch()
    for r in probe(2, 4, level=23.5, sd_c=0.27, resolution_c=0.5, seed=1):
        assert r.temp_c is not None
        w.update(r.ts_ms, r.temp_c)
    state = {
        n: getattr(w, n) for n in StuckWatch.__slots__ if n not in ("_longest", "_run_flagged")
    }
    older = StuckWatch.__new__(StuckWatch)
    older.__setstate__((None, state))
    assert older._longest == 0 and older._run_flagged is False
    assert pickle.loads(pickle.dumps(older))._zigzags == w._zigzags


@settings(max_examples=300, deadline=None)
@given(
    wide=st.integers(0, 400),
    zigzags=st.integers(0, 400),
    more=st.integers(1, 10_000),
)
def test_the_least_noise_a_record_speaks_for_is_within_the_table_and_grows_with_its_share(
    wide: int, zigzags: int, more: int
) -> None:
    least = noise_steps_at_least(wide, zigzags)
    if zigzags < DITHER_MIN_ZIGZAGS:
        assert least is None
        return
    sigmas = [s for s, _ in SPREAD_SHARES]
    assert least is None or least in sigmas
    wider = noise_steps_at_least(min(wide + 1, zigzags), zigzags)
    assert (least or 0.0) <= (wider or 0.0)
    if least is not None:
        chance = log_spread_run(least, more)
        assert chance < 0 and math.isfinite(chance)
