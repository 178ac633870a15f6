"""Late uploads: readings a tracker sends after newer ones still raise what they hold (an
excursion, the seal, the door, a shock), at their own time, marked as reported late, as one
alert with a live one of the same kind, and counted in the stability budget."""

import pickle

from detector_checks import backtest, simulated_and_scored
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.late_upload import LATE_IDLE_MS
from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000
T0 = 1_763_800_000_000  # 2025-11-22T08:26:40Z
VACCINE = parse_shipment({"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "vaccine_2_8"})
SEALED = parse_shipment(
    {"shipment_id": "SHP-2", "device_id": "trk-2", "profile": "customs_transit", "seal_id": "ES-9"}
)


def reading(minute, temp=5.0, device="trk-1", **extra):
    return Reading(device, T0 + minute * MIN, temp_c=temp, **extra)


def deliver(engine, arrivals):
    """Events for (reading, clock minute) pairs in arrival order, then the end of the run."""
    events = []
    for r, clock in arrivals:
        events += engine.process(r, T0 + clock * MIN)
    return events + engine.flush()


def of_kind(events, kind):
    """The kind's events but its periodic refreshes (an open alert's update every 15 min)."""
    return [e for e in events if e.kind == kind and e.event != "update"]


def warm_gap():
    """Live every 5 min to 60, silent to 125, the upload of 65-120 (12 °C from 80 to 105)."""
    live = [(reading(m), m) for m in range(0, 61, 5)]
    live += [(reading(m), m) for m in (125, 130)]
    upload = [(reading(m, 12.0 if 80 <= m <= 105 else 5.0), 131) for m in range(65, 121, 5)]
    return live, upload


def test_an_excursion_in_a_late_upload_opens_at_its_own_time_marked_as_reported_late():
    live, upload = warm_gap()
    events = of_kind(
        deliver(build_engine([VACCINE], lateness_ms=0), live + upload), "temp_excursion"
    )
    assert [(e.event, (e.at_ms - T0) // MIN) for e in events] == [("open", 85), ("resolve", 130)]
    opened = events[0]
    assert opened.summary.startswith("from a late upload: 12.0 °C, 4.0 °C above the 8 °C limit")
    assert opened.evidence["reported_late"] is True
    assert opened.evidence["out_since"] == "2025-11-22T09:46:40Z"  # minute 80
    assert events[1].alert_id == opened.alert_id


def test_the_same_readings_in_order_open_the_excursion_at_the_same_time():
    live, upload = warm_gap()
    in_order = sorted(live[:-2] + upload + live[-2:], key=lambda a: a[0].ts_ms)
    straight = of_kind(deliver(build_engine([VACCINE], lateness_ms=0), in_order), "temp_excursion")
    late = of_kind(deliver(build_engine([VACCINE], lateness_ms=0), live + upload), "temp_excursion")
    assert straight[0].at_ms == late[0].at_ms
    assert straight[0].alert_id == late[0].alert_id
    assert "reported_late" not in straight[0].evidence


def test_an_upload_sent_twice_raises_its_alerts_once():
    live, upload = warm_gap()
    engine = build_engine([VACCINE], lateness_ms=0)
    again = [(r, 200) for r, _ in upload]
    events = of_kind(deliver(engine, live + upload + again), "temp_excursion")
    assert [e.event for e in events] == ["open", "resolve"]
    late = engine.devices["trk-1"].late
    assert late is not None and late.skipped == len(upload)


def test_an_upload_older_than_a_reading_judged_late_before_it_is_still_judged():
    # Live to 60 and from 125; the reading of 120 arrives alone after 125 (reordered), a
    # stretch of its own; a minute later the upload of the gap before it, warm from 80 to 105.
    live, upload = warm_gap()
    reordered = [(r, 127) for r, _ in upload if r.ts_ms == T0 + 120 * MIN]
    rest = [(r, 140) for r, _ in upload if r.ts_ms < T0 + 120 * MIN]
    engine = build_engine([VACCINE], lateness_ms=0)
    events = of_kind(deliver(engine, live + reordered + rest), "temp_excursion")
    assert [(e.event, (e.at_ms - T0) // MIN) for e in events][:1] == [("open", 85)]
    late = engine.devices["trk-1"].late
    assert late is not None and late.skipped == 0


def test_a_late_stretch_from_an_older_snapshot_still_skips_what_it_had_judged():
    live, upload = warm_gap()
    engine = build_engine([VACCINE], lateness_ms=0)
    deliver(engine, live + upload)
    late = engine.devices["trk-1"].late
    assert late is not None
    slots = {n: getattr(late, n) for n in ("_active", "_arrived_ms", "detectors", "skipped")}
    old = type(late).__new__(type(late))
    old.__setstate__((None, {**slots, "judged_ts": T0 + 120 * MIN}))  # one mark, as before
    assert old.take(upload[0][0], T0 + 300 * MIN, VACCINE) == [] and old.skipped == 1


def test_a_seal_tampered_with_while_out_of_coverage_is_a_critical_seal_breach():
    live = [(reading(m, None, "trk-2", seal="closed"), m) for m in (0, 5, 10, 60, 65)]
    upload = [
        (reading(m, None, "trk-2", seal="tampered" if m == 30 else "closed"), 70)
        for m in range(15, 56, 5)
    ]
    events = of_kind(deliver(build_engine([SEALED], lateness_ms=0), live + upload), "seal_breach")
    assert [(e.event, e.severity, (e.at_ms - T0) // MIN) for e in events] == [
        ("open", "critical", 30)
    ]
    assert events[0].summary.startswith("from a late upload: seal ES-9 reports tampering")
    # Customs keep a seal alert an hour after the seal reads closed again (minute 35 of the
    # upload): the first live reading past that resolves it.
    later = deliver(
        build_engine([SEALED], lateness_ms=0), [*live, *upload, (reading(95, None, "trk-2"), 95)]
    )
    assert [(e.event, (e.at_ms - T0) // MIN) for e in of_kind(later, "seal_breach")] == [
        ("open", 30),
        ("resolve", 95),
    ]


def test_a_shock_in_a_late_upload_is_reported():
    live = [(reading(m, None, "trk-2", shock_g=0.1), m) for m in (0, 5, 60)]
    upload = [
        (reading(m, None, "trk-2", shock_g=9.0 if m == 20 else 0.1), 61) for m in (15, 20, 25)
    ]
    events = of_kind(deliver(build_engine([SEALED], lateness_ms=0), live + upload), "shock")
    assert [(e.event, e.severity, (e.at_ms - T0) // MIN) for e in events][:1] == [
        ("open", "critical", 20)
    ]


def test_a_door_opened_where_the_position_is_unknown_shows_in_a_late_upload():
    live = [(reading(m, 5.0, door="closed"), m) for m in (0, 5, 120)]
    upload = [
        (reading(m, 5.0, door="open" if 20 <= m <= 80 else "closed"), 121)
        for m in range(10, 116, 5)
    ]
    events = of_kind(deliver(build_engine([VACCINE], lateness_ms=0), live + upload), "door_open")
    assert [e.event for e in events] == ["open", "resolve"]
    assert events[0].evidence["reported_late"] is True
    assert (events[0].at_ms - T0) // MIN > 20  # once open longer than the limit, as live


def test_a_late_excursion_inside_a_live_one_keeps_one_alert_and_leaves_it_open():
    # Out of range from minute 30 on, live; the upload of 40-55 was out of range too.
    live = [(reading(m, 5.0 if m < 30 else 11.0), m) for m in (0, 5, 10, 15, 20, 25, 30, 35, 60)]
    upload = [(reading(m, 11.0), 61) for m in (40, 45, 50, 55)]
    engine = build_engine([VACCINE], lateness_ms=0)
    events = of_kind(deliver(engine, live + upload), "temp_excursion")
    assert [e.event for e in events] == ["open"]
    assert len({e.alert_id for e in events}) == 1
    assert "temp_excursion" in engine.devices["trk-1"].book.open_alerts()


def test_time_out_of_range_in_a_late_upload_uses_the_stability_budget():
    # 12 °C from minute 15 to 85 inside the upload, back in range at 90: 75 min out, more than
    # half of the vaccine's 120-minute budget.
    live = [(reading(m), m) for m in (0, 5, 10, 100, 105)]
    upload = [(reading(m, 12.0 if 15 <= m <= 85 else 5.0), 106) for m in range(15, 96, 5)]
    events = of_kind(
        deliver(build_engine([VACCINE], lateness_ms=0), live + upload), "stability_budget"
    )
    assert [(e.event, e.severity) for e in events] == [("open", "warning")]
    assert events[0].evidence["cumulative_out_min"] == 75.0
    assert (events[0].at_ms - T0) // MIN == 95  # the upload's last reading


def test_a_late_stretch_ends_after_an_idle_minute_of_the_clock():
    live, upload = warm_gap()
    engine = build_engine([VACCINE], lateness_ms=0)
    for r, clock in live + upload:
        engine.process(r, T0 + clock * MIN)
    late = engine.devices["trk-1"].late
    assert late is not None and late.detectors
    assert engine.due("trk-1") == T0 + 131 * MIN + LATE_IDLE_MS
    engine.advance(T0 + 131 * MIN + LATE_IDLE_MS)
    assert not late.detectors and engine.due("trk-1") != T0 + 131 * MIN + LATE_IDLE_MS


def test_a_snapshot_taken_mid_upload_carries_on_as_if_never_interrupted():
    live, upload = warm_gap()
    arrivals = live + upload
    straight = deliver(build_engine([VACCINE], lateness_ms=0), arrivals)
    for cut in (len(live) + 2, len(live) + 6):
        first = build_engine([VACCINE], lateness_ms=0)
        events = []
        for r, clock in arrivals[:cut]:
            events += first.process(r, T0 + clock * MIN)
        second = build_engine([VACCINE], lateness_ms=0)
        second.restore(first.snapshot())
        events += deliver(second, arrivals[cut:])
        assert events == straight


def test_a_snapshot_from_before_late_uploads_were_judged_restores():
    live, upload = warm_gap()
    engine = build_engine([VACCINE], lateness_ms=0)
    deliver(engine, live)
    state = engine.devices["trk-1"]
    del state.late  # what unpickling a device written before the field existed leaves
    blob = pickle.dumps({"version": 4, "devices": {"trk-1": state}})
    restored = build_engine([VACCINE], lateness_ms=0)
    assert restored.restore(blob) == {"trk-1": T0 + 130 * MIN}
    events = of_kind(deliver(restored, upload), "temp_excursion")
    assert [e.event for e in events] == ["open", "resolve"]


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(2, 20),
    held=st.integers(6, 30),
    out_at=st.integers(1, 20),
    out_len=st.integers(0, 12),
    every=st.sampled_from([1, 5, 10, 15]),
)
def test_an_excursion_held_back_in_an_upload_opens_as_it_would_have_in_order(
    start, held, out_at, out_len, every
):
    # Readings 0..n every `every` minutes; those from `start` for `held` readings are sent after
    # the rest, and hold an excursion of `out_len` readings in range on both of its sides.
    out_at = min(out_at, held - 2)
    out_len = min(out_len, held - 1 - out_at)
    n = start + held + 4
    temps = [5.0] * n
    for i in range(start + out_at, start + out_at + out_len):
        temps[i] = 10.0
    readings = [reading(i * every, t) for i, t in enumerate(temps)]
    in_order = [(r, i * every) for i, r in enumerate(readings)]
    block = range(start, start + held)
    clock = n * every
    arrivals = [a for i, a in enumerate(in_order) if i not in block]
    arrivals += [(readings[i], clock) for i in block]
    straight = deliver(build_engine([VACCINE], lateness_ms=0), in_order)
    late = deliver(build_engine([VACCINE], lateness_ms=0), arrivals)

    def opened(events):
        return [
            (e.at_ms, e.severity) for e in of_kind(events, "temp_excursion") if e.event == "open"
        ]

    assert opened(late) == opened(straight)


def test_cargowatch_backtest_raises_an_excursion_hidden_in_a_late_upload(tmp_path):
    fleet = [{"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "vaccine_2_8"}]
    live, upload = warm_gap()

    def message(r):
        return {"device_id": r.device_id, "ts": r.ts_ms, "temp_c": r.temp_c}

    # Recorded in arrival order: the live readings after the gap come before the upload.
    alerts = backtest(tmp_path, [message(r) for r, _ in live + upload], fleet)
    opened = [a for a in alerts if a["kind"] == "temp_excursion" and a["event"] == "open"]
    assert len(opened) == 1 and opened[0]["evidence"]["reported_late"] is True


def test_a_simulated_seal_opened_out_of_coverage_is_caught_from_the_late_upload(tmp_path):
    # The simulator's own scenario, end to end as a test engineer scores it.
    alerts, kinds = simulated_and_scored(tmp_path, "tamper_out_of_coverage")
    assert kinds["seal_breach"]["recall"] == 1.0
    # The stop it happened at is in the upload too, and is reported from it.
    assert kinds["unscheduled_stop"]["recall"] == 1.0
    late = {"seal_breach", "unscheduled_stop"}
    assert all(a["evidence"].get("reported_late") for a in alerts if a["kind"] in late)
