"""The evidence chain's head, as every page of a shipment's release report prints it.

One place for where the head comes from: the shipment's chain in the store
(`api.evidence_chain`: its manifest versions and the history of its alerts, each entry hashed
with the one before). A reader of the report compares the printed head with the store's, or
with an evidence pack's, to see that nothing recorded about the shipment was changed after the
report was made: any edit, deletion or reordering of an entry changes every hash after it.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from api.evidence_chain import chain_head, shipment_chain_key

#: What the report prints when the store holds no chain entry for the shipment.
NOT_AVAILABLE: Final = "chain head: not available"


def shipment_chain_head(session: Session, organisation_id: int, shipment_id: str) -> str | None:
    """The hex SHA-256 head of the shipment's evidence chain, or None when it has no entry."""
    return chain_head(session, shipment_chain_key(organisation_id, shipment_id))


def chain_head_line(head: str | None) -> str:
    """The line every report page carries: ``chain head: <sha-256 hex>``, or not available.

    >>> chain_head_line(None)
    'chain head: not available'
    >>> chain_head_line("ab" * 32)[:20]
    'chain head: abababab'
    """
    return NOT_AVAILABLE if head is None else f"chain head: {head}"
