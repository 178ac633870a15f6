"""Seal id changed: the electronic seal on the cargo is not the one the manifest names."""

from __future__ import annotations

from detectors.alerts import Condition, rfc3339
from detectors.profiles import Shipment
from detectors.reading import Reading


class SealIdChanged:
    """The seal id read differs from the manifest's (or, without one, from the first seen).

    Catches a seal cut and replaced on the way. Critical; clears if the
    expected id reads again.

    Parameters
    ----------
    expected : the manifest's seal id; None learns it from the first reading that carries one.

    Examples
    --------
    >>> d = SealIdChanged("ES-123456")
    >>> d.update(Reading("t1", 0, seal_id="ES-123456")) is None
    True
    >>> [(c.active, c.summary) for c in d.update(Reading("t1", 60_000, seal_id="ES-999999"))]
    [(True, "seal id ES-999999 is not the manifest's ES-123456")]
    """

    __slots__ = ("_active", "_seen", "_since", "expected", "source")

    def __init__(self, expected: str | None = None) -> None:
        self.expected = expected
        self.source = "manifest" if expected else "first reading"
        self._active = False
        self._seen = ""
        self._since = 0

    def update(self, r: Reading) -> list[Condition] | None:
        sid = r.seal_id
        if not sid:
            return None
        if sid == self.expected:
            if not self._active:
                return None
            self._active = False
            summary = f"seal id reads {sid} again, as expected"
            return [self._condition(r, False, summary)]
        if self.expected is None:
            self.expected = sid
            return None
        if self._active and sid == self._seen:
            return None
        if not self._active:
            self._active, self._since = True, r.ts_ms
        self._seen = sid
        if self.source == "manifest":
            summary = f"seal id {sid} is not the manifest's {self.expected}"
        else:
            summary = f"seal id {sid} differs from {self.expected}, the first one read"
        return [self._condition(r, True, summary)]

    def _condition(self, r: Reading, active: bool, summary: str) -> Condition:
        evidence = {
            "seal_id": r.seal_id,
            "expected": self.expected,
            "expected_from": self.source,
            "first_seen": rfc3339(self._since),
            "lat": r.lat,
            "lon": r.lon,
        }
        return Condition("seal_id_changed", active, r.ts_ms, "critical", summary, evidence)


def make_seal_id_changed(shipment: Shipment) -> SealIdChanged:
    return SealIdChanged(shipment.seal_id)
