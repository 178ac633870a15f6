"""InfluxDB line protocol encoding: readings, rejects and counters to bytes for /write.

Pure and property-tested: whatever a tag or string holds (commas, quotes,
backslashes, newlines, any Unicode) reads back from InfluxDB unchanged.
Timestamps are nanoseconds, so one request can carry telemetry (event time in
ms, scaled) next to rejects and stats that need sub-millisecond uniqueness.
Numeric channels are always written as floats and `seq` as an integer, so a
tracker that sends `5` one day and `5.0` the next never causes a field type
conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from detectors.reading import FLOAT_CHANNELS, Reading

TELEMETRY: Final = "telemetry"
REJECTS: Final = "ingest_rejects"
STATS: Final = "cargowatch_stats"

_TAG_ESCAPES: Final = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_ESCAPES: Final = str.maketrans({",": r"\,", " ": r"\ "})


def escape_tag(value: str) -> str:
    r"""Escape a tag key or value (also used for field keys).

    Tags only ever hold CargoWatch's own vocabulary and validated ids, so the
    few strings line protocol cannot carry in a tag (line breaks, a trailing
    backslash that would swallow the separator) are refused, not mangled.

    >>> escape_tag("a b,c=d")
    'a\\ b\\,c\\=d'
    """
    if "\n" in value or "\r" in value or value.endswith("\\"):
        raise ValueError(f"cannot be written as a tag: {value!r:.80}")
    return value.translate(_TAG_ESCAPES)


def escape_string_field(value: str) -> str:
    r"""Quote a string field value: only backslash and double quote need escaping.

    >>> escape_string_field('say "hi" \\ bye')
    '"say \\"hi\\" \\\\ bye"'
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_float(value: float) -> str:
    """Shortest text that reads back as the same float (repr round-trips exactly).

    >>> format_float(5.0), format_float(1e-07)
    ('5.0', '1e-07')
    """
    return repr(value)


def telemetry_line(reading: Reading, shipment_id: str | None = None) -> str:
    """One `telemetry` point; (device_id, ts) is its identity, so a redelivery overwrites it.

    >>> telemetry_line(Reading("trk-1", 1_700_000_000_000, seq=3, temp_c=4.5, door="open"))
    'telemetry,device_id=trk-1 seq=3i,temp_c=4.5,door="open" 1700000000000000000'
    """
    parts = []
    if reading.seq is not None:
        parts.append(f"seq={reading.seq}i")
    for name in FLOAT_CHANNELS:
        v = getattr(reading, name)
        if v is not None:
            parts.append(f"{name}={v!r}")
    for name in ("seal", "seal_id", "door"):
        s = getattr(reading, name)
        if s is not None:
            parts.append(f"{name}={escape_string_field(s)}")
    if not parts:
        # A point needs a field; a bare heartbeat still proves the tracker is alive.
        parts.append("heartbeat=true")
    tags = f"device_id={reading.device_id}"  # the wire contract limits ids to tag-safe characters
    if shipment_id is not None:
        tags += f",shipment_id={escape_tag(shipment_id)}"
    return f"{TELEMETRY},{tags} {','.join(parts)} {reading.ts_ms * 1_000_000}"


def point_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, float | int | str | bool],
    ts_ns: int,
) -> str:
    """A generic point, for rejects, counters and alerts; empty tag values are dropped.

    >>> point_line("m", {"reason": "bad json"}, {"n": 2, "x": 0.5, "s": "a"}, 7)
    'm,reason=bad\\\\ json n=2i,x=0.5,s="a" 7'
    """
    tag_text = "".join(
        f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()) if v != ""
    )
    field_parts = []
    for k, v in fields.items():
        key = escape_tag(k)
        if isinstance(v, bool):
            field_parts.append(f"{key}={'true' if v else 'false'}")
        elif isinstance(v, int):
            field_parts.append(f"{key}={v}i")
        elif isinstance(v, float):
            field_parts.append(f"{key}={format_float(v)}")
        else:
            field_parts.append(f"{key}={escape_string_field(v)}")
    if not field_parts:
        raise ValueError("a point needs at least one field")
    return (
        f"{measurement.translate(_MEASUREMENT_ESCAPES)}{tag_text} {','.join(field_parts)} {ts_ns}"
    )
