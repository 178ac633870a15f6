"""Shock: a drop, a collision or rough handling, from the tracker's peak acceleration.

A shock is an event, not a state: the condition is active on the reading
that carries it and inactive on the next reading below the threshold (or
without a shock value: trackers that report shock only when it happens send
none otherwise). The lifecycle's resolve delay then folds a burst of shocks
into one alert.
"""

from __future__ import annotations

from detectors.alerts import Condition
from detectors.profiles import Shipment
from detectors.reading import Reading


class Shock:
    """A peak acceleration at or above `warning_g`; critical from `critical_g`.

    Catches drops and impacts the tracker measured; misses anything between
    two readings that the tracker did not latch as a peak.

    Parameters
    ----------
    warning_g : peak acceleration, in g, that is a warning.
    critical_g : peak acceleration, in g, that is critical.

    Examples
    --------
    >>> d = Shock()
    >>> for i, g in enumerate([0.2, 4.1, 9.5, 0.3, 0.2]):
    ...     for c in d.update(Reading("t1", i * 60_000, shock_g=g)) or []:
    ...         print(i, c.active, c.severity, c.summary)
    1 True warning shock of 4.1 g (warning from 3 g)
    2 True critical shock of 9.5 g (critical from 8 g)
    3 False critical shock over (now 0.3 g)
    """

    __slots__ = ("_severity", "critical_g", "warning_g")

    def __init__(self, warning_g: float = 3.0, critical_g: float = 8.0) -> None:
        self.warning_g = warning_g
        self.critical_g = critical_g
        self._severity = ""  # of the shock in progress; "" when none

    def update(self, r: Reading) -> list[Condition] | None:
        g = r.shock_g
        if g is None or not g >= self.warning_g:  # `not >=` also puts NaN below the threshold
            if not self._severity:
                return None
            severity, self._severity = self._severity, ""
            now = f"now {g:.1f} g" if g is not None else "no shock reported"
            evidence = {"shock_g": g, "warning_g": self.warning_g, "critical_g": self.critical_g}
            return [
                Condition("shock", False, r.ts_ms, severity, f"shock over ({now})", evidence, g)
            ]
        if g >= self.critical_g:
            severity, limit = "critical", self.critical_g
        else:
            severity, limit = "warning", self.warning_g
        if self._severity == severity or self._severity == "critical":
            return None  # the same shock going on, no worse
        self._severity = severity
        evidence = {
            "shock_g": g,
            "warning_g": self.warning_g,
            "critical_g": self.critical_g,
            "lat": r.lat,
            "lon": r.lon,
        }
        summary = f"shock of {g:.1f} g ({severity} from {limit:g} g)"
        return [Condition("shock", True, r.ts_ms, severity, summary, evidence, g)]


def make_shock(shipment: Shipment) -> Shock:
    return Shock()
