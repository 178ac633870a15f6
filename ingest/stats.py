"""The ingester's own counters, reported to the log and to the `cargowatch_stats` measurement.

Each counter is only ever incremented by one thread (the MQTT thread counts
what it received, the batcher what it decoded, the writer what it stored), so
plain integers suffice under the GIL and the hot path takes no lock. Reject
reasons and unknown field names are bounded so hostile input cannot grow
them without limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

#: Past this many distinct unknown field names, the rest are counted as "other".
MAX_UNKNOWN_NAMES: Final = 64


@dataclass
class IngestStats:
    """Cumulative counters since start-up; `snapshot` gives a flat, serialisable view."""

    messages_received: int = 0
    readings_decoded: int = 0
    readings_stored: int = 0
    readings_spooled: int = 0
    readings_replayed: int = 0
    readings_lost: int = 0
    points_refused: int = 0
    #: Identical redeliveries, taken once.
    duplicates: int = 0
    #: Readings older than their device's duplicate window, stored without that check.
    unverified: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    unknown_fields: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    write_seconds_total: float = 0.0
    write_seconds_max: float = 0.0
    #: Whether this process is the one delivering alerts from the store (of several on it,
    #: one holds the delivery lease); None where nothing delivers.
    delivering: Callable[[], bool] | None = None

    def count_unknown(self, names: list[str]) -> None:
        for name in names:
            if name in self.unknown_fields or len(self.unknown_fields) < MAX_UNKNOWN_NAMES:
                self.unknown_fields[name] += 1
            else:
                self.unknown_fields["other"] += 1

    def record_write(self, seconds: float) -> None:
        self.writes += 1
        self.write_seconds_total += seconds
        self.write_seconds_max = max(self.write_seconds_max, seconds)

    def snapshot(self) -> dict[str, int | float]:
        """Counters as field name -> value, e.g. `rejected_invalid_json`."""
        out: dict[str, int | float] = {
            "messages_received": self.messages_received,
            "readings_decoded": self.readings_decoded,
            "readings_stored": self.readings_stored,
            "readings_spooled": self.readings_spooled,
            "readings_replayed": self.readings_replayed,
            "readings_lost": self.readings_lost,
            "points_refused": self.points_refused,
            "duplicates": self.duplicates,
            "unverified": self.unverified,
            "rejected_total": sum(self.rejected.values()),
            "unknown_fields_total": sum(self.unknown_fields.values()),
            "writes": self.writes,
            "write_latency_ms_mean": (
                1000 * self.write_seconds_total / self.writes if self.writes else 0.0
            ),
            "write_latency_ms_max": 1000 * self.write_seconds_max,
        }
        for reason, n in sorted(self.rejected.items()):
            out[f"rejected_{reason}"] = n
        if self.delivering is not None:
            out["delivering"] = int(self.delivering())
        return out

    def summary(self) -> str:
        """One log line of the figures an operator looks at first."""
        s = self.snapshot()
        sends = ""
        if "delivering" in s:
            sends = f", delivering {'yes' if s['delivering'] else 'no'}"
        return (
            f"received {s['messages_received']:,} messages,"
            f" stored {s['readings_stored']:,} readings"
            f" (spooled {s['readings_spooled']:,}, replayed {s['readings_replayed']:,}),"
            f" rejected {s['rejected_total']:,}, write latency mean"
            f" {s['write_latency_ms_mean']:.0f} ms max {s['write_latency_ms_max']:.0f} ms{sends}"
        )
