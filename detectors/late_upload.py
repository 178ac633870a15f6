"""Judging a late upload: readings a tracker kept while out of reach and sent after newer ones.

The engine feeds a device's detectors in event-time order, so a reading older than one they
have already taken cannot join that order. Yet such an upload may hold what matters most: an
excursion, a seal opened or tampered with, a door opened, a shock, all while the tracker was out
of coverage. A `LateStretch` judges those readings on their own: fresh detectors of the kinds
whose evidence lies in the readings themselves (`LATE_FACTORIES`), fed the late readings in
their own event-time order. What they raise reaches the device's alert book as from a detector
of its own, marked `reported_late`, so an alert of the same kind that is already open stays one
alert. A stretch ends once no late reading has come for `LATE_IDLE_MS` of the clock (or at the
end of a backtest): what it still holds is cleared at its last reading, since the device's newer
readings, already judged, tell how things stand now. The excursion detector's time out of range
is the exception to judging apart: a late reading falls between two readings the live detector
has judged, so it is judged from the live detector's state there and counts at once, as if it
had come in order (`TempExcursion.judge_late`). The live excursion's start and the stability
budget then agree with the readings in order; the budget is checked when the stretch ends,
and its readings join the mean kinetic temperature then. A late reading inside the
span of a stretch already judged (an upload sent twice), or older than the open stretch's last
reading (out of order within itself), is stored but not judged again; one older than a stretch
judged before but outside its span (a gap whose upload came after a reordered reading) is
judged in a stretch of its own. Positions are judged too: a truck that left its route, entered
a restricted zone, stopped where no stop was planned, or whose GPS was lost or spoofed while out
of coverage is the customs question an upload answers, and the readings show it. The stretch
screens its fixes as the live chain does (`gps_implausible` before the route, stop, zone, seal
and door checks), so a spoofed fix in an upload places the truck nowhere. A stop the live
detector saw under way where the stretch begins goes on in the stretch's, and the one the
stretch ends in goes on in the live detector's as the stretch ends, where the truck still
stood after the gap (`UnscheduledStop.resume`, `adopt`): a parked truck stopped once. For a probe
that reads the air, the stretch's product starts where the live readings left it, not at the
upload's first air. Forecasts
speak of the present and are not run on late readings; `silence` takes them itself, to fill
its gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from detectors.alerts import Condition
from detectors.base import Detector, DetectorFactory, PositionScreen, first_of
from detectors.door_open import DoorOpen, make_door_open
from detectors.gps_implausible import make_gps_implausible
from detectors.gps_lost import GpsLost, make_gps_lost
from detectors.pickled import SlotState, restore_slots
from detectors.product_probe import Simulating
from detectors.profiles import Shipment
from detectors.reading import Reading
from detectors.restricted_zone import make_restricted_zone
from detectors.route_deviation import make_route_deviation
from detectors.seal_breach import make_seal_breach
from detectors.shock import make_shock
from detectors.temperature import TempExcursion, make_temp_excursion
from detectors.unscheduled_stop import UnscheduledStop, make_unscheduled_stop

#: The detectors a late upload is judged by: each needs only the readings of the stretch. In
#: the registry's order: `gps_lost` judges the fixes as sent, `gps_implausible` screens them
#: for the detectors after it.
LATE_FACTORIES: Final[tuple[DetectorFactory, ...]] = (
    make_temp_excursion,
    make_gps_lost,
    make_gps_implausible,
    make_route_deviation,
    make_unscheduled_stop,
    make_restricted_zone,
    make_seal_breach,
    make_door_open,
    make_shock,
)
#: Those of them that judge an air probe's simulated product, which a stretch starts from the
#: live detector's.
_SIMULATING: Final[tuple[type[Simulating], ...]] = (TempExcursion, DoorOpen)
#: The alert kinds they raise, which a device's live detectors then share with them.
LATE_KINDS: Final = frozenset(
    {
        "temp_excursion",
        "gps_lost",
        "gps_implausible",
        "route_deviation",
        "unscheduled_stop",
        "restricted_zone",
        "seal_breach",
        "door_open",
        "shock",
    }
)
#: Clock time with no late reading after which an upload is taken to be over. The readings of
#: one upload arrive within seconds of each other; a minute leaves room for a slow link.
LATE_IDLE_MS: Final = 60_000
#: Stretches whose spans are remembered, to know an upload sent again: a device's uploads
#: are rare, and a copy comes soon after the original.
_SPANS_KEPT: Final = 8
_NEVER: Final = -(2**62)


class LateStretch:
    """One device's late readings, judged apart from its live ones.

    Examples
    --------
    >>> from detectors.profiles import PROFILES
    >>> s = Shipment("s1", "t1", PROFILES["vaccine_2_8"])
    >>> late = LateStretch()
    >>> warm = [Reading("t1", m * 60_000, temp_c=12.0) for m in range(0, 25, 5)]
    >>> [(c.kind, c.active) for r in warm for c in late.take(r, 10**9, s)][:1]
    [('temp_excursion', True)]
    >>> [(c.kind, c.active, c.evidence["reported_late"]) for c in late.end()]
    [('temp_excursion', False, True)]
    """

    __slots__ = (
        "_active",
        "_arrived_ms",
        "_first_ts",
        "_judged",
        "detectors",
        "judged_ts",
        "skipped",
        "unjoined_min",
    )

    def __init__(self) -> None:
        #: The stretch's own detectors; empty between stretches.
        self.detectors: tuple[Detector, ...] = ()
        #: The newest event time the open stretch has judged (its last reading): its detectors
        #: take readings in order, so an older one is not judged in this stretch.
        self.judged_ts = -1
        self._first_ts = -1
        # The spans (first, last event time) of the last stretches judged: a reading inside one
        # was judged already (an upload sent twice); one outside all of them, older or not, is
        # a gap of its own whose upload came later, and is judged in a stretch of its own.
        self._judged: tuple[tuple[int, int], ...] = ()
        #: Late readings left unjudged, being no newer than one judged before.
        self.skipped = 0
        self._arrived_ms = 0
        # The last active condition of each kind the stretch holds open.
        self._active: dict[str, Condition] = {}
        #: Minutes out of range the stretch's excursion detector counted that the live one has
        #: not: only in a snapshot taken mid-upload by a release that counted them at the end.
        self.unjoined_min = 0.0

    def __setstate__(self, state: SlotState) -> None:
        self.unjoined_min = 0.0
        self._first_ts, self._judged = -1, ()
        slots = restore_slots(self, state)
        if "_judged" not in slots and not self.detectors and self.judged_ts >= 0:
            # An older release kept one mark for every stretch: what it judged is all before it.
            self._judged, self.judged_ts = ((_NEVER, self.judged_ts),), -1
        if "unjoined_min" not in slots and (judged := self.out_of_range()) is not None:
            self.unjoined_min = judged.out_minutes

    def take(
        self, r: Reading, now_ms: int, shipment: Shipment, live: Sequence[Detector] = ()
    ) -> list[Condition]:
        """Judge one late reading that arrived at clock `now_ms`; return the conditions raised.

        `live` are the device's own detectors: its excursion detector judges the reading's
        time out of range in the stretch's place (`TempExcursion.judge_late`), and the stop
        its stop detector saw under way where the stretch begins goes on in the stretch's
        (`UnscheduledStop.resume`).
        """
        ts = r.ts_ms
        if ts <= self.judged_ts or any(a <= ts <= b for a, b in self._judged):
            self.skipped += 1
            return []
        if not self.detectors:
            self.detectors = tuple(d for f in LATE_FACTORIES if (d := f(shipment)) is not None)
            self._first_ts = ts
            self._resume(live, ts)
        self.judged_ts = ts
        self._arrived_ms = now_ms
        excursion = first_of(live, TempExcursion)
        out: list[Condition] = []
        for d in self.detectors:
            if excursion is not None and isinstance(d, TempExcursion):
                conds = excursion.judge_late(r, d)
            else:
                conds = d.update(r)
                if isinstance(d, PositionScreen):
                    r = d.screen(r)  # as the engine does for the live chain
            for c in conds or ():
                # The live detector keeps the budget (checked as the stretch ends); the
                # stretch's own would raise it a second time.
                if c.kind == "stability_budget":
                    continue
                if c.active:
                    self._active[c.kind] = c
                else:
                    self._active.pop(c.kind, None)
                out.append(_marked(c))
        return out

    def _resume(self, live: Sequence[Detector], first_ts: int) -> None:
        """Let the stretch's detectors take up what the live ones knew where it begins: the
        stop under way, whether the receiver has shown static hold (`GpsLost.holds_fix`), and
        an air probe's simulated product (`detectors.product_probe`)."""
        stop, late = first_of(live, UnscheduledStop), self.stop()
        if stop is not None and late is not None:
            late.resume(stop, first_ts)
        gps, late_gps = first_of(live, GpsLost), first_of(self.detectors, GpsLost)
        if gps is not None and late_gps is not None:
            late_gps.take_holds(gps)
        for kind in _SIMULATING:
            ours, theirs = first_of(self.detectors, kind), first_of(live, kind)
            if ours is not None and ours.product is not None and theirs is not None:
                ours.product.seed(theirs.product)

    def stop(self) -> UnscheduledStop | None:
        """The stretch's stop detector, whose stop the live one takes up as the stretch ends."""
        return first_of(self.detectors, UnscheduledStop)

    def due_ms(self) -> int | None:
        """The clock at which the stretch is over unless another late reading comes."""
        return self._arrived_ms + LATE_IDLE_MS if self.detectors else None

    def out_of_range(self) -> TempExcursion | None:
        """The stretch's excursion detector, whose MKT sums join the live one's."""
        return first_of(self.detectors, TempExcursion)

    def end(self) -> list[Condition]:
        """Close the stretch: clear, at its last reading, every kind it still holds."""
        out = [
            Condition(
                kind,
                False,
                self.judged_ts,
                "info",
                "the late upload ends here; the newer readings tell how things stand now",
                {**c.evidence, "reported_late": True},
                c.value,
            )
            for kind, c in self._active.items()
        ]
        self.detectors, self._active = (), {}
        self.unjoined_min = 0.0
        if self.judged_ts >= 0:
            self._judged = (*self._judged[1 - _SPANS_KEPT :], (self._first_ts, self.judged_ts))
        self.judged_ts = -1
        return out


def _marked(c: Condition) -> Condition:
    """A condition from a late upload, saying so in its summary and evidence."""
    c.summary = f"from a late upload: {c.summary}"
    c.evidence = {**c.evidence, "reported_late": True}
    return c
