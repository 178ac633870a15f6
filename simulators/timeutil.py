"""Simulated time: parsing durations and RFC 3339 instants, formatting labels' timestamps.

Everything inside the simulator counts seconds (floats) from the run's start and converts to
integer epoch milliseconds only at the wire, so arithmetic stays simple and exact enough; this
module is the one place that turns those numbers into text a person or a manifest reads.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

_DURATION_RE: Final = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RFC3339_RE: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``12h``, ``90m``, ``1h30m``, ``2d`` or a bare ``3600``.

    >>> parse_duration("1h30m"), parse_duration("45"), parse_duration("2d")
    (5400.0, 45.0, 172800.0)
    """
    text = text.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        pos, seconds = 0, 0.0
        for match in _DURATION_RE.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT_S[match.group(2)]
            pos = match.end()
        if pos != len(text) or not text:
            raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 45m, 12h, 2d)") from None
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {text!r}")
    return seconds


def parse_instant_ms(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 date-time (``2026-01-05T00:00:00Z``).

    >>> parse_instant_ms("2026-01-05T00:00:00Z")
    1767571200000
    """
    if not _RFC3339_RE.fullmatch(text.strip()):
        raise ValueError(f"not an RFC 3339 date-time: {text!r} (e.g. 2026-01-05T00:00:00Z)")
    dt = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    return round(dt.timestamp() * 1000)


def rfc3339(ms: int | float) -> str:
    """RFC 3339 UTC text of epoch milliseconds, to the second unless a fraction is needed.

    >>> rfc3339(1767571200000), rfc3339(1767571200250)
    ('2026-01-05T00:00:00Z', '2026-01-05T00:00:00.250Z')
    """
    ms = round(ms)
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def floor_minute_ms(ms: float) -> int:
    """The start of the minute ``ms`` falls in."""
    return int(ms // 60_000) * 60_000
