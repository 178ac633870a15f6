"""Checks readings older than the in-memory duplicate window against what InfluxDB already holds.

`ingest.duplicates` remembers each device's last readings; a reading older than all
of them (a long store-and-forward upload that arrives after live readings, a replay
of old data) cannot be judged from memory. Before such a batch is written, the
writer asks InfluxDB for the points at those identities, one range query per device
and stretch of time, so a conflicting reading is refused there too instead of being
merged field by field into the stored one. The check is bounded (`MAX_QUERIES` per
batch) and best effort: when InfluxDB cannot answer, the readings are written
unchecked and counted as such, since holding valid readings back for a lookup
would turn an outage into data loss.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from detectors.reading import FLOAT_CHANNELS, Reading
from ingest.influx_client import InfluxClient
from ingest.line_protocol import TELEMETRY

#: Readings further apart than this are looked up with separate range queries.
GAP_MS: Final = 3_600_000
#: At most this many queries for one batch; the rest stays unchecked.
MAX_QUERIES: Final = 20
_FIELDS: Final = ("seq", *FLOAT_CHANNELS, "seal", "seal_id", "door")
_QUERY: Final = (
    f"SELECT * FROM {TELEMETRY} WHERE device_id = $device AND time >= $first AND time <= $last"
)

Identity = tuple[str, int]


def stored_points(
    client: InfluxClient, readings: Sequence[Reading]
) -> tuple[dict[Identity, dict[str, Any]], set[Identity]]:
    """Look the readings' identities up; return (stored points, identities checked).

    A stored point is its columns by name. An identity that was checked but has no
    point is free. Past `MAX_QUERIES` ranges the rest is not checked. Raises the
    client's `InfluxError` when InfluxDB cannot answer.
    """
    found: dict[Identity, dict[str, Any]] = {}
    checked: set[Identity] = set()
    ranges = _ranges(readings)[:MAX_QUERIES]
    for device, first, last in ranges:
        params = {"device": device, "first": first * 1_000_000, "last": last * 1_000_000}
        for series in client.query(_QUERY, params):
            columns = series["columns"]
            for row in series["values"]:
                point = dict(zip(columns, row, strict=True))
                found[(device, int(point["time"]))] = point
    in_range = {device: [(a, b) for d, a, b in ranges if d == device] for device, _, _ in ranges}
    for r in readings:
        if any(a <= r.ts_ms <= b for a, b in in_range.get(r.device_id, ())):
            checked.add((r.device_id, r.ts_ms))
    return found, checked


def same_reading(r: Reading, point: Mapping[str, Any]) -> bool:
    """Whether a stored point holds exactly this reading's values.

    >>> same_reading(Reading("t1", 5, temp_c=4.0), {"time": 5, "temp_c": 4, "seal": None})
    True
    >>> same_reading(Reading("t1", 5, temp_c=4.0), {"time": 5, "temp_c": 4, "seal": "open"})
    False
    """
    empty = True
    for name in _FIELDS:
        mine, theirs = getattr(r, name), point.get(name)
        if mine is None or theirs is None:
            if mine is not theirs:
                return False
            continue
        empty = False
        if isinstance(mine, float):
            # JSON carries 4.0 as 4; the value, not its spelling, is what must agree.
            if isinstance(theirs, bool) or not isinstance(theirs, int | float):
                return False
            if float(theirs) != mine:
                return False
        elif mine != theirs:
            return False
    # A reading with no channels is stored as heartbeat=true; either both are, or neither.
    return empty == (point.get("heartbeat") is True)


def _ranges(readings: Iterable[Reading]) -> list[tuple[str, int, int]]:
    by_device: dict[str, list[int]] = {}
    for r in readings:
        by_device.setdefault(r.device_id, []).append(r.ts_ms)
    ranges: list[tuple[str, int, int]] = []
    for device, stamps in by_device.items():
        stamps.sort()
        first = last = stamps[0]
        for ts in stamps[1:]:
            if ts - last > GAP_MS:
                ranges.append((device, first, last))
                first = ts
            last = ts
        ranges.append((device, first, last))
    return ranges


_RANGE: Final = f"SELECT * FROM {TELEMETRY} WHERE time > $first AND time <= $last"


def readings_between(
    client: InfluxClient, after_ms: int, until_ms: int, chunk_ms: int = 600_000
) -> Iterator[Reading]:
    """Every stored reading with `after_ms` < ts <= `until_ms`, in time order, a chunk at a time.

    What a restarted detector engine replays: the readings stored after its snapshot. Raises
    the client's `InfluxError` when InfluxDB cannot answer.
    """
    start = after_ms
    while start < until_ms:
        end = min(until_ms, start + chunk_ms)
        params = {"first": start * 1_000_000, "last": end * 1_000_000}
        for series in client.query(_RANGE, params):
            columns = series["columns"]
            for row in series["values"]:
                point = dict(zip(columns, row, strict=True))
                yield _reading(point)
        start = end


def _reading(point: Mapping[str, Any]) -> Reading:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        v = point.get(name)
        if v is None:
            continue
        values[name] = v if name in ("seq", "seal", "seal_id", "door") else float(v)
    return Reading(str(point["device_id"]), int(point["time"]), **values)
