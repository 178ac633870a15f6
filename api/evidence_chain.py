"""The tamper-evident history: every alert history entry and every shipment manifest version is
a link of a hash chain, one chain per shipment, so that editing, deleting or reordering any
entry afterwards shows.

A chain's key is ``shipment:{organisation_id}:{shipment_id}`` for a shipment and the alerts on
it, and ``device:{device_id}`` for an alert that belongs to no organisation's shipment (no
shipment, or one the store does not know). An entry's link is its place in the chain
(``chain_seq``, 1, 2, 3...), the previous entry's hash (``prev_hash``; the first entry's is 64
zeros) and its own hash (``entry_hash``): the hex SHA-256 of the previous hash followed by the
entry's canonical record, sorted-key JSON of everything the entry says, times as integer epoch
milliseconds, with the alert's kind, device, shipment and organisation and the entry's own chain
key and place. The same record is what an evidence pack carries, so a pack is checked by the
same code.

The head table (`api.models_evidence.EvidenceChain`) holds each chain's length and last hash.
A writer locks the heads it appends to (``SELECT ... FOR UPDATE``; SQLite serialises writers),
in key order and after the alerts or shipment it writes for, so concurrent writers on one
shipment form one line and cannot deadlock; the links are written in the transaction that
writes the entries. A batch touches each head once however many entries it appends.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson
from sqlalchemy import Engine, Table, bindparam, select, update
from sqlalchemy.orm import Session

from api.db import json_dumps
from api.models import Alert, Shipment, ShipmentVersion, to_ms, utcnow
from api.models_evidence import EvidenceChain
from api.timeline import upsert

#: The previous hash of a chain's first entry.
GENESIS: Final = "0" * 64
HISTORY_ENTRY: Final = "alert_history"
VERSION_ENTRY: Final = "shipment_version"

_CHAINS: Final[Table] = EvidenceChain.__table__  # type: ignore[assignment]


def shipment_chain_key(organisation_id: int, shipment_id: str) -> str:
    """The chain of a shipment: its manifest versions and the history of its alerts.

    >>> shipment_chain_key(3, "SHP-0001")
    'shipment:3:SHP-0001'
    """
    return f"shipment:{organisation_id}:{shipment_id}"


def device_chain_key(device_id: str) -> str:
    """The chain of the alerts of a device that belong to no known shipment.

    >>> device_chain_key("trk-00001")
    'device:trk-00001'
    """
    return f"device:{device_id}"


class AlertFacts(NamedTuple):
    """What of an alert goes into each of its entries' records, and which chain they join."""

    kind: str
    device_id: str
    shipment_id: str | None
    organisation_id: int | None

    @property
    def chain_key(self) -> str:
        if self.organisation_id is not None and self.shipment_id is not None:
            return shipment_chain_key(self.organisation_id, self.shipment_id)
        return device_chain_key(self.device_id)

    @classmethod
    def of(cls, alert: Alert | Mapping[str, Any]) -> AlertFacts:
        if isinstance(alert, Alert):
            return cls(alert.kind, alert.device_id, alert.shipment_id, alert.organisation_id)
        return cls(
            alert["kind"], alert["device_id"], alert["shipment_id"], alert["organisation_id"]
        )


def alert_chain_key(alert: Alert) -> str:
    """The chain an alert's history entries join."""
    return AlertFacts.of(alert).chain_key


def chain_head(session: Session, chain_key: str) -> str | None:
    """The hash of a chain's last entry, or None when the chain has no entry yet."""
    head = session.get(EvidenceChain, chain_key)
    return head.head_hash if head is not None and head.length > 0 else None


def chain_length(session: Session, chain_key: str) -> int:
    """How many entries a chain holds (0 for none)."""
    head = session.get(EvidenceChain, chain_key)
    return head.length if head is not None else 0


# --- records and hashes ------------------------------------------------------------------------


def canonical(record: Mapping[str, Any]) -> bytes:
    """A record as the bytes that are hashed: JSON with sorted keys and no spaces.

    >>> canonical({"b": 1, "a": [None, "x"]})
    b'{"a":[null,"x"],"b":1}'
    """
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def link_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """The hash of an entry whose record is `record`, following the entry hashed `prev_hash`."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(record)).hexdigest()


def as_stored(value: Any) -> Any:
    """A JSON value as the store gives it back (numpy numbers plain, NaN null, keys strings),
    so the hash computed while writing is the one recomputed from the stored row."""
    return None if value is None else orjson.loads(json_dumps(value))


def history_record(row: Mapping[str, Any], alert: AlertFacts) -> dict[str, Any]:
    """The record of an alert history entry (a row of ``alert_history`` as a mapping)."""
    return {
        "entry": HISTORY_ENTRY,
        "chain_key": row["chain_key"],
        "chain_seq": row["chain_seq"],
        "alert_id": row["alert_id"],
        "kind": alert.kind,
        "device_id": alert.device_id,
        "shipment_id": alert.shipment_id,
        "organisation_id": alert.organisation_id,
        "seq": row["seq"],
        "event_seq": row["event_seq"],
        "at_ms": to_ms(row["at"]),
        "recorded_at_ms": to_ms(row["recorded_at"]),
        "actor": row["actor"],
        "action": row["action"],
        "severity": row["severity"],
        "summary": row["summary"],
        "comment": row["comment"],
        "assignee": row["assignee"],
        "evidence": as_stored(row["evidence"]),
    }


def version_record(
    row: Mapping[str, Any], organisation_id: int, shipment_id: str
) -> dict[str, Any]:
    """The record of a shipment manifest version (a row of ``shipment_versions``)."""
    return {
        "entry": VERSION_ENTRY,
        "chain_key": row["chain_key"],
        "chain_seq": row["chain_seq"],
        "organisation_id": organisation_id,
        "shipment_id": shipment_id,
        "version": row["version"],
        "device_id": row["device_id"],
        "status": row["status"],
        "manifest": as_stored(row["manifest"]),
        "actor": row["actor"],
        "created_at_ms": to_ms(row["created_at"]),
    }


#: The columns of a link, on both chained tables.
LINK_COLUMNS: Final = ("chain_key", "chain_seq", "prev_hash", "entry_hash")
_HISTORY_COLUMNS: Final = (
    "alert_id",
    "seq",
    "event_seq",
    "at",
    "recorded_at",
    "actor",
    "action",
    "severity",
    "summary",
    "comment",
    "assignee",
    "evidence",
)
_VERSION_COLUMNS: Final = ("version", "device_id", "status", "manifest", "actor", "created_at")


def row_of(entry: object, columns: Iterable[str]) -> dict[str, Any]:
    """A model instance's columns as the mapping the record functions take."""
    return {c: getattr(entry, c) for c in columns}


# --- appending ---------------------------------------------------------------------------------


@dataclass
class _Head:
    length: int
    head_hash: str
    changed: bool = False


class ChainAppender:
    """The heads of some chains, locked in the caller's write transaction, and the links of
    the entries appended to them; `write` stores the heads once for the whole batch."""

    def __init__(self, session: Session, chain_keys: Iterable[str]) -> None:
        self._session = session
        self._heads = _lock_heads(session, sorted(set(chain_keys)))

    def link(self, row: MutableMapping[str, Any], chain_key: str, record: Any) -> None:
        """Give `row` the next place in its chain; `record(row)` builds its record once the
        row holds its chain key and place."""
        head = self._heads[chain_key]
        row["chain_key"] = chain_key
        row["chain_seq"] = head.length + 1
        row["prev_hash"] = head.head_hash
        row["entry_hash"] = link_hash(head.head_hash, record(row))
        head.length += 1
        head.head_hash = row["entry_hash"]
        head.changed = True

    def link_history(self, row: MutableMapping[str, Any], alert: AlertFacts) -> None:
        """Link one history row (about to be inserted) of an alert."""
        self.link(row, alert.chain_key, lambda r: history_record(r, alert))

    def mark(self, chain_key: str) -> tuple[int, str, bool]:
        head = self._heads[chain_key]
        return head.length, head.head_hash, head.changed

    def restore(self, chain_key: str, mark: tuple[int, str, bool]) -> None:
        """Take back the links given since `mark` (their rows were not stored)."""
        head = self._heads[chain_key]
        head.length, head.head_hash, head.changed = mark

    def write(self) -> None:
        """Store the new heads; the caller's transaction commits them with the entries."""
        changed = sorted((k, h) for k, h in self._heads.items() if h.changed)
        if not changed:
            return
        now = utcnow()
        self._session.execute(
            _UPDATE_HEAD,
            [
                {"key": k, "new_length": h.length, "new_hash": h.head_hash, "now": now}
                for k, h in changed
            ],
        )
        for _, head in changed:
            head.changed = False


_UPDATE_HEAD: Final = (
    update(_CHAINS)
    .where(_CHAINS.c.chain_key == bindparam("key"))
    .values(length=bindparam("new_length"), head_hash=bindparam("new_hash"))
    .values(updated_at=bindparam("now", type_=_CHAINS.c.updated_at.type))
)


#: Chain keys known to have a head row, per database, whose heads are locked without trying to
#: insert them first. Heads are never deleted, so a key stays known; the sets are bounded all the
#: same. A key known here whose head is gone (its creator rolled back) is created again.
_KNOWN_HEADS: Final[weakref.WeakKeyDictionary[Engine, set[str]]] = weakref.WeakKeyDictionary()
_KNOWN_LIMIT: Final = 200_000


def _lock_heads(session: Session, keys: list[str]) -> dict[str, _Head]:
    """Lock the heads of `keys` (sorted), creating the missing ones empty."""
    if not keys:
        return {}
    known = _KNOWN_HEADS.setdefault(session.get_bind().engine, set())
    # A head not known to exist is inserted (or found) before any is locked, so two writers
    # that both create a chain wait on each other's insert, never on a lock the other holds.
    _insert_heads(session, [k for k in keys if k not in known])
    heads = _select_locked(session, keys)
    missing = [k for k in keys if k not in heads]
    if missing:
        _insert_heads(session, missing)
        heads.update(_select_locked(session, missing))
    if len(known) > _KNOWN_LIMIT:
        known.clear()
    known.update(keys)
    return heads


def _insert_heads(session: Session, keys: list[str]) -> None:
    if not keys:
        return
    now = utcnow()
    session.execute(
        upsert(session, _CHAINS).on_conflict_do_nothing(index_elements=["chain_key"]),
        [{"chain_key": k, "length": 0, "head_hash": GENESIS, "updated_at": now} for k in keys],
    )


def _select_locked(session: Session, keys: list[str]) -> dict[str, _Head]:
    query = (
        select(_CHAINS.c.chain_key, _CHAINS.c.length, _CHAINS.c.head_hash)
        .where(_CHAINS.c.chain_key.in_(keys))
        .order_by(_CHAINS.c.chain_key)
        .with_for_update()
    )
    return {k: _Head(n, h) for k, n, h in session.execute(query)}


def alert_facts(session: Session, alert_ids: Iterable[str]) -> dict[str, AlertFacts]:
    """The facts of some alerts, read from their rows (one query)."""
    query = select(
        Alert.alert_id, Alert.kind, Alert.device_id, Alert.shipment_id, Alert.organisation_id
    ).where(Alert.alert_id.in_(sorted(set(alert_ids))))
    return {a: AlertFacts(k, d, s, o) for a, k, d, s, o in session.execute(query)}


def chain_history(
    session: Session,
    rows: Sequence[MutableMapping[str, Any]],
    alerts: Mapping[str, AlertFacts] | None = None,
) -> None:
    """Link history rows about to be inserted (column mappings, in the order they go in),
    in the caller's write transaction; `alerts` saves reading the alerts' rows."""
    if not rows:
        return
    facts = alerts if alerts is not None else alert_facts(session, [r["alert_id"] for r in rows])
    appender = ChainAppender(session, [facts[r["alert_id"]].chain_key for r in rows])
    for row in rows:
        appender.link_history(row, facts[row["alert_id"]])
    appender.write()


def chain_entry(session: Session, alert: Alert, entry: object) -> None:
    """Link one history entry (an `AlertHistory` not yet flushed) of a locked alert."""
    row = row_of(entry, _HISTORY_COLUMNS)
    chain_history(session, [row], {alert.alert_id: AlertFacts.of(alert)})
    for column in LINK_COLUMNS:
        setattr(entry, column, row[column])


def chain_version(session: Session, shipment: Shipment, version: ShipmentVersion) -> None:
    """Link a new manifest version (not yet flushed) into its shipment's chain."""
    key = shipment_chain_key(shipment.organisation_id, shipment.shipment_id)
    row = row_of(version, _VERSION_COLUMNS)
    appender = ChainAppender(session, [key])
    appender.link(
        row, key, lambda r: version_record(r, shipment.organisation_id, shipment.shipment_id)
    )
    appender.write()
    for column in LINK_COLUMNS:
        setattr(version, column, row[column])
