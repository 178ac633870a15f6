"""What an API caller may see, and the listings built on it: filtered, keyset-paginated alerts and
shipments, and one shipment looked up by id.

Visibility is a `Scope`: an admin sees everything; an operator or viewer their own
organisation's shipments and the alerts on them; customs every shipment whose current version is
in transit, of any organisation, and the alerts on those. It is applied inside every query, so a
caller can never page, filter or guess their way to another organisation's rows: those simply
are not there (and the API answers 404, never 403). An alert belongs to the organisation the
store gave it when it opened; one with none (its shipment unknown or ambiguous) is an admin's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, true
from sqlalchemy.orm import Session

from api.models import Alert, Organisation, Shipment, ShipmentVersion

IN_TRANSIT: Final = "in_transit"


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rows a caller may see: one organisation's (or all), possibly only in transit."""

    organisation_id: int | None
    in_transit_only: bool = False

    @classmethod
    def of(cls, role: str, organisation_id: int) -> Scope:
        if role == "admin":
            return cls(None)
        if role == "customs":
            return cls(None, in_transit_only=True)
        return cls(organisation_id)


def _current_version() -> ColumnElement[bool]:
    return and_(
        ShipmentVersion.shipment_pk == Shipment.id,
        ShipmentVersion.version == Shipment.current_version,
    )


def _shipments_visible(scope: Scope) -> ColumnElement[bool]:
    """On a query joining Shipment and its current ShipmentVersion."""
    conditions: list[ColumnElement[bool]] = []
    if scope.organisation_id is not None:
        conditions.append(Shipment.organisation_id == scope.organisation_id)
    if scope.in_transit_only:
        conditions.append(ShipmentVersion.status == IN_TRANSIT)
    return and_(true(), *conditions)


def alerts_visible(scope: Scope) -> ColumnElement[bool]:
    """The condition on `Alert` rows the scope may see."""
    conditions: list[ColumnElement[bool]] = []
    if scope.organisation_id is not None:
        conditions.append(Alert.organisation_id == scope.organisation_id)
    if scope.in_transit_only:
        conditions.append(
            exists()
            .where(
                Shipment.organisation_id == Alert.organisation_id,
                Shipment.shipment_id == Alert.shipment_id,
                _current_version(),
                ShipmentVersion.status == IN_TRANSIT,
            )
            .correlate(Alert)
        )
    return and_(true(), *conditions)


# --- alerts ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertFilters:
    """What `GET /alerts` narrows by; None leaves a field unfiltered."""

    state: str | None = None
    kind: str | None = None
    severity: str | None = None
    shipment_id: str | None = None
    device_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        for column, value in (
            (Alert.state, self.state),
            (Alert.kind, self.kind),
            (Alert.severity, self.severity),
            (Alert.shipment_id, self.shipment_id),
            (Alert.device_id, self.device_id),
        ):
            if value is not None:
                found.append(column == value)
        if self.since is not None:
            found.append(Alert.opened_at >= self.since)
        if self.until is not None:
            found.append(Alert.opened_at < self.until)
        return found


def visible_alert(session: Session, scope: Scope, alert_id: str) -> Alert | None:
    """The alert, or None when there is none the scope may see."""
    query = select(Alert).where(Alert.alert_id == alert_id, alerts_visible(scope))
    return session.scalars(query).one_or_none()


def alerts_page(
    session: Session,
    scope: Scope,
    filters: AlertFilters,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Alert]:
    """Up to `limit` alerts, newest opened first, strictly after the (opened_at, id) `after`."""
    query = select(Alert).where(alerts_visible(scope), *filters.conditions())
    if after is not None:
        at, alert_id = after
        # The plain bound on opened_at is implied by the OR; it is there so the planner starts
        # a deep page's index scan at the cursor instead of filtering its way down to it.
        query = query.where(
            Alert.opened_at <= at,
            or_(Alert.opened_at < at, and_(Alert.opened_at == at, Alert.alert_id < alert_id)),
        )
    query = query.order_by(Alert.opened_at.desc(), Alert.alert_id.desc()).limit(limit)
    return list(session.scalars(query))


def alerts_count(session: Session, scope: Scope, filters: AlertFilters) -> int:
    query = select(func.count()).select_from(Alert)
    return session.scalar(query.where(alerts_visible(scope), *filters.conditions())) or 0


def shipment_open_alerts(
    session: Session, organisation_id: int, shipment_id: str, *, limit: int = 500
) -> list[Alert]:
    """The shipment's unresolved alerts, most severe first."""
    query = select(Alert).where(
        Alert.organisation_id == organisation_id,
        Alert.shipment_id == shipment_id,
        Alert.state.in_(("open", "acknowledged")),
    )
    return list(session.scalars(query.order_by(Alert.opened_at.desc()).limit(limit)))


# --- shipments ---------------------------------------------------------------------------------

ShipmentRow = tuple[Shipment, ShipmentVersion, str]


def _shipments() -> Select[Shipment, ShipmentVersion, str]:
    return (
        select(Shipment, ShipmentVersion, Organisation.name)
        .join(ShipmentVersion, _current_version())
        .join(Organisation, Organisation.id == Shipment.organisation_id)
    )


class AmbiguousShipment(LookupError):
    """Several organisations the caller sees use this shipment id: name the organisation."""


def visible_shipment(
    session: Session, scope: Scope, shipment_id: str, organisation: str | None = None
) -> ShipmentRow | None:
    """The shipment with its current version and organisation name, or None.

    Raises `AmbiguousShipment` when the caller sees the id in more than one organisation and
    did not say which.
    """
    query = _shipments().where(Shipment.shipment_id == shipment_id, _shipments_visible(scope))
    if organisation is not None:
        query = query.where(Organisation.name == organisation)
    rows = [(s, v, name) for s, v, name in session.execute(query.limit(2))]
    if len(rows) > 1:
        raise AmbiguousShipment(
            f"several organisations have a shipment {shipment_id!r}: pass ?organisation=NAME"
        )
    return rows[0] if rows else None


def shipments_page(
    session: Session,
    scope: Scope,
    *,
    status: str | None,
    device_id: str | None,
    after: tuple[str, int] | None,
    limit: int,
) -> list[ShipmentRow]:
    """Up to `limit` shipments by (shipment id, row id), strictly after `after`."""
    query = _shipments().where(_shipments_visible(scope), *_shipment_filters(status, device_id))
    if after is not None:
        shipment_id, pk = after
        query = query.where(
            or_(
                Shipment.shipment_id > shipment_id,
                and_(Shipment.shipment_id == shipment_id, Shipment.id > pk),
            )
        )
    query = query.order_by(Shipment.shipment_id, Shipment.id).limit(limit)
    return [(s, v, name) for s, v, name in session.execute(query)]


def shipments_count(
    session: Session, scope: Scope, *, status: str | None, device_id: str | None
) -> int:
    query = (
        select(func.count())
        .select_from(Shipment)
        .join(ShipmentVersion, _current_version())
        .where(_shipments_visible(scope), *_shipment_filters(status, device_id))
    )
    return session.scalar(query) or 0


def _shipment_filters(status: str | None, device_id: str | None) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if status is not None:
        found.append(ShipmentVersion.status == status)
    if device_id is not None:
        found.append(ShipmentVersion.device_id == device_id)
    return found


def organisation_named(session: Session, name: str) -> Organisation | None:
    return session.scalars(select(Organisation).where(Organisation.name == name)).one_or_none()
