"""Migration 0005 on SQLite and PostgreSQL: outbox entries written before it are delivered by
the release after it as they were (the new columns are empty, which means due now, never
refused, not dead), and going back to 0004 keeps every entry, a dead letter becoming pending
again for the release before, which has no dead letters."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from api.db import make_engine
from api.schema import alembic_config

pytestmark = pytest.mark.integration

_ALERT = (
    "INSERT INTO alerts (alert_id, kind, severity, device_id, state, summary, evidence,"
    " opened_at, updated_at, events_applied, last_event_seq, history_length) VALUES ('a-1',"
    " 'seal_breach', 'critical', 'trk-1', 'open', 'seal tampered', '{}', '2025-11-22 08:26:40',"
    " '2025-11-22 08:26:40', 1, 1, 1)"
)
_HISTORY = (
    "INSERT INTO alert_history (alert_id, seq, event_seq, at, recorded_at, actor, action,"
    " severity, summary) VALUES ('a-1', 1, 1, '2025-11-22 08:26:40', '2025-11-22 08:26:40',"
    " 'detector', 'open', 'critical', 'seal tampered')"
)
_OUTBOX = (
    "INSERT INTO outbox (alert_id, history_seq, payload, created_at) VALUES ('a-1', 1,"
    " '{\"event\": \"open\"}', '2025-11-22 08:26:40')"
)


def test_entries_survive_the_upgrade_to_0005_and_the_way_back(empty_sql_url):
    config = alembic_config(empty_sql_url)
    command.upgrade(config, "0004")
    engine = make_engine(empty_sql_url)
    try:
        with engine.begin() as connection:
            for statement in (_ALERT, _HISTORY, _OUTBOX):
                connection.execute(text(statement))
        command.upgrade(config, "0005")
        with engine.begin() as connection:
            row = connection.execute(
                text(
                    "SELECT next_attempt_at, retry_since, dead_at, attempts FROM outbox"
                    " WHERE delivered_at IS NULL AND dead_at IS NULL"
                )
            ).one()
            assert tuple(row) == (None, None, None, 0)
            indexes = {i["name"] for i in inspect(connection).get_indexes("outbox")}
            assert "ix_outbox_dead" in indexes
            alert_indexes = {i["name"] for i in inspect(connection).get_indexes("alerts")}
            assert {
                "ix_alerts_updated_at_alert_id",
                "ix_alerts_organisation_id_updated_at_alert_id",
            } <= alert_indexes
            connection.execute(text("UPDATE outbox SET dead_at = created_at"))
        command.downgrade(config, "0004")
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("outbox")}
            assert not {"next_attempt_at", "retry_since", "dead_at"} & columns
            assert "ix_alerts_updated_at_alert_id" not in {
                i["name"] for i in inspect(connection).get_indexes("alerts")
            }
            pending = connection.execute(
                text("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
            ).scalar()
            assert pending == 1
        command.upgrade(config, "head")
    finally:
        engine.dispose()
