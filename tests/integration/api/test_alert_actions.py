"""People act on alerts through the store: acknowledge (with a mandatory comment), assign,
comment and close. Each action is a history entry with the next place in the alert's history
and an outbox row, written together; an action the alert's state does not allow is refused
with a typed error and changes nothing. Human actions and detector events share one history
without ever colliding, and a detector event replayed after a person acted is still a no-op."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from api.actions import (
    AlertNotFound,
    CommentRequired,
    TransitionRefused,
    acknowledge,
    assign,
    close,
    comment,
)
from api.db import write_transaction
from api.store import alert_history, alerts_open, get_alert, outbox_after, record_events

pytestmark = pytest.mark.integration

ALERT = "trk-1:temp_excursion:1"


@pytest.fixture
def opened(sessions, make_event):
    """One open alert, opened by the detector."""
    record_events(sessions, [(make_event("open", ALERT), 1)])
    return ALERT


def act(sessions, action, *args, **kwargs):
    with write_transaction(sessions) as session:
        return action(session, *args, **kwargs)


def state(sessions):
    with sessions() as session:
        alert = get_alert(session, ALERT)
        return alert.state, alert.assignee


def history(sessions):
    with sessions() as session:
        return [(h.seq, h.action, h.actor, h.comment) for h in alert_history(session, ALERT)]


def test_acknowledging_an_open_alert_records_who_and_what_is_being_done(sessions, opened):
    entry = act(sessions, acknowledge, opened, "ana@customs", "  Calling the driver at Malaba  ")
    assert (entry.seq, entry.action, entry.comment) == (2, "ack", "Calling the driver at Malaba")
    assert state(sessions) == ("acknowledged", None)
    with sessions() as session:
        ack = outbox_after(session)[-1]
        assert (ack.alert_id, ack.history_seq) == (ALERT, entry.seq)
        # An action has no evidence of its own: SQL NULL, not the JSON text 'null'.
        no_evidence = "SELECT count(*) FROM alert_history WHERE action = 'ack' AND evidence IS NULL"
        assert session.execute(text(no_evidence)).scalar_one() == 1
        assert {
            k: ack.payload[k]
            for k in ("event", "alert_id", "seq", "history_seq", "state", "actor", "comment")
        } == {
            "event": "ack",
            "alert_id": ALERT,
            "seq": None,
            "history_seq": 2,
            "state": "acknowledged",
            "actor": "ana@customs",
            "comment": "Calling the driver at Malaba",
        }
        # Still unresolved, so still among the open alerts.
        assert [a.alert_id for a in alerts_open(session)] == [ALERT]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="an acknowledgement with an empty comment is refused"),
        pytest.param("   \n", id="an acknowledgement with a blank comment is refused"),
        pytest.param(None, id="an acknowledgement with no comment is refused"),
    ],
)
def test_an_acknowledgement_needs_a_comment(sessions, opened, text):
    with pytest.raises(CommentRequired, match="needs a comment"):
        act(sessions, acknowledge, opened, "ana@customs", text)
    assert state(sessions) == ("open", None)
    assert history(sessions) == [(1, "open", "detector", None)]


@pytest.mark.parametrize(
    "first, then",
    [
        pytest.param("ack", "ack", id="an acknowledged alert cannot be acknowledged again"),
        pytest.param("close", "ack", id="a closed alert cannot be acknowledged"),
        pytest.param("close", "close", id="a closed alert cannot be closed again"),
        pytest.param("close", "assign", id="a closed alert cannot be assigned"),
        pytest.param("resolve", "ack", id="an alert the detector resolved cannot be acknowledged"),
    ],
)
def test_an_action_the_alerts_state_does_not_allow_is_refused_and_changes_nothing(
    sessions, opened, make_event, first, then
):
    if first == "ack":
        act(sessions, acknowledge, opened, "ana", "on it")
    elif first == "close":
        act(sessions, close, opened, "ana", "false alarm: probe in the door seal")
    else:
        record_events(sessions, [(make_event("resolve", ALERT), 2)])
    before = (state(sessions), history(sessions))
    actions = {"ack": (acknowledge, "again"), "close": (close, "again"), "assign": (assign, "bob")}
    action, argument = actions[then]
    with pytest.raises(TransitionRefused) as refused:
        act(sessions, action, opened, "ana", argument)
    assert (refused.value.alert_id, refused.value.state, refused.value.action) == (
        ALERT,
        before[0][0],
        then,
    )
    assert (state(sessions), history(sessions)) == before


def test_closing_resolves_the_alert_with_the_reason_in_its_history(sessions, opened):
    act(sessions, close, opened, "ana@customs", "Seal checked at the border, intact")
    with sessions() as session:
        alert = get_alert(session, ALERT)
        assert alert.state == "resolved" and alert.resolved_at is not None
        assert alerts_open(session) == []
    assert history(sessions)[-1] == (
        2,
        "close",
        "ana@customs",
        "Seal checked at the border, intact",
    )


def test_closing_needs_a_reason(sessions, opened):
    with pytest.raises(CommentRequired):
        act(sessions, close, opened, "ana", " ")
    assert state(sessions) == ("open", None)


def test_an_alert_can_be_assigned_reassigned_and_unassigned_while_unresolved(sessions, opened):
    act(sessions, assign, opened, "lead", "bob@ops")
    assert state(sessions) == ("open", "bob@ops")
    act(sessions, acknowledge, opened, "bob@ops", "Driver reached")
    act(sessions, assign, opened, "lead", "eve@ops", "Bob is off shift")
    assert state(sessions) == ("acknowledged", "eve@ops")
    act(sessions, assign, opened, "lead", None)
    assert state(sessions) == ("acknowledged", None)
    assert [h[1] for h in history(sessions)] == ["open", "assign", "ack", "assign", "assign"]


def test_a_comment_can_be_added_in_any_state_even_after_resolution(sessions, opened, make_event):
    act(sessions, comment, opened, "ana", "Photos of the seal attached to case 1142")
    record_events(sessions, [(make_event("resolve", ALERT), 2)])
    act(sessions, comment, opened, "ana", "Carrier confirmed the reefer was serviced")
    assert history(sessions) == [
        (1, "open", "detector", None),
        (2, "comment", "ana", "Photos of the seal attached to case 1142"),
        (3, "resolve", "detector", None),
        (4, "comment", "ana", "Carrier confirmed the reefer was serviced"),
    ]
    with pytest.raises(CommentRequired):
        act(sessions, comment, opened, "ana", "")


def test_an_action_on_an_unknown_alert_is_not_found(sessions):
    with pytest.raises(AlertNotFound):
        act(sessions, acknowledge, "no-such-alert", "ana", "on it")


def test_an_action_needs_the_name_of_who_takes_it(sessions, opened):
    with pytest.raises(CommentRequired, match="who takes it"):
        act(sessions, comment, opened, " ", "anonymous note")


def test_detector_updates_keep_an_acknowledged_alert_acknowledged_until_it_resolves(
    sessions, opened, make_event
):
    act(sessions, acknowledge, opened, "ana", "Reefer technician called")
    record_events(
        sessions, [(make_event("update", ALERT, severity="critical", summary="12 °C"), 2)]
    )
    with sessions() as session:
        alert = get_alert(session, ALERT)
        assert (alert.state, alert.severity, alert.summary) == ("acknowledged", "critical", "12 °C")
    record_events(sessions, [(make_event("resolve", ALERT, at_ms=1_763_801_000_000), 3)])
    assert state(sessions) == ("resolved", None)


def test_human_actions_and_detector_events_share_one_history_and_a_replay_after_an_ack_is_still_a_no_op(
    sessions, make_event, tables
):
    # The engine numbers only its own events (open 1, update 2, ...); a person's ack takes the
    # next place in the stored history, so the engine's seq 2 must not be mistaken for it.
    opened = make_event("open", ALERT)
    update = make_event("update", ALERT, severity="critical")
    record_events(sessions, [(opened, 1)])
    act(sessions, acknowledge, ALERT, "ana", "on it")
    assert record_events(sessions, [(opened, 1), (update, 2)]) == 1
    after = tables()
    assert record_events(sessions, [(opened, 1), (update, 2)]) == 0
    assert tables() == after
    with sessions() as session:
        entries = [(h.seq, h.event_seq, h.action) for h in alert_history(session, ALERT)]
        assert entries == [(1, 1, "open"), (2, None, "ack"), (3, 2, "update")]
        assert [o.payload["history_seq"] for o in outbox_after(session)] == [1, 2, 3]


def test_two_people_acknowledging_at_once_one_succeeds_and_the_other_is_refused(sessions, opened):
    barrier = threading.Barrier(2)

    def ack(who):
        barrier.wait()
        try:
            act(sessions, acknowledge, opened, who, f"{who} is on it")
        except TransitionRefused:
            return "refused"
        return "acknowledged"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(ack, ["ana", "bob"]))
    assert outcomes == ["acknowledged", "refused"]
    assert [h[1] for h in history(sessions)] == ["open", "ack"]


def test_human_actions_racing_a_detector_batch_get_distinct_consecutive_places(
    sessions, opened, make_event
):
    updates = [(make_event("update", ALERT, summary=f"update {n}"), n) for n in range(2, 12)]
    barrier = threading.Barrier(2)

    def detector():
        barrier.wait()
        for event in updates:
            record_events(sessions, [event])

    def person():
        barrier.wait()
        for n in range(10):
            act(sessions, comment, opened, "ana", f"note {n}")

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(detector), pool.submit(person)]:
            future.result()
    with sessions() as session:
        entries = alert_history(session, ALERT)
        assert [h.seq for h in entries] == list(range(1, 22))
        assert sorted(h.event_seq for h in entries if h.event_seq is not None) == list(range(1, 12))
        assert get_alert(session, ALERT).history_length == 21
