"""Outbox dead letters and the CAP feed's order: the outbox gets the retry columns the webhook and
e-mail deliveries have (``next_attempt_at``, ``retry_since``, ``dead_at``) and an index of its
dead-lettered entries, and alerts get indexes in the order ``GET /cap/alerts.atom`` reads them
(newest changed first), alone and behind the organisation an operator's feed is scoped to.

Every new column is nullable and NULL means what an existing row is: due now, never refused,
not dead. So the upgrade rewrites no row, and an entry written by a release before this one is
delivered by this one as it was.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEAD = "dead_at IS NOT NULL"
_OUTBOX_COLUMNS = ("next_attempt_at", "retry_since", "dead_at")
_FEED_INDEXES = (["updated_at", "alert_id"], ["organisation_id", "updated_at", "alert_id"])


def upgrade() -> None:
    for name in _OUTBOX_COLUMNS:
        op.add_column("outbox", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_outbox_dead",
        "outbox",
        ["id"],
        unique=False,
        sqlite_where=sa.text(_DEAD),
        postgresql_where=sa.text(_DEAD),
    )
    for columns in _FEED_INDEXES:
        op.create_index(op.f(f"ix_alerts_{'_'.join(columns)}"), "alerts", columns, unique=False)


def downgrade() -> None:
    for columns in reversed(_FEED_INDEXES):
        op.drop_index(op.f(f"ix_alerts_{'_'.join(columns)}"), table_name="alerts")
    op.drop_index("ix_outbox_dead", table_name="outbox")
    # A dead-lettered entry becomes pending again: the release before this one sends it.
    for name in reversed(_OUTBOX_COLUMNS):
        op.drop_column("outbox", name)
