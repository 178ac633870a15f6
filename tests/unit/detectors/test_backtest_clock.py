"""The backtest clock: one tracker's clock running ahead does not time the others' silence.

Live, silence is timed on the ingester's clock, and a reading stamped up to ten minutes
ahead of it is accepted. A backtest rebuilds that clock from the readings, in the order
they came; a time counts once two readings vouch for it. As live, each reading waits out the
reorder window (30 s) before the detectors take it, so a silence is timed from then.
"""

from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.replay import FleetClock, replay, replay_engine

MIN = 60_000
T0 = 1_793_714_400_000  # 2026-11-03T14:00:00Z
SKEW = 9 * MIN + 1234  # within the ten minutes live ingestion accepts
WAIT = 0.5  # min: the reorder window, after which a reading is released to the detectors


def shipments():
    return [
        parse_shipment(
            {"shipment_id": f"SHP-{d}", "device_id": d, "profile": "vaccine_2_8", "max_gap_min": 30}
        )
        for d in ("rp-A", "rp-B")
    ]


def fleet(a_gap=(11, 21), b_fast=(43,), a_minutes=90, b_repeat=1):
    """rp-B reports every minute, rp-A every two, in the order they came (arrival order).

    rp-A sends nothing for its readings numbered in `a_gap` (inclusive); rp-B's readings
    at the minutes in `b_fast` are stamped `SKEW` ahead, each sent `b_repeat` times.
    """
    rows = []
    for k in range(a_minutes + 1):
        ts = T0 + k * MIN
        for _ in range(b_repeat if k in b_fast else 1):
            rows.append((ts, 0, Reading("rp-B", ts + (SKEW if k in b_fast else 0), temp_c=5.0)))
    for k in range(a_minutes // 2 + 1):
        if a_gap[0] <= k <= a_gap[1]:
            continue
        ts = T0 + k * 2 * MIN
        rows.append((ts + 500, 1, Reading("rp-A", ts, temp_c=5.0)))
    rows.sort(key=lambda row: (row[0], row[1]))
    return [r for _, _, r in rows]


def silences(readings):
    events = replay(readings, replay_engine(shipments(), None)).events
    return [(e.device_id, e.event, (e.at_ms - T0) / MIN) for e in events if e.kind == "silence"]


def test_a_tracker_stamping_one_reading_ahead_does_not_silence_another():
    # rp-A's gap is 24 min (14:20 to 14:44), 30 tolerated; rp-B's 14:43 reading says 14:52.
    assert silences(fleet()) == []


def test_nor_when_that_reading_is_delivered_twice():
    assert silences(fleet(b_repeat=2)) == []


def test_a_real_silence_still_ends_at_its_own_reading_not_at_the_fast_time():
    # rp-A is quiet from 14:20 to 14:52 (32 min, 30 tolerated); rp-B's reading that arrived
    # at 14:43 said 14:52:01.234. The silence ends with rp-A's 14:52 reading, not at that time.
    assert silences(fleet(a_gap=(11, 25))) == [
        ("rp-A", "open", 50 + WAIT + 1 / 60),
        ("rp-A", "resolve", 52.0 + WAIT),
    ]


def test_a_tracker_whose_clock_is_always_ahead_does_not_silence_another():
    assert silences(fleet(b_fast=range(91))) == []


def test_a_fleet_that_goes_quiet_together_is_silent_together():
    readings = [
        Reading(d, T0 + k * 5 * MIN, temp_c=5.0)
        for k in range(37)
        if not 4 < k < 20  # nothing from 14:20 to 15:40
        for d in ("rp-A", "rp-B")
    ]
    assert sorted(silences(readings)) == [
        ("rp-A", "open", 50 + WAIT + 1 / 60),
        ("rp-A", "resolve", 100.0 + WAIT),
        ("rp-B", "open", 50 + WAIT + 1 / 60),
        ("rp-B", "resolve", 100.0 + WAIT),
    ]


def test_a_late_upload_ends_a_silence_without_turning_the_clock_back():
    live = [Reading(d, T0 + k * 5 * MIN) for k in range(25) for d in ("rp-A", "rp-B")]
    # rp-B's readings from 14:25 to 16:00 arrive together, after rp-A's 16:00 reading.
    held = [r for r in live if r.device_id == "rp-B" and r.ts_ms - T0 > 20 * MIN]
    readings = [r for r in live if r not in held] + held
    events = replay(readings, replay_engine(shipments(), None)).events
    got = [(e.event, e.severity, (e.at_ms - T0) / MIN) for e in events if e.kind == "silence"]
    assert got[:2] == [("open", "warning", 50 + WAIT + 1 / 60), ("update", "critical", 110 + WAIT)]
    # Heard when the upload came: not at its own old stamps (14:25), and no later than the
    # newest reading; rp-A's 15:55 is the time two of its readings vouch for.
    assert [(e, s) for e, s, _ in got[2:]] == [("resolve", "critical")]
    assert 115.0 <= got[2][2] <= 120.0


def test_one_tracker_alone_moves_the_clock_with_each_reading_that_follows_in_order():
    clock = FleetClock(replay_engine(shipments(), None))
    seen = []
    for k in (0, 5, 10, 10, 7, 15):
        _ = clock.hear("rp-A", T0 + k * MIN)
        seen.append((clock.now - T0) // MIN if clock.now >= T0 else None)
    # Each reading vouches for the one before it; a repeat or a step back vouches for none.
    assert seen == [None, 0, 5, 5, 5, 7]
