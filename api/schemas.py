"""Shapes the HTTP API shares across resources: error bodies, health, and the checked text and id
types every request field and parameter is built from.

Every string a client sends is bounded and refused when it holds a NUL or other control
character (tab and newline excepted in free text) or a lone surrogate: PostgreSQL cannot store a
NUL, a column is only so long, and the store writes JSON as UTF-8; refusing such input at the
edge turns what would be a database error into a 422 naming the field.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from detectors.alerts import KINDS
from detectors.reading import DEVICE_ID_RE, SHIPMENT_ID_RE

_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
#: What alert ids look like: the engine's ``al_<hex>`` and ``device:kind:ms`` forms alike.
ALERT_ID_PATTERN: Final = r"^[A-Za-z0-9._:#-]{1,200}$"
SHIPMENT_ID_PATTERN: Final = f"^{SHIPMENT_ID_RE.pattern}$"
DEVICE_ID_PATTERN: Final = f"^{DEVICE_ID_RE.pattern}$"


def _encodable(text: str) -> str:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return text


def _free_text(text: str) -> str:
    if _CONTROL.search(text):
        raise ValueError("must not contain control characters other than tab and newline")
    if not text.strip():
        raise ValueError("must not be blank")
    return _encodable(text).strip()


def _line(text: str) -> str:
    if _LINE_CONTROL.search(text):
        raise ValueError("must not contain control characters")
    if not text.strip():
        raise ValueError("must not be blank")
    return _encodable(text).strip()


def _kind(text: str) -> str:
    if text not in KINDS:
        raise ValueError(f"must be one of {', '.join(KINDS)}")
    return text


#: A comment or reason: up to 4,000 characters, not blank, no control characters but \t \n.
Comment = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_free_text)]
#: A one-line name (an assignee, an organisation): up to 200 characters, not blank.
Name = Annotated[str, StringConstraints(max_length=200), AfterValidator(_line)]
AlertKind = Annotated[str, StringConstraints(max_length=64), AfterValidator(_kind)]
AlertId = Annotated[str, StringConstraints(pattern=ALERT_ID_PATTERN)]
ShipmentId = Annotated[str, StringConstraints(pattern=SHIPMENT_ID_PATTERN)]
DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
Severity = Literal["info", "warning", "critical"]
AlertState = Literal["open", "acknowledged", "resolved"]
ShipmentStatus = Literal["planned", "in_transit", "delivered", "cancelled"]


class ErrorPublic(BaseModel):
    """Every refusal other than a validation error: what went wrong, in one sentence."""

    detail: str = Field(examples=["no alert 'al_0123456789abcdef'"])


class HealthPublic(BaseModel):
    """Whether the API can serve: ``ok`` when every dependency is up, else ``unavailable``."""

    status: Literal["ok", "unavailable"]
    components: dict[str, Literal["up", "down"]] = Field(
        description="Each dependency probed (sql, broker, influxdb) and whether it answered.",
        examples=[{"sql": "up", "broker": "up", "influxdb": "down"}],
    )


class LivePublic(BaseModel):
    """The process is up and answering."""

    status: Literal["alive"] = "alive"


#: The responses every authenticated endpoint can give besides its own.
AUTH_RESPONSES: Final[dict[int | str, dict[str, object]]] = {
    401: {"model": ErrorPublic, "description": "No API key, or one that is unknown or revoked."},
}
FORBIDDEN: Final[dict[int | str, dict[str, object]]] = {
    403: {"model": ErrorPublic, "description": "The key's role may not do this."},
}
NOT_FOUND: Final[dict[int | str, dict[str, object]]] = {
    404: {"model": ErrorPublic, "description": "No such object the key may see."},
}
CONFLICT: Final[dict[int | str, dict[str, object]]] = {
    409: {"model": ErrorPublic, "description": "The object's state does not allow this."},
}
#: FastAPI refuses a body it cannot parse as JSON before validation sees it.
BAD_BODY: Final[dict[int | str, dict[str, object]]] = {
    400: {"model": ErrorPublic, "description": "The body is not JSON."},
}
UNAVAILABLE: Final[dict[int | str, dict[str, object]]] = {
    503: {"model": ErrorPublic, "description": "The SQL store is unavailable; retry later."},
}
