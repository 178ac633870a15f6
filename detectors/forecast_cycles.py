"""Turning points of a smoothed temperature: a thermostat's bounded cycle, not a failure's rise.

A reefer under control rises while its compressor rests and is pulled down when it
starts; a failing one keeps rising. From the inside of one rise they look the same, but a
rise that has not yet passed the top of a recent rise that turned back by itself is the
cycle again. `Turns` notes the peaks and troughs of the smoothed level (a turn back by at
least `TURN_C`, so noise is no turn) within a window, and says whether the level is still
inside their swing, give or take how much a cycle's next top may differ from this one's: a
share of the swing, and where readings are sparse, how far one reading moves the level. A
rise that turned outside the product's range, whose readings the level never took, is noted
at its furthest reading outside (`outside`).
"""

from __future__ import annotations

import math
from typing import Final, TypeAlias

from detectors.pickled import SlotState, restore_slots

#: A turn of the smoothed level by this much is a peak or a trough of a cycle, not noise.
TURN_C: Final = 0.25
#: How far past a recent turning point the level must go to be more than the cycle again:
#: this much, or SWING_SHARE of the swing that led to it, whichever is more.
MARGIN_C: Final = 0.1
#: The share of a cycle's swing by which its next top may differ from this one: a defrost's
#: peak, sampled every 5 to 15 minutes, lands higher or lower by a good part of its rise.
SWING_SHARE: Final = 0.2
#: Turning points of each kind kept however old (up to twice the window): one cycle's top
#: differs from the next by the noise, so a slow cycle with a single top in the window
#: would be told from its own next rise by chance; two tops are the cycle's reach.
KEEP_TURNS: Final = 2
#: A turning point's margin is also at least the largest move of the level by one reading in
#: the rise (or fall) that led to it, up to this (°C). Read every 10 or 15 minutes, a cycle's
#: smoothed top lands higher or lower by about that much, depending on where in the cycle the
#: readings fell: a room cycling just under its limit had its next, higher-sampled top taken
#: for a failure. Past this the margin would swallow a failure after a defrost, whose one
#: reading moves the level by a degree or two. Chosen on `bench/cold_rooms.py` seeds 1 and 2
#: from 0.2, 0.3 and no bound (cycling rooms warned: 2, 0 and 0 of 300, 5 before; with tops
#: moving 0.2 °C, 17, 10 and 6, 26 before; failing rooms at 10 min warned ahead: 36, 31 and 27
#: of 54, 39 before).
STEP_MARGIN_MAX_C: Final = 0.3

#: Turning points, oldest first, as (ts, level, margin).
_TurnPoints: TypeAlias = tuple[tuple[int, float, float], ...]
#: What `_extreme` holds before the first reading.
_FRESH: Final = (0, math.nan, 0.0, 0.0, 0.0, 0.0)


class Turns:
    """Recent peaks and troughs of a smoothed level.

    Parameters
    ----------
    window_ms : turning points older than this are forgotten; longer than the slowest
        thermostat cycle worth telling from a failure.

    Examples
    --------
    >>> turns = Turns(window_ms=6 * 3_600_000)
    >>> for i, level in enumerate([6.8, 7.2, 7.5, 7.0, 6.8, 7.3, 7.5]):
    ...     turns.add(i * 600_000, level)
    >>> turns.within(7.5, rising=True), turns.within(7.7, rising=True)
    (True, False)
    """

    __slots__ = ("_extreme", "_falling", "_peaks", "_troughs", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        # (ts, level, margin): a turning point and how far past it the cycle may still reach.
        # Tuples, not lists: a turn comes at most every few readings and builds a new tuple,
        # while an empty tuple is shared and a list costs each device 56 bytes, and more once
        # it holds anything.
        self._peaks: _TurnPoints = ()
        self._troughs: _TurnPoints = ()
        # The level's extreme since the last turn, with its largest rise and fall in one
        # reading since then and in the half-cycle before: (ts, level, up, down, up before,
        # down before).
        self._extreme: tuple[int, float, float, float, float, float] = _FRESH
        self._falling = False

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state; turning points from before margins were kept get MARGIN_C."""
        restore_slots(self, state)
        if len(self._extreme) == 2:
            # (ts, level) alone in a snapshot from before the level's steps were kept.
            self._extreme = (*self._extreme, 0.0, 0.0, 0.0, 0.0)
        # Lists in a snapshot from before the turning points were kept in tuples.
        self._peaks = tuple((p[0], p[1], p[2] if len(p) > 2 else MARGIN_C) for p in self._peaks)
        self._troughs = tuple((p[0], p[1], p[2] if len(p) > 2 else MARGIN_C) for p in self._troughs)

    def reset(self) -> None:
        self._peaks, self._troughs = (), ()
        self._extreme, self._falling = _FRESH, False

    def add(self, ts: int, level: float, step: float = 0.0) -> None:
        """Note a peak (or trough) once the level has turned back from it by TURN_C.

        `step` is how far this reading moved the level. Where a cycle is read every 10 or 15
        minutes, its smoothed peak lands higher or lower by as much as one reading moves the
        level, depending on where in the cycle the readings fell: a turning point's margin is
        at least the largest such step in the rise (or fall) that led to it.
        """
        at, extreme, up, down, up_before, down_before = self._extreme
        if extreme != extreme:  # NaN: `math.isnan` costs a call on every reading
            self._extreme = (ts, level, 0.0, 0.0, 0.0, 0.0)
        else:
            # A new tuple only when something in it changed: this runs on every reading.
            moved = False
            if step > up:
                up, moved = step, True
            elif -step > down:
                down, moved = -step, True
            if self._falling:
                if level <= extreme:
                    at, extreme, moved = ts, level, True
                elif level - extreme >= TURN_C:
                    swing = self._peaks[-1][1] - extreme if self._peaks else 0.0
                    reach = min(max(down, down_before), STEP_MARGIN_MAX_C)
                    self._troughs += ((at, extreme, max(MARGIN_C, SWING_SHARE * swing, reach)),)
                    self._falling, moved = False, False
                    self._extreme = (ts, level, 0.0, 0.0, up, down)
            elif level >= extreme:
                at, extreme, moved = ts, level, True
            elif extreme - level >= TURN_C:
                swing = extreme - self._troughs[-1][1] if self._troughs else 0.0
                reach = min(max(up, up_before), STEP_MARGIN_MAX_C)
                self._peaks += ((at, extreme, max(MARGIN_C, SWING_SHARE * swing, reach)),)
                self._falling, moved = True, False
                self._extreme = (ts, level, 0.0, 0.0, up, down)
            if moved:
                self._extreme = (at, extreme, up, down, up_before, down_before)
        # `_recent` only when the oldest turn has left the window: this runs on every reading,
        # and nearly always nothing has.
        oldest = ts - self.window_ms
        if self._peaks and self._peaks[0][0] < oldest:
            self._peaks = self._recent(self._peaks, ts)
        if self._troughs and self._troughs[0][0] < oldest:
            self._troughs = self._recent(self._troughs, ts)

    def outside(self, ts: int, reading: float, above: bool) -> None:
        """Note a turn the level never saw: a rise (`above`) or fall that left the range and
        came back by itself turned at `reading`, its furthest reading outside, which was not
        learnt into the level. Its margin is MARGIN_C: the reading is the cycle's reach."""
        point = (ts, reading, MARGIN_C)
        if above:
            self._peaks += (point,)
        else:
            self._troughs += (point,)

    def _recent(self, turns: _TurnPoints, ts: int) -> _TurnPoints:
        """Turns within the window, and the last KEEP_TURNS within twice the window (called
        once the oldest has left the window)."""
        old = ts - 2 * self.window_ms
        return tuple(
            p
            for i, p in enumerate(turns)
            if p[0] >= ts - self.window_ms or (p[0] >= old and i >= len(turns) - KEEP_TURNS)
        )

    def within(self, level: float, rising: bool) -> bool:
        """Whether a level heading up (or down) is still inside the swing of a recent cycle."""
        # Plain loops, not `any` over a generator: asked on most readings of a trend.
        if rising:
            for _, top, margin in self._peaks:  # noqa: SIM110 (see above)
                if level <= top + margin:
                    return True
            return False
        for _, bottom, margin in self._troughs:  # noqa: SIM110
            if level >= bottom - margin:
                return True
        return False
