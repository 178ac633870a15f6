"""`GET /alerts` reads its page from an index instead of sorting the store: the query
`api.queries.alerts_page` sends, asked of the database's own planner (SQLite's ``EXPLAIN QUERY
PLAN``, PostgreSQL's ``EXPLAIN`` after ``ANALYZE``), walks an index in (opened_at, alert_id)
order, alone or behind the scope's or filter's column, for a first page and for a deep cursor;
and the count an operator's filtered page carries is read from such an index without the table.

The store holds 20,000 alerts spread over five organisations (one of them none), three states,
six kinds, 500 shipments and 500 devices, so the planner has a real choice to make. SQLite keeps
no statistics unless asked, as in production, so it is held to the exact index; PostgreSQL
weighs its statistics, so it is held to any of the listing's indexes, never a scan of the whole
table, and never a sort except of the few rows one shipment or device has.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session, sessionmaker

from api.models import Alert, Organisation, from_ms, utcnow
from api.queries import AlertFilters, Scope, alerts_count, alerts_page

pytestmark = pytest.mark.integration

ALERTS = 20_000
T0_MS = 1_763_800_000_000
KINDS = ("seal_breach", "silence", "temp_excursion", "route_deviation", "door_open", "shock")
#: A cursor a quarter of the way down the store: a deep page.
DEEP = (from_ms(T0_MS + (3 * ALERTS // 4) * 1000), f"al_{3 * ALERTS // 4:08d}")


@pytest.fixture
def filled(engine: Engine) -> Engine:
    """The store with `ALERTS` alerts in it, and PostgreSQL's statistics on them."""
    rng = random.Random(3)
    now = utcnow()
    rows = []
    for i in range(ALERTS):
        at = from_ms(T0_MS + i * 1000 + rng.randrange(1000))
        rows.append(
            {
                "alert_id": f"al_{i:08d}",
                "organisation_id": rng.choice((1, 2, 3, 4, None)),
                "kind": rng.choice(KINDS),
                "severity": "warning",
                "device_id": f"trk-{rng.randrange(500):05d}",
                "shipment_id": f"SHP-{rng.randrange(500):05d}",
                "state": rng.choice(("open", "acknowledged", "resolved", "resolved")),
                "summary": "seal tampered",
                "evidence": {"seal": "tampered"},
                "opened_at": at,
                "updated_at": at,
                "events_applied": 1,
                "last_event_seq": 1,
                "history_length": 1,
            }
        )
    with engine.begin() as connection:
        organisations = [{"id": n, "name": f"org-{n}", "created_at": now} for n in range(1, 5)]
        connection.execute(insert(Organisation), organisations)
        connection.execute(insert(Alert), rows)
        if engine.dialect.name == "postgresql":
            # What autovacuum does on its own once a table has grown.
            connection.execute(text("ANALYZE alerts"))
    return engine


def plans_of(
    engine: Engine, run: Callable[[], object], marker: str = "ORDER BY alerts.opened_at DESC"
) -> list[str]:
    """The database's plan of every query holding `marker` (by default, a page of alerts) that
    `run` sends, as text.

    Each is explained on the cursor just before it runs, with the parameters exactly as bound.
    """
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


@pytest.fixture
def plan(filled: Engine, sessions: sessionmaker[Session]) -> Callable[..., str]:
    """The plan of the one query a page of alerts takes."""

    def plan(scope: Scope, filters: AlertFilters, after: object) -> str:
        with sessions() as session:
            found = plans_of(
                filled, lambda: alerts_page(session, scope, filters, after=after, limit=51)
            )
        assert len(found) == 1
        return found[0]

    return plan


ADMIN = Scope(None)
OPERATOR = Scope(2)


@pytest.mark.parametrize(
    "scope, filters, after, index, few",
    [
        pytest.param(ADMIN, AlertFilters(), None, "opened_at", False, id="everything, first page"),
        pytest.param(ADMIN, AlertFilters(), DEEP, "opened_at", False, id="everything, deep page"),
        pytest.param(
            OPERATOR, AlertFilters(), None, "organisation_id", False, id="an organisation's"
        ),
        pytest.param(
            OPERATOR, AlertFilters(), DEEP, "organisation_id", False, id="an organisation's, deep"
        ),
        pytest.param(ADMIN, AlertFilters(state="open"), DEEP, "state", False, id="by state"),
        pytest.param(ADMIN, AlertFilters(kind="silence"), None, "kind", False, id="by kind"),
        pytest.param(
            ADMIN,
            AlertFilters(shipment_id="SHP-00007"),
            None,
            "shipment_id",
            True,
            id="by shipment",
        ),
        pytest.param(
            ADMIN, AlertFilters(device_id="trk-00007"), DEEP, "device_id", True, id="by device"
        ),
    ],
)
def test_an_alert_page_is_read_from_a_listing_index_not_sorted_from_the_table(
    engine: Engine,
    plan: Callable[..., str],
    scope: Scope,
    filters: AlertFilters,
    after: object,
    index: str,
    few: bool,
) -> None:
    found = plan(scope, filters, after)
    if engine.dialect.name == "sqlite":
        leading = "" if index == "opened_at" else f"{index}_"
        assert f"INDEX ix_alerts_{leading}opened_at_alert_id" in found, found
        assert "TEMP B-TREE" not in found, found
    else:
        assert "Seq Scan on alerts" not in found, found
        assert "_opened_at_alert_id" in found, found
        if not few:
            assert "Sort" not in found, found


@pytest.mark.parametrize(
    "filters",
    [
        pytest.param(AlertFilters(state="open"), id="by state"),
        pytest.param(AlertFilters(kind="silence"), id="by kind"),
        pytest.param(AlertFilters(shipment_id="SHP-00007"), id="by shipment"),
        pytest.param(AlertFilters(device_id="trk-00007"), id="by device"),
    ],
)
def test_the_count_of_an_organisations_filtered_alerts_is_read_from_an_index_alone(
    filled: Engine, sessions: sessionmaker[Session], filters: AlertFilters
) -> None:
    with sessions() as session:
        found = plans_of(filled, lambda: alerts_count(session, OPERATOR, filters), "count(")
    (plan,) = found
    if filled.dialect.name == "sqlite":
        assert "USING COVERING INDEX ix_alerts_" in plan, plan
    else:
        assert "Seq Scan on alerts" not in plan, plan
