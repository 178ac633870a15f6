"""`cargowatch backtest`: replay recorded readings through the detectors in event time.

Input is JSON Lines of wire-format readings (objects or store-and-forward
arrays, validated by the same decoder as live ingestion) or a CSV of
`timestamp,value` for one numeric channel, the format of public streaming
anomaly benchmarks. The clock is the newest event time seen, so timers
(silence) behave as they would have live. Outputs: alert events as JSON
Lines, optionally a CSV with an anomaly score for every input reading, and
optionally a plot of the readings, the profile band and the alerts.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from cargowatch.backtest_plot import plot_backtest
from cargowatch.settings import SettingError
from cargowatch.wiring import load_shipments
from detectors.alerts import AlertEvent
from detectors.anomaly_score import AnomalyScorer
from detectors.engine import Engine
from detectors.profiles import PROFILES, Shipment
from detectors.reading import FLOAT_CHANNELS, Reading
from detectors.registry import build_engine
from detectors.risk import RiskScore
from ingest.decode import decode

_FAR_FUTURE_MS = 2**62  # a recording is judged on its own times, not on today's clock


class BacktestError(ValueError):
    """The input cannot be replayed; the message says which line and why."""


@dataclass
class BacktestResult:
    events: list[AlertEvent] = field(default_factory=list)
    readings: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    #: (device, ts, value, score) for every reading, when scores are asked for.
    scores: list[tuple[str, int, float, float]] = field(default_factory=list)
    #: Highest customs risk each device's shipment reached, from its open alerts.
    risk: dict[str, RiskScore] = field(default_factory=dict)


def read_jsonl(path: Path, result: BacktestResult) -> Iterator[Reading]:
    with path.open("rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                doc = None
            first = doc[0] if isinstance(doc, list) and doc else doc
            device = first.get("device_id") if isinstance(first, dict) else None
            topic = (
                f"cargo/v1/{device}/telemetry"
                if isinstance(device, str)
                else "cargo/v1/_/telemetry"
            )
            decoded = decode(topic, line, _FAR_FUTURE_MS, max_age_ms=None)
            for reject in decoded.rejects:
                result.rejected[reject.reason] = result.rejected.get(reject.reason, 0) + 1
            yield from decoded.readings


_DEVICE_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def read_csv(path: Path, channel: str, device: str | None) -> Iterator[Reading]:
    device_id = device or _DEVICE_SAFE.sub("_", path.stem)[:64]
    with path.open(newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["timestamp", "value"]:
            raise BacktestError(f"{path}: a CSV input starts with the header timestamp,value")
        for n, row in enumerate(rows, 2):
            if not row:
                continue
            try:
                ts = parse_time(row[0])
                value = float(row[1])
            except (ValueError, IndexError):
                raise BacktestError(f"{path}:{n}: cannot read {row!r:.80}") from None
            fields: dict[str, Any] = {channel: value}
            yield Reading(device_id, ts, **fields)


def parse_time(text: str) -> int:
    """Epoch ms from epoch ms, RFC 3339, or the benchmark's `YYYY-MM-DD HH:MM:SS` (UTC).

    >>> parse_time("2014-02-14 14:30:00"), parse_time("1392388200000")
    (1392388200000, 1392388200000)
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def run_backtest(
    readings: Iterator[Reading],
    shipments: list[Shipment],
    profile: str | None,
    channel: str,
    result: BacktestResult,
    want_scores: bool,
) -> BacktestResult:
    engine = build_engine(shipments, PROFILES[profile] if profile else None, lateness_ms=0)
    scorers: dict[str, AnomalyScorer] = {}
    clock = -(2**62)
    for r in readings:
        result.readings += 1
        clock = max(clock, r.ts_ms)
        events = engine.process(r, clock)
        if events:
            result.events += events
            _track_peak_risk(engine, {e.device_id for e in events}, result.risk)
        if want_scores:
            value = getattr(r, channel)
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


def _track_peak_risk(engine: Engine, devices: set[str], peaks: dict[str, RiskScore]) -> None:
    for device in devices:
        risk = engine.risk(device)
        if risk.score > (peaks[device].score if device in peaks else 0.0):
            peaks[device] = risk


def write_alerts(events: list[AlertEvent], out: TextIO) -> None:
    for e in events:
        out.write(json.dumps(e.to_json(), ensure_ascii=False, sort_keys=False) + "\n")


def write_scores(
    scores: list[tuple[str, int, float, float]], path: Path, multi_device: bool
) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["timestamp", "value", "anomaly_score", *(["device_id"] if multi_device else [])]
        )
        for device, ts, value, score in scores:
            stamp = datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
            row: list[Any] = [stamp, "" if value != value else value, f"{score:.6f}"]
            if multi_device:
                row.append(device)
            w.writerow(row)


def run_command(args: argparse.Namespace) -> int:
    """The `cargowatch backtest` command; returns the exit code."""
    if args.channel not in FLOAT_CHANNELS:
        raise SettingError(
            f"--channel must be one of {', '.join(FLOAT_CHANNELS)}, got {args.channel!r}"
        )
    if args.profile is not None and args.profile not in PROFILES:
        raise SettingError(
            f"--profile must be one of {', '.join(sorted(PROFILES))}, got {args.profile!r}"
        )
    if not args.input.is_file():
        raise SettingError(f"INPUT {args.input} is not a readable file")
    shipments = load_shipments(args.shipments)
    is_csv = args.input.suffix.lower() == ".csv"
    profile = args.profile or (None if is_csv else "customs_transit")
    result = BacktestResult()
    readings = (
        read_csv(args.input, args.channel, args.device)
        if is_csv
        else read_jsonl(args.input, result)
    )
    want_series = args.plot is not None
    series: dict[str, list[tuple[int, float]]] = {}

    def tap(stream: Iterator[Reading]) -> Iterator[Reading]:
        for r in stream:
            v = getattr(r, args.channel)
            if want_series and v is not None:
                series.setdefault(r.device_id, []).append((r.ts_ms, v))
            yield r

    try:
        run_backtest(
            tap(readings), shipments, profile, args.channel, result, args.scores is not None
        )
    except BacktestError as exc:
        raise SettingError(str(exc)) from None
    with args.alerts.open("w") as out:
        write_alerts(result.events, out)
    if args.scores is not None:
        write_scores(
            result.scores, args.scores, multi_device=len({s[0] for s in result.scores}) > 1
        )
    if args.plot is not None:
        band = None
        if shipments and len({s.profile.temp_range_c for s in shipments}) == 1:
            band = shipments[0].profile.temp_range_c
        elif profile is not None:
            band = PROFILES[profile].temp_range_c
        plot_backtest(
            args.plot,
            series,
            band if args.channel == "temp_c" else None,
            result.events,
            args.channel,
        )
    opened = sum(1 for e in result.events if e.event == "open")
    rejected = sum(result.rejected.values())
    print(
        f"{result.readings:,} readings replayed, {opened:,} alerts opened "
        f"({len(result.events):,} events) -> {args.alerts}"
        + (
            f"; {rejected:,} input lines rejected {dict(sorted(result.rejected.items()))}"
            if rejected
            else ""
        ),
        file=sys.stderr,
    )
    ranked = sorted(result.risk.items(), key=lambda item: (-item[1].score, item[0]))
    for device, risk in ranked[:5]:
        parts = ", ".join(f"{c.kind} {c.severity} {c.points:g}" for c in risk.contributions)
        print(f"  peak risk {risk.score:5.1f}  {device}: {parts}", file=sys.stderr)
    return 0
