"""Probe jumps judged against the other trackers of one room: one probe moves, the room does not.

Without the tracker's own `ambient_c`, `probe_jump` cannot tell a failed probe from surroundings
that changed, and allows up to 2 °C/min. Trackers that share a room (the manifest's `room`, within
one organisation) are each other's ambient. A change of the jump rule's minimum (`MIN_JUMP_C`,
measured over at least `RATE_BASE_MIN`) faster than a room's cargo can move
(`INERTIA_RATE_C_PER_MIN`), still standing after `SETTLE_MIN` and at least one more reading, is a
`sensor_fault` when a neighbour that reported before and after the change moved by at most
`PEER_STILL_SHARE` of it over the same span, and the jump took the probe away from that neighbour's
reading (a probe coming back in line is no fault): a door or a defrost moves every probe of the
room, so no neighbour stays put and nothing is raised, and a neighbour that has not reported across
the change is no witness. A change is measured from the level the probe left, not from the reading
just before it (`_level_before`): a step back from a door's gust caught by one or two readings is
the probe returning, not a jump. Trackers report in any order relative to each other: each device
keeps its last `_KEPT` plausible readings (at least a rate base apart, the newest always kept) on
its room's board, shared by the detectors of one engine, and a jump is judged again on each reading
of the jumping device while it stands, so a neighbour's late upload counts from the jumper's next
reading on. The boards are pickled with the detectors in an engine snapshot, so a restart loses
nothing of them: restored detectors keep their room's board, and a detector built afterwards (a new
or changed shipment) joins the restored board of its room (`RoomBoards.board`). Readings released
after the last snapshot are lost from the boards, as from every detector, until they are replayed.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Protocol

from detectors.alerts import Condition, rfc3339
from detectors.pickled import SlotState, restore_slots
from detectors.profiles import Shipment
from detectors.reading import Reading
from detectors.sensor_fault import (
    INERTIA_RATE_C_PER_MIN,
    MIN_JUMP_C,
    RATE_BASE_MIN,
    SETTLE_MIN,
    door_quiet_until,
    probe_plausible,
)

#: A neighbour "stayed put" when it moved at most this share of the jumper's change over the
#: same span. A door or a defrost moves the probes of one room by different amounts, but by
#: far more than a fifth of each other; a 2 °C jump still leaves a neighbour 0.4 °C, four
#: steps of a 0.1 °C probe, for its own noise.
PEER_STILL_SHARE: Final = 0.2
#: Readings kept per device: at a 15-minute interval three hours, at fast reporting (kept a
#: rate base apart) twelve minutes, enough for a jump, its settling and a neighbour's view.
_KEPT: Final = 12
#: A member of a room that has not reported for this long behind the room's newest reading is
#: dropped when another joins (its shipment ended or moved), so a board does not grow forever.
_STALE_MS: Final = 24 * 60 * 60_000
#: A probe's level before a change is the median of this many readings: one stray reading
#: among them does not move it.
_LEVEL_READINGS: Final = 3
#: Readings just before a change that may be a short excursion (a door's gust, a probe touched)
#: rather than the probe's level: a change back to the level before them is a return.
_EXCURSION_MAX: Final = 2
_RATE_BASE_MS: Final = int(RATE_BASE_MIN * 60_000)
_SETTLE_MS: Final = int(SETTLE_MIN * 60_000)

RoomKey = tuple[str, str]


class RoomBoard:
    """The recent readings of every tracker of one room, as flat (time, °C) typed arrays."""

    __slots__ = ("members",)

    def __init__(self) -> None:
        self.members: dict[str, array[float]] = {}

    def join(self, device_id: str, readings: array[float]) -> None:
        """Put a device's readings on the board (replacing an earlier detector's)."""
        newest = max((a[-2] for a in self.members.values() if a), default=None)
        if newest is not None:
            for d in [d for d, a in self.members.items() if not a or a[-2] < newest - _STALE_MS]:
                del self.members[d]
        self.members[device_id] = readings


class _Device(Protocol):
    @property
    def detectors(self) -> tuple[object, ...]: ...


class RoomBoards:
    """One engine's rooms: never shared between engines, so two engines never see each other.

    `devices` (the engine's own, set by whoever builds it) holds the engine's current detectors:
    the first time a room is asked for, a board restored from a snapshot with that room's
    detectors is adopted rather than a fresh one started beside it. It is the engine's dict
    itself, not a function of it, so an engine with its rooms still pickles whole.
    """

    __slots__ = ("_boards", "devices")

    def __init__(self) -> None:
        self._boards: dict[RoomKey, RoomBoard] = {}
        self.devices: Mapping[str, _Device] = {}

    def board(self, key: RoomKey) -> RoomBoard:
        found = self._boards.get(key)
        if found is None:
            found = next(
                (
                    d.board
                    for state in self.devices.values()
                    for d in state.detectors
                    if isinstance(d, PeerJump) and d.key == key
                ),
                None,
            )
            found = self._boards[key] = found if found is not None else RoomBoard()
        return found


class PeerJump:
    """A probe's jump that its room's other trackers did not make (see the module docstring).

    Examples
    --------
    >>> board = RoomBoard()
    >>> a, b = PeerJump(board, "a", ("", "r1")), PeerJump(board, "b", ("", "r1"))
    >>> for i, (ta, tb) in enumerate([(5.0, 5.1), (19.3, 5.0), (19.3, 5.1)]):
    ...     out_b = b.update(Reading("b", i * 900_000, temp_c=tb))
    ...     out_a = a.update(Reading("a", i * 900_000, temp_c=ta))
    >>> out_b, [(c.active, c.evidence["previous_c"], c.evidence["neighbour"]) for c in out_a]
    (None, [(True, 5.0, 'b')])
    """

    __slots__ = (
        "_before",
        "_change",
        "_door_until",
        "_readings",
        "_reported_ts",
        "board",
        "device_id",
        "key",
    )

    #: `SensorFault` raises this kind too: the engine keeps the device's one alert open while
    #: either still holds it, rather than letting one's clear resolve what the other holds.
    shared_kinds: ClassVar[tuple[str, ...]] = ("sensor_fault",)

    def __init__(self, board: RoomBoard, device_id: str, key: RoomKey) -> None:
        self.board, self.device_id, self.key = board, device_id, key
        self._readings = array("d")
        board.join(device_id, self._readings)
        # The reported jump's level before and change, while its fault stands (0.0: none).
        self._before = 0.0
        self._change = 0.0
        # Time of the first reading at the new level of the last jump reported: never twice.
        self._reported_ts = -1.0
        # A change up to this time may be the tracker's own door (see `door_quiet_until`): the
        # room's other probes staying put then says nothing of this one.
        self._door_until = -math.inf

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before the door was heeded."""
        self._door_until = -math.inf
        restore_slots(self, state)

    def update(self, r: Reading) -> list[Condition] | None:
        self._door_until = door_quiet_until(self._door_until, r)
        t = r.temp_c
        if t is None or not probe_plausible(t):
            return None
        _record(self._readings, r.ts_ms, t)
        if self._change:
            # Back within half the jump of where it was: the probe agrees with its room again.
            if (t - self._before) * (1.0 if self._change > 0 else -1.0) < abs(self._change) / 2:
                self._change = 0.0
                return [
                    Condition("sensor_fault", False, r.ts_ms, "info", "probe back with its room")
                ]
            return None
        found = self._judge()
        if found is None:
            return None
        summary, evidence = found
        return [Condition("sensor_fault", True, r.ts_ms, "warning", summary, evidence)]

    def _judge(self) -> tuple[str, dict[str, Any]] | None:
        """The newest standing jump with a still neighbour as witness, if any."""
        pairs = self._readings
        times, values = pairs[::2], pairs[1::2]
        last = len(times) - 1
        now = times[last]
        # Once older readings have gone, the oldest kept ones lack the readings their level is
        # judged by (a spike would become a level): they were judged whole while newer.
        first = _LEVEL_READINGS + _EXCURSION_MAX if len(times) >= _KEPT else 1
        for i in range(last - 1, first - 1, -1):
            if (
                now - times[i] < _SETTLE_MS
                or times[i] <= self._reported_ts
                or times[i] <= self._door_until
            ):
                continue
            before = _level_before(values, i)
            change = values[i] - before
            size = abs(change)
            took_ms = times[i] - times[i - 1]
            rate = size / (max(took_ms, _RATE_BASE_MS) / 60_000)
            if size < MIN_JUMP_C or rate <= INERTIA_RATE_C_PER_MIN:
                continue
            sign = 1.0 if change > 0 else -1.0
            away = max(MIN_JUMP_C, size / 2)
            if (values[i - 1] - before) * sign >= away:
                continue  # already there a reading earlier: the jump, if any, began before
            if any((v - before) * sign < away for v in values[i:]):
                continue  # it came back: no level shift, whatever the room did
            for device, other in self.board.members.items():
                if device == self.device_id:
                    continue
                seen = _still(other, times[i - 1], times[i], now, size)
                # A probe coming back in line with its room (a fault ending) is no new fault:
                # only a jump away from the neighbour is.
                if seen is not None and abs(values[i] - seen[3]) > abs(before - seen[1]):
                    self._before, self._change, self._reported_ts = before, change, times[i]
                    return self._report(i, before, rate, device, seen)
        return None

    def _report(
        self,
        i: int,
        before: float,
        rate: float,
        neighbour: str,
        seen: tuple[float, float, float, float],
    ) -> tuple[str, dict[str, Any]]:
        # `before` is the level the probe left (`_level_before`), not necessarily the reading
        # just before the change; the change's time is still counted from that reading.
        pairs = self._readings
        ref_ts, ts, after = pairs[2 * i - 2], pairs[2 * i], pairs[2 * i + 1]
        n_ref_ts, n_before, n_ts, n_after = seen
        minutes = (ts - ref_ts) / 60_000
        room = self.key[1]
        summary = (
            f"temperature jumped {before:.1f} → {after:.1f} °C in {minutes:.1f} min and stayed,"
            f" while {neighbour} in room {room} held at {n_before:.1f} → {n_after:.1f} °C"
        )
        evidence: dict[str, Any] = {
            "fault": "jump_alone",
            "temp_c": after,
            "jumped_at": rfc3339(int(ts)),
            "previous_c": before,
            "previous_at": rfc3339(int(ref_ts)),
            "minutes": round(minutes, 2),
            "rate_c_per_min": round(rate if after > before else -rate, 2),
            "limit_c_per_min": INERTIA_RATE_C_PER_MIN,
            "room": room,
            "neighbour": neighbour,
            "neighbour_previous_c": n_before,
            "neighbour_previous_at": rfc3339(int(n_ref_ts)),
            "neighbour_temp_c": n_after,
            "neighbour_at": rfc3339(int(n_ts)),
        }
        return summary, evidence


def _level_before(values: array[float], i: int) -> float:
    """The probe's settled level before reading `i`, against which a change there is measured.

    The level a probe left is the median of its (up to) `_LEVEL_READINGS` readings before the
    change, or before an excursion of one or two readings that ended just before it: a door's
    gust caught by one reading is no level, and a step back from it to where the probe was is
    a return, not a jump. Of these medians (both middle readings of an even count, which
    cannot tell which of them strayed) the one nearest to reading `i` is taken, so a change is
    a jump only when it leaves every level the probe may have had. Each candidate is a reading.
    """
    candidates: list[float] = []
    for skip in range(_EXCURSION_MAX + 1):
        end = i - skip
        if end < 1:
            break
        window = sorted(values[max(0, end - _LEVEL_READINGS) : end])
        mid = len(window) // 2
        candidates.extend(window[mid - 1 : mid + 1] if len(window) % 2 == 0 else [window[mid]])
    now = values[i]
    return min(candidates, key=lambda v: abs(now - v))


def _record(pairs: array[float], ts: int, t: float) -> None:
    """Append a reading; on fast reporting it replaces the newest until a rate base has passed."""
    n = len(pairs)
    if n >= 4 and ts - pairs[n - 4] < _RATE_BASE_MS:
        pairs[n - 2], pairs[n - 1] = ts, t
        return
    pairs.append(ts)
    pairs.append(t)
    if n + 2 > 2 * _KEPT:
        del pairs[:2]


def _still(
    pairs: array[float], start: float, jumped: float, end: float, size: float
) -> tuple[float, float, float, float] | None:
    """A neighbour's (time, °C) before and after a jump if it stayed put over its span, else None.

    Before: its newest reading at or before the jumper's last one before the change (at most
    the change's own span, or a rate base, earlier). After: its readings up to the jumper's
    newest, at least one of them at or after the jumper's first reading at the new level.
    """
    lookback = max(jumped - start, _RATE_BASE_MS)
    times, values = pairs[::2], pairs[1::2]
    ref = -1
    for k, s in enumerate(times):
        if s > start:
            break
        ref = k if s >= start - lookback else -1
    if ref < 0:
        return None  # no reading before the change: no witness
    limit = PEER_STILL_SHARE * size
    latest = -1
    for k in range(ref + 1, len(times)):
        if times[k] > end:
            break
        if abs(values[k] - values[ref]) > limit:
            return None  # it moved too: the room did
        latest = k
    if latest < 0 or times[latest] < jumped:
        return None  # not seen since the change: no judgement
    return times[ref], values[ref], times[latest], values[latest]


def make_probe_peers(rooms: RoomBoards, shipment: Shipment) -> PeerJump | None:
    """A room's check for a shipment that names its room; none for one that does not."""
    if shipment.room is None:
        return None
    key = (shipment.organisation or "", shipment.room)
    return PeerJump(rooms.board(key), shipment.device_id, key)
