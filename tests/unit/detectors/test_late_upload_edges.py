"""Late readings at the edges of an excursion: its start (`out_since`), its duration and the
stability budget's minutes out of range are those of the readings in order, whether the first
reading out came late, or the excursion began or ended inside a gap the tracker uploaded late.

A 5-minute logger (vaccine_2_8, a 100-minute budget) is out of range at 9 °C for readings
20 to 49 (15:40 to 18:10 after T0 = 14:00) and at 5 °C otherwise, as the fleet generator's
reproductions of the defect had it."""

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.temperature import TempExcursion

STEP = 300_000  # the reporting interval, 5 min
T0 = 1_793_714_400_000  # 2026-11-03T14:00:00Z
SHIPMENT = parse_shipment(
    {
        "shipment_id": "SHP-LG",
        "device_id": "rp-lg",
        "profile": "vaccine_2_8",
        "expected_interval_s": 300,
        "stability_budget_min": 100,
    }
)


def reading(k, out=range(20, 50)):
    temp = (9.0 if k in out else 5.0) + 0.1 * (k % 3)
    return Reading("rp-lg", T0 + k * STEP, temp_c=temp)


def in_order(count=80, out=range(20, 50)):
    return [reading(k, out) for k in range(count)]


def upload_after(gap, count=80, out=range(20, 50)):
    """The tracker out of reach for readings `gap`: it sends the next live one, then them."""
    return [reading(k, out) for k in late_order(count, gap)]


def run(readings):
    """Every alert event, and the device's live excursion detector, after a backtest's clock."""
    engine = build_engine([SHIPMENT], lateness_ms=0)
    events, clock = [], 0
    for r in readings:
        clock = max(clock, r.ts_ms)  # the backtest clock: the newest time seen
        events += engine.process(r, clock)
    events += engine.flush()
    live = next(d for d in engine.devices["rp-lg"].detectors if isinstance(d, TempExcursion))
    return events, live


def excursion(events):
    return [e for e in events if e.kind == "temp_excursion"]


def minute(ts_iso):
    """Minutes after T0 of an RFC 3339 time on 2026-11-03."""
    hours, minutes = ts_iso[11:16].split(":")
    return (int(hours) - 14) * 60 + int(minutes)


def test_in_order_the_excursion_runs_150_minutes_from_1540():
    events, live = run(in_order())
    resolve = excursion(events)[-1]
    assert resolve.event == "resolve" and "after 150 min outside" in resolve.summary
    assert minute(resolve.evidence["out_since"]) == 100
    assert resolve.evidence["cumulative_out_min"] == 150.0 and live.out_minutes == 150.0


def test_the_first_reading_out_delivered_late_still_starts_the_excursion():
    # (a) Reading 20, the first out of range, comes after reading 21.
    order = list(range(60))
    order[20], order[21] = 21, 20
    out = range(20, 32)
    events, live = run([reading(k, out) for k in order])
    control, control_live = run(in_order(60, out))
    resolve = excursion(events)[-1]
    assert resolve.event == "resolve" and "after 60 min outside" in resolve.summary
    assert minute(resolve.evidence["out_since"]) == 100  # 15:40, not 15:45
    assert resolve.evidence["cumulative_out_min"] == 60.0
    assert live.out_minutes == control_live.out_minutes == 60.0
    assert resolve.summary == excursion(control)[-1].summary
    # Every event carries the true start; the alert opens one reading later than in order,
    # with the minutes the readings show then.
    assert {minute(e.evidence["out_since"]) for e in excursion(events)} == {100}
    assert next(e.event for e in excursion(events)) == "open"


def test_an_excursion_ending_inside_an_uploaded_gap_keeps_its_start_and_length():
    # (b) Readings 45-55 (17:45-18:35) come late; the excursion ends at 50 (18:10).
    events, live = run(upload_after(range(45, 56)))
    late = [e for e in excursion(events) if e.evidence.get("reported_late")]
    assert late, "the upload's readings are judged"
    resolve = excursion(events)[-1]
    assert resolve.event == "resolve"
    assert "after 150 min outside" in resolve.summary
    assert minute(resolve.evidence["out_since"]) == 100
    assert resolve.evidence["cumulative_out_min"] == 150.0 and live.out_minutes == 150.0
    assert len({e.alert_id for e in excursion(events)}) == 1
    # The budget was used up when in order too (100 of 100 min at 17:20, before the gap).
    budget = [e for e in events if e.kind == "stability_budget"]
    assert [(e.severity, e.evidence["cumulative_out_min"]) for e in budget] == [
        ("warning", 50.0),
        ("critical", 100.0),
    ]


def test_an_excursion_starting_inside_an_uploaded_gap_keeps_its_start_and_length():
    # (c) Readings 15-25 (15:15-16:05) come late; the excursion starts at 20 (15:40).
    events, live = run(upload_after(range(15, 26)))
    events_ex = excursion(events)
    assert len({e.alert_id for e in events_ex}) == 1
    assert {minute(e.evidence["out_since"]) for e in events_ex} == {100}
    # The first live event after the upload already counts from 15:40, as in order.
    first_live = next(e for e in events_ex if not e.evidence.get("reported_late"))
    assert minute(first_live.evidence["out_since"]) == 100
    assert first_live.evidence["cumulative_out_min"] == first_live.evidence["minutes_out"]
    resolve = events_ex[-1]
    assert resolve.event == "resolve" and "after 150 min outside" in resolve.summary
    assert resolve.evidence["cumulative_out_min"] == 150.0 and live.out_minutes == 150.0


def test_the_stability_budget_is_used_up_at_the_same_readings_as_in_order():
    _, control_live = run(in_order())
    control = [
        (e.event, e.severity, e.at_ms) for e in run(in_order())[0] if e.kind == "stability_budget"
    ]
    events, live = run(upload_after(range(15, 26)))
    budget = [(e.event, e.severity, e.at_ms) for e in events if e.kind == "stability_budget"]
    assert budget == control and live.out_minutes == control_live.out_minutes


def test_a_gap_inside_an_excursion_counts_its_time_once():
    # Out of range through the whole gap (readings 25-40 late): the live readings counted the
    # gap as one capped step of 15 min, the upload's readings as the hour they show.
    events, live = run(upload_after(range(25, 41)))
    assert live.out_minutes == 150.0
    assert {minute(e.evidence["out_since"]) for e in excursion(events)} == {100}


def test_a_snapshot_from_before_gaps_were_remembered_still_loads_and_judges():
    detector = TempExcursion(2.0, 8.0, budget_min=100)
    for k in range(25):
        if k != 20:  # reading 20, the first out, comes late
            detector.update(reading(k))
    state = detector.__reduce_ex__(2)[2]
    slots = dict(state[1] if isinstance(state, tuple) else state)
    del slots["_gaps"]  # what a release without them pickled
    old = TempExcursion.__new__(TempExcursion)
    old.__setstate__((None, slots))
    restored = pickle.loads(pickle.dumps(detector))
    assert old._gaps is None and restored._gaps == detector._gaps
    assert old.out_minutes == restored.out_minutes == 15.0  # 21 to 24, in order
    # Reading 20 falls in the remembered gap from 19 to 21: the 5 min to 21 count. Without
    # it, the reading is judged from the upload's own readings alone, as before.
    late = reading(20)
    restored.judge_late(late, TempExcursion(2.0, 8.0, budget_min=100))
    old.judge_late(late, TempExcursion(2.0, 8.0, budget_min=100))
    assert (restored.out_minutes, old.out_minutes) == (20.0, 15.0)
    assert restored._run_since == late.ts_ms and old._run_since == T0 + 21 * STEP


def late_order(count, gap, delay=0, swapped=None):
    """Reading numbers in arrival order: `gap` sent late, after `delay` more live readings
    than the first one back, and reading `swapped` after its successor, before the gap or
    after the upload (one judged late between them, newer than the gap, would have the
    upload's readings taken as an upload sent twice: see `detectors.late_upload`)."""
    after = min(max(gap) + 1 + delay, count - 1)
    order = [k for k in range(count) if k not in gap and k <= after] + list(gap)
    order += range(after + 1, count)
    if swapped is not None and (swapped + 1 < min(gap) or after < swapped < count - 1):
        i = order.index(swapped)
        if order[i + 1] == swapped + 1:
            order[i], order[i + 1] = swapped + 1, swapped
    return order


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(1, 50),
    length=st.integers(1, 30),
    gap_start=st.integers(1, 70),
    gap_length=st.integers(1, 14),
    delay=st.integers(0, 3),
    swapped=st.integers(1, 77),
)
def test_late_readings_count_as_in_order_within_one_interval(
    start, length, gap_start, gap_length, delay, swapped
):
    """An excursion, a stretch of readings the tracker sends late (after the next live one or
    a few more), and a reading swapped with its successor: the time out of range differs
    from the readings' in order by one reporting interval at most (the step from the last
    late reading to the next in-order one, when that and the one before the gap were both in
    range: such a gap is not remembered, to keep in-range readings as cheap as they were)."""
    out = range(start, start + length)
    gap = range(gap_start, min(gap_start + gap_length, 76))
    order = late_order(80, gap, delay, swapped)
    _, live = run([reading(k, out) for k in order])
    _, control = run(in_order(80, out))
    assert abs(live.out_minutes - control.out_minutes) <= STEP / 60_000


def test_an_upload_snapshotted_mid_way_by_an_older_release_keeps_its_minutes_out():
    # The older release counted the stretch's minutes out into the live detector only at
    # the end, so the stretch restored from its snapshot still owes them.
    engine = build_engine([SHIPMENT], lateness_ms=0)
    order = late_order(80, range(25, 41))
    for k in order[: order.index(30) + 1]:  # the upload under way, out of range since 25
        engine.process(reading(k), T0 + 41 * STEP)
    stretch = engine.devices["rp-lg"].late
    assert stretch is not None
    judge = stretch.out_of_range()
    assert judge is not None and judge.out_minutes > 0
    state = stretch.__reduce_ex__(2)[2]
    slots = dict(state[1] if isinstance(state, tuple) else state)
    del slots["unjoined_min"]
    old = type(stretch).__new__(type(stretch))
    old.__setstate__((None, slots))
    assert old.unjoined_min == judge.out_minutes
    assert pickle.loads(pickle.dumps(stretch)).unjoined_min == 0.0
