"""When a product really left its range: the truth a breach warning is judged against.

A label marks only an incident's first breach; a product that came back into its range and
left it again breached again. The benches that judge the breach warning
(`bench/detection.py`, `bench/forecast_calibration.py`) therefore note every reading out of
its shipment's range, at the device's full reporting rate, and call a warning followed when
such a reading comes within its horizon.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def note_outside(
    outside: dict[str, list[int]],
    device_id: str,
    ts_ms: int,
    temp_c: float | None,
    span: tuple[float, float] | None,
) -> None:
    """Add the reading's time to its device's list when it is out of `span` (low, high).

    >>> outside: dict[str, list[int]] = {}
    >>> for ts, t in ((1, 7.9), (2, 8.2), (3, None)):
    ...     note_outside(outside, "t", ts, t, (2.0, 8.0))
    >>> outside
    {'t': [2]}
    """
    if span is None or temp_c is None or span[0] <= temp_c <= span[1]:
        return
    outside.setdefault(device_id, []).append(ts_ms)


def followed(times: Sequence[int], at_ms: int, horizon_ms: float) -> bool:
    """Whether sorted `times` hold one from `at_ms` to `at_ms + horizon_ms`, both included.

    >>> followed([100, 500], 200, 300), followed([100, 500], 200, 299)
    (True, False)
    """
    i = bisect.bisect_left(times, at_ms)
    return i < len(times) and times[i] <= at_ms + horizon_ms
