"""The one interface every detector implements, and the timer interface for absence-driven ones.

A detector is built for one device from that device's `Shipment` (or returns
nothing from its factory when the shipment gives it nothing to watch, such
as a temperature detector on ambient customs cargo). It is fed that device's
readings in event-time order and answers with the conditions whose state
changed, or None: the common case must cost next to nothing. Detectors hold
no references to the outside world, read time only from readings (or from
`advance` for timers), and must pickle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from detectors.alerts import Condition
from detectors.profiles import Shipment
from detectors.reading import Reading


class Detector(Protocol):
    """Fed one device's readings in event-time order."""

    def update(self, r: Reading) -> list[Condition] | None: ...


@runtime_checkable
class TimedDetector(Protocol):
    """A detector that also notices the absence of readings as time passes."""

    def update(self, r: Reading) -> list[Condition] | None: ...

    def advance(self, now_ms: int) -> list[Condition] | None: ...

    def late(self, r: Reading) -> list[Condition] | None:
        """A reading older than what was already processed (a late upload)."""
        ...

    def due_ms(self) -> int | None:
        """The earliest clock at which `advance` could raise something; None: not before a reading.

        A backtest's clock jumps from reading to reading across the fleet: it advances each
        device's timers at the moments they fall due rather than every device at every step.
        """
        ...


@runtime_checkable
class PositionScreen(Protocol):
    """A detector that judges whether a reading's position can be trusted.

    The engine hands the detectors after it, in the registry's order, the reading as
    `screen` returns it: without its position when the fix was judged implausible, so a
    spoofed fix neither takes a shipment off its route nor places it at an authorised stop.
    """

    def update(self, r: Reading) -> list[Condition] | None: ...

    def screen(self, r: Reading) -> Reading:
        """`r` as the detectors after this one should see it (the reading just updated with)."""
        ...


DetectorFactory = Callable[[Shipment], Detector | None]

_D = TypeVar("_D")


def first_of(detectors: Sequence[Detector], kind: type[_D]) -> _D | None:
    """The first of a device's `detectors` of class `kind`, or None: how the engine and a late
    upload's stretch find the one detector of a kind they hand readings or state over to."""
    return next((d for d in detectors if isinstance(d, kind)), None)
