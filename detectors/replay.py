"""Replay of recorded readings through the detector engine, in event time, for backtests.

The clock is event time, as far as the fleet's readings vouch for it (one
tracker's clock running ahead cannot drag it: see `FleetClock`), and every
device's timers follow it, not only when that device reports: a tracker that
goes quiet while others report is found silent at the event time a live
ticker would have found it. As live, each reading waits until the clock is the
engine's reorder wait past it (`replay_engine`: the ingester's 30 s by default),
so one delivered a little behind a newer one is still taken in order, and the
engine says when its oldest waiting reading falls due, so the clock releases it
on time even while its tracker says nothing more. The clock stops near the recording's newest
reading (what came after is unknown, so a silence shorter than the tolerated
gap at the end is not raised), and the engine is flushed so what its buffers
still hold is raised too. Beside the alert events, a replay
keeps what a backtest reports: each device's peak customs risk, optionally an
anomaly score for every reading of one channel and that channel's series for
a plot, and a short summary. No I/O: readings come in as an iterable, results
go out as a `ReplayResult`.

>>> from detectors.profiles import PROFILES
>>> readings = [Reading("trk-1", i * 300_000, seal="closed") for i in range(5)]
>>> readings.append(Reading("trk-1", 5 * 300_000, seal="tampered"))
>>> result = replay(readings, replay_engine([], PROFILES["customs_transit"]))
>>> result.summary("alerts.jsonl")[0]
'6 readings replayed, 1 alerts opened (1 events) -> alerts.jsonl'
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from detectors.alerts import AlertEvent
from detectors.anomaly_combined import CombinedScorer
from detectors.engine import LATENESS_MS, Engine
from detectors.profiles import Profile, Shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.risk import RiskScore

#: How many devices the summary ranks by peak risk.
RISKIEST = 5

#: Timers fire on whole seconds of event time, as a live ticker's do (it ticks every few
#: seconds), so alert times read like live ones, not a millisecond past a deadline.
_TICK_MS: Final = 1_000


@dataclass
class ReplayResult:
    """What a replay raised and measured; a reader counts its rejects into `rejected` as it goes."""

    events: list[AlertEvent] = field(default_factory=list)
    readings: int = 0
    #: Rejects the reader counted (a line, or one reading of an array line), by reason.
    rejected: dict[str, int] = field(default_factory=dict)
    #: (device, ts, value, score) for every reading, when scores are asked for.
    scores: list[tuple[str, int, float, float]] = field(default_factory=list)
    #: (ts, value) of the channel per device, when a series is asked for.
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    #: Highest customs risk each device's shipment reached, from its open alerts.
    risk: dict[str, RiskScore] = field(default_factory=dict)

    def summary(self, destination: str) -> list[str]:
        """Counts in one line, then the riskiest devices with the alerts that made them so."""
        opened = sum(1 for e in self.events if e.event == "open")
        rejected = sum(self.rejected.values())
        lines = [
            f"{self.readings:,} readings replayed, {opened:,} alerts opened "
            f"({len(self.events):,} events) -> {destination}"
            + (f"; {rejected:,} rejects {dict(sorted(self.rejected.items()))}" if rejected else "")
        ]
        ranked = sorted(self.risk.items(), key=lambda item: (-item[1].score, item[0]))
        for device, risk in ranked[:RISKIEST]:
            parts = ", ".join(f"{c.kind} {c.severity} {c.points:g}" for c in risk.contributions)
            lines.append(f"  peak risk {risk.score:5.1f}  {device}: {parts}")
        return lines


def replay_engine(
    shipments: Iterable[Shipment],
    default_profile: Profile | None,
    lateness_ms: int = LATENESS_MS,
) -> Engine:
    """An engine for replay, with the live ingester's reorder wait by default: a recording in
    arrival order holds the same small disorder live ingestion reorders."""
    return build_engine(shipments, default_profile, lateness_ms=lateness_ms)


def replay(
    readings: Iterable[Reading],
    engine: Engine,
    result: ReplayResult | None = None,
    *,
    channel: str = "temp_c",
    scores: bool = False,
    series: bool = False,
) -> ReplayResult:
    """Feed `readings` to `engine` with event time as the clock, then flush it.

    `scores` scores every reading's `channel` with the `anomaly` detector's scorer, one per device
    (0 where the reading lacks the channel); `series` keeps the channel's values.
    """
    result = result if result is not None else ReplayResult()
    scorers: dict[str, CombinedScorer] = {}
    clock = FleetClock(engine)
    for r in readings:
        value: float | None = getattr(r, channel)
        if series and value is not None:
            result.series.setdefault(r.device_id, []).append((r.ts_ms, value))
        result.readings += 1
        events, heard_at = clock.hear(r.device_id, r.ts_ms)
        events += engine.process(r, heard_at)
        clock.schedule(r.device_id)
        if events:
            result.events += events
            _track_peak_risk(engine, {e.device_id for e in events}, result.risk)
        if scores:
            score = 0.0
            if value is not None:
                scorer = scorers.get(r.device_id)
                if scorer is None:
                    scorer = scorers[r.device_id] = CombinedScorer()
                score = scorer.update(r.ts_ms, value)
            result.scores.append(
                (r.device_id, r.ts_ms, value if value is not None else float("nan"), score)
            )
    events = engine.flush()
    if events:
        result.events += events
        _track_peak_risk(engine, {e.device_id for e in events}, result.risk)
    return result


class FleetClock:
    """A backtest's clock: the time the readings so far vouch for, firing each device's timers.

    Live, silence is timed on the ingester's wall clock. A recording carries the order in
    which readings arrived but not when (no arrival time is part of the wire format), so
    the clock is rebuilt from the readings' own timestamps; and a timestamp is only a
    device's word: the ingester accepts a reading stamped up to ten minutes ahead of its
    clock. Taking the newest timestamp as the time would let one tracker's fast clock fire
    every other tracker's timers early (silence for a gap that was in truth shorter than
    tolerated). So the fleet's time (`now`) counts only what two readings vouch for: a
    device's reading once that device's next reading comes in order after it (a clock that
    jumped ahead and came back vouches for nothing), or the second-newest timestamp of two
    devices (two independent clocks agree that time has come). It lags the newest reading by
    up to one reporting interval of the device that reports most often (not at all while two
    devices report together), and stops there at the end of the recording, since what came
    after is unknown. A device whose clock is always fast moves it, but every device is
    heard on that same clock, so the gaps it times still come out right.

    A device's own timestamps are its own evidence: its timers also fire when its own
    readings pass them (a reading stamped after its silence was due opens that silence, at
    its due time, before ending it), and its readings are heard no earlier than its newest
    timestamp. So a tracker's own gaps are timed on its own clock, whatever the fleet's
    says, a recording of one tracker runs as it always has, and only other trackers' timers
    wait for the fleet's time. What this cannot undo: a tracker whose own clock jumps ahead
    takes its next readings, stamped before the jump, as late, as the replay always has.

    Live, a ticker advances every device every few seconds. Doing that at every reading of
    a recording would cost devices x readings; instead each device is advanced at the moments
    its timers say they fall due (`Engine.due`), which raises the same events at the same
    event times, since between those moments advancing it changes nothing.

    >>> from detectors.profiles import PROFILES
    >>> engine = replay_engine([], PROFILES["customs_transit"])
    >>> clock = FleetClock(engine)
    >>> for r in (Reading("a", 0), Reading("b", 10 * 60_000)):
    ...     events, heard_at = clock.hear(r.device_id, r.ts_ms)
    ...     events += engine.process(r, heard_at)
    ...     clock.schedule(r.device_id)
    >>> clock.now // 60_000  # b vouches for a's time, nothing yet for its own
    0
    >>> [(e.device_id, e.event, e.at_ms // 60_000) for e in clock.move_to(45 * 60_000)]
    [('a', 'open', 30), ('b', 'open', 40)]
    """

    __slots__ = ("_engine", "_first", "_heap", "_scheduled", "_second", "_stamps", "now")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._heap: list[tuple[int, str]] = []
        #: The one live heap entry of each device; any other entry of it is stale.
        self._scheduled: dict[str, int] = {}
        #: Each device's [latest timestamp, in the order its readings came; newest timestamp].
        self._stamps: dict[str, list[int]] = {}
        #: The devices with the newest and second-newest timestamps, as (newest ts, device).
        self._first: tuple[int, str] | None = None
        self._second: tuple[int, str] | None = None
        self.now = -(2**62)

    def hear(self, device_id: str, ts_ms: int) -> tuple[list[AlertEvent], int]:
        """Take a reading's timestamp as evidence; the timers it shows were due, and its clock.

        Fires, at their own times, every device's timers due by the time the readings so far
        vouch for, then this device's own due by `ts_ms`; returns what they raised and the
        clock to process the reading at. Call before processing the reading.
        """
        vouched = self.now
        stamps = self._stamps.get(device_id)
        if stamps is None:
            stamps = self._stamps[device_id] = [ts_ms, ts_ms]
            newer = True
        else:
            if ts_ms > stamps[0]:
                vouched = max(vouched, stamps[0])  # the device's clock went on from there
            stamps[0] = ts_ms
            newer = ts_ms > stamps[1]
            if newer:
                stamps[1] = ts_ms
        if newer:
            first = self._first
            if first is None or ts_ms >= first[0]:
                if first is not None and first[1] != device_id:
                    self._second = first
                self._first = (ts_ms, device_id)
            elif first[1] != device_id and (self._second is None or ts_ms > self._second[0]):
                self._second = (ts_ms, device_id)
        if self._second is not None and self._second[0] > vouched:
            vouched = self._second[0]
        out = self.move_to(vouched) if vouched > self.now else []
        scheduled = self._scheduled
        while (at := scheduled.get(device_id)) is not None and at <= ts_ms:
            out += self._fire(device_id, at)
        return out, max(self.now, stamps[1])

    def schedule(self, device_id: str) -> None:
        """Note when this device's timers next fall due (call after it was processed)."""
        due = self._engine.due(device_id)
        if due is None:
            return
        due = -(-due // _TICK_MS) * _TICK_MS
        current = self._scheduled.get(device_id)
        # A later due leaves the earlier entry in place: it is checked when it comes up,
        # so each device keeps about one heap entry however fast it reports.
        if current is None or due < current:
            self._scheduled[device_id] = due
            heapq.heappush(self._heap, (due, device_id))

    def move_to(self, now_ms: int) -> list[AlertEvent]:
        """Move the clock forward to `now_ms`, firing every timer due by then at its own time."""
        out: list[AlertEvent] = []
        heap, scheduled = self._heap, self._scheduled
        while heap and heap[0][0] <= now_ms:
            at, device = heapq.heappop(heap)
            if scheduled.get(device) == at:
                out += self._fire(device, at)
        self.now = max(self.now, now_ms)
        return out

    def _fire(self, device: str, at: int) -> list[AlertEvent]:
        """Advance `device` to `at`, its scheduled due time, and schedule what falls due next."""
        del self._scheduled[device]  # its heap entry, if still there, is stale from now on
        due = self._engine.due(device)
        if due is not None and due > at:
            self.schedule(device)  # heard from since: its timer moved on
            return []
        out = self._engine.advance_device(device, at)
        after = self._engine.due(device)
        if after is not None and after <= at:
            raise RuntimeError(f"a timer of {device} stays due at {at} after advancing")
        self.schedule(device)
        return out


def temp_band(
    shipments: Sequence[Shipment], default_profile: Profile | None
) -> tuple[float, float] | None:
    """The temperature range to draw: the one every shipment shares, else the default profile's."""
    if shipments and len({s.profile.temp_range_c for s in shipments}) == 1:
        return shipments[0].profile.temp_range_c
    if default_profile is not None:
        return default_profile.temp_range_c
    return None


def _track_peak_risk(engine: Engine, devices: set[str], peaks: dict[str, RiskScore]) -> None:
    for device in devices:
        risk = engine.risk(device)
        if risk.score > (peaks[device].score if device in peaks else 0.0):
            peaks[device] = risk
