"""Silence: a tracker that has stopped reporting for longer than its shipment tolerates.

Absence has no reading to trigger on, so this detector is also a timer: the
engine calls `advance` with the clock (wall time live, event time in
backtests). Silence is measured on that clock from when the device was last
heard from, not from its readings' timestamps: an ingester catching up on a
backlog after its own downtime hears old readings, and that is not the
tracker's silence. It opens when the gap passes `max_gap_min`, turns critical
at three times that, and clears as soon as readings arrive again, including
a late store-and-forward upload. A shipment that has arrived is expected to
go quiet.
"""

from __future__ import annotations

from detectors.alerts import Condition, rfc3339
from detectors.profiles import Shipment
from detectors.reading import Reading


class Silence:
    """No reading for longer than `max_gap_min`.

    Parameters
    ----------
    max_gap_min : longest tolerated silence.
    critical_factor : a silence this many times `max_gap_min` long is critical.
    arrival_ms : after this event time (plus the gap), silence is expected, not alarming.

    Examples
    --------
    >>> d = Silence(max_gap_min=30)
    >>> d.update(Reading("t", 0)); d.advance(0)
    >>> [(c.kind, c.active) for c in d.advance(31 * 60_000)]
    [('silence', True)]
    >>> d.update(Reading("t", 32 * 60_000))
    >>> [(c.kind, c.active) for c in d.advance(32 * 60_000)]
    [('silence', False)]
    """

    __slots__ = (
        "_heard",
        "_heard_late",
        "_last_heard",
        "_last_ts",
        "_severity",
        "arrival_ms",
        "critical_factor",
        "max_gap_ms",
    )

    def __init__(
        self, max_gap_min: float = 30.0, critical_factor: float = 3.0, arrival_ms: int | None = None
    ) -> None:
        self.max_gap_ms = int(max_gap_min * 60_000)
        self.critical_factor = critical_factor
        self.arrival_ms = arrival_ms
        self._last_ts: int | None = None
        self._last_heard: int | None = None
        self._heard = False
        self._heard_late = False
        self._severity = ""

    def update(self, r: Reading) -> list[Condition] | None:
        if self._last_ts is None or r.ts_ms > self._last_ts:
            self._last_ts = r.ts_ms
        self._heard = True
        return None

    def late(self, r: Reading) -> list[Condition] | None:
        self._heard_late = True
        return self.update(r)

    def advance(self, now_ms: int) -> list[Condition] | None:
        if self._heard:
            self._heard = False
            self._last_heard = now_ms
            if self._severity:
                late, self._heard_late = self._heard_late, False
                return self._clear(
                    now_ms, "a late upload filled the gap" if late else "readings resumed"
                )
        if self._last_heard is None or self._last_ts is None:
            return None
        gap = now_ms - self._last_heard
        if gap <= self.max_gap_ms:
            return None
        if self.arrival_ms is not None and self._last_ts >= self.arrival_ms:
            return None
        severity = "critical" if gap >= self.critical_factor * self.max_gap_ms else "warning"
        if severity == self._severity:
            return None
        self._severity = severity
        minutes = gap / 60_000
        return [
            Condition(
                "silence",
                True,
                now_ms,
                severity,
                f"no reading for {minutes:.0f} min (tolerated {self.max_gap_ms / 60_000:g} min)",
                {"last_reading": rfc3339(self._last_ts), "gap_min": round(minutes, 1)},
                round(minutes, 1),
            )
        ]

    def _clear(self, at_ms: int, why: str) -> list[Condition]:
        self._severity = ""
        return [Condition("silence", False, at_ms, "info", why, {})]


def make_silence(shipment: Shipment) -> Silence:
    # A planned arrival time is a plan: a tracker still reporting after it is still
    # watched, and its silence is still news, until the shipment is closed.
    return Silence(shipment.profile.max_gap_min)
