"""Alert lifecycle: one alert per device and kind, damped opens and resolves, escalation, updates."""

from detectors.alerts import Condition
from detectors.lifecycle import AlertBook, KindPolicy

MIN = 60_000


def book(**policy: int) -> AlertBook:
    return AlertBook("trk-1", "SHP-1", {"door_open": KindPolicy(**policy)})


def cond(
    at_min: int, active: bool = True, severity: str = "warning", summary: str = "door open"
) -> Condition:
    return Condition("door_open", active, at_min * MIN, severity, summary, {"n": at_min})


def test_a_continuing_condition_updates_its_open_alert_instead_of_opening_another() -> None:
    b = book(update_every_ms=10 * MIN)
    events = [e for m in range(0, 25, 5) for e in b.apply(cond(m))]
    assert [(e.event, e.at_ms // MIN) for e in events] == [
        ("open", 0),
        ("update", 10),
        ("update", 20),
    ]
    assert len({e.alert_id for e in events}) == 1
    assert events[0].shipment_id == "SHP-1" and events[0].evidence == {"n": 0}


def test_a_condition_must_hold_for_open_after_before_an_alert_opens() -> None:
    b = book(open_after_ms=10 * MIN)
    assert b.apply(cond(0)) == [] and b.apply(cond(5)) == []
    assert b.apply(cond(6, active=False)) == [], "a blip that cleared never pages anyone"
    assert b.apply(cond(7)) == []
    assert b.advance(16 * MIN) == []
    [opened] = b.advance(17 * MIN)
    assert opened.event == "open" and opened.at_ms == 17 * MIN


def test_flapping_keeps_one_alert_until_it_stays_clear_for_resolve_after() -> None:
    b = book(resolve_after_ms=10 * MIN)
    [opened] = b.apply(cond(0))
    assert b.apply(cond(2, active=False)) == []
    assert b.apply(cond(4)) == [], "back before resolve_after: same alert, nothing new"
    assert b.apply(cond(6, active=False, summary="door closed")) == []
    assert b.advance(15 * MIN) == []
    [resolved] = b.advance(16 * MIN)
    assert (resolved.event, resolved.alert_id, resolved.summary) == (
        "resolve",
        opened.alert_id,
        "door closed",
    )
    assert b.open_alerts() == {}


def test_a_rising_severity_updates_at_once_and_severity_never_drops_while_open() -> None:
    b = book(update_every_ms=60 * MIN)
    b.apply(cond(0))
    [up] = b.apply(cond(1, severity="critical"))
    assert (up.event, up.severity) == ("update", "critical")
    [later] = b.apply(cond(61, severity="warning"))
    assert later.severity == "critical"


def test_a_warning_left_open_escalates_to_critical() -> None:
    b = book(escalate_after_ms=30 * MIN)
    b.apply(cond(0))
    assert b.advance(29 * MIN) == []
    [esc] = b.advance(30 * MIN)
    assert (esc.event, esc.severity) == ("update", "critical") and esc.summary.endswith(
        "(open 30 min)"
    )


def test_alert_ids_are_stable_for_the_same_history() -> None:
    a, b = book(), book()
    assert a.apply(cond(3))[0].alert_id == b.apply(cond(3))[0].alert_id


def test_each_event_carries_its_place_in_its_alerts_history_and_a_new_alert_starts_again() -> None:
    b = book(update_every_ms=10 * MIN, resolve_after_ms=0)
    first = [e for m in range(0, 25, 5) for e in b.apply(cond(m))]
    first += b.apply(cond(26, active=False))
    second = b.apply(cond(40))
    assert [(e.event, e.seq) for e in first] == [
        ("open", 1),
        ("update", 2),
        ("update", 3),
        ("resolve", 4),
    ]
    assert [(e.event, e.seq) for e in second] == [("open", 1)]
    assert second[0].alert_id != first[0].alert_id
    assert first[0].to_json()["seq"] == 1


def test_books_without_conditions_share_no_written_tracks() -> None:
    quiet, busy = book(), book()
    busy.apply(cond(0))
    assert list(busy.tracks) == ["door_open"]
    assert quiet.tracks == {} and quiet.tracks is not busy.tracks
    assert quiet.apply(cond(1, active=False)) == [] and quiet.tracks == {}


# --- a kind two detectors raise (the caller names each condition's detector) ------------------

STUCK, PEER = 3, 15  # the detectors' indices on their device


def test_a_shared_kind_stays_open_while_any_holder_holds_it_and_resolves_once_all_cleared() -> None:
    b = book(resolve_after_ms=10 * MIN, update_every_ms=60 * MIN)
    [opened] = b.apply(cond(0), STUCK)
    assert b.apply(cond(2), PEER) == [], "the other detector's condition joins the same alert"
    assert b.apply(cond(4, active=False), STUCK) == []
    assert b.advance(60 * MIN) == [], "still held by the other detector: no clearing"
    assert b.apply(cond(61, active=False, summary="probe back"), PEER) == []
    assert b.advance(70 * MIN) == []
    [resolved] = b.advance(71 * MIN)
    assert (resolved.alert_id, resolved.summary) == (opened.alert_id, "probe back")


def test_a_shared_kinds_clear_from_a_detector_that_never_held_it_changes_nothing() -> None:
    b = book(resolve_after_ms=0)
    b.apply(cond(0), STUCK)
    assert b.apply(cond(1, active=False), PEER) == []
    assert b.advance(30 * MIN) == [] and list(b.open_alerts()) == ["door_open"]
    [resolved] = b.apply(cond(31, active=False), STUCK)
    assert resolved.event == "resolve"


def test_a_shared_kinds_clearing_is_reset_by_either_detector_and_updates_come_from_either() -> None:
    b = book(resolve_after_ms=10 * MIN, update_every_ms=60 * MIN)
    [opened] = b.apply(cond(0), STUCK)
    assert b.apply(cond(1, active=False), STUCK) == []
    [up] = b.apply(cond(5, severity="critical"), PEER)  # clearing, then held again
    assert (up.event, up.alert_id, up.severity) == ("update", opened.alert_id, "critical")
    assert b.advance(40 * MIN) == []
    assert b.apply(cond(41, active=False), PEER) == []
    [resolved] = b.advance(51 * MIN)
    assert resolved.alert_id == opened.alert_id


def test_a_shared_kinds_pending_open_waits_for_every_holder_to_clear() -> None:
    b = book(open_after_ms=10 * MIN)
    assert b.apply(cond(0), STUCK) == [] and b.apply(cond(1), PEER) == []
    assert b.apply(cond(2, active=False), STUCK) == []
    [opened] = b.advance(10 * MIN)
    assert opened.event == "open"


def test_an_open_track_from_before_holders_were_kept_goes_on_and_counts_the_next_clear() -> None:
    # A book from a snapshot written before: a plain track, nobody named as holding it.
    old = book(resolve_after_ms=0)
    [opened] = old.apply(cond(0))
    [up] = old.apply(cond(20, severity="critical"), PEER)
    assert (up.event, up.alert_id) == ("update", opened.alert_id)
    assert old.apply(cond(21), STUCK) == []
    assert old.apply(cond(22, active=False), PEER) == []
    [resolved] = old.apply(cond(23, active=False), STUCK)
    assert resolved.alert_id == opened.alert_id
