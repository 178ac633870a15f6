"""The evidence chain's head, as every page of a shipment's release report prints it.

One function, so the report has one place that knows where the head comes from: a reader of
the report compares the printed head with the store's (or an evidence pack's) to see that
nothing recorded about the shipment changed after the report was made.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

#: What the report prints when the store keeps no evidence chain for the shipment.
NOT_AVAILABLE: Final = "chain head: not available"


def shipment_chain_head(session: Session, organisation_id: int, shipment_id: str) -> str | None:
    """The head hash of the shipment's evidence chain, or None when the store keeps none.

    This release's store keeps no evidence chain yet, so there is no head to read.
    """
    return None


def chain_head_line(head: str | None) -> str:
    """The line every report page carries: ``chain head: <sha-256 hex>``, or not available.

    >>> chain_head_line(None)
    'chain head: not available'
    """
    return NOT_AVAILABLE if head is None else f"chain head: {head}"
