"""The engine: event-time order within the lateness bound, duplicates, late uploads, timers."""

import pickle
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.profiles import PROFILES, parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000
VACCINE_ELEMENT = {"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "vaccine_2_8"}
CUSTOMS_ELEMENT = {"shipment_id": "SHP-2", "device_id": "trk-1", "profile": "customs_transit"}
VACCINE = parse_shipment(VACCINE_ELEMENT)


def excursion_readings():
    temps = [5.0] * 12 + [9.0] * 6 + [5.0] * 6
    return [Reading("trk-1", i * 5 * MIN, temp_c=t) for i, t in enumerate(temps)]


def run(engine, readings, now=None):
    events = []
    for r in readings:
        events += engine.process(r, now)
    return events + engine.flush()


def summary(events):
    return [(e.event, e.kind, e.at_ms // MIN) for e in events]


def test_an_excursion_opens_after_its_minimum_duration_and_resolves_after_the_damping():
    events = run(build_engine([VACCINE]), excursion_readings())
    assert summary(events) == [
        ("open", "temp_excursion", 65),
        ("update", "temp_excursion", 80),  # the 15-minute refresh of a continuing alert
        ("resolve", "temp_excursion", 100),
    ]
    opened, refreshed, resolved = events
    assert refreshed.summary.endswith("for 20 min (range 2 to 8 °C)")
    assert opened.summary == "9.0 °C, 1.0 °C above the 8 °C limit for 5 min (range 2 to 8 °C)"
    assert resolved.alert_id == opened.alert_id and resolved.summary.startswith("back in range")
    assert all(e.shipment_id == "SHP-1" for e in events)


def test_duplicates_are_ignored():
    engine = build_engine([VACCINE])
    readings = excursion_readings()
    baseline = summary(run(build_engine([VACCINE]), readings))
    doubled = [r for r in readings for _ in range(2)]
    assert summary(run(engine, doubled)) == baseline
    assert engine.stats.duplicates == len(readings)


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_order_within_the_lateness_bound_does_not_change_the_alerts(rnd):
    readings = excursion_readings()
    shuffled = list(readings)
    # Swap neighbours only: every reading stays within one 5-min step of its place.
    for i in range(0, len(shuffled) - 1, 2):
        if rnd.random() < 0.5:
            shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    in_order = summary(run(build_engine([VACCINE], lateness_ms=10 * MIN), readings))
    assert summary(run(build_engine([VACCINE], lateness_ms=10 * MIN), shuffled)) == in_order


def test_a_late_upload_resolves_silence_without_going_through_the_order_sensitive_detectors():
    engine = build_engine([VACCINE], lateness_ms=0)
    events = []
    for i in range(12):
        events += engine.process(Reading("trk-1", i * 5 * MIN, temp_c=5.0), i * 5 * MIN)
    events += engine.advance(100 * MIN)
    assert [(e.event, e.kind) for e in events] == [("open", "silence")]
    # Older than what was already processed: a store-and-forward reading arriving now.
    events = engine.process(Reading("trk-1", 32 * MIN, temp_c=9.9), 101 * MIN)
    assert [(e.event, e.kind, e.summary) for e in events] == [
        ("resolve", "silence", "a late upload filled the gap")
    ]
    assert engine.stats.late == 1


def test_unknown_devices_are_watched_under_the_default_profile_or_not_at_all():
    assert run(build_engine(), [Reading("x", 0, battery_v=3.0)]) == []
    events = run(
        build_engine(default_profile=PROFILES["customs_transit"]), [Reading("x", 0, battery_v=3.0)]
    )
    assert [(e.kind, e.severity, e.shipment_id) for e in events] == [
        ("battery_low", "critical", None)
    ]


def test_engine_state_pickles_and_continues_identically():
    readings = excursion_readings()
    a = build_engine([VACCINE])
    first = run(a, readings[:10])
    b = pickle.loads(pickle.dumps(a))
    assert summary(run(a, readings[10:])) == summary(run(b, readings[10:]))
    assert first == []


def test_the_risk_score_lists_the_open_alerts_behind_it():
    engine = build_engine([VACCINE])
    assert engine.risk("trk-1").score == 0.0
    run(engine, [Reading("trk-1", 0, temp_c=5.0, battery_v=3.1)])
    risk = engine.risk("trk-1")
    assert [(c.kind, c.severity, c.points) for c in risk.contributions] == [
        ("battery_low", "critical", 10.0)
    ]
    assert risk.score == 10.0


def test_devices_share_equal_settings_without_changing_any_value():
    other = parse_shipment({"shipment_id": "SHP-2", "device_id": "trk-2", "profile": "vaccine_2_8"})
    engine = build_engine([VACCINE, other])
    run(engine, [Reading("trk-1", 0, temp_c=5.0), Reading("trk-2", 0, temp_c=5.0)])
    a, b = (engine.devices[d].detectors for d in ("trk-1", "trk-2"))
    shared = 0
    for da, db in zip(a, b, strict=True):
        for name in type(da).__slots__:
            if name.startswith("_"):
                continue  # running state, not settings
            va, vb = getattr(da, name), getattr(db, name)
            if type(va) in (int, float):
                assert va == vb and va is vb, f"{type(da).__name__}.{name}"
                shared += 1
    assert shared > 20


def test_a_device_whose_readings_come_in_order_and_due_keeps_no_reorder_list():
    engine = build_engine([VACCINE], lateness_ms=0)
    run(engine, excursion_readings())
    assert engine.devices["trk-1"].buffer == ()


def test_a_reading_that_must_wait_gets_a_reorder_list_and_a_repeat_of_it_is_a_duplicate():
    engine = build_engine([VACCINE], lateness_ms=10 * MIN)
    first, second = excursion_readings()[:2]
    assert engine.process(first, first.ts_ms) == []
    assert engine.devices["trk-1"].buffer == [(first.ts_ms, 1, first)]
    engine.process(first, first.ts_ms)
    assert engine.stats.duplicates == 1
    engine.process(second, first.ts_ms + 20 * MIN)  # releases both
    engine.process(first, first.ts_ms + 20 * MIN)  # already released: still a duplicate
    assert engine.stats.duplicates == 2 and engine.stats.late == 0


def test_a_snapshot_whose_devices_hold_empty_lists_from_before_restores_and_continues():
    readings = excursion_readings()
    a = build_engine([VACCINE])
    run(a, readings[:10])
    blob = pickle.loads(a.snapshot())
    for state in blob["devices"].values():
        state.buffer = []  # as every snapshot written before held it
        state.book.tracks = {}
    b = build_engine([VACCINE])
    b.restore(pickle.dumps(blob))
    assert summary(run(b, readings[10:])) == summary(run(a, readings[10:]))


def test_devices_with_no_alerts_at_a_snapshot_keep_books_of_their_own_after_it():
    # Every device with nothing to track shares one never-written empty dict; a snapshot
    # pickles it once, so restored it came back as one dict shared by all those devices: the
    # first alert after the restart went into every one of their books, and the others' own
    # alert of that kind was then taken for an update of it (never opened).
    other = parse_shipment({"shipment_id": "SHP-2", "device_id": "trk-2", "profile": "vaccine_2_8"})
    a = build_engine([VACCINE, other])
    for device in ("trk-1", "trk-2"):
        a.process(Reading(device, 0, temp_c=5.0), 0)
    b = build_engine([VACCINE, other])
    b.restore(a.snapshot())
    events = []
    for i in range(1, 4):
        for device in ("trk-1", "trk-2"):
            events += b.process(Reading(device, i * 5 * MIN, temp_c=12.0), i * 5 * MIN)
    opened = [(e.device_id, e.kind) for e in events if e.event == "open"]
    assert ("trk-1", "temp_excursion") in opened and ("trk-2", "temp_excursion") in opened
    books = [b.devices[d].book.tracks for d in ("trk-1", "trk-2")]
    assert books[0] is not books[1]
    assert {t.alert_id for t in books[0].values()}.isdisjoint(t.alert_id for t in books[1].values())


def test_a_snapshot_from_before_shipments_carried_their_organisation_keeps_what_was_learnt() -> (
    None
):
    # The store now names each shipment's organisation; a snapshot written before holds none.
    # Without a room the organisation changes nothing the detectors do, so an open excursion
    # must carry on (same alert, resolved once) instead of every device starting afresh.
    readings = excursion_readings()
    a = build_engine([VACCINE])
    before = run(a, readings[:15])
    assert summary(before)[-1] == ("open", "temp_excursion", 65)
    owned = replace(VACCINE, organisation="acme")
    b = build_engine([owned])
    assert b.restore(a.snapshot()) == {"trk-1": readings[14].ts_ms}
    assert b.devices["trk-1"].shipment == owned
    after = run(b, readings[15:])
    assert summary(after) == summary(run(a, readings[15:]))
    assert {e.alert_id for e in before + after} == {before[-1].alert_id}


def test_a_snapshot_does_not_carry_over_to_a_shipment_now_placed_in_a_room() -> None:
    a = build_engine([VACCINE])
    run(a, excursion_readings()[:15])
    b = build_engine([replace(VACCINE, organisation="acme", room="chiller-2")])
    assert b.restore(a.snapshot()) == {}


def test_naming_a_shipments_organisation_keeps_its_devices_state() -> None:
    engine = build_engine([VACCINE])
    run(engine, excursion_readings()[:15])
    state = engine.devices["trk-1"]
    owned = replace(VACCINE, organisation="acme")
    engine.add_shipment(owned)
    assert engine.devices["trk-1"] is state and state.shipment == owned
    engine.add_shipment(replace(owned, room="chiller-2"))
    assert "trk-1" not in engine.devices


def _open_kinds(events):
    """(kind, alert_id) of the alerts open after `events`, in the order they opened."""
    open_ = {}
    for e in events:
        if e.event == "open":
            open_[e.alert_id] = e.kind
        elif e.event == "resolve":
            open_.pop(e.alert_id, None)
    return [(kind, alert_id) for alert_id, kind in open_.items()]


def _excursion_under_way():
    """An engine whose vaccine shipper has been too warm for half an hour (an alert open), and
    the alert events so far."""
    engine = build_engine([VACCINE], lateness_ms=0)
    events = []
    for i in range(8):
        events += engine.process(Reading("trk-1", i * 5 * MIN, temp_c=12.0 if i >= 2 else 5.0))
    return engine, events


def test_a_changed_shipment_resolves_what_its_former_detectors_held_open():
    # Its detectors start afresh: without the resolve, the excursion they opened stayed open
    # for ever, and the new detectors opened a second one on the same device.
    engine, events = _excursion_under_way()
    (first,) = _open_kinds(events)
    widened = parse_shipment({**VACCINE_ELEMENT, "corridor_m": 5000})
    ended = engine.add_shipment(widened, 36 * MIN)
    assert [(e.event, e.kind, e.alert_id, e.at_ms) for e in ended] == [
        ("resolve", "temp_excursion", first[1], 36 * MIN)
    ]
    assert ended[0].evidence == {"reason": "manifest_changed"}
    assert "manifest changed" in ended[0].summary
    events += ended
    for i in range(8, 30):
        events += engine.process(Reading("trk-1", i * 5 * MIN, temp_c=12.0 if i < 14 else 5.0))
        assert len(_open_kinds(events)) <= 1, "one alert per device and kind"
    opened = [e.alert_id for e in events if e.event == "open"]
    assert len(opened) == 2 and opened[0] == first[1]
    assert _open_kinds(events) == []  # the second resolved by its own detector
    # The same shipment handed on again (the store's next poll) changes nothing.
    assert engine.add_shipment(widened, 200 * MIN) == []


def test_a_shipment_changed_while_the_engine_was_stopped_resolves_its_open_alerts_on_restore():
    a, events = _excursion_under_way()
    (first,) = _open_kinds(events)
    b = build_engine([parse_shipment({**VACCINE_ELEMENT, "temp_range_c": [2, 15]})], lateness_ms=0)
    assert b.restore(a.snapshot()) == {}
    ended = b.take_ended()
    assert [(e.event, e.alert_id, e.at_ms) for e in ended] == [("resolve", first[1], 35 * MIN)]
    assert b.take_ended() == []
    # Unchanged, nothing ends.
    c = build_engine([VACCINE], lateness_ms=0)
    assert c.restore(a.snapshot()) == {"trk-1": 35 * MIN}
    assert c.take_ended() == []


def test_a_closed_shipment_resolves_what_its_detectors_held_open():
    # Without the resolve, the excursion stayed open (and escalated) for ever: no detector was
    # left to clear it.
    engine, events = _excursion_under_way()
    (first,) = _open_kinds(events)
    ended = engine.remove_shipment("trk-1", 36 * MIN)
    assert [(e.event, e.kind, e.alert_id, e.at_ms) for e in ended] == [
        ("resolve", "temp_excursion", first[1], 36 * MIN)
    ]
    assert ended[0].evidence == {"reason": "watch_ended"}
    assert "no longer watched" in ended[0].summary
    assert "trk-1" not in engine.devices
    # Closed again (the store's next poll, a second close): nothing more.
    assert engine.remove_shipment("trk-1", 40 * MIN) == []
    # No default profile: the device's next readings are not watched at all.
    assert engine.process(Reading("trk-1", 40 * MIN, temp_c=30.0)) == []


def test_a_shipment_closed_while_the_engine_was_stopped_resolves_its_open_alerts_on_restore():
    a, events = _excursion_under_way()
    (first,) = _open_kinds(events)
    b = build_engine([], lateness_ms=0)
    assert b.restore(a.snapshot()) == {}
    ended = b.take_ended()
    assert [(e.event, e.alert_id, e.at_ms) for e in ended] == [("resolve", first[1], 35 * MIN)]
    assert ended[0].evidence == {"reason": "watch_ended"}
    assert b.take_ended() == []


def test_a_tracker_taken_over_by_another_shipment_ends_the_former_watch():
    # The tracker's next trip: the former trip's alerts end as no longer watched, not as a
    # manifest change, live and on restore alike.
    engine, events = _excursion_under_way()
    (first,) = _open_kinds(events)
    next_trip = parse_shipment({**VACCINE_ELEMENT, "shipment_id": "SHP-NEXT"})
    snapshot = engine.snapshot()
    (ended,) = engine.add_shipment(next_trip, 36 * MIN)
    assert (ended.alert_id, ended.evidence) == (first[1], {"reason": "watch_ended"})
    restarted = build_engine([next_trip], lateness_ms=0)
    assert restarted.restore(snapshot) == {}
    (ended,) = restarted.take_ended()
    assert (ended.alert_id, ended.evidence) == (first[1], {"reason": "watch_ended"})


def test_a_device_watched_under_the_default_profile_until_its_shipment_came_changes_watch():
    engine = build_engine(default_profile=PROFILES["vaccine_2_8"], lateness_ms=0)
    events = []
    for i in range(8):
        events += engine.process(Reading("trk-1", i * 5 * MIN, temp_c=12.0 if i >= 2 else 5.0))
    (first,) = _open_kinds(events)
    (ended,) = engine.add_shipment(VACCINE, 36 * MIN)
    # Not "no longer watched under this shipment": it had none, its expectations changed.
    assert (ended.alert_id, ended.evidence) == (first[1], {"reason": "manifest_changed"})


def _seal_opened(engine, device_id: str, at_ms: int) -> list:
    """A customs tracker reporting its seal opened: what the default profile raises."""
    return engine.process(Reading(device_id, at_ms, seal="open"))


def test_a_tracker_whose_shipment_ended_is_not_watched_under_the_default_profile():
    # Before, a delivered tracker fell back to the default profile: its seal opened at
    # unloading raised a seal_breach that belonged to no organisation.
    engine = build_engine([VACCINE], default_profile=PROFILES["customs_transit"], lateness_ms=0)
    assert engine.process(Reading("trk-1", 0, temp_c=5.0)) == []
    assert engine.remove_shipment("trk-1", MIN) == []
    assert _seal_opened(engine, "trk-1", 2 * MIN) == []
    assert "trk-1" not in engine.devices
    # A tracker the store never named is watched under the default profile as before.
    assert [e.kind for e in _seal_opened(engine, "trk-2", 2 * MIN)] == ["seal_breach"]
    # Its next trip watches it again, under that trip.
    engine.add_shipment(parse_shipment({**CUSTOMS_ELEMENT, "shipment_id": "SHP-NEXT"}), 3 * MIN)
    assert [e.kind for e in _seal_opened(engine, "trk-1", 4 * MIN)] == ["seal_breach"]
    assert engine.devices["trk-1"].shipment.shipment_id == "SHP-NEXT"


def test_a_tracker_watched_under_the_default_profile_ends_when_its_closed_shipment_is_met():
    # A trip entered and closed while the tracker was reporting unwatched by any shipment (or
    # found closed at start-up): the default profile's alerts end, saying why.
    engine = build_engine(default_profile=PROFILES["customs_transit"], lateness_ms=0)
    (opened,) = _seal_opened(engine, "trk-1", 0)
    (ended,) = engine.remove_shipment("trk-1", MIN)
    assert (ended.event, ended.alert_id, ended.at_ms) == ("resolve", opened.alert_id, MIN)
    assert ended.evidence == {"reason": "watch_ended"}
    assert "no open shipment names it" in ended.summary
    assert _seal_opened(engine, "trk-1", 2 * MIN) == []


def test_a_restart_does_not_watch_again_a_tracker_whose_shipments_are_closed():
    # The snapshot holds the tracker under the default profile; the restarted engine has been
    # told by the store, before taking it back, that the tracker's shipments are all closed.
    engine = build_engine(default_profile=PROFILES["customs_transit"], lateness_ms=0)
    (opened,) = _seal_opened(engine, "trk-1", 0)
    _seal_opened(engine, "trk-2", 0)
    restarted = build_engine(default_profile=PROFILES["customs_transit"], lateness_ms=0)
    restarted.remove_shipment("trk-1")
    assert restarted.restore(engine.snapshot()) == {"trk-2": 0}
    (ended,) = restarted.take_ended()
    assert (ended.alert_id, ended.evidence) == (opened.alert_id, {"reason": "watch_ended"})
    assert _seal_opened(restarted, "trk-1", MIN) == []
