"""The detector engine's alert events land in the SQL store exactly once, on SQLite and on
PostgreSQL: each new event is one history row, the alert's new state and one outbox row, and an
event stored before changes nothing, however often and however concurrently it is replayed."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from api.db import write_transaction
from api.keys import create_organisation
from api.models import Alert, AlertHistory, OutboxEntry
from api.shipments import save_shipment
from api.store import (
    alert_history,
    alerts_open,
    apply_events,
    get_alert,
    outbox_after,
    record_events,
)

pytestmark = pytest.mark.integration


def counts(sessions):
    with sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Alert, AlertHistory, OutboxEntry)
        )


def test_an_event_applied_twice_is_stored_once(sessions, tables, make_event):
    event = make_event("open")
    assert record_events(sessions, [(event, 1)]) == 1
    first = tables()
    assert record_events(sessions, [(event, 1)]) == 0
    assert tables() == first
    assert counts(sessions) == (1, 1, 1)


def test_an_event_given_twice_in_one_batch_is_stored_once(sessions, make_event):
    event = make_event("open")
    assert record_events(sessions, [(event, 1), (event, 1)]) == 1
    assert counts(sessions) == (1, 1, 1)


def test_replaying_a_whole_recorded_sequence_twice_leaves_identical_tables(
    sessions, tables, recorded
):
    assert record_events(sessions, recorded) == len(recorded)
    first = tables()
    assert record_events(sessions, recorded) == 0
    assert tables() == first
    assert len(first["alert_history"]) == len(first["outbox"]) == len(recorded)
    assert all(row["state"] == "resolved" for row in first["alerts"])


def test_replaying_a_sequence_event_by_event_gives_the_same_tables_as_one_batch(
    sql_url, recorded, tables, sessions
):
    for event, seq in recorded:
        record_events(sessions, [(event, seq)])
    by_event = tables()
    record_events(sessions, recorded)
    assert tables() == by_event


def test_a_replay_overlapping_new_events_stores_only_the_new_ones(sessions, recorded):
    assert record_events(sessions, recorded[:7]) == 7
    assert record_events(sessions, recorded[3:12]) == 5
    with sessions() as session:
        for alert in session.scalars(select(Alert)):
            seqs = [(h.seq, h.event_seq) for h in alert_history(session, alert.alert_id)]
            # Stored places are consecutive even though the second batch skipped duplicates.
            assert seqs == [(n, n) for n in range(1, len(seqs) + 1)]
            assert alert.events_applied == alert.history_length == len(seqs)


def test_an_open_creates_an_open_alert_with_the_events_fields(sessions, make_event):
    record_events(sessions, [(make_event("open", value=9.1), 1)])
    with sessions() as session:
        alert = get_alert(session, "trk-1:temp_excursion:1")
        assert alert is not None
        assert (alert.state, alert.kind, alert.severity, alert.device_id, alert.shipment_id) == (
            "open",
            "temp_excursion",
            "warning",
            "trk-1",
            "SHP-0001",
        )
        assert alert.opened_at == alert.updated_at == datetime(2025, 11, 22, 8, 26, 40, tzinfo=UTC)
        assert alert.resolved_at is None
        assert (alert.value, alert.events_applied, alert.history_length) == (9.1, 1, 1)


def test_an_update_changes_severity_summary_evidence_and_updated_at(sessions, make_event):
    record_events(sessions, [(make_event("open"), 1)])
    update = make_event(
        "update",
        severity="critical",
        summary="11 °C for 40 min",
        at_ms=1_763_800_600_000,
        evidence={"temp_c": 11.0},
    )
    record_events(sessions, [(update, 2)])
    with sessions() as session:
        alert = get_alert(session, "trk-1:temp_excursion:1")
        assert (alert.state, alert.severity, alert.summary, alert.evidence) == (
            "open",
            "critical",
            "11 °C for 40 min",
            {"temp_c": 11.0},
        )
        assert alert.updated_at == datetime(2025, 11, 22, 8, 36, 40, tzinfo=UTC)
        assert alert.opened_at == datetime(2025, 11, 22, 8, 26, 40, tzinfo=UTC)


def test_a_resolve_resolves_the_alert_at_the_events_time(sessions, make_event):
    record_events(
        sessions, [(make_event("open"), 1), (make_event("resolve", at_ms=1_763_801_000_000), 2)]
    )
    with sessions() as session:
        alert = get_alert(session, "trk-1:temp_excursion:1")
        assert alert.state == "resolved"
        assert alert.resolved_at == datetime(2025, 11, 22, 8, 43, 20, tzinfo=UTC)
        assert alerts_open(session) == []


def test_an_event_arriving_after_a_later_one_is_history_only(sessions, make_event):
    record_events(
        sessions,
        [
            (make_event("open"), 1),
            (make_event("update", severity="critical", summary="late news"), 3),
        ],
    )
    record_events(sessions, [(make_event("update", severity="info", summary="old news"), 2)])
    with sessions() as session:
        alert = get_alert(session, "trk-1:temp_excursion:1")
        assert (alert.severity, alert.summary, alert.events_applied) == ("critical", "late news", 3)
        assert [(h.seq, h.event_seq) for h in alert_history(session, alert.alert_id)] == [
            (1, 1),
            (2, 3),
            (3, 2),
        ]


def test_an_event_without_a_shipment_is_stored_with_a_null_shipment(sessions, make_event):
    record_events(sessions, [(make_event("open", shipment_id=None), 1)])
    with sessions() as session:
        nulls = session.execute(
            text("SELECT count(*) FROM alerts WHERE shipment_id IS NULL")
        ).scalar_one()
        assert nulls == 1
        [entry] = outbox_after(session)
        assert entry.payload["shipment_id"] is None


EVIDENCE = {
    "readings": [{"ts": "2025-11-22T08:26:40Z", "temp_c": 9.125, "lat": -4.04, "lon": 39.66}],
    "thresholds": {"low_c": 2.0, "high_c": 8.0},
    "note": "Température > 8 °C — 冷链",
    "zeta": None,
    "alpha": [True, False, 0, -1, 2**53, 0.1, 1e-300],
    "nested": {"deeper": {"deepest": [[], {}]}},
}


def test_evidence_round_trips_unchanged_in_alert_history_and_outbox(sessions, make_event):
    record_events(sessions, [(make_event("open", evidence=EVIDENCE), 1)])
    with sessions() as session:
        alert = get_alert(session, "trk-1:temp_excursion:1")
        [entry] = alert_history(session, alert.alert_id)
        [out] = outbox_after(session)
        for stored in (alert.evidence, entry.evidence, out.payload["evidence"]):
            assert stored == EVIDENCE
            # Key order too: the store keeps JSON as it was written (no jsonb reordering).
            assert list(stored) == list(EVIDENCE)


def test_a_non_finite_number_in_evidence_is_stored_as_null_instead_of_failing_the_batch(
    sessions, make_event
):
    stored = record_events(
        sessions,
        [(make_event("open", evidence={"rate": math.nan, "peak": math.inf, "ok": 1.5}), 1)],
    )
    assert stored == 1
    with sessions() as session:
        assert get_alert(session, "trk-1:temp_excursion:1").evidence == {
            "rate": None,
            "peak": None,
            "ok": 1.5,
        }


def test_each_outbox_row_carries_its_event_in_the_architecture_shape(sessions, make_event):
    record_events(
        sessions, [(make_event("open"), 1), (make_event("resolve", at_ms=1_763_800_000_250), 2)]
    )
    with sessions() as session:
        opened, resolved = outbox_after(session)
        assert opened.payload == {
            "event": "open",
            "alert_id": "trk-1:temp_excursion:1",
            "seq": 1,
            "kind": "temp_excursion",
            "severity": "warning",
            "device_id": "trk-1",
            "shipment_id": "SHP-0001",
            "at": "2025-11-22T08:26:40Z",
            "summary": "9.1 °C, above the 2-8 °C range for 6 min",
            "evidence": {"temp_c": 9.1, "limit_c": 8.0},
            "history_seq": 1,
            "state": "open",
        }
        assert (resolved.payload["event"], resolved.payload["at"], resolved.payload["state"]) == (
            "resolve",
            "2025-11-22T08:26:40.250Z",
            "resolved",
        )
        assert opened.delivered_at is None and opened.attempts == 0
        assert [(o.alert_id, o.history_seq) for o in (opened, resolved)] == [
            (h.alert_id, h.seq) for h in alert_history(session, "trk-1:temp_excursion:1")
        ]


def test_a_breach_forecast_keeps_its_predicted_time_and_confidence(sessions, make_event):
    event = make_event(
        "open",
        kind="temp_breach_predicted",
        predicted_breach_at_ms=1_763_803_600_000,
        confidence=0.9,
    )
    record_events(sessions, [(event, 1)])
    with sessions() as session:
        alert = get_alert(session, event.alert_id)
        assert alert.predicted_breach_at == datetime(2025, 11, 22, 9, 26, 40, tzinfo=UTC)
        assert alert.confidence == 0.9
        assert outbox_after(session)[0].payload["predicted_breach_at"] == "2025-11-22T09:26:40Z"


@pytest.mark.parametrize(
    "change, message",
    [
        pytest.param(
            {"event": "reopen"},
            "unknown event",
            id="an unknown event name is refused before anything is stored",
        ),
        pytest.param(
            {"severity": "fatal"},
            "unknown severity",
            id="an unknown severity is refused before anything is stored",
        ),
    ],
)
def test_a_batch_with_an_event_the_store_cannot_hold_stores_nothing(
    sessions, make_event, change, message
):
    good = make_event("open", alert_id="good")
    bad = make_event(**{"event": "open", "alert_id": "bad", **change})
    with pytest.raises(ValueError, match=message):
        record_events(sessions, [(good, 1), (bad, 1)])
    assert counts(sessions) == (0, 0, 0)


def test_a_batch_that_fails_in_the_database_stores_none_of_its_events(sessions, make_event):
    # A row the schema refuses after the batch's events were applied (history for an alert
    # that does not exist): everything written in that transaction is rolled back with it.
    record_events(sessions, [(make_event("open", alert_id="first"), 1)])
    with pytest.raises(IntegrityError), write_transaction(sessions) as session:
        apply_events(session, [(make_event("open", alert_id="second"), 1)])
        session.execute(
            text(
                "INSERT INTO alert_history (alert_id, seq, at, recorded_at, actor, action, severity, summary) VALUES ('no such alert', 1, '2025-01-01', '2025-01-01', 'x', 'open', 'info', 'x')"
            )
        )
    assert counts(sessions) == (1, 1, 1)


def test_an_alert_on_a_registered_shipment_belongs_to_that_organisation(sessions, make_event):
    with write_transaction(sessions) as session:
        acme = create_organisation(session, "Acme Cold Chain").id
        other = create_organisation(session, "Other Freight").id
        save_shipment(
            session,
            acme,
            {"shipment_id": "SHP-0001", "device_id": "trk-1", "profile": "vaccine_2_8"},
            actor="ops@acme",
        )
        # The same shipment id at another organisation, on another device, does not confuse it.
        save_shipment(
            session,
            other,
            {"shipment_id": "SHP-0001", "device_id": "trk-9", "profile": "vaccine_2_8"},
            actor="ops@other",
        )
    record_events(
        sessions,
        [
            (make_event("open", alert_id="a-acme"), 1),
            (make_event("open", alert_id="a-silence", kind="silence"), 1),
            (make_event("open", alert_id="a-loose", device_id="trk-5", shipment_id=None), 1),
        ],
    )
    with sessions() as session:
        assert [a.alert_id for a in alerts_open(session, acme)] == ["a-acme", "a-silence"]
        assert [a.alert_id for a in alerts_open(session, acme, kind="silence")] == ["a-silence"]
        assert alerts_open(session, other) == []
        assert [a.alert_id for a in alerts_open(session)] == ["a-acme", "a-loose", "a-silence"]
        assert get_alert(session, "a-acme", other) is None


def test_two_writers_applying_the_same_events_at_once_store_each_once(sessions, recorded):
    barrier = threading.Barrier(4)

    def write(_):
        barrier.wait()
        return record_events(sessions, recorded)

    with ThreadPoolExecutor(4) as pool:
        stored = list(pool.map(write, range(4)))
    assert sum(stored) == len(recorded)
    assert counts(sessions) == (3, len(recorded), len(recorded))


def test_writers_applying_overlapping_batches_in_different_orders_neither_deadlock_nor_duplicate(
    sessions, make_sequence
):
    events = make_sequence(alerts=12, updates=3)
    batches = [events[i::3] for i in range(3)] + [list(reversed(events)), events[5:40]]
    barrier = threading.Barrier(len(batches))

    def write(batch):
        barrier.wait()
        return record_events(sessions, batch)

    with ThreadPoolExecutor(len(batches)) as pool:
        stored = list(pool.map(write, batches))
    assert sum(stored) == len(events)
    assert counts(sessions) == (12, len(events), len(events))
    with sessions() as session:
        for alert in session.scalars(select(Alert)):
            places = [h.seq for h in alert_history(session, alert.alert_id)]
            assert places == list(range(1, 6))


def waiting_backends(engine) -> int:
    """Sessions on this database blocked on a lock right now (PostgreSQL)."""
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


@pytest.mark.parametrize("empty_sql_url", ["postgresql"], indirect=True, ids=["on PostgreSQL"])
def test_a_writer_racing_an_uncommitted_batch_of_the_same_events_waits_for_it_and_then_stores_none(
    sessions, engine, recorded, wait_for
):
    with write_transaction(sessions) as session:
        assert apply_events(session, recorded) == len(recorded)
        with ThreadPoolExecutor(1) as pool:
            racing = pool.submit(record_events, sessions, recorded)
            # The second writer must be blocked on this transaction's rows, not have raced past.
            wait_for(lambda: racing.done() or waiting_backends(engine) > 0)
            assert not racing.done(), racing.result()
            session.commit()
            assert racing.result(timeout=30) == 0
    assert counts(sessions) == (3, len(recorded), len(recorded))
