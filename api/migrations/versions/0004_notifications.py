"""Alerts to people: each key's notification preferences, each organisation's escalation
policies and silences, the e-mail deliveries, and three new kinds of history entry
(``escalate``, ``remind``, ``silenced``) in the history's action constraint.

SQLite cannot alter a CHECK constraint, so there the history table is copied (batch mode)
with its constraints named as the models name them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 18:33:08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = "delivered_at IS NULL AND dead_at IS NULL"
_SEVERITY = "min_severity IN ('info', 'warning', 'critical')"
_ACTIONS_0003 = ("open", "update", "resolve", "ack", "assign", "comment", "close")
_ACTIONS_0004 = (*_ACTIONS_0003, "escalate", "remind", "silenced")


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _history_actions(actions: tuple[str, ...]) -> None:
    condition = f"action IN ({', '.join(repr(a) for a in actions)})"
    with op.batch_alter_table("alert_history") as batch:
        batch.drop_constraint(op.f("ck_alert_history_action"), type_="check")
        batch.create_check_constraint(op.f("ck_alert_history_action"), sa.text(condition))


def upgrade() -> None:
    _history_actions(_ACTIONS_0004)
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("min_severity", sa.String(length=16), nullable=False),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("remind_every_min", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint(_SEVERITY, name=op.f("ck_escalation_policies_min_severity")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_escalation_policies_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_policies")),
    )
    op.create_index(
        op.f("ix_escalation_policies_organisation_id"), "escalation_policies", ["organisation_id"]
    )
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.String(length=128), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=True),
        _time("starts_at"),
        _time("ends_at"),
        sa.Column("reason", sa.Text(), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_silences_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index(
        op.f("ix_silences_organisation_id_ends_at"), "silences", ["organisation_id", "ends_at"]
    )
    op.create_table(
        "notification_preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("min_severity", sa.String(length=16), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=True),
        _time("updated_at"),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint(_SEVERITY, name=op.f("ck_notification_preferences_min_severity")),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_notification_preferences_api_key_id_api_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_notification_preferences_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint("api_key_id", name=op.f("uq_notification_preferences_api_key_id")),
    )
    op.create_index(
        op.f("ix_notification_preferences_organisation_id"),
        "notification_preferences",
        ["organisation_id"],
    )
    op.create_table(
        "email_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("alert_id", sa.String(length=200), nullable=False),
        sa.Column("history_seq", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("next_attempt_at"),
        _time("retry_since"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _time("delivered_at", nullable=True),
        _time("dead_at", nullable=True),
        sa.CheckConstraint(
            "reason IN ('alert', 'escalate', 'remind')", name=op.f("ck_email_deliveries_reason")
        ),
        sa.ForeignKeyConstraint(
            ["alert_id", "history_seq"],
            ["alert_history.alert_id", "alert_history.seq"],
            name=op.f("fk_email_deliveries_alert_id_alert_history"),
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_email_deliveries_api_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_email_deliveries_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_deliveries")),
    )
    op.create_index(
        op.f("ix_email_deliveries_alert_id_history_seq"),
        "email_deliveries",
        ["alert_id", "history_seq"],
    )
    op.create_index(
        "ix_email_deliveries_pending",
        "email_deliveries",
        ["id"],
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_email_deliveries_pending", table_name="email_deliveries")
    op.drop_index(op.f("ix_email_deliveries_alert_id_history_seq"), table_name="email_deliveries")
    op.drop_table("email_deliveries")
    op.drop_index(
        op.f("ix_notification_preferences_organisation_id"), table_name="notification_preferences"
    )
    op.drop_table("notification_preferences")
    op.drop_index(op.f("ix_silences_organisation_id_ends_at"), table_name="silences")
    op.drop_table("silences")
    op.drop_index(op.f("ix_escalation_policies_organisation_id"), table_name="escalation_policies")
    op.drop_table("escalation_policies")
    # History entries of the new kinds cannot stay under the old constraint.
    op.execute(
        sa.text("DELETE FROM alert_history WHERE action IN ('escalate', 'remind', 'silenced')")
    )
    _history_actions(_ACTIONS_0003)
