"""Fixtures for the SQL store tests: sessions on the test's own migrated database (SQLite and
PostgreSQL, from ``sql_url``), a way to read whole tables back for comparison, and a builder of
alert events shaped like the detector engine's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_world import TestClient, World, build_world
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from waiting import wait_until

from api.app import create_app
from api.db import make_engine, session_factory
from api.models import Alert, AlertHistory, Base, OutboxEntry
from detectors.alerts import AlertEvent

T0_MS = 1_763_800_000_000  # 2025-11-22T08:26:40Z


@pytest.fixture
def engine(sql_url: str) -> Iterator[Engine]:
    """An engine on the test's migrated database, disposed of afterwards."""
    engine = make_engine(sql_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


Tables = dict[str, list[dict[str, Any]]]


def read_tables(sessions: sessionmaker[Session]) -> Tables:
    """Every row of the alert tables, as plain dicts in primary-key order."""
    tables: Tables = {}
    with sessions() as session:
        for model, order in (
            (Alert, Alert.alert_id),
            (AlertHistory, AlertHistory.id),
            (OutboxEntry, OutboxEntry.id),
        ):
            table = Base.metadata.tables[model.__tablename__]
            rows = session.execute(select(table).order_by(order)).mappings()
            tables[model.__tablename__] = [dict(row) for row in rows]
    return tables


@pytest.fixture
def tables(sessions: sessionmaker[Session]) -> Callable[[], Tables]:
    """Read the alert, history and outbox tables back whole."""
    return lambda: read_tables(sessions)


def alert_event(
    event: str = "open",
    alert_id: str = "trk-1:temp_excursion:1",
    *,
    kind: str = "temp_excursion",
    severity: str = "warning",
    device_id: str = "trk-1",
    shipment_id: str | None = "SHP-0001",
    at_ms: int = T0_MS,
    summary: str = "9.1 °C, above the 2-8 °C range for 6 min",
    evidence: dict[str, Any] | None = None,
    **extra: Any,
) -> AlertEvent:
    return AlertEvent(
        event=event,
        alert_id=alert_id,
        kind=kind,
        severity=severity,
        device_id=device_id,
        shipment_id=shipment_id,
        at_ms=at_ms,
        summary=summary,
        evidence={"temp_c": 9.1, "limit_c": 8.0} if evidence is None else evidence,
        **extra,
    )


@pytest.fixture
def make_event() -> Callable[..., AlertEvent]:
    """Build an alert event like the engine's; every field has a plausible default."""
    return alert_event


def recorded_sequence(alerts: int = 3, updates: int = 4) -> list[tuple[AlertEvent, int]]:
    """A realistic stream: several alerts interleaved, each opened, updated and resolved."""
    events: list[tuple[AlertEvent, int]] = []
    for step in range(updates + 2):
        for n in range(alerts):
            alert_id = f"trk-{n}:temp_excursion:{T0_MS}"
            at = T0_MS + step * 60_000 + n * 1_000
            if step == 0:
                name, severity = "open", "warning"
            elif step <= updates:
                name, severity = "update", "critical" if step > updates // 2 else "warning"
            else:
                name, severity = "resolve", "critical"
            evidence = {"temp_c": 8.5 + step * 0.25, "readings": [[at, 8.5 + step * 0.25]]}
            event = alert_event(
                name,
                alert_id,
                device_id=f"trk-{n}",
                shipment_id=f"SHP-{n:04d}" if n % 2 == 0 else None,
                severity=severity,
                at_ms=at,
                summary=f"step {step}",
                evidence=evidence,
                value=8.5 + step * 0.25,
            )
            events.append((event, step + 1))
    return events


@pytest.fixture
def recorded() -> list[tuple[AlertEvent, int]]:
    """Three alerts, each opened, updated four times and resolved, interleaved in time."""
    return recorded_sequence()


@pytest.fixture
def make_sequence() -> Callable[..., list[tuple[AlertEvent, int]]]:
    """Build a recorded stream: ``make_sequence(alerts=12, updates=3)``."""
    return recorded_sequence


@pytest.fixture
def wait_for() -> Callable[..., None]:
    """Wait on a condition (never a fixed sleep)."""
    return wait_until


@pytest.fixture
def world(sql_url: str) -> Iterator[World]:
    """The API tests' world (`api_world`) on the store at `sql_url`, with a client of its app."""
    world = build_world(sql_url)
    with TestClient(create_app(world.sessions)) as client:
        world.client = client
        yield world
    world.close()
