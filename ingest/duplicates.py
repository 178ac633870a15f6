"""Tells a redelivered reading from a conflicting one before either reaches storage or detectors.

A reading's identity in InfluxDB is its device and its millisecond timestamp. The
same reading delivered twice (MQTT at-least-once, a store-and-forward upload that
overlaps what was sent live) overwrites itself, which is harmless and stays silent.
A *different* reading with the same identity (firmware reusing a timestamp, two
RFC 3339 times less than a millisecond apart, a forged message) would be merged by
InfluxDB field by field into a point that neither reading contained, while the
detectors keep only the first. `RecentReadings` remembers, per device, a fingerprint
of the last `window` readings' identities, so the pipeline can keep the first
reading everywhere and record the second as a `conflicting_duplicate` reject. A
reading older than everything a device's window holds cannot be judged from memory
(UNVERIFIED); the pipeline then asks InfluxDB (`ingest.stored_readings`). A window
of 32 covers redeliveries and the overlap of an upload with live readings at a cost
of under 1 KB per device (0.85 KB measured with tracemalloc, device id included).
"""

from __future__ import annotations

from array import array
from enum import Enum
from typing import Final

from detectors.reading import Reading

DEFAULT_WINDOW: Final = 32
#: Past this many devices the first remembered are forgotten, so a flood of invented
#: device ids costs bounded memory.
DEFAULT_MAX_DEVICES: Final = 200_000
_EMPTY: Final = -(2**63)


class Verdict(Enum):
    NEW = "new"
    SAME = "same"  # identical to a reading already accepted: store again or not, no harm
    CONFLICT = "conflict"  # same identity, different values: the first one stands
    UNVERIFIED = "unverified"  # older than the device's window: accepted unchecked


class _Device:
    __slots__ = ("fingerprints", "newest", "pos", "timestamps")

    def __init__(self, window: int) -> None:
        self.timestamps = array("q", [_EMPTY]) * window
        self.fingerprints = array("q", [0]) * window
        self.pos = 0
        self.newest = _EMPTY

    def add(self, ts: int, fingerprint: int) -> None:
        self.timestamps[self.pos] = ts
        self.fingerprints[self.pos] = fingerprint
        self.pos = (self.pos + 1) % len(self.timestamps)
        if ts > self.newest:
            self.newest = ts


class RecentReadings:
    """Per-device memory of recent reading identities; `check` classifies and remembers.

    >>> seen = RecentReadings(window=4)
    >>> a = Reading("t1", 1000, temp_c=5.0)
    >>> [seen.check(r).value for r in (a, a, a._replace(temp_c=7.0), a._replace(ts_ms=999))]
    ['new', 'same', 'conflict', 'new']
    """

    def __init__(
        self, window: int = DEFAULT_WINDOW, max_devices: int = DEFAULT_MAX_DEVICES
    ) -> None:
        self.window = window
        self.max_devices = max_devices
        self._devices: dict[str, _Device] = {}

    def check(self, r: Reading) -> Verdict:
        device = self._devices.get(r.device_id)
        if device is None:
            if len(self._devices) >= self.max_devices:
                # dicts keep insertion order: the first key is the device added longest ago.
                del self._devices[next(iter(self._devices))]
            device = self._devices[r.device_id] = _Device(self.window)
        ts = r.ts_ms
        fingerprint = hash(r)
        if ts > device.newest:
            # In order, the common case: nothing newer can hold this identity yet.
            device.add(ts, fingerprint)
            return Verdict.NEW
        timestamps = device.timestamps
        try:
            at = timestamps.index(ts)
        except ValueError:
            if _EMPTY not in timestamps and ts < min(timestamps):
                return Verdict.UNVERIFIED
            device.add(ts, fingerprint)
            return Verdict.NEW
        return Verdict.SAME if device.fingerprints[at] == fingerprint else Verdict.CONFLICT

    def __len__(self) -> int:
        return len(self._devices)
