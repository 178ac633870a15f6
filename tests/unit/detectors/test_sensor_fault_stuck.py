"""Stuck probes: judged by elapsed time and by the noise the probe itself has shown, not by a count.

A probe that has shown its noise cannot honestly repeat one value for long, at any reporting
interval; a coarse, quiet probe can, for as long as the product holds still, including a
coarse probe that flickered on the boundary between two of its steps before its product
drifted off it.
"""

import itertools
import math
import pickle
import random

import pytest
from detector_checks import opened, probe, stuck_after
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.alerts import rfc3339
from detectors.probe_stuck import DITHER_MIN_ZIGZAGS, WIDE_SHARE, StuckWatch, log_honest_run
from detectors.reading import Reading
from detectors.sensor_fault import STUCK_ODDS, SensorFault

MIN = 60_000


@pytest.mark.parametrize(
    ("interval_min", "sd_c"),
    [
        pytest.param(1, 0.1, id="every minute"),
        pytest.param(5, 0.2, id="every 5 minutes"),
        pytest.param(10, 0.3, id="every 10 minutes"),
    ],
)
def test_a_lively_fine_probe_stuck_for_two_hours_is_reported_after_an_hour(
    interval_min: int, sd_c: float
) -> None:
    # The fewer readings an hour, the noisier the probe must have shown itself for a run of
    # two hours to be beyond an honest one: every reading is one more chance to have moved.
    history = probe(interval_min, 12, level=4.0, sd_c=sd_c, resolution_c=0.1, seed=0)
    [(r, c)] = opened(stuck_after(history, interval_min, 2))
    assert c.evidence["fault"] == "stuck"
    assert 60 <= (r.ts_ms - history[-1].ts_ms) / MIN <= 120, "after an hour, within the two"
    assert c.evidence["minutes"] >= 60 and c.evidence["odds"] < STUCK_ODDS
    assert c.evidence["temp_c"] == c.evidence["previous_c"] == history[-1].temp_c


def test_a_noisy_coarse_probe_stuck_for_two_hours_is_reported() -> None:
    # A degree of noise read at 0.5 °C: its readings zigzag over several steps, so one value
    # for two hours is no honest run, coarse as the probe is.
    history = probe(5, 12, level=-20.0, sd_c=1.0, resolution_c=0.5, seed=0)
    [(r, c)] = opened(stuck_after(history, 5, 2))
    assert c.evidence["fault"] == "stuck" and c.evidence["resolution_c"] == 0.5
    assert (r.ts_ms - history[-1].ts_ms) / MIN <= 120


def test_eight_readings_at_15_minutes_from_a_probe_with_0_3_c_of_noise_are_stuck() -> None:
    # 0.3 °C of noise at 0.1 °C: the probe repeats a value about one reading in eight, so
    # eight in a row (two hours at 15 minutes) have a chance of a few in a million.
    history = probe(15, 12, level=4.0, sd_c=0.3, resolution_c=0.1, seed=0)
    [(r, c)] = opened(stuck_after(history, 15, 2))
    assert c.evidence["fault"] == "stuck" and c.evidence["readings"] >= 8
    assert (r.ts_ms - history[-1].ts_ms) / MIN <= 120, "within the two hours"
    assert c.evidence["temp_c"] == c.evidence["previous_c"] == history[-1].temp_c


@pytest.mark.parametrize("interval_min", [5, 10, 15])
@pytest.mark.parametrize("seed", range(4))
def test_a_quiet_fine_probe_over_two_days_is_not_stuck(interval_min: int, seed: int) -> None:
    # The probes whose honest runs come closest to the odds on development fleets: 0.1 °C
    # steps and about 0.045 °C of noise, reporting every 5 to 15 minutes, on a product that
    # holds still for two days. They zigzag now and then, and repeat for hours between.
    quiet = probe(interval_min, 48, level=5.0, sd_c=0.045, resolution_c=0.1, seed=seed)
    assert opened(quiet) == []


def test_a_probe_that_never_showed_noise_is_never_stuck_however_long_it_repeats() -> None:
    # A pull-down, then one value every 10 seconds for a month: without a zigzag on record
    # the probe has given nothing to judge a run by (an honest run of k would still keep a
    # chance of 1 / (1 + k), which a long enough voyage takes below any odds).
    w = StuckWatch(odds=STUCK_ODDS)
    ts = 0
    for i in range(30):
        assert w.update(ts, round(8.0 - 0.1 * i, 1)) is None
        ts += 10_000
    out = [w.update(ts + i * 10_000, 5.1) for i in range(30 * 24 * 360)]
    assert out.count(None) == len(out)


def test_a_quiet_coarse_probe_at_15_minutes_for_12_hours_is_not_stuck() -> None:
    # Eight, or 48, identical readings at 15 minutes are what a quiet 0.5 °C probe on a steady
    # product sends, even after it flickered on a step boundary while its product settled.
    flicker = [Reading("t", i * 15 * MIN, temp_c=(-20.0, -19.5)[i % 2]) for i in range(16)]
    held = [Reading("t", (16 + i) * 15 * MIN, temp_c=-20.0) for i in range(48)]
    assert opened(flicker + held) == []
    quiet = probe(15, 12, level=5.1, sd_c=0.05, resolution_c=0.5, seed=1)
    assert opened(quiet) == []


@pytest.mark.parametrize("interval_min", [1, 15])
def test_a_quiet_fine_probe_on_a_steady_product_is_not_stuck(interval_min: int) -> None:
    # A 0.1 °C probe with 0.03 °C of noise on a product held at a whole tenth: one value for
    # hours, now and then one step off and back. Its few zigzags do not make its runs rare.
    quiet = probe(interval_min, 24, level=2.0, sd_c=0.03, resolution_c=0.1, seed=2)
    assert opened(quiet) == []


def drifting(
    interval_min: float, hours: float, path: list[tuple[float, float]], sd_c: float, seed: int
) -> list[Reading]:
    """A product moving linearly between (hour, °C) points, read by a 0.1 °C probe."""
    rng, out = random.Random(seed), []
    for i in range(int(hours * 60 / interval_min)):
        h = i * interval_min / 60
        (h0, c0), (h1, c1) = next((a, b) for a, b in itertools.pairwise(path) if h <= b[0])
        level = c0 + (c1 - c0) * (h - h0) / (h1 - h0)
        v = round(round((level + rng.gauss(0.0, sd_c)) / 0.1) * 0.1, 2)
        out.append(Reading("t", int(i * interval_min * MIN), temp_c=v, ambient_c=25.0))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_a_very_quiet_fine_probe_that_flickered_on_a_boundary_is_not_stuck_when_it_settles(
    seed: int,
) -> None:
    # A 1-minute tracker's 0.1 °C probe with 0.02 °C of noise: while its product wanders about
    # a step boundary it flickers between the two values, zigzag after zigzag, none spanning
    # two steps; once the product drifts to mid-step it honestly reads one value for hours.
    # Counting those flickers as noise had made that run a chance of one in a million.
    path = [(0.0, 1.65), (6.0, 1.66), (6.5, 1.72), (10.0, 1.73)]
    readings = drifting(1, 10, path, sd_c=0.02, seed=seed)
    w = StuckWatch()
    for r in readings[: 6 * 60]:
        assert r.temp_c is not None
        w.update(r.ts_ms, r.temp_c)
    assert w._changes > 20 and w._wide < WIDE_SHARE * w._changes, "it flickered, narrowly"
    assert opened(readings) == []


def test_a_fine_probe_whose_noise_spans_two_steps_has_its_flickers_counted_too() -> None:
    # 0.12 °C of noise at 0.1 °C: most zigzags span two steps, so those within one are noise
    # as well, and the record is the one every zigzag makes.
    w = StuckWatch()
    for r in probe(15, 48, level=4.0, sd_c=0.12, resolution_c=0.1, seed=0):
        assert r.temp_c is not None
        w.update(r.ts_ms, r.temp_c)
    assert WIDE_SHARE * w._changes <= w._wide < w._changes
    assert w._noise_shown() == w._changes


def freed(readings: list[Reading], step_c: float, door: str | None = None) -> list[Reading]:
    """`readings`, then one more reading `step_c` away from the last, 15 minutes later."""
    last = readings[-1]
    assert last.temp_c is not None
    free = round(last.temp_c + step_c, 2)
    return [*readings, Reading("t", last.ts_ms + 15 * MIN, temp_c=free, ambient_c=25.0, door=door)]


def test_a_15_minute_logger_stuck_for_two_hours_is_reported_when_it_comes_free() -> None:
    # Eight readings in two hours are too few for the run alone to be beyond an honest one
    # of this probe, which often repeats itself; but when it comes free it steps 1.2 °C at
    # once, where in two days its readings never moved more than 0.4 °C from one to the next.
    # The run and the step together are the stuck probe.
    history = probe(15, 48, level=4.0, sd_c=0.12, resolution_c=0.1, seed=0)
    stuck = stuck_after(history, 15, 2)
    assert opened(stuck) == [], "the run alone is not yet beyond an honest one"
    [(r, c)] = opened(freed(stuck, 1.2))
    assert r.ts_ms == stuck[-1].ts_ms + 15 * MIN, "reported on the reading that ends the run"
    e = c.evidence
    assert e["fault"] == "stuck" and e["previous_c"] == history[-1].temp_c
    assert e["temp_c"] == r.temp_c and e["step_c"] == pytest.approx(1.2)
    # (The run began where the honest readings last repeated themselves, if they did.)
    assert e["since"] <= rfc3339(history[-1].ts_ms) and e["until"] == rfc3339(stuck[-1].ts_ms)
    assert e["minutes"] >= 120 and e["readings"] >= 9 and e["odds"] < STUCK_ODDS
    assert e["moves_as_large"] == 0 < e["moves"]


@pytest.mark.parametrize("step_c", [0.1, -0.2, 0.3])
def test_a_run_that_ends_in_a_step_the_probe_often_makes_is_not_stuck(step_c: float) -> None:
    # The same run ending one to three of the probe's steps away: what the product's own
    # wander does after a still spell, and what this probe's readings do every few hours.
    stuck = stuck_after(probe(15, 48, level=4.0, sd_c=0.12, resolution_c=0.1, seed=0), 15, 2)
    assert opened(freed(stuck, step_c)) == []


def test_a_run_that_ends_while_the_door_is_open_is_not_judged() -> None:
    # An open door moves the probe by itself: the step is the door's, not a probe coming free.
    stuck = stuck_after(probe(15, 48, level=4.0, sd_c=0.12, resolution_c=0.1, seed=0), 15, 2)
    assert opened(freed(stuck, 1.2, door="open")) == []


def test_a_snapshot_from_before_the_moves_were_counted_is_taken_back() -> None:
    w = StuckWatch()
    for r in probe(15, 24, level=4.0, sd_c=0.1, resolution_c=0.1, seed=0):
        assert r.temp_c is not None
        w.update(r.ts_ms, r.temp_c)
    old = {n: getattr(w, n) for n in StuckWatch.__slots__ if n not in ("_moves", "_moved")}
    back = pickle.loads(pickle.dumps(w))
    assert back._moves == w._moves > 0 and list(back._moved) == list(w._moved)
    older = StuckWatch.__new__(StuckWatch)
    older.__setstate__((None, old))
    assert older._moves == 0 and sum(older._moved) == 0
    assert older.update(w._prev_ts + 15 * MIN, 9.0) is None


def test_a_snapshot_from_before_wide_zigzags_were_counted_takes_every_zigzag_for_noise() -> None:
    w = StuckWatch()
    for r in drifting(1, 6, [(0.0, 1.65), (6.0, 1.66)], sd_c=0.02, seed=0):
        assert r.temp_c is not None
        w.update(r.ts_ms, r.temp_c)
    older = StuckWatch.__new__(StuckWatch)
    older.__setstate__((None, {n: getattr(w, n) for n in StuckWatch.__slots__ if n != "_wide"}))
    assert older._wide == older._changes == w._changes > 0
    assert older._noise_shown() == w._changes > w._noise_shown()


@settings(max_examples=200, deadline=None)
@given(
    flicker=st.lists(st.booleans(), min_size=20, max_size=400),
    interval_min=st.sampled_from([1, 2, 5, 10, 15]),
    held=st.integers(0, 2000),
    low=st.integers(-250, 250),
)
def test_a_probe_that_only_ever_flickered_between_two_values_is_never_stuck(
    flicker: list[bool], interval_min: int, held: int, low: int
) -> None:
    # Whatever order two adjacent 0.1 °C values come in, and however long one is then held,
    # a probe that never showed more than a flicker on one boundary is not called stuck.
    lo, hi = round(low * 0.1, 1), round((low + 1) * 0.1, 1)
    values = [hi if f else lo for f in flicker] + [lo] * held
    d = SensorFault()
    for i, v in enumerate(values):
        r = Reading("t", i * interval_min * MIN, temp_c=v, ambient_c=25.0)
        assert not [c for c in d.update(r) or [] if c.active]


@settings(max_examples=200, deadline=None)
@given(
    record=st.lists(
        st.sampled_from([-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3]), min_size=100, max_size=300
    ),
    interval_min=st.sampled_from([1, 5, 10, 15]),
    run=st.integers(1, 40),
    step_c=st.floats(-6.0, 6.0).filter(lambda s: abs(s) >= 0.05),
)
def test_a_run_ended_by_a_step_is_reported_only_with_evidence_of_that_run(
    record: list[float], interval_min: int, run: int, step_c: float
) -> None:
    # Any record of moves, a run of `run` repeats, then one step: a stuck fault opened on the
    # step names the run exactly (the repeats before it may have begun it earlier), needs an
    # hour of it, and states odds below the threshold.
    level, ts, out = 4.0, 0, []
    for move in record:
        level = round(level + move, 1)
        out.append(Reading("t", ts, temp_c=level))
        ts += interval_min * MIN
    first = ts
    for _ in range(run + 1):
        out.append(Reading("t", ts, temp_c=level))
        ts += interval_min * MIN
    out.append(Reading("t", ts, temp_c=round(level + step_c, 2)))
    d, found = SensorFault(), []
    for r in out:
        found += [(r, c) for c in d.update(r) or [] if c.active]
    for r, c in found:
        e = c.evidence
        if r is not out[-1] or "until" not in e:
            continue  # a run reported while it lasted, or a record's own fault
        assert e["fault"] == "stuck" and e["previous_c"] == level and e["temp_c"] == r.temp_c
        assert e["until"] == rfc3339(ts - interval_min * MIN)
        assert e["since"] <= rfc3339(first) and e["minutes"] >= 60
        assert e["readings"] >= run + 1 and e["odds"] < STUCK_ODDS
        assert e["step_c"] == pytest.approx(abs(r.temp_c - level)) and e["moves_as_large"] >= 0


@pytest.mark.parametrize("seed", range(4))
def test_a_probe_with_most_of_a_step_of_noise_is_called_stuck_on_its_repeats(seed: int) -> None:
    # 0.08 °C of noise at 0.1 °C: the probe repeats about one reading in three. Its zigzags
    # alone say more than one in two, as a third of its noisy changes continue the one before
    # and look like a trend; they would take 90 to 100 min of one value at 5 minutes to call
    # it stuck. Its repeats among its repeats and one-step changes are the fairer record.
    history = probe(5, 24, level=4.0, sd_c=0.08, resolution_c=0.1, seed=seed)
    w = StuckWatch()
    for r in history:
        assert r.temp_c is not None
        w.update(r.ts_ms, r.temp_c)
    assert w._dithers()
    assert w._repeats / (w._repeats + w._one_step) < 0.45 < (w._pairs - w._changes) / w._pairs
    [(r, c)] = opened(stuck_after(history, 5, 2))
    e = c.evidence
    assert (r.ts_ms - history[-1].ts_ms) / MIN < 120, "before the two hours are over"
    assert e["fault"] == "stuck" and e["dithers"] is True and e["odds"] < STUCK_ODDS
    # (The run may have begun before the last honest reading: its repeats are not on record.)
    assert e["repeats"] == w._repeats - w._run_n and e["one_step_changes"] == w._one_step
    zigzags_alone = log_honest_run(
        e["noise_changes"], e["noise_pairs"] - e["noise_changes"], e["readings"] - 1
    )
    assert zigzags_alone > math.log(STUCK_ODDS), "its zigzags alone do not yet call it stuck"
    # Nor is it called sooner than its true noise allows: mid-step, where a run is likeliest,
    # each reading shows the run's value with the chance below, and the run is past the odds.
    mid_step = math.erf(0.5 / (0.8 * math.sqrt(2.0)))
    assert mid_step ** (e["readings"] - 1) < STUCK_ODDS


@pytest.mark.parametrize("seed", range(6))
def test_a_dithering_probe_is_not_stuck_on_a_run_its_noise_explains_mid_step(seed: int) -> None:
    # 0.07 °C of noise at 0.1 °C on a product that holds still mid-step: two readings agree
    # about 45 % of the time, but each reading shows the middle value 52 % of the time, so 17
    # readings of it (80 min at 5 minutes) keep a chance of three in 100,000. Taking the
    # repeat rate for the chance of each reading of a run called such runs stuck.
    history = probe(5, 24, level=4.0, sd_c=0.07, resolution_c=0.1, seed=seed)
    last = history[-1]
    assert last.temp_c is not None
    run = [
        Reading("t", last.ts_ms + (i + 1) * 5 * MIN, temp_c=last.temp_c, ambient_c=25.0)
        for i in range(16)
    ]
    off = Reading("t", last.ts_ms + 17 * 5 * MIN, temp_c=round(last.temp_c + 0.1, 2))
    mid_step = math.erf(0.5 / (0.7 * math.sqrt(2.0)))
    assert mid_step**16 > 3 * STUCK_ODDS
    assert opened(history + run + [off]) == []


@pytest.mark.parametrize("steps", [0.1, 0.2, 0.3])
@pytest.mark.parametrize("resolution_c", [0.1, 0.5])
@pytest.mark.parametrize("offset", [0.0, 0.3, 0.5])
def test_a_probe_whose_noise_is_well_within_its_step_is_judged_on_its_zigzags_alone(
    steps: float, resolution_c: float, offset: float
) -> None:
    # Noise of a third of a step or less: how often the probe repeats itself depends on where
    # its product sits between two steps (mid-step it hardly ever moves), so its repeats on a
    # product near a boundary say nothing of a run mid-step.
    w = StuckWatch()
    level = 4.0 + offset * resolution_c
    for r in probe(
        5, 48, level=level, sd_c=steps * resolution_c, resolution_c=resolution_c, seed=3
    ):
        assert r.temp_c is not None
        w.update(r.ts_ms, r.temp_c)
    assert w._zigzags >= DITHER_MIN_ZIGZAGS or steps < 0.3, "it zigzagged"
    assert not w._dithers()


def test_a_snapshot_from_before_repeats_were_counted_judges_on_zigzags_until_it_learns_more() -> (
    None
):
    history = probe(10, 24, level=4.0, sd_c=0.1, resolution_c=0.1, seed=0)
    w = StuckWatch()
    for r in history:
        assert r.temp_c is not None
        w.update(r.ts_ms, r.temp_c)
    new = ("_repeats", "_one_step", "_zigzags")
    older = StuckWatch.__new__(StuckWatch)
    older.__setstate__((None, {n: getattr(w, n) for n in StuckWatch.__slots__ if n not in new}))
    assert not older._dithers() and older._repeats == older._one_step == 0
    # Mid-run, too: a snapshot holds no repeats for the run it is in.
    ts = w._prev_ts
    for i in range(3):
        assert older.update(ts + (i + 1) * 10 * MIN, w._prev_t) is None
    assert older._repeats_before() == 0


def test_a_probe_whose_zigzags_come_in_bursts_is_judged_on_its_repeats_only_past_its_runs() -> None:
    # An air probe read at 0.5 °C holds one value for over three hours at a time, between
    # short bursts of swirling air (a door, a defrost) whose zigzags span two steps: its
    # "noise" is not independent from reading to reading, and its long honest runs say so.
    # A run of five hours is then no longer than twice the longest it read honestly, and
    # the step that ends it, larger than any it made before, does not make it stuck.
    values: list[float] = []
    for _ in range(12):
        values += [2.0] * 40 + [2.5, 3.0, 2.0, 2.5, 2.0, 2.5, 1.5, 2.0]
    values += [2.0] * 60 + [3.5]
    w = StuckWatch()
    found = [w.update(i * 5 * MIN, v) for i, v in enumerate(values)]
    assert w._dithers(), "its bursts' zigzags span two steps"
    assert found.count(None) == len(values)
