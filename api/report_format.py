"""How the release report writes its numbers and times, shared by the PDF and the CSV.

One place for the rounding, so a figure reads the same in both formats and a test can hold the
CSV's numbers equal to the PDF's text: temperatures to 0.01 °C, durations to 0.1 min, times in
UTC to the second (RFC 3339, ``Z``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

NONE = "n/a"


def celsius(value: float | None) -> str:
    """A temperature, °C to two decimals; ``n/a`` without one.

    >>> celsius(5.0), celsius(-0.004), celsius(None)
    ('5.00', '0.00', 'n/a')
    """
    if value is None or not math.isfinite(value):
        return NONE
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def minutes(value: float | None) -> str:
    """A duration in minutes to one decimal.

    >>> minutes(12.345), minutes(None)
    ('12.3', 'n/a')
    """
    if value is None or not math.isfinite(value):
        return NONE
    return f"{value:.1f}"


def percent(value: float | None) -> str:
    """A share in percent to one decimal.

    >>> percent(41.66666), percent(math.inf)
    ('41.7', 'n/a')
    """
    return minutes(value)


def score(value: float) -> str:
    """A risk score (0-100) to one decimal.

    >>> score(78.125)
    '78.1'
    """
    return f"{value:.1f}"


def when(ms: int | None) -> str:
    """Epoch milliseconds as an RFC 3339 UTC time to the second; empty without one.

    >>> when(1_763_800_000_250), when(None)
    ('2025-11-22T08:26:40Z', '')
    """
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def degrees(value: float | None) -> str:
    """A coordinate in degrees to five decimals (about a metre); empty without one.

    >>> degrees(34.27), degrees(None)
    ('34.27000', '')
    """
    return "" if value is None else f"{value:.5f}"


def metres(value: float | None) -> str:
    """A distance, whole metres below 10 km, else km to one decimal.

    >>> metres(3336.2), metres(12_345.0), metres(None)
    ('3336 m', '12.3 km', 'n/a')
    """
    if value is None:
        return NONE
    return f"{value:.0f} m" if value < 10_000 else f"{value / 1000:.1f} km"
