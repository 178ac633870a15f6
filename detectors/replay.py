"""Replay of recorded readings through the detector engine, in event time, for backtests.

The clock is the newest event time seen, so timers (silence) behave as they
would have live, and the engine is flushed at the end so what its buffers and
open conditions still hold is raised too. Beside the alert events, a replay
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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from detectors.alerts import AlertEvent
from detectors.anomaly_score import AnomalyScorer
from detectors.engine import Engine
from detectors.profiles import Profile, Shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.risk import RiskScore

#: How many devices the summary ranks by peak risk.
RISKIEST = 5


@dataclass
class ReplayResult:
    """What a replay raised and measured; a reader counts its rejects into `rejected` as it goes."""

    events: list[AlertEvent] = field(default_factory=list)
    readings: int = 0
    #: Input lines the reader rejected, by reason.
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
            + (
                f"; {rejected:,} input lines rejected {dict(sorted(self.rejected.items()))}"
                if rejected
                else ""
            )
        ]
        ranked = sorted(self.risk.items(), key=lambda item: (-item[1].score, item[0]))
        for device, risk in ranked[:RISKIEST]:
            parts = ", ".join(f"{c.kind} {c.severity} {c.points:g}" for c in risk.contributions)
            lines.append(f"  peak risk {risk.score:5.1f}  {device}: {parts}")
        return lines


def replay_engine(shipments: Iterable[Shipment], default_profile: Profile | None) -> Engine:
    """An engine for replay: readings are processed in recorded order, with no reorder wait."""
    return build_engine(shipments, default_profile, lateness_ms=0)


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

    `scores` scores every reading's `channel` with a per-device anomaly scorer
    (0 where the reading lacks the channel); `series` keeps the channel's values.
    """
    result = result if result is not None else ReplayResult()
    scorers: dict[str, AnomalyScorer] = {}
    clock = -(2**62)
    for r in readings:
        value: float | None = getattr(r, channel)
        if series and value is not None:
            result.series.setdefault(r.device_id, []).append((r.ts_ms, value))
        result.readings += 1
        clock = max(clock, r.ts_ms)
        events = engine.process(r, clock)
        if events:
            result.events += events
            _track_peak_risk(engine, {e.device_id for e in events}, result.risk)
        if scores:
            score = 0.0
            if value is not None:
                scorer = scorers.get(r.device_id)
                if scorer is None:
                    scorer = scorers[r.device_id] = AnomalyScorer()
                score = scorer.update(r.ts_ms, value)
            result.scores.append(
                (r.device_id, r.ts_ms, value if value is not None else float("nan"), score)
            )
    result.events += engine.flush()
    return result


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
