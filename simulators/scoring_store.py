"""The alert events a live deployment recorded, read back from the SQL store for scoring.

The store keeps an alert's current state in `alerts` and every step of its life in
`alert_history` (api/models.py). Scoring needs when each alert opened and resolved in event
time, which only the history has for certain: the alert's row says when it opened but not
when it resolved if a person re-opened or closed it since. So the events are rebuilt from
the history's detector entries (`open`, `update`, `resolve`; human actions are no detector's
doing and are left out), with the kind, device and shipment from the alert's row. Any
problem reaching or reading the store is a one-line `ScoreError`; the URL in it is redacted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.db import database_url, first_line, make_engine, redacted
from api.models import DETECTOR_ACTOR, Alert, AlertHistory
from simulators.scoring import ScoreError

_DETECTOR_EVENTS: Final = ("open", "update", "resolve")

#: (event, alert_id, kind, device_id, shipment_id, at in epoch ms)
StoredEvent = tuple[str, str, str, str, str | None, int]


def read_alert_events(db_url: str) -> Iterator[StoredEvent]:
    """Every detector event in the store, oldest first."""
    try:
        url = database_url(db_url)
    except (SQLAlchemyError, ValueError):
        raise ScoreError(
            f"--db-url must be sqlite:///path or postgresql://..., got {db_url!r}"
        ) from None
    shown = redacted(url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        # SQLite would create an empty database and then find no tables: say what is wrong.
        raise ScoreError(f"--db-url {shown}: no such database file")
    query = (
        select(
            AlertHistory.action,
            AlertHistory.alert_id,
            Alert.kind,
            Alert.device_id,
            Alert.shipment_id,
            AlertHistory.at,
        )
        .join(Alert, Alert.alert_id == AlertHistory.alert_id)
        .where(AlertHistory.actor == DETECTOR_ACTOR)
        .where(AlertHistory.action.in_(_DETECTOR_EVENTS))
        .order_by(AlertHistory.at, AlertHistory.alert_id, AlertHistory.seq)
    )
    try:
        engine = make_engine(url)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise ScoreError(f"--db-url {shown}: {first_line(exc)}") from None
    try:
        with Session(engine) as session:
            rows = session.execute(query).all()
    except SQLAlchemyError as exc:
        raise ScoreError(f"--db-url {shown}: cannot read alerts: {first_line(exc)}") from None
    finally:
        engine.dispose()
    for action, alert_id, kind, device_id, shipment_id, at in rows:
        yield action, alert_id, kind, device_id, shipment_id, round(at.timestamp() * 1000)
