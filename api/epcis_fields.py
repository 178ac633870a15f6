"""The identifiers and values of an EPCIS 2.0 event, as CargoWatch writes them; pure.

Each is a standard form, chosen so that a partner's system can parse it without knowing us:
the shipment and tracker as URNs (percent-encoded, since shipment ids may hold ``:/#``), times
as RFC 3339 UTC with milliseconds, places as RFC 5870 ``geo`` URIs, and event ids as RFC 6920
``ni`` URIs of a SHA-256 of the event's own content. docs/epcis.md says why each is what it is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def shipment_urn(organisation: str, shipment_id: str) -> str:
    """The shipment's EPC: shipment ids are unique within an organisation, so both are in it.

    Every character outside RFC 3986's unreserved set is percent-encoded, so ``#`` or ``/`` in
    an id (which the manifest allows) cannot end the URN early.

    >>> shipment_urn("Acme Pharma", "SHP-0001#2")
    'urn:cargowatch:shipment:Acme%20Pharma:SHP-0001%232'
    """
    return f"urn:cargowatch:shipment:{quote(organisation, safe='')}:{quote(shipment_id, safe='')}"


def device_urn(device_id: str) -> str:
    """The tracker's ``deviceID`` in sensor metadata.

    >>> device_urn("trk-00001")
    'urn:cargowatch:device:trk-00001'
    """
    return f"urn:cargowatch:device:{quote(device_id, safe='')}"


def event_id(event: Mapping[str, Any]) -> str:
    """An RFC 6920 ``ni`` URI of the SHA-256 of the event's canonical JSON (without its id).

    Canonical: keys sorted, no spaces, non-ASCII escaped (so any text, even a lone surrogate
    a SQLite store may hand back, hashes and serialises). This is not GS1's event-hash
    pre-hash string (which a ``?ver=CBV2.0`` suffix would claim), only a stable digest of our
    own output.
    """
    content = {k: v for k, v in event.items() if k != "eventID"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    digest = hashlib.sha256(canonical.encode()).digest()
    return "ni:///sha-256;" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def rfc3339(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC time with milliseconds, computed exactly.

    >>> rfc3339(1_763_800_000_250)
    '2025-11-22T08:26:40.250Z'
    """
    at = _EPOCH + timedelta(milliseconds=ms)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def geo_uri(lat: float, lon: float) -> str | None:
    """An RFC 5870 ``geo`` URI, or None for a position that is not one.

    >>> geo_uri(-4.04, 39.66), geo_uri(91.0, 0.0)
    ('geo:-4.04,39.66', None)
    """
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    return f"geo:{_decimal(lat)},{_decimal(lon)}"


def _decimal(x: float) -> str:
    # Seven places are a centimetre; fixed notation because a geo URI has no exponent.
    text = f"{x:.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def number(v: object) -> float | None:
    """`v` as a finite float when it is a JSON number (not a bool), else None.

    >>> number(3), number(True), number(float("nan")), number("4")
    (3.0, None, None, None)
    """
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None
