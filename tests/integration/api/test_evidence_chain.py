"""The alert history and the manifest versions form one hash chain per shipment: whatever path
writes an entry (detector events, replays, people's actions, a silence holding delivery back,
a new manifest version) links it, concurrent writers on one shipment still form one line, and
editing, deleting or reordering any row directly in SQL is found and named by the check."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from api_world import World
from api_world import event as api_event
from manual_clock import ManualClock
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.actions import acknowledge, assign, close, comment
from api.db import write_transaction
from api.escalation import EscalationWorker
from api.evidence_chain import (
    GENESIS,
    chain_head,
    chain_length,
    device_chain_key,
    shipment_chain_key,
)
from api.evidence_verify import (
    CONTENT_CHANGED,
    ENTRY_MISSING,
    ORDER,
    UNCHAINED,
    Verification,
    verify_store,
)
from api.models import AlertHistory, Organisation, to_ms, utcnow
from api.models_notify import Silence
from api.shipments import save_shipment, set_status
from api.store import record_events
from detectors.alerts import AlertEvent

pytestmark = pytest.mark.integration

Sessions = sessionmaker[Session]
MakeEvent = Callable[..., AlertEvent]

ALERT = "trk-1:temp_excursion:1"
OTHER = "trk-1:door_open:1"
MANIFEST = {"shipment_id": "SHP-0001", "device_id": "trk-1", "profile": "vaccine_2_8"}


@pytest.fixture
def org(sessions: Sessions) -> int:
    with write_transaction(sessions) as session:
        organisation = Organisation(name="acme", created_at=utcnow())
        session.add(organisation)
        session.flush()
        save_shipment(session, organisation.id, MANIFEST, actor="ana@acme")
        return organisation.id


@pytest.fixture
def trail(sessions: Sessions, make_event: MakeEvent, org: int) -> str:
    """A shipment with two manifest versions, detector events and every human action."""
    record_events(sessions, [(make_event("open", ALERT), 1), (make_event("update", ALERT), 2)])
    with write_transaction(sessions) as session:
        acknowledge(session, ALERT, "ana@acme", "calling the driver")
    with write_transaction(sessions) as session:
        set_status(session, org, "SHP-0001", "in_transit", actor="ana@acme")
    with write_transaction(sessions) as session:
        assign(session, ALERT, "ana@acme", "bo@acme")
    with write_transaction(sessions) as session:
        comment(session, ALERT, "bo@acme", "driver says the reefer restarted")
    with write_transaction(sessions) as session:
        close(session, ALERT, "bo@acme", "back in range")
    record_events(sessions, [(make_event("resolve", ALERT), 3)])
    return shipment_chain_key(org, "SHP-0001")


def sql(engine: Engine, statement: str, **params: Any) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def chain_rows(engine: Engine, key: str) -> list[tuple[str, int, int]]:
    """(table, id, place) of every entry of a chain, in chain order."""
    query = (
        "SELECT 'alert_history', id, chain_seq FROM alert_history WHERE chain_key = :key"
        " UNION ALL SELECT 'shipment_versions', id, chain_seq FROM shipment_versions"
        " WHERE chain_key = :key ORDER BY 3"
    )
    with engine.connect() as connection:
        rows = connection.execute(text(query), {"key": key})
        return [(str(t), int(i), int(p)) for t, i, p in rows]


def check(sessions: Sessions, key: str | None = None) -> Verification:
    with sessions() as session:
        return verify_store(session, key)


def history_id(engine: Engine, action: str) -> int:
    with engine.connect() as connection:
        query = text("SELECT id FROM alert_history WHERE action = :a ORDER BY id")
        return int(connection.execute(query, {"a": action}).scalars().all()[0])


def delete_entry(engine: Engine, entry_id: int) -> None:
    """Delete a history row with what refers to it (its outbox and delivery rows)."""
    with engine.begin() as connection:
        alert_id, seq = connection.execute(
            text("SELECT alert_id, seq FROM alert_history WHERE id = :i"), {"i": entry_id}
        ).one()
        for table in ("webhook_deliveries", "email_deliveries", "outbox"):
            connection.execute(
                text(f"DELETE FROM {table} WHERE alert_id = :a AND history_seq = :s"),
                {"a": alert_id, "s": seq},
            )
        connection.execute(text("DELETE FROM alert_history WHERE id = :i"), {"i": entry_id})


def test_every_entry_of_a_shipment_and_its_manifest_versions_form_one_intact_chain(
    sessions: Sessions, engine: Engine, trail: str
) -> None:
    rows = chain_rows(engine, trail)
    # 2 manifest versions + open, update, ack, assign, comment, close, resolve.
    assert [place for _, _, place in rows] == list(range(1, 10))
    assert sorted(table for table, _, _ in rows).count("shipment_versions") == 2
    result = check(sessions)
    assert result.ok, [str(b) for b in result.breaks]
    assert result.entries == len(rows)
    with sessions() as session:
        assert chain_length(session, trail) == len(rows)
        assert chain_head(session, trail) == result.heads[trail] != GENESIS


def test_an_alert_on_no_known_shipment_is_chained_by_its_device(
    sessions: Sessions, make_event: MakeEvent
) -> None:
    record_events(sessions, [(make_event("open", "trk-9:shock:1", device_id="trk-9"), 1)])
    result = check(sessions)
    assert result.ok
    assert set(result.heads) == {device_chain_key("trk-9")}


def test_a_comment_changed_in_sql_is_found_and_named(
    sessions: Sessions, engine: Engine, trail: str
) -> None:
    entry = history_id(engine, "ack")
    sql(engine, "UPDATE alert_history SET comment = 'all fine' WHERE id = :i", i=entry)
    result = check(sessions)
    assert not result.ok
    (found,) = result.breaks
    assert (found.chain_key, found.entry, found.problem) == (
        trail,
        f"alert_history id {entry}",
        CONTENT_CHANGED,
    )
    assert (
        found.position
        == dict(((t, i), p) for t, i, p in chain_rows(engine, trail))[("alert_history", entry)]
    )


def test_a_rehashed_edit_is_found_at_the_next_link(
    sessions: Sessions, engine: Engine, trail: str
) -> None:
    """Whoever edits a row and writes its new hash breaks the next entry's link instead."""
    entry = history_id(engine, "ack")
    sql(
        engine,
        "UPDATE alert_history SET comment = 'x', entry_hash = :h WHERE id = :i",
        h="f" * 64,
        i=entry,
    )
    (found,) = check(sessions).breaks
    assert found.problem == CONTENT_CHANGED and found.entry == f"alert_history id {entry}"


def test_a_deleted_entry_is_found_as_missing_at_its_place(
    sessions: Sessions, engine: Engine, trail: str
) -> None:
    entry = history_id(engine, "assign")
    place = {i: p for _, i, p in chain_rows(engine, trail) if _ == "alert_history"}[entry]
    delete_entry(engine, entry)
    (found,) = check(sessions).breaks
    assert (found.chain_key, found.position, found.problem) == (trail, place, ENTRY_MISSING)


def test_the_last_entry_deleted_is_found_from_the_head(
    sessions: Sessions, engine: Engine, trail: str
) -> None:
    last = max(i for t, i, _ in chain_rows(engine, trail) if t == "alert_history")
    length = len(chain_rows(engine, trail))
    delete_entry(engine, last)
    (found,) = check(sessions).breaks
    assert (found.position, found.problem, found.entry) == (
        length,
        ENTRY_MISSING,
        "evidence_chains",
    )


def test_a_manifest_version_changed_afterwards_is_found(
    sessions: Sessions, engine: Engine, trail: str
) -> None:
    sql(
        engine,
        "UPDATE shipment_versions SET manifest = :m WHERE version = 1",
        m='{"shipment_id": "SHP-0001", "device_id": "trk-1", "profile": "chilled_reefer"}',
    )
    (found,) = check(sessions, trail).breaks
    assert found.problem == CONTENT_CHANGED and found.entry.startswith("shipment_versions id ")
    assert found.position == 1


def test_two_entries_swapped_are_found_as_out_of_order(
    sessions: Sessions, engine: Engine, trail: str
) -> None:
    rows = [r for r in chain_rows(engine, trail) if r[0] == "alert_history"]
    (_, a, pa), (_, b, pb) = rows[1], rows[2]
    with engine.begin() as connection:
        for entry, place in ((a, -1), (b, pa), (a, pb)):
            connection.execute(
                text("UPDATE alert_history SET chain_seq = :p WHERE id = :i"),
                {"p": place, "i": entry},
            )
    (found,) = check(sessions).breaks
    assert (found.position, found.problem) == (pa, ORDER)


def test_an_entry_written_around_the_chain_is_reported(
    sessions: Sessions, engine: Engine, trail: str
) -> None:
    entry = history_id(engine, "comment")
    sql(
        engine, "UPDATE alert_history SET chain_key = NULL, chain_seq = NULL WHERE id = :i", i=entry
    )
    problems = {b.problem for b in check(sessions).breaks}
    assert UNCHAINED in problems and ENTRY_MISSING in problems


def test_replayed_events_and_silenced_deliveries_keep_the_chain_whole(
    sessions: Sessions,
    make_event: MakeEvent,
    org: int,
    make_sequence: Callable[..., list[tuple[AlertEvent, int]]],
) -> None:
    with write_transaction(sessions) as session:
        now = utcnow()
        session.add(
            Silence(
                organisation_id=org,
                shipment_id="SHP-0001",
                starts_at=now - timedelta(1),
                ends_at=now + timedelta(1),
                reason="maintenance",
                created_at=now,
                created_by="ana@acme",
            )
        )
    events = [(make_event("open", ALERT), 1), (make_event("update", ALERT), 2)]
    record_events(sessions, events)
    # A replay of what is stored with one new event: the store's one-by-one path.
    assert record_events(sessions, [*events, (make_event("update", ALERT), 3)]) == 1
    record_events(sessions, make_sequence(alerts=4, updates=2))
    result = check(sessions)
    assert result.ok, [str(b) for b in result.breaks]
    with engine_of(sessions).connect() as connection:
        actions = connection.execute(text("SELECT action FROM alert_history")).scalars().all()
    assert "silenced" in actions


def engine_of(sessions: Sessions) -> Engine:
    bind: Engine = sessions.kw["bind"]
    return bind


def test_concurrent_writers_on_one_shipment_form_one_line(
    sessions: Sessions, make_event: MakeEvent, org: int
) -> None:
    record_events(sessions, [(make_event("open", ALERT), 1)])
    record_events(sessions, [(make_event("open", OTHER, kind="door_open"), 1)])
    start = threading.Barrier(4)

    def act(n: int) -> None:
        start.wait()
        for i in range(5):
            if n < 2:
                with write_transaction(sessions) as session:
                    comment(session, (ALERT, OTHER)[n], f"p{n}", f"note {i}")
            else:
                record_events(sessions, [(make_event("update", (ALERT, OTHER)[n - 2]), i + 2)])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(act, range(4)))
    result = check(sessions)
    assert result.ok, [str(b) for b in result.breaks]
    key = shipment_chain_key(org, "SHP-0001")
    assert result.entries == 1 + 2 + 20
    with sessions() as session:
        assert chain_length(session, key) == 23


def test_the_migration_chains_a_store_written_before_it_as_the_live_code_would(
    sessions: Sessions, engine: Engine, trail: str, sql_url: str
) -> None:
    from alembic import command

    from api.schema import alembic_config, upgrade

    live = check(sessions)
    assert live.ok
    engine.dispose()
    # Back to the schema before the chain: the links and the heads are gone, the rows stay.
    command.downgrade(alembic_config(sql_url), "0005")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM alert_history")).scalar_one()
    assert rows == 7
    assert upgrade(sql_url).endswith("upgraded from 0005 to schema revision 0006")
    engine.dispose()
    backfilled = check(sessions)
    assert backfilled.ok, [str(b) for b in backfilled.breaks]
    assert backfilled.heads == live.heads
    assert [p for _, _, p in chain_rows(engine, trail)] == list(range(1, 10))


def test_escalations_and_reminders_join_the_chain_of_their_shipment(world: World) -> None:
    assert world.client is not None
    key = world.keys["operator"].split("_")[1]
    policy = {
        "name": "night shift",
        "min_severity": "critical",
        "levels": [{"after_min": 5, "keys": [key]}],
        "remind_every_min": 10,
    }
    made = world.client.post("/escalation-policies", json=policy, headers=world.headers("operator"))
    assert made.status_code == 201, made.text
    clock = ManualClock()
    start = clock.now
    alert = "al_escalating"
    record_events(world.sessions, [(api_event("SHP-A1", "trk-a1", alert, at_ms=to_ms(start)), 1)])
    worker = EscalationWorker(world.sessions, clock=clock)
    for minutes in (5, 15, 25):
        clock.set(start + timedelta(minutes=minutes))
        assert worker.run_once() >= 1
    result = check(world.sessions)
    assert result.ok, [str(b) for b in result.breaks]
    with world.sessions() as session:
        query = select(AlertHistory).where(AlertHistory.alert_id == alert)
        entries = list(session.scalars(query.order_by(AlertHistory.seq)))
    assert [e.action for e in entries] == ["open", "escalate", "remind", "remind"]
    (chain,) = {e.chain_key for e in entries}
    assert chain is not None and chain.startswith("shipment:") and chain.endswith(":SHP-A1")
    places = [e.chain_seq or 0 for e in entries]
    assert places == sorted(places) and len(set(places)) == 4
