"""The head table of the evidence chains (`api.evidence_chain`): one row per chain with its
length and the hash of its last entry. Writers lock a chain's row while they append to it, so
concurrent writers on one shipment still form one line; a verifier compares the recomputed
chain with it, which is how the loss of the last entries shows. Registered on
`api.models.Base` (which imports this module); migration 0006 builds it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from api.models import Base


class EvidenceChain(Base):
    """One evidence chain's head: how many entries it has and the last one's hash."""

    __tablename__ = "evidence_chains"

    #: ``shipment:{organisation_id}:{shipment_id}`` or ``device:{device_id}``.
    chain_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    length: Mapped[int]
    #: Hex SHA-256 of the last entry; the chain's fingerprint, printed on reports.
    head_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]
