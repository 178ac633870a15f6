"""``GET /cap/alerts.atom`` reads its newest changed alerts from an index instead of sorting the
store: the feed's query, asked of the database's own planner (after ``ANALYZE`` on PostgreSQL)
on 20,000 alerts over four organisations, walks the alerts' (updated_at, alert_id) index, alone
for an admin and behind the organisation for an operator, and sorts nothing."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session, sessionmaker

from api.models import Alert, Organisation, from_ms, utcnow
from api.queries import Scope
from api.routes.cap import _newest_changed

pytestmark = pytest.mark.integration

ALERTS = 20_000
T0_MS = 1_763_800_000_000


@pytest.fixture
def filled(engine: Engine) -> Engine:
    """The store with `ALERTS` alerts opened in order and changed in another order."""
    rng = random.Random(5)
    now = utcnow()
    rows = [
        {
            "alert_id": f"al_{i:08d}",
            "organisation_id": rng.choice((1, 2, 3, 4, None)),
            "kind": "seal_breach",
            "severity": "warning",
            "device_id": f"trk-{rng.randrange(500):05d}",
            "shipment_id": None,
            "state": rng.choice(("open", "acknowledged", "resolved")),
            "summary": "seal tampered",
            "evidence": {},
            "opened_at": from_ms(T0_MS + i * 1000),
            "updated_at": from_ms(T0_MS + rng.randrange(ALERTS * 1000)),
            "events_applied": 1,
            "last_event_seq": 1,
            "history_length": 1,
        }
        for i in range(ALERTS)
    ]
    with engine.begin() as connection:
        organisations = [{"id": n, "name": f"org-{n}", "created_at": now} for n in range(1, 5)]
        connection.execute(insert(Organisation), organisations)
        connection.execute(insert(Alert), rows)
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE alerts"))
    return engine


def plans_of(engine: Engine, run: Callable[[], object], marker: str) -> list[str]:
    """The database's plan of every query holding `marker` that `run` sends, as text."""
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    found: list[str] = []

    def explain(conn, cursor, statement, parameters, context, executemany) -> None:
        if marker in statement:
            cursor.execute(prefix + statement, parameters)
            found.append("\n".join(" ".join(map(str, row)) for row in cursor.fetchall()))

    event.listen(engine, "before_cursor_execute", explain)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    return found


@pytest.mark.parametrize(
    "scope, index",
    [
        pytest.param(Scope(None), "ix_alerts_updated_at_alert_id", id="an admin's feed"),
        pytest.param(
            Scope(2), "ix_alerts_organisation_id_updated_at_alert_id", id="an operator's feed"
        ),
    ],
)
def test_the_cap_feed_reads_an_index_in_its_order(
    filled: Engine, sessions: sessionmaker[Session], scope: Scope, index: str
):
    with sessions() as session:
        [plan] = plans_of(
            filled,
            lambda: _newest_changed(session, scope, 50),
            marker="ORDER BY alerts.updated_at DESC",
        )
    assert index in plan, plan
    if filled.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert "Sort" not in plan, plan
