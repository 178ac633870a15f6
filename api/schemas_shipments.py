"""Request and response bodies of ``/shipments``, named for their role.

`ShipmentCreate` is one element of the shipment manifest (docs/manifest.md), typed field by field
so that OpenAPI shows the shape and a wrong type or an unknown key is a 422 naming the field;
what only the manifest parser knows (coordinates in range, a closed zone ring, a known profile)
is then checked by `detectors.profiles.parse_shipment`, the parser the detectors use, so the API
accepts exactly what the detectors can watch. Numbers are strict (``"120"`` is not 120) and
finite, as the manifest file's parser wants them. `ShipmentDetail` carries the shipment's page:
its open alerts, the customs risk score and the live conditions read from InfluxDB.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from api.schemas import SHIPMENT_ID_PATTERN, DeviceId, ShipmentId, ShipmentStatus
from api.schemas_alerts import AlertPublic
from detectors.profiles import PROFILES

Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Positive = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]
NonNegative = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
Lon = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-180, le=180)]
Lat = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-90, le=90)]
Position = Annotated[list[Float], Field(min_length=2, max_length=3)]


def _label(text: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError("must not contain control characters")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return text


def _profile(name: str) -> str:
    if name not in PROFILES:
        raise ValueError(f"must be one of {', '.join(sorted(PROFILES))}")
    return name


def _rfc3339(text: str) -> str:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an RFC 3339 time such as 2026-11-22T06:00:00Z") from None
    if at.tzinfo is None:
        raise ValueError("must carry a UTC offset (Z or +hh:mm)")
    return text


Label = Annotated[str, StringConstraints(max_length=200), AfterValidator(_label)]
ProfileName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_profile)]
Time = Annotated[str, StringConstraints(max_length=64), AfterValidator(_rfc3339)]
#: A room id: the characters a shipment id may hold, as the manifest parser wants them.
RoomId = Annotated[str, StringConstraints(pattern=SHIPMENT_ID_PATTERN)]


#: The manifest's keys in the order docs/manifest.md lists them, which stored manifests keep.
MANIFEST_ORDER: Final = (
    "shipment_id",
    "device_id",
    "profile",
    "temp_range_c",
    "stability_budget_min",
    "expected_interval_s",
    "max_gap_min",
    "excursion_min_duration_min",
    "breach_horizon_min",
    "probe",
    "product_lag_min",
    "departure",
    "arrival",
    "route",
    "corridor_m",
    "unscheduled_stop_min",
    "authorised_stops",
    "restricted_zones",
    "seal_id",
    "room",
    "gps_static_hold",
    "roadside_places",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineString(_Strict):
    """A GeoJSON LineString: positions in (lon, lat) order."""

    type: Literal["LineString"]
    coordinates: Annotated[list[Position], Field(min_length=2, max_length=10_000)]


class Polygon(_Strict):
    """A GeoJSON Polygon; its first ring (closed, four positions or more) is the zone."""

    type: Literal["Polygon"]
    coordinates: Annotated[
        list[Annotated[list[Position], Field(max_length=10_000)]], Field(min_length=1, max_length=8)
    ]


class AuthorisedStop(_Strict):
    """A place the shipment may stop: a named circle."""

    name: Label = ""
    lon: Lon
    lat: Lat
    radius_m: Positive = 500


class RestrictedZone(_Strict):
    """A zone the shipment must not enter."""

    name: Label = ""
    polygon: Polygon


class _ManifestFields(_Strict):
    temp_range_c: Annotated[list[Float], Field(min_length=2, max_length=2)] | None = Field(
        default=None, description="[low, high] in °C; null for no temperature watch."
    )
    stability_budget_min: Positive | None = None
    expected_interval_s: Positive | None = None
    max_gap_min: Positive | None = None
    excursion_min_duration_min: NonNegative | None = Field(
        default=None, description="Continuous minutes out of range before an excursion opens."
    )
    breach_horizon_min: Positive | None = Field(
        default=None, description="How far ahead breach warnings look, minutes."
    )
    unscheduled_stop_min: Positive | None = Field(
        default=None,
        description="Minutes standing still away from authorised stops before an unscheduled stop.",
    )
    probe: Literal["product", "air"] | None = Field(
        default=None,
        description=(
            "What the temperature probe reads: the product (default) or the air around it,"
            " whose product is then simulated for the excursion, breach and door checks, and"
            " whose jumps are no sensor fault."
        ),
    )
    product_lag_min: Positive | None = Field(
        default=None,
        description='The product\'s time constant, minutes, with "probe": "air" (default 120).',
    )
    departure: Time | None = None
    arrival: Time | None = None
    route: LineString | None = None
    corridor_m: Positive | None = None
    authorised_stops: Annotated[list[AuthorisedStop], Field(max_length=1000)] | None = None
    restricted_zones: Annotated[list[RestrictedZone], Field(max_length=1000)] | None = None
    seal_id: Label | None = None
    room: RoomId | None = Field(
        default=None,
        description=(
            "The space (a cold-store room, a chamber) the tracker shares with the organisation's"
            " other trackers of the same room; their probes check each other."
        ),
        examples=["store-a/chiller-2"],
    )
    gps_static_hold: StrictBool | None = Field(
        default=None,
        description=(
            "The tracker's GPS receiver pins its fix while the vehicle stands still (static"
            " hold): identical fixes are then not a frozen receiver."
        ),
    )
    roadside_places: StrictBool | None = Field(
        default=None,
        description=(
            "A stop where other trackers have stood (a service area) is reported only after"
            " the critical time (default true); false reports every stop at"
            " unscheduled_stop_min."
        ),
    )


class ShipmentCreate(_ManifestFields):
    """One manifest element: what the tracker is supposed to be doing."""

    shipment_id: ShipmentId
    device_id: DeviceId
    profile: ProfileName = Field(examples=["vaccine_2_8"])

    def manifest(self) -> dict[str, Any]:
        """The manifest element as given (fields left out stay out), in the manifest's order."""
        given = self.model_dump(mode="json", exclude_unset=True)
        return {key: given[key] for key in MANIFEST_ORDER if key in given}


class ShipmentUpdate(_ManifestFields):
    """A change: the fields given replace the current version's; null removes an optional one."""

    device_id: DeviceId | None = None
    profile: ProfileName | None = None
    status: ShipmentStatus | None = Field(
        default=None, description="planned -> in_transit -> delivered or cancelled."
    )

    def changes(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True, exclude={"status"})


class ShipmentClose(_Strict):
    """How the shipment ended."""

    status: Literal["delivered", "cancelled"] = "delivered"


class ShipmentPublic(BaseModel):
    """A shipment's current version, as listings show it."""

    shipment_id: str
    organisation: str
    device_id: str
    status: ShipmentStatus
    version: int = Field(description="Every change makes a new version; this is the current one.")
    manifest: dict[str, Any] = Field(description="The manifest element of the current version.")
    updated_by: str
    created_at: datetime
    updated_at: datetime


class ShipmentsPublic(BaseModel):
    """One page of shipments, by shipment id."""

    data: list[ShipmentPublic]
    count: int = Field(description="Shipments matching the filters, over every page.")
    next_cursor: str | None


class GeoPoint(BaseModel):
    """A position and when it was reported."""

    lon: float
    lat: float
    at: datetime


class ShipmentConditions(BaseModel):
    """What the shipment's tracker last said, from InfluxDB; null when not known (yet)."""

    last_position: GeoPoint | None = None
    last_temperature_c: float | None = None
    mkt_c: float | None = Field(
        default=None, description="Mean kinetic temperature since departure, °C."
    )
    stability_budget_used_min: float | None = Field(
        default=None, description="Minutes spent outside temp_range_c so far."
    )


class RiskContribution(BaseModel):
    """What one open alert adds to the customs risk score."""

    alert_id: str
    kind: str
    severity: str
    points: float


class RiskPublic(BaseModel):
    """The customs risk score (0-100) of the shipment's open alerts, with every contribution."""

    score: float
    contributions: list[RiskContribution]


class ShipmentDetail(ShipmentPublic):
    """A shipment's page: status, manifest, live conditions, open alerts and risk."""

    conditions: ShipmentConditions
    open_alerts: list[AlertPublic]
    risk: RiskPublic
