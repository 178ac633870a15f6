"""The product's temperature behind an air probe: a first-order lag ("product simulation").

A probe in the air stream of a reefer or a cold room reads the air, which swings with every
thermostat cycle, defrost and door opening; the product, with its packaging's thermal mass,
follows the air only slowly. Judged as if it were the product, such a probe raises excursions
and breach warnings on swings the product never felt: return-air probes in fleets generated
elsewhere drew breach warnings on thermostat cycles that peaked a degree under the limit, and
every door opening is an excursion of the air. A shipment
whose tracker reads the air (`probe: "air"` in the manifest) is judged on a simulated product
instead, as a buffered probe (a probe in a bottle of glycol) would read it: the product warms
towards the air at a rate proportional to their difference, with the time constant
`product_lag_min`. Between two readings the air is taken to change linearly, which makes the
step exact for any interval, so a logger reporting every 15 minutes and a tracker reporting
every minute simulate the same product; a long gap lets the product settle to the air. The first
reading starts the product at the air's temperature: nothing better is known (a late upload,
judged apart, starts from the live product instead: `seed`). Readings a probe
cannot have measured (`probe_plausible`) are left alone for the sensor checks and never enter
the product.
"""

from __future__ import annotations

import math
from typing import Protocol

from detectors.pickled import SlotState, restore_slots
from detectors.profiles import PRODUCT_LAG_MIN
from detectors.reading import Reading
from detectors.sensor_fault import probe_plausible


class ProductLag:
    """The simulated product temperature behind one air probe's readings.

    Examples
    --------
    >>> lag = ProductLag(30.0)
    >>> lag.reading(Reading("t", 0, temp_c=5.0)).temp_c  # starts at the air's temperature
    5.0
    >>> lag.reading(Reading("t", 1_800_000, temp_c=5.0)).temp_c
    5.0
    >>> lag.reading(Reading("t", 3_600_000, temp_c=9.0)).temp_c  # warm air, 30 min later
    6.47
    >>> lag.air_c
    9.0
    >>> lag.reading(Reading("t", 3_660_000, temp_c=-127.0)).temp_c  # left for the sensor checks
    -127.0
    """

    __slots__ = ("_product_c", "_ts", "air_c", "tau_ms")

    def __init__(self, lag_min: float = PRODUCT_LAG_MIN) -> None:
        self.tau_ms = lag_min * 60_000.0
        #: The last plausible air temperature taken, for the alerts' evidence.
        self.air_c: float | None = None
        # NaN until the first reading, or a starting value `seed` gave.
        self._product_c = math.nan
        self._ts: int | None = None

    def __setstate__(self, state: SlotState) -> None:
        restore_slots(self, state)

    def reading(self, r: Reading) -> Reading:
        """`r` with the simulated product's temperature in place of the air's."""
        air = r.temp_c
        if air is None or not probe_plausible(air):
            return r
        ts = r.ts_ms
        last = self._ts
        if last is None:
            if math.isnan(self._product_c):
                self._product_c = air
        elif ts > last:
            # First-order lag under air that moves linearly from the last reading to this
            # one at `slope`: the exact solution over the interval, so any interval is fine.
            prev_air = self.air_c if self.air_c is not None else air
            dt = float(ts - last)
            tau = self.tau_ms
            slope_tau = (air - prev_air) / dt * tau
            decay = math.exp(-dt / tau)
            self._product_c = air - slope_tau + (self._product_c - prev_air + slope_tau) * decay
        else:
            # A second reading at the same instant (or, from a caller that reorders, an older
            # one) says nothing about time passing: the product stays where it was.
            return r._replace(temp_c=round(self._product_c, 2))
        self._ts = ts
        self.air_c = air
        return r._replace(temp_c=round(self._product_c, 2))

    def warming_c_per_h(self) -> float:
        """How fast (°C/h) the product warms at this moment (cools, if negative): towards the
        last air taken, in proportion to their difference. NaN before the first reading.

        >>> lag = ProductLag(60.0)
        >>> _ = lag.reading(Reading("t", 0, temp_c=4.0))
        >>> _ = lag.reading(Reading("t", 600_000, temp_c=7.0))  # a door's gust
        >>> round(lag.warming_c_per_h(), 2)
        2.76
        >>> _ = lag.reading(Reading("t", 900_000, temp_c=4.0))  # the air back where it was
        >>> round(lag.warming_c_per_h(), 2)  # the product, a little warmer, cools again
        -0.34
        """
        air = self.air_c
        if air is None:
            return math.nan
        return (air - self._product_c) * 3_600_000.0 / self.tau_ms

    def seed(self, other: ProductLag | None) -> None:
        """Start, before any reading, from where `other` has the product (None: nothing to
        start from): a late upload's first reading, judged apart from the live ones, is air
        the product had been in for a while, and the product moves slowly, so the live product
        is a better start than that air (a door opened in the gap would otherwise be taken as
        the product's warmth)."""
        if other is not None and self._ts is None and not math.isnan(other._product_c):
            self._product_c = other._product_c


class Simulating(Protocol):
    """A detector that judges the product simulated behind an air probe (None: a probe in
    the product); a late upload's copy of it starts from the live one's (`ProductLag.seed`)."""

    product: ProductLag | None


def product_lag(lag_min: float | None) -> ProductLag | None:
    """A fresh simulation for a shipment whose probe reads the air (`lag_min` set), else None."""
    return None if lag_min is None else ProductLag(lag_min)


def judged_temperature(temp_c: float, product: ProductLag | None) -> str:
    """A temperature judged, as a summary says it: an air probe's is its simulated product's,
    beside the air the probe read.

    >>> judged_temperature(4.56, None)
    '4.6 °C'
    >>> lag = ProductLag(60.0)
    >>> judged_temperature(9.0, lag)  # before any reading, no air is known
    '9.0 °C'
    >>> _ = lag.reading(Reading("t", 0, temp_c=9.0))
    >>> judged_temperature(9.0, lag)
    '9.0 °C simulated product (air 9.0 °C)'
    """
    if product is None or product.air_c is None:
        return f"{temp_c:.1f} °C"
    return f"{temp_c:.1f} °C simulated product (air {product.air_c:.1f} °C)"
