"""Seal breach: the electronic seal tampered, or opened away from every authorised stop.

Customs act on this alert, so it carries where it happened against the authorised
stops. Seal events often arrive in readings without a GPS fix; a fix up to
`fix_max_age_s` old stands in, and with none the position is unknown and counts as
outside every authorised stop: an unexplained opening is what customs most want to hear.
"""

from __future__ import annotations

from collections.abc import Sequence

from detectors.alerts import Condition, rfc3339
from detectors.geo import place_containing, where
from detectors.profiles import Place, Shipment
from detectors.reading import Reading


class SealBreach:
    """The electronic seal reads tampered, or open away from every authorised stop.

    Tampering is critical anywhere. An open seal is critical outside the
    authorised stops (the customs-approved places; the route's ends are not
    assumed to be such places). It clears when the seal reads closed again;
    the lifecycle keeps the alert for evidence until it resolves.

    Parameters
    ----------
    stops : authorised stops, where the seal may be opened.
    seal_id : the manifest's seal id, named in summaries when readings carry none.
    fix_max_age_s : how old a fix may be and still stand in for a reading without one.

    Examples
    --------
    >>> d = SealBreach(stops=[Place("Malaba border", 34.27, 0.63, 500)], seal_id="ES-1")
    >>> d.update(Reading("t1", 0, lat=0.63, lon=34.27, seal="open")) is None  # at the border
    True
    >>> d.update(Reading("t1", 60_000, lat=0.63, lon=34.27, seal="closed")) is None
    True
    >>> away = Reading("t1", 120_000, lat=0.66, lon=34.27, seal="open")
    >>> [(c.active, c.severity, c.summary) for c in d.update(away)]
    [(True, 'critical', 'seal ES-1 open at 0.6600, 34.2700, 3.3 km from Malaba border')]
    """

    __slots__ = (
        "_active",
        "_flat",
        "_flon",
        "_fts",
        "_since",
        "_state",
        "fix_max_age_ms",
        "seal_id",
        "stops",
    )

    def __init__(
        self, stops: Sequence[Place] = (), seal_id: str | None = None, fix_max_age_s: float = 300.0
    ) -> None:
        self.stops = tuple(stops)  # the shipment's own tuple: shared, not copied
        self.seal_id = seal_id
        self.fix_max_age_ms = int(fix_max_age_s * 1000)
        self._active = False
        self._state = ""  # the seal state that made it active
        self._since = 0
        self._flon = self._flat = 0.0  # the last fix
        self._fts = -1

    def update(self, r: Reading) -> list[Condition] | None:
        lat, lon = r.lat, r.lon
        if lat is not None and lon is not None and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0:
            self._flat, self._flon, self._fts = lat, lon, r.ts_ms
        seal = r.seal
        if seal is None or (seal == "closed" and not self._active):
            return None
        if seal == "closed":
            self._active = False
            return [self._condition(r, "closed", False)]
        if seal == "tampered":
            if self._state == "tampered":
                return None
        elif seal == "open":
            if self._active:
                return None
            pos = self._position(r.ts_ms)
            if pos is not None and place_containing(self.stops, *pos) is not None:
                return None
        else:
            return None
        if not self._active:
            self._active, self._since = True, r.ts_ms
        self._state = seal
        return [self._condition(r, seal, True)]

    def _position(self, ts: int) -> tuple[float, float] | None:
        if self._fts >= 0 and ts - self._fts <= self.fix_max_age_ms:
            return self._flon, self._flat
        return None

    def _condition(self, r: Reading, seal: str, active: bool) -> Condition:
        pos = self._position(r.ts_ms)
        text, evidence = where(self.stops, *(pos or (None, None)))
        seal_id = r.seal_id or self.seal_id
        name = f"seal {seal_id}" if seal_id else "seal"
        if seal == "tampered":
            summary = f"{name} reports tampering {text}"
        elif seal == "open":
            summary = f"{name} open {text}"
        else:
            summary = f"{name} closed again {text}"
        evidence.update(
            seal=seal,
            seal_id=seal_id,
            position_at=rfc3339(self._fts) if pos is not None else None,
            first_seen=rfc3339(self._since),
        )
        return Condition("seal_breach", active, r.ts_ms, "critical", summary, evidence)


def make_seal_breach(shipment: Shipment) -> SealBreach:
    return SealBreach(shipment.authorised_stops, shipment.seal_id)
