"""Checking evidence chains (`api.evidence_chain`): recompute every link of a chain from its
entries and name the first that does not hold.

`walk_chain` takes a chain's entries as records with their stored links, from wherever they
come (the SQL store here, an evidence pack in `api.evidence_pack`), and finds the first break:
an entry whose content no longer gives its hash (*content changed*), a place in the chain with
no entry (*entry missing*, which is also what the head says when the last entries are gone),
an entry that does not follow the one before it (*order*), or an entry outside any chain
(*unchained*: written around the chain, or its link columns emptied). `verify_store` does that
for every chain of a store, or one shipment's, reading each table once in chain order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.evidence_chain import (
    GENESIS,
    AlertFacts,
    history_record,
    link_hash,
    version_record,
)
from api.models import Alert, AlertHistory, Shipment, ShipmentVersion
from api.models_evidence import EvidenceChain

CONTENT_CHANGED: Final = "content changed"
ENTRY_MISSING: Final = "entry missing"
ORDER: Final = "order"
UNCHAINED: Final = "unchained"
HEAD: Final = "head"


@dataclass(frozen=True)
class Link:
    """One entry as a verifier sees it: its record, its stored link, and where it was read."""

    record: Mapping[str, Any]
    prev_hash: str | None
    entry_hash: str | None
    #: Names the entry for a person: ``alert_history id 42`` or ``history.jsonl line 7``.
    source: str


@dataclass(frozen=True)
class Break:
    """The first link of a chain that does not hold."""

    chain_key: str | None
    position: int | None
    entry: str
    problem: str
    detail: str

    def __str__(self) -> str:
        where = f"chain {self.chain_key}" if self.chain_key else "no chain"
        place = f" position {self.position}" if self.position is not None else ""
        return f"{where}{place} ({self.entry}): {self.problem}: {self.detail}"


@dataclass
class Verification:
    """What a check found: how much it covered, each broken chain's first break, the heads."""

    chains: int = 0
    entries: int = 0
    breaks: list[Break] = field(default_factory=list)
    #: Each intact chain's head hash, as recomputed.
    heads: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.breaks


def walk_chain(
    chain_key: str,
    links: Sequence[Link],
    head: tuple[int, str] | None,
    head_source: str = "evidence_chains",
) -> tuple[Break | None, str]:
    """The first break of one chain (links in any order) and the head hash recomputed up to
    it; `head` is the stored (length, head hash), None when there is none, and `head_source`
    names where it was read."""
    ordered = sorted(links, key=lambda link: int(link.record["chain_seq"]))
    previous = GENESIS
    expected = 1
    for link in ordered:
        position = int(link.record["chain_seq"])
        if position < expected:
            return _break(
                chain_key, position, link, ORDER, "another entry holds this place"
            ), previous
        if position > expected:
            missing = f"{expected}" if position == expected + 1 else f"{expected}-{position - 1}"
            detail = f"no entry at position {missing} before this one"
            return Break(chain_key, expected, link.source, ENTRY_MISSING, detail), previous
        if link.prev_hash != previous:
            detail = (
                "its previous hash is not the hash of the entry before it"
                if position > 1
                else "the first entry does not start from the genesis hash"
            )
            return _break(chain_key, position, link, ORDER, detail), previous
        if link_hash(previous, link.record) != link.entry_hash:
            detail = "the entry no longer gives the hash it was written with"
            return _break(chain_key, position, link, CONTENT_CHANGED, detail), previous
        previous = str(link.entry_hash)
        expected += 1
    length = expected - 1
    if head is None:
        detail = f"{length} entries but no head recorded for the chain"
        return Break(chain_key, None, head_source, HEAD, detail), previous
    stored_length, stored_hash = head
    if stored_length > length:
        detail = (
            f"the head says {stored_length} entries, the last {stored_length - length} are gone"
        )
        return Break(chain_key, length + 1, head_source, ENTRY_MISSING, detail), previous
    if stored_length != length or stored_hash != previous:
        detail = f"the head ({stored_length} entries, {stored_hash}) is not the chain's end"
        return Break(chain_key, length, head_source, HEAD, detail), previous
    return None, previous


def _break(key: str, position: int, link: Link, problem: str, detail: str) -> Break:
    return Break(key, position, link.source, problem, detail)


def verify_links(
    chains: Mapping[str, Sequence[Link]],
    heads: Mapping[str, tuple[int, str]],
    result: Verification | None = None,
    head_source: str = "evidence_chains",
) -> Verification:
    """Walk every chain of `chains` and every head without entries; add to `result`."""
    result = result if result is not None else Verification()
    for key in sorted(set(chains) | set(heads)):
        _walk_into(result, key, chains.get(key, []), heads.get(key), head_source)
    return result


def _walk_into(
    result: Verification,
    key: str,
    links: Sequence[Link],
    head: tuple[int, str] | None,
    head_source: str = "evidence_chains",
) -> None:
    if not links and (head is None or head[0] == 0):
        return  # a head created by a transaction that stored nothing
    found, head_hash = walk_chain(key, links, head, head_source)
    result.chains += 1
    result.entries += len(links)
    if found is not None:
        result.breaks.append(found)
    else:
        result.heads[key] = head_hash


# --- the SQL store -----------------------------------------------------------------------------


def verify_store(session: Session, chain_key: str | None = None) -> Verification:
    """Check every chain of the store, or the one named, against its entries and its head."""
    heads_query = select(EvidenceChain.chain_key, EvidenceChain.length, EvidenceChain.head_hash)
    if chain_key is not None:
        heads_query = heads_query.where(EvidenceChain.chain_key == chain_key)
    heads = {k: (n, h) for k, n, h in session.execute(heads_query)}
    # Manifest versions are few and read whole; the history is read once in chain order and
    # each chain checked as it ends, so memory holds one chain, not the store.
    versions: dict[str | None, list[Link]] = {}
    for key, link in _version_links(session, chain_key):
        versions.setdefault(key, []).append(link)
    result = Verification()
    for key, group in itertools.groupby(_history_links(session, chain_key), lambda kl: kl[0]):
        links = [link for _, link in group]
        if key is None:
            versions.setdefault(None, []).extend(links)
            continue
        links += versions.pop(key, [])
        _walk_into(result, key, links, heads.pop(key, None))
    for link in versions.pop(None, []):
        result.entries += 1
        result.breaks.append(
            Break(None, None, link.source, UNCHAINED, "the entry is in no evidence chain")
        )
    for key in sorted(set(versions) | set(heads), key=str):
        _walk_into(result, str(key), versions.get(key, []), heads.get(str(key)))
    result.breaks.sort(key=lambda b: (b.chain_key or "", b.position or 0))
    return result


def history_links(session: Session, chain_key: str) -> list[Link]:
    """One chain's alert history entries as links (for a pack and for the report)."""
    return [link for _, link in _history_links(session, chain_key)]


def version_links(session: Session, chain_key: str) -> list[Link]:
    """One chain's manifest versions as links."""
    return [link for _, link in _version_links(session, chain_key)]


def _history_links(session: Session, chain_key: str | None) -> Iterator[tuple[str | None, Link]]:
    columns = [c for c in AlertHistory.__table__.columns]
    query = select(
        *columns, Alert.kind, Alert.device_id, Alert.shipment_id, Alert.organisation_id
    ).join(Alert, Alert.alert_id == AlertHistory.alert_id)
    if chain_key is not None:
        query = query.where(AlertHistory.chain_key == chain_key)
    query = query.order_by(AlertHistory.chain_key, AlertHistory.chain_seq, AlertHistory.id)
    rows = session.execute(query.execution_options(yield_per=2000))
    for row in rows:
        yield row.chain_key, _history_link(row)


def _history_link(row: Any) -> Link:
    values = row._mapping
    facts = AlertFacts(
        values[Alert.kind],
        values[Alert.device_id],
        values[Alert.shipment_id],
        values[Alert.organisation_id],
    )
    record = history_record({c.name: values[c] for c in AlertHistory.__table__.columns}, facts)
    return Link(record, row.prev_hash, row.entry_hash, f"alert_history id {row.id}")


def _version_links(session: Session, chain_key: str | None) -> Iterator[tuple[str | None, Link]]:
    query = select(ShipmentVersion, Shipment.organisation_id, Shipment.shipment_id).join(
        Shipment, Shipment.id == ShipmentVersion.shipment_pk
    )
    if chain_key is not None:
        query = query.where(ShipmentVersion.chain_key == chain_key)
    for version, organisation_id, shipment_id in session.execute(query):
        row = {c.name: getattr(version, c.key) for c in ShipmentVersion.__table__.columns}
        record = version_record(row, organisation_id, shipment_id)
        link = Link(
            record, version.prev_hash, version.entry_hash, f"shipment_versions id {version.id}"
        )
        yield version.chain_key, link
