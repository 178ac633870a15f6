"""``/shipments/{id}/readings``: a shipment's stored telemetry from InfluxDB, by time and channel.

The range defaults to the shipment's departure to its arrival (or now, while in transit).
Ranges with more values than `max_points` come back in time buckets: numeric channels as
mean, min and max (so an excursion's peak is never averaged away), text channels (seal,
door) as their last state. Every value the caller sends reaches InfluxQL as a bound
parameter or, for channel names, only after matching the wire format's channel list.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import VisibleShipmentDep
from api.readings_query import (
    CHANNELS,
    MAX_POINTS_LIMIT,
    ReadingSeries,
    ReadingsQueryError,
    UnknownChannel,
    shipment_readings,
)
from api.routes.trip_downloads import influx_unavailable, manifest_unusable
from api.schemas import AUTH_RESPONSES, CONFLICT, NOT_FOUND, ErrorPublic
from detectors.profiles import ManifestError, parse_shipment
from ingest.influx_client import InfluxError

router = APIRouter(prefix="/shipments", tags=["shipments"], responses=AUTH_RESPONSES)

INFLUX_UNAVAILABLE: Final[dict[int | str, dict[str, object]]] = {
    503: {"model": ErrorPublic, "description": "InfluxDB is unavailable; retry later."}
}


class PointPublic(BaseModel):
    """A stored value, or a bucket's mean (or last state) with its min and max."""

    at: datetime
    value: float | str
    min: float | None = None
    max: float | None = None


class ChannelPublic(BaseModel):
    channel: str
    points: list[PointPublic]


class ReadingsPublic(BaseModel):
    """A shipment's channels over [start, end), oldest first."""

    shipment_id: str
    device_id: str
    start: datetime
    end: datetime
    downsampled: bool = Field(description="True when the points are time buckets.")
    interval_ms: int | None = Field(description="The bucket width when downsampled.")
    channels: list[ChannelPublic]

    @classmethod
    def of(cls, shipment_id: str, found: ReadingSeries) -> ReadingsPublic:
        return cls(
            shipment_id=shipment_id,
            device_id=found.device_id,
            start=_at(found.start_ms),
            end=_at(found.end_ms),
            downsampled=found.downsampled,
            interval_ms=found.interval_ms,
            channels=[
                ChannelPublic(
                    channel=c.channel,
                    points=[
                        PointPublic(at=_at(p.at_ms), value=p.value, min=p.min, max=p.max)
                        for p in c.points
                    ],
                )
                for c in found.channels
            ],
        )


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(at: datetime | None) -> int | None:
    # Python datetimes cannot hold InfluxDB's whole range; the query checks what it can hold.
    return None if at is None else int(at.timestamp() * 1000)


def _refused(where: str, exc: ReadingsQueryError, given: object) -> RequestValidationError:
    # The same shape as FastAPI's own validation errors, so clients read one kind of 422.
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", where), "msg": str(exc), "input": given}]
    )


@router.get(
    "/{shipment_id}/readings",
    operation_id="read_shipment_readings",
    responses={**NOT_FOUND, **CONFLICT, **INFLUX_UNAVAILABLE},
)
def read_shipment_readings(
    request: Request,
    row: VisibleShipmentDep,
    since: Annotated[
        AwareDatetime | None, Query(description="Start (inclusive); default departure.")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="End (exclusive); default arrival or now.")
    ] = None,
    channel: Annotated[
        list[str] | None,
        Query(description=f"Channels to return, repeatable; default all of {', '.join(CHANNELS)}."),
    ] = None,
    max_points: Annotated[
        int, Query(ge=1, le=MAX_POINTS_LIMIT, description="Most points per channel.")
    ] = 2000,
) -> ReadingsPublic:
    """The shipment's readings; downsampled into time buckets past `max_points`."""
    shipment_row, version, _ = row
    client = request.app.state.influx
    if client is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no InfluxDB configured")
    try:
        shipment = parse_shipment(version.manifest)
    except ManifestError as exc:
        raise manifest_unusable(exc) from None
    try:
        found = shipment_readings(
            client,
            shipment,
            channel,
            time.time_ns() // 1_000_000,
            _ms(since),
            _ms(until),
            max_points,
        )
    except UnknownChannel as exc:
        raise _refused("channel", exc, exc.channel) from None
    except ReadingsQueryError as exc:
        raise _refused("since", exc, None) from None
    except InfluxError as exc:
        raise influx_unavailable(f"InfluxDB unavailable: {exc}") from None
    return ReadingsPublic.of(shipment_row.shipment_id, found)
