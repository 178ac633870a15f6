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
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final

from detectors.alerts import SEVERITY_RANK, AlertEvent, Condition


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
            track.clear_since_ms = None
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
                    track.clear_since_ms = cond.at_ms
                track.latest = cond
                if cond.at_ms - track.clear_since_ms >= policy.resolve_after_ms:
                    out.append(self._resolve(cond.kind, track, cond))
            else:
                del self.tracks[cond.kind]
        return out

    def advance(self, now_ms: int) -> list[AlertEvent]:
        """Let time complete pending opens, resolves and escalations."""
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
                if now_ms - track.clear_since_ms >= policy.resolve_after_ms and track.latest:
                    out.append(self._resolve(kind, track, _at(track.latest, now_ms)))
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
