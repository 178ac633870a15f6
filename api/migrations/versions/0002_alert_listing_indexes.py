"""Index the alerts in the order `GET /alerts` pages them: by (opened_at, alert_id), alone and
behind the organisation, state, kind, shipment and device it filters by. The filters' indexes
end with the organisation, so an operator's filtered count reads them alone.

The organisation's and the device's new indexes lead with the column of the single-column
``ix_alerts_organisation_id`` and the ``ix_alerts_device_id_kind`` they replace, so those two
are dropped rather than kept as extra writes on every alert.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 15:55:51
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The listing's order, behind each scope or filter column (None: the whole store).
_LEADING: tuple[str | None, ...] = (
    None,
    "organisation_id",
    "state",
    "kind",
    "shipment_id",
    "device_id",
)


def _columns(leading: str | None) -> list[str]:
    if leading is None:
        return ["opened_at", "alert_id"]
    if leading == "organisation_id":
        return [leading, "opened_at", "alert_id"]
    return [leading, "opened_at", "alert_id", "organisation_id"]


def upgrade() -> None:
    for leading in _LEADING:
        columns = _columns(leading)
        op.create_index(op.f(f"ix_alerts_{'_'.join(columns)}"), "alerts", columns, unique=False)
    op.drop_index(op.f("ix_alerts_organisation_id"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_device_id_kind"), table_name="alerts")


def downgrade() -> None:
    op.create_index(op.f("ix_alerts_device_id_kind"), "alerts", ["device_id", "kind"], unique=False)
    op.create_index(op.f("ix_alerts_organisation_id"), "alerts", ["organisation_id"], unique=False)
    for leading in reversed(_LEADING):
        op.drop_index(op.f(f"ix_alerts_{'_'.join(_columns(leading))}"), table_name="alerts")
