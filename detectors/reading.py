"""The reading: one tracker observation, the unit everything downstream of decoding works on.

A `Reading` is what a well-formed wire-format object becomes once validated. Its
field names carry their units, as on the wire; every sensor channel is optional
because trackers report different subsets. It is an immutable named tuple:
building one costs a third of a frozen dataclass's time, which matters at tens
of thousands of readings a second.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

#: A device id, as the wire contract allows it in topics and payloads.
DEVICE_ID_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: A shipment id: storage tags, topics and file names carry it unescaped-safe, so it is
#: limited to characters that need no quoting anywhere (a trailing backslash, a line
#: break or a control character would break line protocol).
SHIPMENT_ID_RE: Final = re.compile(r"[A-Za-z0-9._:/#-]{1,64}")

#: Numeric sensor channels, in the order they are written to storage.
FLOAT_CHANNELS: Final = (
    "lat",
    "lon",
    "temp_c",
    "ambient_c",
    "humidity_pct",
    "shock_g",
    "light_lux",
    "battery_v",
)
#: Text channels and, where closed, the values they may take.
TEXT_CHANNELS: Final = ("seal", "seal_id", "door")
SEAL_STATES: Final = frozenset({"closed", "open", "tampered"})
DOOR_STATES: Final = frozenset({"closed", "open"})


class Reading(NamedTuple):
    """One validated tracker reading; `ts_ms` is event time in epoch milliseconds.

    >>> r = Reading(device_id="trk-1", ts_ms=1_700_000_000_000, temp_c=5.5)
    >>> r.temp_c, r.door
    (5.5, None)
    """

    device_id: str
    ts_ms: int
    seq: int | None = None
    lat: float | None = None
    lon: float | None = None
    temp_c: float | None = None
    ambient_c: float | None = None
    humidity_pct: float | None = None
    shock_g: float | None = None
    light_lux: float | None = None
    battery_v: float | None = None
    seal: str | None = None
    seal_id: str | None = None
    door: str | None = None
