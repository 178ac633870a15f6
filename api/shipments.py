"""Shipments in the SQL store, versioned: every change is a new version row, never an update.

A shipment is identified by its organisation and its ``shipment_id`` (two organisations may use
the same id). Each version holds the manifest element as it was accepted (the docs/manifest.md
shape, checked by the same parser the detectors use), the status and who made the change; the
shipment row says which version is current. Saving an unchanged manifest and status adds no
version. The shipment row is locked while a version is added, so two concurrent changes get
versions n+1 and n+2, never the same number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import Select, Table, and_, select
from sqlalchemy.orm import Session

from api.evidence_chain import chain_version
from api.models import SHIPMENT_STATUSES, Shipment, ShipmentVersion, utcnow
from api.timeline import upsert
from detectors.profiles import parse_shipment

_SHIPMENTS: Final[Table] = Shipment.__table__  # type: ignore[assignment]


class ShipmentExists(Exception):
    """`save_shipment(..., new=True)` found the shipment already there."""


def save_shipment(
    session: Session,
    organisation_id: int,
    manifest: Mapping[str, Any],
    *,
    actor: str,
    status: str = "planned",
    new: bool = False,
) -> ShipmentVersion:
    """Create a shipment or add a version to it; return the current version.

    Raises `detectors.profiles.ManifestError` for a manifest element the detectors could not
    use, `ValueError` for an unknown status, and with `new` `ShipmentExists` when the shipment
    has a version already (decided under the shipment's row lock, so of two creations racing
    for one id exactly one wins).
    """
    element = dict(manifest)
    parse_shipment(element)
    if status not in SHIPMENT_STATUSES:
        raise ValueError(f"status must be one of {', '.join(SHIPMENT_STATUSES)}, got {status!r}")
    now = utcnow()
    session.execute(
        upsert(session, _SHIPMENTS)
        .on_conflict_do_nothing(index_elements=["organisation_id", "shipment_id"])
        .values(
            organisation_id=organisation_id,
            shipment_id=element["shipment_id"],
            current_version=0,
            created_at=now,
            updated_at=now,
        )
    )
    shipment = session.scalars(
        select(Shipment)
        .where(
            Shipment.organisation_id == organisation_id,
            Shipment.shipment_id == element["shipment_id"],
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if new and shipment.current_version != 0:
        raise ShipmentExists(f"shipment {element['shipment_id']!r} exists already")
    current = _version(session, shipment.id, shipment.current_version)
    if current is not None and current.manifest == element and current.status == status:
        return current
    version = ShipmentVersion(
        shipment_pk=shipment.id,
        version=shipment.current_version + 1,
        device_id=element["device_id"],
        status=status,
        manifest=element,
        actor=actor,
        created_at=now,
    )
    chain_version(session, shipment, version)
    session.add(version)
    shipment.current_version = version.version
    shipment.updated_at = now
    session.flush()
    return version


def set_status(
    session: Session, organisation_id: int, shipment_id: str, status: str, *, actor: str
) -> ShipmentVersion:
    """A new version of the shipment with another status and the same manifest."""
    current = current_shipment(session, organisation_id, shipment_id)
    if current is None:
        raise LookupError(f"no shipment {shipment_id!r}")
    return save_shipment(session, organisation_id, current.manifest, actor=actor, status=status)


def _version(session: Session, shipment_pk: int, version: int) -> ShipmentVersion | None:
    query = select(ShipmentVersion).where(
        ShipmentVersion.shipment_pk == shipment_pk, ShipmentVersion.version == version
    )
    return session.scalars(query).one_or_none()


def _current() -> Select[ShipmentVersion]:
    return select(ShipmentVersion).join(
        Shipment,
        and_(
            ShipmentVersion.shipment_pk == Shipment.id,
            ShipmentVersion.version == Shipment.current_version,
        ),
    )


def current_shipment(
    session: Session, organisation_id: int, shipment_id: str
) -> ShipmentVersion | None:
    """The shipment's current version, or None when the organisation has no such shipment."""
    query = _current().where(
        Shipment.organisation_id == organisation_id, Shipment.shipment_id == shipment_id
    )
    return session.scalars(query).one_or_none()


def shipments_current(
    session: Session, organisation_id: int | None = None, *, status: str | None = None
) -> list[ShipmentVersion]:
    """Current versions of every shipment (of one organisation), by shipment id."""
    query = _current()
    if organisation_id is not None:
        query = query.where(Shipment.organisation_id == organisation_id)
    if status is not None:
        query = query.where(ShipmentVersion.status == status)
    return list(session.scalars(query.order_by(Shipment.shipment_id, Shipment.organisation_id)))


def shipment_versions(
    session: Session, organisation_id: int, shipment_id: str
) -> list[ShipmentVersion]:
    """Every version of the shipment, oldest first."""
    query = (
        select(ShipmentVersion)
        .join(Shipment, ShipmentVersion.shipment_pk == Shipment.id)
        .where(Shipment.organisation_id == organisation_id, Shipment.shipment_id == shipment_id)
        .order_by(ShipmentVersion.version)
    )
    return list(session.scalars(query))
