"""Alert lifecycle: conditions in, open/update/resolve events out, deduplicated and damped.

One `AlertBook` per device keeps at most one open alert per kind: a
continuing condition updates it instead of opening another. Damping is here
and nowhere else: a condition must hold for its kind's `open_after_ms` before
an alert opens (noise and blips never page anyone), and must stay clear for
`resolve_after_ms` before it resolves, so a condition that flickers keeps one
alert rather than opening a new one each time. Updates are rate-limited
unless the severity rises, and severity escalates to critical when a warning
has stayed open for `escalate_after_ms`. A kind that more than one detector of
the device raises (the caller names the detector, `holder`) keeps one alert,
open while any of those detectors holds it: it starts clearing only once every
one of them has cleared.

A resolve rests on the device's readings, not on clock time alone. When the
device reports less often than twice within the quiet period (`interval_ms`,
its expected reporting interval: a 15-minute logger against a 10-minute quiet
period), one reading back in range between readings out of it is not the
end of the trouble: the quiet period then ends at the first reading that comes
at least `resolve_after_ms` after the clear, and the resolve waits for the
reading after that one to confirm it (a detector that needs more than one
reading out to report again has had its chance), and is stamped with the time
of the reading it confirms, never with that of a reading which may hold the
condition again. A device that falls silent meanwhile gets its alert resolved
by clock time once two reporting intervals have passed without a reading (and
`resolve_after_ms` since the clear). A device that reports at least twice per
quiet period, and a kind resolving at once (`resolve_after_ms` 0), resolve as
soon as the quiet period has passed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final

from detectors.alerts import SEVERITY_RANK, AlertEvent, Condition
from detectors.pickled import SlotState, restore_slots


@dataclass(frozen=True, slots=True)
class KindPolicy:
    open_after_ms: int = 0
    resolve_after_ms: int = 5 * 60_000
    update_every_ms: int = 15 * 60_000
    escalate_after_ms: int | None = None


DEFAULT_POLICY: Final = KindPolicy()


@dataclass(slots=True)
class _Track:
    """What the book knows about one kind for one device."""

    alert_id: str | None = None
    severity: str = "warning"
    last_event_ms: int = 0
    opened_ms: int = 0
    pending: Condition | None = None  # active, waiting for open_after_ms
    pending_since_ms: int = 0
    latest: Condition | None = None
    clear_since_ms: int | None = None
    events: int = 0  # of the open alert, so each event knows its place in the history
    # While clearing on readings (see the module doc): the latest reading seen since the clear,
    # and the reading that ended the quiet period, waiting for the next one to confirm it.
    read_ms: int = 0
    quiet_ms: int | None = None

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before resolves waited for readings."""
        self.read_ms, self.quiet_ms = 0, None
        slots = restore_slots(self, state)
        if "read_ms" not in slots and self.clear_since_ms is not None:
            self.read_ms = self.clear_since_ms  # clearing then: its clear is its last reading


@dataclass(slots=True)
class _SharedTrack(_Track):
    """A kind several detectors raise: which of them hold it, one bit per detector index.

    Only such kinds pay for the set; a book from a snapshot written before holds plain tracks,
    which become shared ones, holding nobody, on their next condition from a named detector.
    """

    holders: int = 0

    @classmethod
    def taking_over(cls, track: _Track) -> _SharedTrack:
        return cls(**{name: getattr(track, name) for name in _Track.__dataclass_fields__})


#: The tracks of every book with nothing to track, never written to: a book takes a dict of
#: its own on its first condition, since an empty dict per device costs 64 bytes.
_NO_TRACKS: Final[dict[str, _Track]] = {}


@dataclass(slots=True)
class AlertBook:
    """Open alerts of one device, and the damping state behind them."""

    device_id: str
    shipment_id: str | None
    policies: dict[str, KindPolicy] = field(default_factory=dict)
    tracks: dict[str, _Track] = field(default_factory=lambda: _NO_TRACKS)
    #: The device's expected reporting interval; 0 when unknown (the quiet period alone counts).
    interval_ms: int = 0

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before the book knew the interval."""
        self.interval_ms = 0  # such a book resolves on the quiet period alone, as it did then
        restore_slots(self, state)
        if not self.tracks:
            # Every book with nothing to track held `_NO_TRACKS`, and a snapshot pickles that
            # one dict once: unpickled, it is one new dict shared by all those books, which the
            # first of them would write its alerts into for all the others to see.
            self.tracks = _NO_TRACKS

    def open_alerts(self) -> dict[str, _Track]:
        return {k: t for k, t in self.tracks.items() if t.alert_id is not None}

    def apply(self, cond: Condition, holder: int | None = None) -> list[AlertEvent]:
        """Take one detector's condition; `holder` names the detector when others share its kind.

        With a holder, a clear only counts once no other detector still holds the kind, and an
        active condition from any of them updates (or keeps open) the same alert.
        """
        policy = self.policies.get(cond.kind, DEFAULT_POLICY)
        track = self.tracks.get(cond.kind)
        if track is None:
            if not cond.active:
                return []
            if self.tracks is _NO_TRACKS:
                self.tracks = {}
            track = self.tracks[cond.kind] = _Track() if holder is None else _SharedTrack()
        if holder is not None:
            if not isinstance(track, _SharedTrack):
                track = self.tracks[cond.kind] = _SharedTrack.taking_over(track)
            if cond.active:
                track.holders |= 1 << holder
            else:
                track.holders &= ~(1 << holder)
                if track.holders:
                    return []  # another detector still holds it: nothing clears yet
        out: list[AlertEvent] = []
        if cond.active:
            track.clear_since_ms = track.quiet_ms = None
            if track.alert_id is None:
                if track.pending is None:
                    track.pending_since_ms = cond.at_ms
                track.pending = cond
                if cond.at_ms - track.pending_since_ms >= policy.open_after_ms:
                    out.append(self._open(cond.kind, track, cond))
            else:
                track.latest = cond
                rises = SEVERITY_RANK[cond.severity] > SEVERITY_RANK[track.severity]
                if rises or cond.at_ms - track.last_event_ms >= policy.update_every_ms:
                    out.append(self._event("update", cond.kind, track, cond))
        else:
            track.pending = None
            if track.alert_id is not None:
                if track.clear_since_ms is None:
                    track.clear_since_ms = track.read_ms = cond.at_ms
                    track.quiet_ms = None
                track.latest = cond
                if (
                    not self._on_readings(policy)
                    and cond.at_ms - track.clear_since_ms >= policy.resolve_after_ms
                ):
                    out.append(self._resolve(cond.kind, track, cond))
            else:
                del self.tracks[cond.kind]
        return out

    def end_all(self, at_ms: int, summary: str, evidence: dict[str, object]) -> list[AlertEvent]:
        """Resolve every open alert at once, at `at_ms` (never before an alert's last event):
        the detectors behind this book stop watching the device as they were (its shipment
        changed or ended), so no one is left to clear what they raised."""
        out: list[AlertEvent] = []
        for kind, track in list(self.tracks.items()):
            if track.alert_id is None:
                continue
            at = max(at_ms, track.last_event_ms)
            cond = Condition(kind, False, at, track.severity, summary, dict(evidence))
            out.append(self._resolve(kind, track, cond))
        return out

    def advance(self, now_ms: int, reading: bool = False) -> list[AlertEvent]:
        """Let time complete pending opens, resolves and escalations.

        `reading` says that the device sent a reading at `now_ms` (its detectors have judged
        it already): what a resolve on readings waits for (see the module doc).
        """
        out: list[AlertEvent] = []
        for kind, track in list(self.tracks.items()):
            policy = self.policies.get(kind, DEFAULT_POLICY)
            if track.alert_id is None:
                if (
                    track.pending is not None
                    and now_ms - track.pending_since_ms >= policy.open_after_ms
                ):
                    out.append(self._open(kind, track, _at(track.pending, now_ms)))
            elif track.clear_since_ms is not None:
                at_ms = self._resolve_at(track, policy, now_ms, reading)
                if at_ms is not None and track.latest:
                    # Never before the alert's last event (a late upload's clear is older).
                    at_ms = max(at_ms, track.last_event_ms)
                    out.append(self._resolve(kind, track, _at(track.latest, at_ms)))
            elif (
                policy.escalate_after_ms is not None
                and track.severity == "warning"
                and now_ms - track.opened_ms >= policy.escalate_after_ms
                and track.latest is not None
            ):
                cond = _at(track.latest, now_ms)
                cond.severity = "critical"
                cond.summary += f" (open {(now_ms - track.opened_ms) // 60_000} min)"
                out.append(self._event("update", kind, track, cond))
        return out

    def _on_readings(self, policy: KindPolicy) -> bool:
        """Whether this kind's resolves wait for readings: the device reports too seldom."""
        quiet = policy.resolve_after_ms
        return quiet > 0 and self.interval_ms > 0 and 2 * self.interval_ms > quiet

    def _resolve_at(
        self, track: _Track, policy: KindPolicy, now_ms: int, reading: bool
    ) -> int | None:
        """When a clearing track's alert resolves, as of `now_ms`; None while it must wait."""
        clear = track.clear_since_ms
        assert clear is not None
        quiet = policy.resolve_after_ms
        if not self._on_readings(policy):
            return now_ms if now_ms - clear >= quiet else None
        # Silent for two reporting intervals: the clock resolves, stamped at the reading that
        # ended the quiet period if there is one (only the silence left it unconfirmed), else
        # when the silence became long enough.
        silent_at = max(clear + quiet, track.read_ms + 2 * self.interval_ms)
        if now_ms > silent_at or (now_ms == silent_at and not reading):
            return silent_at if track.quiet_ms is None else track.quiet_ms
        if reading and now_ms > track.read_ms:
            if track.quiet_ms is not None:
                return track.quiet_ms  # this reading did not raise it again: confirmed
            track.read_ms = now_ms
            if now_ms - clear >= quiet:
                track.quiet_ms = now_ms
        return None

    def _open(self, kind: str, track: _Track, cond: Condition) -> AlertEvent:
        key = f"{self.device_id}|{kind}|{cond.at_ms}".encode()
        track.alert_id = "al_" + hashlib.sha1(key, usedforsecurity=False).hexdigest()[:16]
        track.opened_ms = cond.at_ms
        track.pending = None
        track.latest = cond
        track.severity = "info"  # so the open event sets the real one
        track.events = 0
        return self._event("open", kind, track, cond)

    def _resolve(self, kind: str, track: _Track, cond: Condition) -> AlertEvent:
        event = self._event("resolve", kind, track, cond)
        del self.tracks[kind]
        return event

    def _event(self, name: str, kind: str, track: _Track, cond: Condition) -> AlertEvent:
        severity = cond.severity if name != "resolve" else track.severity
        if name == "update" and SEVERITY_RANK[severity] < SEVERITY_RANK[track.severity]:
            severity = track.severity  # an open alert's severity never drops
        track.severity = severity
        track.last_event_ms = cond.at_ms
        track.events += 1
        assert track.alert_id is not None
        return AlertEvent(
            event=name,
            alert_id=track.alert_id,
            kind=kind,
            severity=severity,
            device_id=self.device_id,
            shipment_id=self.shipment_id,
            at_ms=cond.at_ms,
            summary=cond.summary,
            evidence=cond.evidence,
            value=cond.value,
            predicted_breach_at_ms=cond.predicted_breach_at_ms,
            confidence=cond.confidence,
            seq=track.events,
        )


def _at(cond: Condition, now_ms: int) -> Condition:
    return Condition(
        cond.kind,
        cond.active,
        now_ms,
        cond.severity,
        cond.summary,
        dict(cond.evidence),
        cond.value,
        cond.predicted_breach_at_ms,
        cond.confidence,
    )
