"""The detector engine: per-device state, event-time order, timers, duplicates, and the alert books.

Readings enter in arrival order. Each device keeps a short reorder buffer:
a reading is released to the detectors once the clock has passed its event
time by `lateness_ms`, so readings that arrive a little out of order are
processed in order. A reading older than what was already released (a
store-and-forward upload after a long gap) is "late": detectors that care
about gaps (silence) still see it, the others do not, and a `LateStretch` of
the device judges it apart for what such an upload must not hide (an
excursion, the seal, the door, a shock; see `detectors.late_upload`). A
reading whose timestamp was already seen is a duplicate and is ignored. The clock is
wall time when live (`advance` from a ticker) and event time in backtests
(the newest timestamp the fleet's readings vouch for, see `detectors.replay.FleetClock`,
with each device's timers fired when `due` says, through `advance_device`), so the
same code serves both.

A detector class whose `shared_kinds` names alert kinds that another detector
of the same device raises too (a probe judged by its room, `PeerJump`, raises
`sensor_fault` as `SensorFault` does) makes the engine tell the alert book
which detector each condition of those kinds comes from, by its index on the
device: the one alert stays open while any of them holds it. Devices without
such a detector pass their conditions on as they are, with nothing to remember. The kinds a
late upload is judged for are shared that way on every device: a late stretch and the live
detector of the same kind keep one alert.

A detector that judges positions (`PositionScreen`: `gps_implausible`) hands the detectors
after it, in the registry's order, the reading without its position when it judged the fix
implausible: a spoofed fix is evidence of spoofing, not of where the shipment is.
"""

from __future__ import annotations

import functools
import heapq
import logging
import math
import pickle
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, TypeGuard, cast

from detectors.alerts import AlertEvent, Condition
from detectors.base import Detector, DetectorFactory, PositionScreen, TimedDetector, first_of
from detectors.late_upload import LATE_KINDS, LateStretch
from detectors.lifecycle import AlertBook, KindPolicy
from detectors.profiles import Profile, Shipment
from detectors.reading import Reading
from detectors.risk import RiskScore, risk_score
from detectors.roadside_places import RoadsidePlaces
from detectors.temperature import TempExcursion
from detectors.unscheduled_stop import UnscheduledStop, link_receiver, share_places

log = logging.getLogger(__name__)

PolicyFactory = Callable[[Shipment], dict[str, KindPolicy]]

#: How many recently released timestamps a device remembers to spot duplicates.
_RECENT: Final = 8
#: Bumped whenever a snapshot of this release could not be read correctly by the next.
SNAPSHOT_VERSION: Final = 4


def _interval_ms(shipment: Shipment) -> int:
    """The reporting interval the device's alert book waits for readings by (see `lifecycle`)."""
    return _ms(shipment.profile.expected_interval_s)


@functools.cache
def _ms(seconds: float) -> int:
    # One int object per interval for every device: one derived afresh is 32 bytes a device.
    return int(seconds * 1000)


def same_watch(current: Shipment, held: Shipment) -> bool:
    """Whether a device watched under `held` keeps what its detectors learnt under `current`.

    Shipments from a snapshot written before they carried their organisation have none. The
    organisation only pairs neighbours in a room, so for a shipment without a room it changes
    nothing, and the first restart after an upgrade must not forget every device's history.
    """
    if current == held:
        return True
    return (
        held.organisation is None
        and current.room is None
        and replace(held, organisation=current.organisation) == current
    )


def _end_watch(
    state: DeviceState, now_ms: int | None, current: Shipment | None
) -> list[AlertEvent]:
    """Resolve the open alerts of a device whose detectors are dropped, at `now_ms` (by default
    its last reading): its shipment changed to `current`, or the watch under it ended (None:
    closed or no longer declared; another shipment took the tracker over). A device watched
    under the default profile until its shipment came has had its expectations changed; one
    whose watch under it ends is a tracker no open shipment names (`remove_shipment`)."""
    former = state.shipment.shipment_id
    reason = "watch_ended"
    if current is not None and (not former or current.shipment_id == former):
        summary = "the shipment's manifest changed: its checks start again from the next reading"
        reason = "manifest_changed"
    elif former:
        summary = (
            "the device is no longer watched under this shipment (delivered, cancelled or no"
            " longer declared): its checks end here"
        )
    else:
        summary = (
            "the device is no longer watched: no open shipment names it (a tracker whose trips"
            " are over), so the default profile's checks end here"
        )
    at_ms = state.released_ts if now_ms is None else now_ms
    return state.book.end_all(at_ms, summary, {"reason": reason})


class SnapshotUnusable(Exception):
    """A snapshot this release cannot take back; the engine starts afresh instead."""


_NEVER: Final = -(2**63)


#: How long (ms) a device's readings wait for older ones that arrive after them, by default:
#: the live ingester's `--lateness-s`.
LATENESS_MS: Final = 30_000


@dataclass(slots=True)
class DeviceState:
    shipment: Shipment
    # Tuples, not lists: thousands of devices each hold these for their lifetime.
    detectors: tuple[Detector, ...]
    timed: tuple[TimedDetector, ...]
    book: AlertBook
    # The reorder heap; an empty tuple until a reading has to wait in it (in order and
    # already due is the common case in backtests), as an empty list costs 56 bytes a device.
    buffer: list[tuple[int, int, Reading]] | tuple[()] = ()
    released_ts: int = -1
    # A ring of recently released timestamps, to tell a duplicate from a late reading.
    recent: array[int] = field(default_factory=lambda: array("q", [_NEVER]) * _RECENT)
    recent_pos: int = 0
    # The late upload being judged apart, once the device has sent one (see the module doc).
    late: LateStretch | None = None

    def remember(self, ts: int) -> None:
        self.recent[self.recent_pos] = ts
        self.recent_pos = (self.recent_pos + 1) % _RECENT

    def is_duplicate(self, ts: int) -> bool:
        # Every remembered timestamp is at most `released_ts`: a newer reading (nearly every
        # reading) can only repeat one still waiting in the buffer.
        if ts <= self.released_ts and ts in self.recent:
            return True
        return bool(self.buffer) and any(b[0] == ts for b in self.buffer)


@dataclass(slots=True)
class EngineStats:
    readings: int = 0
    duplicates: int = 0
    late: int = 0
    events: int = 0


def _excursion(state: DeviceState) -> TempExcursion | None:
    """The device's excursion detector, which late readings' time out of range joins."""
    return first_of(state.detectors, TempExcursion)


def _over(state: DeviceState, now_ms: int) -> LateStretch | None:
    """The device's late stretch if it is over by `now_ms` (no late reading for its idle
    time), else None."""
    late = state.late
    due = None if late is None else late.due_ms()
    return late if due is not None and now_ms >= due else None


class Engine:
    """Runs every registered detector over every device's readings."""

    def __init__(
        self,
        factories: Sequence[DetectorFactory],
        policies: PolicyFactory,
        shipments: Iterable[Shipment] = (),
        default_profile: Profile | None = None,
        lateness_ms: int = LATENESS_MS,
        places: RoadsidePlaces | None = None,
    ) -> None:
        self._factories = list(factories)
        #: Where the engine's trackers stood (`detectors.roadside_places`), which its stop
        #: detectors share (`registry.build_engine`): kept in the snapshot whole, so a restart
        #: keeps it even when no device watched then has a stop detector.
        self.places = places
        self._policies = policies
        self._shipments = {s.device_id: s for s in shipments}
        self._default = default_profile
        self.lateness_ms = lateness_ms
        self.devices: dict[str, DeviceState] = {}
        self.stats = EngineStats()
        self._numbers: dict[tuple[type, int | float, float], int | float] = {}
        # Per detector class, computed once: a runtime protocol check and a walk of the
        # class's slots cost more than building the detectors themselves.
        self._timed: dict[type, bool] = {}
        # The detector classes that screen positions for the detectors after them, and every
        # class already checked (screen or not), so each is checked once.
        self._screens: set[type] = set()
        self._checked: set[type] = set()
        self._slots: dict[type, tuple[str, ...]] = {}
        # Per combination of detector classes (a handful per engine): kinds more than one raises.
        self._shared: dict[tuple[type, ...], frozenset[str]] = {}
        self._arrival = 0
        #: Resolves `restore` gave for devices it started afresh, until `take_ended`.
        self._ended: list[AlertEvent] = []
        #: Devices whose shipments have all ended (`remove_shipment`): trackers whose trips
        #: are over, not watched under the default profile until a shipment names them again.
        self._retired: set[str] = set()

    def add_shipment(self, shipment: Shipment, now_ms: int | None = None) -> list[AlertEvent]:
        """Start (or restart) watching a device under a shipment's expectations.

        A changed shipment starts the device's detectors afresh; the alerts the old ones hold
        open resolve at `now_ms` (by default the device's last reading), saying why, since no
        detector is left to clear them. The new detectors open new ones for trouble that lasts.
        """
        self._retired.discard(shipment.device_id)
        held = self._shipments.get(shipment.device_id)
        if held is not None and same_watch(shipment, held):
            # Unchanged for the detectors: keep what they have learnt.
            self._shipments[shipment.device_id] = shipment
            if (state := self.devices.get(shipment.device_id)) is not None:
                state.shipment = shipment
            return []
        self._shipments[shipment.device_id] = shipment
        state = self.devices.pop(shipment.device_id, None)
        return [] if state is None else _end_watch(state, now_ms, shipment)

    def take_ended(self) -> list[AlertEvent]:
        """The resolves of alerts whose device `restore` started afresh under a changed
        shipment, or dropped as no longer watched under it (`add_shipment`'s and
        `remove_shipment`'s, for a change made while the engine was stopped)."""
        ended, self._ended = self._ended, []
        return ended

    def remove_shipment(self, device_id: str, now_ms: int | None = None) -> list[AlertEvent]:
        """Stop watching a device whose shipments have all ended (delivered, cancelled, moved to
        another tracker): its trip is over, so it is not watched under the default profile
        either until `add_shipment` names it again (a tracker that goes on reporting after
        delivery, its seal opened at unloading, is no cargo at risk). Also for a device that
        was never watched here.

        The alerts its detectors hold open resolve at `now_ms` (by default the device's last
        reading), saying why: no detector is left to clear them, and an alert nobody can
        resolve would stay open, and be escalated, for ever.
        """
        self._retired.add(device_id)
        self._shipments.pop(device_id, None)
        state = self.devices.pop(device_id, None)
        return [] if state is None else _end_watch(state, now_ms, None)

    def process(self, r: Reading, now_ms: int | None = None) -> list[AlertEvent]:
        """Take one reading; return the alert events it (and time up to `now_ms`) caused.

        With `now_ms` None the clock is event time: the reading's own timestamp.
        """
        state = self.devices.get(r.device_id)
        if state is None:
            state = self._new_device(r.device_id)
            if state is None:
                return []
        self.stats.readings += 1
        ts = r.ts_ms
        # Newer than anything released and nothing waiting (nearly every reading): no repeat.
        if (ts <= state.released_ts or state.buffer) and state.is_duplicate(ts):
            self.stats.duplicates += 1
            return []
        out: list[AlertEvent] = []
        now = ts if now_ms is None else now_ms
        if ts <= state.released_ts:
            self.stats.late += 1
            state.remember(ts)
            for t in state.timed:
                self._apply(state, t.late(r), out, t)
            if state.late is None:
                state.late = LateStretch()
            else:
                # The stretch before may be over, though no tick has said so yet: this reading
                # then begins a new one rather than being taken for the old one's out of order.
                self._end_late_if_due(state, now, out)
            conds = state.late.take(r, now, state.shipment, state.detectors)
            self._apply(state, conds, out, None)
        elif not state.buffer and ts <= now - self.lateness_ms:
            # In order and already due (the common case): no need for the heap.
            if state.late is not None:
                self._hand_over_if_due(state, now, out)
            self._run(state, r, out)
        else:
            self._arrival += 1
            buffer = state.buffer
            if not isinstance(buffer, list):
                buffer = state.buffer = []
            heapq.heappush(buffer, (ts, self._arrival, r))
        self._release(state, now, out)
        return out

    def advance(self, now_ms: int) -> list[AlertEvent]:
        """Let time pass for every device: release buffered readings, fire timers."""
        out: list[AlertEvent] = []
        for state in self.devices.values():
            self._release(state, now_ms, out)
        return out

    def due(self, device_id: str) -> int | None:
        """The earliest clock at which a timer of this device could raise something, or None."""
        state = self.devices.get(device_id)
        if state is None:
            return None
        dues = [d for t in state.timed if (d := t.due_ms()) is not None]
        if state.late is not None and (d := state.late.due_ms()) is not None:
            dues.append(d)
        if state.buffer:
            # The oldest waiting reading is released then, and what it says may move the rest.
            dues.append(state.buffer[0][0] + self.lateness_ms)
        return min(dues) if dues else None

    def advance_device(self, device_id: str, now_ms: int) -> list[AlertEvent]:
        """Let time pass for one device: what `advance` does, for a device whose timer is due."""
        out: list[AlertEvent] = []
        state = self.devices.get(device_id)
        if state is not None:
            self._release(state, now_ms, out)
        return out

    def risk(self, device_id: str) -> RiskScore:
        """The customs risk score of a device's shipment from its open alerts."""
        state = self.devices.get(device_id)
        if state is None:
            return risk_score(())
        return risk_score(
            (t.alert_id, kind, t.severity)
            for kind, t in state.book.open_alerts().items()
            if t.alert_id is not None
        )

    def snapshot(self) -> bytes:
        """Every device's detector and alert state, as bytes `restore` takes back.

        Buffered readings are left out: they are stored already, newer than the device's
        `released_ts`, and a restart replays them from storage. What a snapshot holds is
        pickled objects, so it is for this release's own restarts, not an exchange format.
        """
        devices = {d: replace(state, buffer=[]) for d, state in self.devices.items()}
        return pickle.dumps(
            {"version": SNAPSHOT_VERSION, "devices": devices, "places": self.places},
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    def restore(self, blob: bytes) -> dict[str, int]:
        """Take back a `snapshot`; return each restored device's `released_ts`.

        A device whose shipment differs from the one it is watched under now starts afresh;
        one no longer watched at all is dropped. The alerts either held open resolve
        (`take_ended`). Raises `SnapshotUnusable` for bytes this release cannot read.
        """
        try:
            # Only ever our own file, written by `snapshot`: never load one from elsewhere.
            doc = pickle.loads(blob)
            if doc.get("version") != SNAPSHOT_VERSION:
                raise SnapshotUnusable(f"snapshot version {doc.get('version')!r}")
            devices: dict[str, DeviceState] = doc["devices"]
            places = doc.get("places")  # absent from a snapshot written before it was kept
        except SnapshotUnusable:
            raise
        except Exception as exc:  # any unpickling failure means the same: start afresh
            raise SnapshotUnusable(f"{type(exc).__name__}: {exc}") from None
        if self.places is not None and isinstance(places, RoadsidePlaces):
            self.places.absorb(places)
        restored: dict[str, int] = {}
        for device_id, state in devices.items():
            current = self._shipments.get(device_id)
            if current is not None:
                if not same_watch(current, state.shipment):
                    self._ended += _end_watch(state, None, current)
                    continue
                state.shipment = current
            if current is None and (
                self._default is None or state.shipment.shipment_id or device_id in self._retired
            ):
                # Closed (or no longer declared) while the engine was stopped.
                self._ended += _end_watch(state, None, None)
                continue
            if not hasattr(state, "late"):
                state.late = None  # a snapshot from before late uploads were judged
            state.book.interval_ms = _interval_ms(state.shipment)
            self._note_screens(state.detectors)
            link_receiver(state.detectors)  # a snapshot from before they were linked
            if self.places is not None:
                late = state.late.detectors if state.late is not None else ()
                share_places(self.places, (*state.detectors, *late))
            self.devices[device_id] = state
            restored[device_id] = state.released_ts
        return restored

    def flush(self) -> list[AlertEvent]:
        """Release everything still buffered (end of a backtest)."""
        out: list[AlertEvent] = []
        for state in self.devices.values():
            if state.buffer:
                newest = max(ts for ts, _, _ in state.buffer)
                self._release(state, newest + self.lateness_ms, out)
            if state.late is not None and state.late.detectors:
                self._end_late(state, state.late, out)
        return out

    def _release(self, state: DeviceState, now_ms: int, out: list[AlertEvent]) -> None:
        horizon = now_ms - self.lateness_ms
        buffer = state.buffer
        if buffer and state.late is not None:
            self._hand_over_if_due(state, now_ms, out)
        while buffer and buffer[0][0] <= horizon:
            assert isinstance(buffer, list)
            self._run(state, heapq.heappop(buffer)[2], out)
        # Pending opens and resolves advance with released event time only, so the
        # alerts do not depend on arrival order; timers alone follow the clock.
        for t in state.timed:
            conds = t.advance(now_ms)
            if conds:
                self._apply(state, conds, out, t)
        if state.late is not None:  # nearly every device never sends a late upload: no call
            self._end_late_if_due(state, now_ms, out)

    def _end_late_if_due(self, state: DeviceState, now_ms: int, out: list[AlertEvent]) -> None:
        """Close the device's late stretch if no late reading has come for its idle time."""
        if (late := _over(state, now_ms)) is not None:
            self._end_late(state, late, out)

    def _hand_over_if_due(self, state: DeviceState, now_ms: int, out: list[AlertEvent]) -> None:
        """Hand the stop a stretch over by now ended in to the live detector before the live
        readings after it are judged, so they count it from its first fix. The stretch itself
        ends after them: what the live chain holds on then (a detour still under way) stays
        the one alert it was."""
        if (late := _over(state, now_ms)) is not None:
            self._hand_over_stop(state, late, out)

    def _hand_over_stop(self, state: DeviceState, late: LateStretch, out: list[AlertEvent]) -> None:
        """Let the live stop detector take up the stop the stretch ended in (`adopt`)."""
        stop, late_stop = first_of(state.detectors, UnscheduledStop), late.stop()
        if stop is not None and late_stop is not None:
            self._apply(state, stop.adopt(late_stop), out, stop)

    def _end_late(self, state: DeviceState, late: LateStretch, out: list[AlertEvent]) -> None:
        """Close a late stretch: clear what it holds, check the budget its time out joined."""
        at_ms = late.judged_ts
        judged = late.out_of_range()
        unjoined = late.unjoined_min
        # Before the stretch lets go of a stop it ended in, the live detector takes it up (if
        # it has not already: taking it up twice does nothing).
        self._hand_over_stop(state, late, out)
        conds = late.end()
        live = _excursion(state)
        if judged is not None and live is not None:
            conds += live.absorb(judged, at_ms, unjoined) or []
        self._apply(state, conds, out, None)
        if state.book.tracks:
            out.extend(state.book.advance(state.released_ts))

    def _run(self, state: DeviceState, r: Reading, out: list[AlertEvent]) -> None:
        """Feed one reading, in event-time order, to every detector of its device."""
        ts = r.ts_ms
        state.released_ts = ts
        # `remember`, inlined: this runs for every reading.
        pos = state.recent_pos
        state.recent[pos] = ts
        state.recent_pos = (pos + 1) % _RECENT
        screens = self._screens
        for d in state.detectors:
            conds = d.update(r)
            if conds:
                self._apply(state, conds, out, d)
            if type(d) in screens:
                r = cast(PositionScreen, d).screen(r)
        if state.book.tracks:
            out.extend(state.book.advance(ts, reading=True))

    def _apply(
        self,
        state: DeviceState,
        conds: list[Condition] | None,
        out: list[AlertEvent],
        source: Detector | None,
    ) -> None:
        """Take conditions from `source`, a detector of the device, or None for its late stretch."""
        if conds:
            shared = self._shared_kinds(state.detectors)
            for c in conds:
                if c.kind in shared:
                    # Conditions are rare next to readings: finding the index here costs less
                    # than every device carrying its detectors' indices. The late stretch
                    # holds the index after the device's last detector.
                    holder = (
                        len(state.detectors) if source is None else state.detectors.index(source)
                    )
                    events = state.book.apply(c, holder)
                else:
                    events = state.book.apply(c)
                self.stats.events += len(events)
                out.extend(events)

    def _shared_kinds(self, detectors: tuple[Detector, ...]) -> frozenset[str]:
        """The kinds that more than one of a device's detectors may raise (see the module doc)."""
        classes = tuple(map(type, detectors))
        shared = self._shared.get(classes)
        if shared is None:
            shared = self._shared[classes] = LATE_KINDS | frozenset(
                kind for cls in classes for kind in getattr(cls, "shared_kinds", ())
            )
        return shared

    def _share_numbers(self, detector: Detector) -> None:
        """Point a new detector's numeric settings at one shared object per value.

        Every detector derives its settings (900000 ms, 1.5 h) afresh, and a Python
        number is an object of its own: thousands of devices would each carry copies.
        """
        canon = self._numbers
        cls = type(detector)
        names = self._slots.get(cls)
        if names is None:
            names = self._slots[cls] = tuple(
                name for c in cls.__mro__ for name in getattr(c, "__slots__", ())
            )
        for name in names:
            value = getattr(detector, name, None)
            if type(value) is int:
                setattr(detector, name, canon.setdefault((int, value, 1.0), value))
            elif type(value) is float:
                key = (float, value, math.copysign(1.0, value))  # -0.0 stays apart from 0.0
                setattr(detector, name, canon.setdefault(key, value))

    def _note_screens(self, detectors: Iterable[Detector]) -> None:
        """Remember which of these detectors' classes screen positions (see `PositionScreen`)."""
        for d in detectors:
            cls = type(d)
            if cls not in self._checked:
                # A runtime protocol check costs more than building the detector itself.
                self._checked.add(cls)
                if isinstance(d, PositionScreen):
                    self._screens.add(cls)

    def _is_timed(self, detector: Detector) -> TypeGuard[TimedDetector]:
        cls = type(detector)
        timed = self._timed.get(cls)
        if timed is None:
            timed = self._timed[cls] = isinstance(detector, TimedDetector)
        return timed

    def _new_device(self, device_id: str) -> DeviceState | None:
        shipment = self._shipments.get(device_id)
        if shipment is None:
            if self._default is None or device_id in self._retired:
                return None
            shipment = Shipment(shipment_id="", device_id=device_id, profile=self._default)
        detectors = tuple(d for f in self._factories if (d := f(shipment)) is not None)
        link_receiver(detectors)
        for d in detectors:
            self._share_numbers(d)
        self._note_screens(detectors)
        timed = tuple(d for d in detectors if self._is_timed(d))
        book = AlertBook(
            device_id,
            shipment.shipment_id or None,
            self._policies(shipment),
            interval_ms=_interval_ms(shipment),
        )
        state = DeviceState(shipment, detectors, timed, book)
        self.devices[device_id] = state
        return state
