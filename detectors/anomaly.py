"""Statistical anomaly on a numeric channel: the scorer's judgement turned into a condition.

`CombinedScorer` gives every reading a calibrated score in [0, 1] against the
channel's own history (record-relative surprise, or 0.6 for a first visit beyond the
range the channel has covered); this detector raises `anomaly` when the score reaches
`threshold` (0.95, a surprise 4.3 times the largest of the stream's recent past, which
a new-territory reading alone never reaches), as an early, unspecific hint (a reefer
whose cycling changes before it fails) for an operator to look at. It is informational
on purpose: the specific detectors (excursion, forecast, fault) are the ones that page.
`last_score` is kept so a backtest can report the score of every reading. A reading within
one resolution step of the channel's recent level never raises it: a coarse probe (0.5 °C
steps) that has read one value for hours and then reads the next count up or down has said
nothing its rounding does not explain, however large the score's ratio to a flat history.
"""

from __future__ import annotations

import math
from typing import Final

from detectors.alerts import Condition
from detectors.anomaly_combined import CombinedScorer
from detectors.pickled import SlotState, restore_slots
from detectors.profiles import Shipment
from detectors.reading import Reading
from detectors.sensor_fault import probe_plausible

#: Weight of the newest reading in the recent level (about the last 5 readings).
LEVEL_RATE: Final = 0.2
#: Relative tolerance on comparing steps: 5.5 - 5.0 and 4.6 - 4.5 are one step of their
#: probe's resolution although floating point makes them differ in the last digits.
_STEP_TOL: Final = 1e-6


class Anomaly:
    """Unusual behaviour of one channel, relative to its own history.

    Parameters
    ----------
    channel : the Reading field to watch, e.g. "temp_c".
    threshold : score at or above which the reading counts as anomalous; 0.95 is a
        4.3-fold record. The score's own collapse cue (a probe that stops moving,
        which `sensor_fault` judges) tops out at 0.91, so it never alerts here.
    clear_below : score under which the condition clears (hysteresis).

    The channel's resolution is the smallest change between two consecutive readings seen
    so far (unknown until it has moved): a quantised probe's steps are whole counts of it.

    Examples
    --------
    >>> d = Anomaly("temp_c")
    >>> steady = [Reading("t", i * 300_000, temp_c=5.0 + (i % 3) * 0.1) for i in range(500)]
    >>> any(d.update(r) for r in steady), 0.0 <= d.last_score <= 1.0
    (False, True)
    """

    __slots__ = (
        "_active",
        "_level",
        "_prev",
        "_resolution",
        "channel",
        "clear_below",
        "last_score",
        "scorer",
        "threshold",
    )

    def __init__(self, channel: str, threshold: float = 0.95, clear_below: float = 0.5) -> None:
        self.channel = channel
        self.threshold = threshold
        self.clear_below = clear_below
        # Shipments last days: the hour-of-week profile would be most of the memory, and
        # 120 readings (10 h at 5-minute reporting) of warm-up leave most of a trip scored.
        # A scorer restored from an older snapshot may be a bare `AnomalyScorer`: same
        # interface, so it goes on working without the new-territory cue.
        self.scorer = CombinedScorer(weekly=False, warmup=120)
        self.last_score = 0.0
        self._active = False
        self._prev = math.nan  # last reading, for the resolution
        self._level = math.nan  # recent level the next reading is compared with
        self._resolution = math.inf  # smallest step seen; unknown until the channel moves

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before the resolution was known."""
        self._prev, self._level, self._resolution = math.nan, math.nan, math.inf
        restore_slots(self, state)

    def _within_resolution(self, value: float) -> bool:
        """Whether `value` is within one resolution step of the recent level, then learn it."""
        level, prev = self._level, self._prev
        near = abs(value - level) <= self._resolution * (1.0 + _STEP_TOL)  # False for NaN
        step = abs(value - prev)
        if step > _STEP_TOL * max(1.0, abs(value)) and step < self._resolution:
            self._resolution = step
        self._prev = value
        self._level = value if level != level else level + LEVEL_RATE * (value - level)
        return near

    def update(self, r: Reading) -> list[Condition] | None:
        value = getattr(r, self.channel)
        if value is None or (self.channel == "temp_c" and not probe_plausible(value)):
            return None
        score = self.last_score = self.scorer.update(r.ts_ms, value)
        # Rounding, not behaviour: scored and learnt as usual, but never an alert.
        rounding = self._within_resolution(value)
        if score >= self.threshold:
            if self._active or rounding:
                return None
            self._active = True
            return [
                Condition(
                    "anomaly",
                    True,
                    r.ts_ms,
                    "info",
                    f"{self.channel} {value:g} is unusual for this shipment (score {score:.2f})",
                    {"channel": self.channel, "value": value, "score": round(score, 3)},
                    round(score, 3),
                )
            ]
        if self._active and score < self.clear_below:
            self._active = False
            return [Condition("anomaly", False, r.ts_ms, "info", f"{self.channel} back to usual")]
        return None


def make_anomaly(shipment: Shipment) -> Anomaly | None:
    if shipment.profile.temp_range_c is None:
        return None
    return Anomaly("temp_c")
