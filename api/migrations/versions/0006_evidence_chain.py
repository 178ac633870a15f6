"""Evidence chains: every alert history entry and shipment manifest version gets its link in its
shipment's (or device's) hash chain (``chain_key``, ``chain_seq``, ``prev_hash``,
``entry_hash``, a unique index by chain and place), and the ``evidence_chains`` table holds
each chain's head (length and last hash). See `api.evidence_chain` for the design.

Existing rows are chained here, in the order they were written: each chain takes its manifest
versions and history entries in id order, the two merged by when they were written (a version's
``created_at``, an entry's ``recorded_at``; a version first on a tie). The hashing is
`api.evidence_chain`'s, so the verifier recomputes the same links. The link columns stay
nullable: a row written around the chain is then reported by the verifier instead of refused.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from api.evidence_chain import (
    GENESIS,
    AlertFacts,
    history_record,
    link_hash,
    shipment_chain_key,
    version_record,
)
from api.models import UtcDateTime, to_ms, utcnow

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("alert_history", "shipment_versions")
_LINKS = ("chain_key", "chain_seq", "prev_hash", "entry_hash")


def _link_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("chain_key", sa.String(length=200), nullable=True),
        sa.Column("chain_seq", sa.Integer(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("entry_hash", sa.String(length=64), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "evidence_chains",
        sa.Column("chain_key", sa.String(length=200), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain_key", name=op.f("pk_evidence_chains")),
    )
    # Plain ADD COLUMN and a unique index, never a copied table: SQLite copies a table by
    # dropping the old one, which the outbox's foreign keys refuse once history rows exist.
    for table in _TABLES:
        for column in _link_columns():
            op.add_column(table, column)
    _backfill(op.get_bind())
    for table in _TABLES:
        op.create_index(
            op.f(f"ix_{table}_chain_key_chain_seq"), table, ["chain_key", "chain_seq"], unique=True
        )


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_index(op.f(f"ix_{table}_chain_key_chain_seq"), table_name=table)
        for name in reversed(_LINKS):
            op.drop_column(table, name)
    op.drop_table("evidence_chains")


# --- backfill ----------------------------------------------------------------------------------

_history = sa.table(
    "alert_history",
    *(sa.column(n) for n in ("id", "alert_id", "seq", "event_seq", "actor", "action")),
    *(sa.column(n) for n in ("severity", "summary", "comment", "assignee", *_LINKS)),
    sa.column("at", UtcDateTime()),
    sa.column("recorded_at", UtcDateTime()),
    sa.column("evidence", sa.JSON()),
)
_alerts = sa.table(
    "alerts",
    *(sa.column(n) for n in ("alert_id", "kind", "device_id", "shipment_id")),
    sa.column("organisation_id"),
)
_versions = sa.table(
    "shipment_versions",
    *(sa.column(n) for n in ("id", "shipment_pk", "version", "device_id", "status", "actor")),
    *(sa.column(n) for n in _LINKS),
    sa.column("manifest", sa.JSON()),
    sa.column("created_at", UtcDateTime()),
)
_shipments = sa.table(
    "shipments", sa.column("id"), sa.column("organisation_id"), sa.column("shipment_id")
)
_chains = sa.table(
    "evidence_chains",
    sa.column("chain_key"),
    sa.column("length"),
    sa.column("head_hash"),
    sa.column("updated_at", UtcDateTime()),
)

# An entry waiting for its link: when it was written, which table first on a tie, its id, its
# row, and how to build its record once the row holds its chain key and place.
_Pending = tuple[int, int, int, dict[str, Any], Any]


def _backfill(connection: sa.Connection) -> None:
    chains: dict[str, list[list[_Pending]]] = {}
    shipments = _shipments
    versions = connection.execute(
        sa.select(_versions, shipments.c.organisation_id, shipments.c.shipment_id)
        .join(shipments, shipments.c.id == _versions.c.shipment_pk)
        .order_by(_versions.c.id)
    ).mappings()
    by_chain: dict[str, list[_Pending]] = {}
    for v in versions:
        row = dict(v)
        org, sid = row["organisation_id"], row["shipment_id"]
        key = shipment_chain_key(org, sid)
        pending = (
            to_ms(row["created_at"]),
            0,
            row["id"],
            row,
            functools.partial(_version_record, org, sid),
        )
        by_chain.setdefault(key, []).append(pending)
    for key, entries in by_chain.items():
        chains.setdefault(key, [[], []])[0] = entries
    history = connection.execute(
        sa.select(_history, _alerts.c.kind, _alerts.c.device_id, _alerts.c.shipment_id)
        .add_columns(_alerts.c.organisation_id)
        .join(_alerts, _alerts.c.alert_id == _history.c.alert_id)
        .order_by(_history.c.id)
    ).mappings()
    for h in history:
        row = dict(h)
        facts = AlertFacts(
            row["kind"], row["device_id"], row["shipment_id"], row["organisation_id"]
        )
        pending = (
            to_ms(row["recorded_at"]),
            1,
            row["id"],
            row,
            functools.partial(_history_record, facts),
        )
        chains.setdefault(facts.chain_key, [[], []])[1].append(pending)
    version_links: list[dict[str, Any]] = []
    history_links: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    now = utcnow()
    for key in sorted(chains):
        previous = GENESIS
        position = 0
        for _, rank, entry_id, row, record in _in_order(*chains[key]):
            position += 1
            row.update(chain_key=key, chain_seq=position, prev_hash=previous)
            row["entry_hash"] = link_hash(previous, record(row))
            previous = row["entry_hash"]
            link = {f"new_{c}": row[c] for c in _LINKS} | {"entry_id": entry_id}
            (version_links if rank == 0 else history_links).append(link)
        heads.append(
            {"chain_key": key, "length": position, "head_hash": previous, "updated_at": now}
        )
    for table, links in ((_versions, version_links), (_history, history_links)):
        if links:
            connection.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("entry_id"))
                .values({c: sa.bindparam(f"new_{c}") for c in _LINKS}),
                links,
            )
    if heads:
        connection.execute(sa.insert(_chains), heads)


def _version_record(org: int, sid: str, row: dict[str, Any]) -> dict[str, Any]:
    return version_record(row, org, sid)


def _history_record(facts: AlertFacts, row: dict[str, Any]) -> dict[str, Any]:
    return history_record(row, facts)


def _in_order(versions: list[_Pending], history: list[_Pending]) -> Iterator[_Pending]:
    # Each list stays in id order; the two are merged by when their rows were written.
    return heapq.merge(versions, history, key=lambda p: (p[0], p[1]))
