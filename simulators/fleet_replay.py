"""A simulated fleet replayed in-process through the live decoder and detector engine.

The fleet's messages come in arrival order, the engine's clock is arrival time and it ticks
once a minute of it, as a live ingester's ticker would, so silence and the reorder buffer
behave as they do live. Beside the alert events it keeps what scoring needs: when the fleet
was first and last heard, and when each device's readings were out of its shipment's range
(every breach, where a label marks only the first; see `simulators.breach_truth`). The
detection and calibration benches and the demo fleet's test score what it raises against
the fleet's labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from detectors.alerts import AlertEvent
from detectors.profiles import Shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.roadside_places import RoadsidePlaces
from ingest.decode import decode
from simulators.breach_truth import note_outside
from simulators.fleet import Fleet
from simulators.scoring import Exposure, exposure

#: How often (ms of arrival time) the engine's clock ticks, as the live ingester's does.
TICK_MS = 60_000


@dataclass(frozen=True, slots=True)
class FleetReplay:
    """What a fleet's replay raised, and when the fleet was heard."""

    events: list[AlertEvent]
    #: Arrival times of the first and the last message (None for a fleet that sent nothing).
    first_ms: int | None
    last_ms: int | None
    #: Each device's readings out of its shipment's range, by reading time, sorted.
    outside: dict[str, list[int]]

    def exposure(self, shipments: Sequence[Shipment]) -> Exposure:
        """Every shipment for the whole span the fleet was heard over."""
        trips = [(s.device_id, None, None) for s in shipments]
        return exposure([], [], trips, self.first_ms, self.last_ms)


def _every(reading: Reading) -> bool:
    return True


def replay_fleet(
    fleet: Fleet,
    shipments: Sequence[Shipment],
    keep: Callable[[Reading], bool] = _every,
    places: RoadsidePlaces | None = None,
) -> FleetReplay:
    """Replay `fleet` through an engine for `shipments` (usually its own manifest's).

    `keep` sees every decoded reading, after it is noted for the breaches, and says whether
    the engine gets it: a bench thins a fleet's readings to a slower reporting interval so.
    `places` is where trackers are known to have stood (`RoadsidePlaces`): one replay's,
    handed to the next, stands for the weeks a live engine has seen.
    """
    ranges = {s.device_id: s.profile.temp_range_c for s in shipments}
    # The engine's own reordering wait, which is the live ingester's default (`lateness_s`).
    engine = build_engine(shipments, places=places)
    outside: dict[str, list[int]] = {}
    events: list[AlertEvent] = []
    next_tick = first = last = None
    for m in fleet.messages():
        now = m.arrival_ms
        first = now if first is None else first
        last = now
        if next_tick is None or now >= next_tick:
            events += engine.advance(now)
            next_tick = now + TICK_MS
        for r in decode(m.topic, m.payload, now).readings:
            note_outside(outside, r.device_id, r.ts_ms, r.temp_c, ranges.get(r.device_id))
            if keep(r):
                events += engine.process(r, now)
    events += engine.flush()
    for times in outside.values():
        times.sort()  # late uploads arrive after newer readings
    return FleetReplay(events, first, last, outside)
