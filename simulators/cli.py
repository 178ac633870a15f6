"""``cargowatch simulate`` / ``python -m simulators``: flags, validation, run, summary.

`add_arguments` declares the flags on any parser and `run` executes them, so the composition
root can mount the command without knowing anything about simulation. Every value is checked
before anything connects, and a bad one ends the run with one line naming the flag (exit 2);
a broker that cannot be reached or drops the connection ends it with exit 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from simulators.fleet import DEFAULT_START, Fleet, config
from simulators.physics import HOLDOUT_SEED_MIN, REGIMES
from simulators.plan import PlanError
from simulators.profiles import PROFILES
from simulators.progress import Progress
from simulators.publisher import BrokerUrl, PublishError, parse_mqtt_url
from simulators.routes import LANES
from simulators.runner import (
    RunResult,
    client_prefix,
    expected_readings,
    publish,
    publish_parallel,
    record,
)
from simulators.scenarios import SCENARIOS, ScenarioError
from simulators.timeutil import floor_minute_ms, parse_duration, parse_instant_ms, rfc3339

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the simulator's flags on ``parser``."""
    a = parser.add_argument
    a(
        "--mqtt-url",
        default=None,
        metavar="URL",
        help=f"broker to publish to [env CARGOWATCH_MQTT_URL, default {DEFAULT_MQTT_URL}]",
    )
    a("--devices", type=int, default=10, metavar="N", help="trackers in the fleet (default 10)")
    a(
        "--scenario",
        default="normal",
        metavar="NAME[,NAME]",
        help="scenario, several joined by commas, or 'mixed' (see --list; default normal)",
    )
    a(
        "--param",
        "-P",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario parameter, 'key=value' or 'scenario.key=value'; repeatable",
    )
    a(
        "--duration",
        default="6h",
        metavar="D",
        help="simulated time, e.g. 90m, 12h, 2d (default 6h)",
    )
    a(
        "--speed",
        default="max",
        metavar="X|max",
        help="simulated seconds per second: 1 is real time, 3600 an hour a second, max as fast"
        " as possible (default max)",
    )
    a(
        "--start",
        default=None,
        metavar="RFC3339",
        help="simulated start; default: with --out 2026-01-05T00:00:00Z, when publishing the"
        " latest minute that keeps every timestamp in the past",
    )
    a(
        "--seed",
        type=int,
        default=0,
        help=f"same seed, same output (default 0); seeds from {HOLDOUT_SEED_MIN:,} up are held"
        " out for measuring and need --physics holdout",
    )
    a(
        "--physics",
        choices=tuple(REGIMES),
        default="dev",
        help="ranges each device's thermal and sensor physics is drawn from: dev, or the"
        " held-out ranges, which run only on held-out seeds (default dev)",
    )
    a(
        "--air-probes",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share (0 to 1) of cooled shipments whose probe reads the box's air, not the"
        ' product; their manifest says "probe": "air" (default 0)',
    )
    a(
        "--routine-stops",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share (0 to 1) of trucks with a road leg that rest at their lane's service areas,"
        " stand in traffic jams and queue before border posts; not in the manifest, never"
        " labelled (default 0)",
    )
    a("--manifest", type=Path, default=None, metavar="PATH", help="write the fleet's shipments")
    a("--labels", type=Path, default=None, metavar="PATH", help="write ground truth as JSON Lines")
    a(
        "--out",
        type=Path,
        default=None,
        metavar="PATH",
        help="record readings (JSON Lines, arrival order) instead of publishing",
    )
    a("--qos", type=int, choices=(0, 1), default=1, help="MQTT QoS (default 1)")
    a("--workers", type=int, default=1, metavar="N", help="publishing processes (default 1)")
    a("--profiles", default=None, metavar="P[,P]", help="only these profiles (see --list)")
    a("--lanes", default=None, metavar="L[,L]", help="only these lanes (see --list)")
    a(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    a("--list", action="store_true", help="print scenarios, profiles and lanes, then exit")


class UsageError(ValueError):
    """A flag's value is wrong; the message names the flag."""


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or math.isinf(value):
        raise UsageError(f"--speed must be a positive number or 'max', got {text!r}")
    return value


def _params(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param must be KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def _catalogue() -> str:
    lines = ["scenarios:"]
    for s in SCENARIOS.values():
        params = ", ".join(f"{k}={v}" for k, v in s.defaults.items() if k != "start_min")
        kinds = ",".join(s.kinds) or "-"
        lines.append(f"  {s.name:<19} {s.summary}\n  {'':<19} kinds: {kinds}; {params or '-'}")
    lines.append("profiles:")
    lines += [f"  {p.name:<19} {p.title}" for p in PROFILES.values()]
    lines.append("lanes:")
    lines += [f"  {lane.name:<19} {lane.spec.title}" for lane in LANES.values()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Execute a parsed command line; returns the process exit code."""
    if args.list:
        print(_catalogue())
        return 0
    try:
        url, speed, cfg = _validate(args)
    except (UsageError, ScenarioError, PlanError, ValueError) as exc:
        print(f"cargowatch simulate: {exc}", file=sys.stderr)
        return 2
    wall_start = time.time()
    try:
        fleet = Fleet(cfg)
    except (PlanError, ScenarioError) as exc:
        print(f"cargowatch simulate: {exc}", file=sys.stderr)
        return 2
    if args.manifest:
        _write_manifest(args.manifest, fleet.manifest())
    enabled = sys.stderr.isatty() if args.progress is None else args.progress
    progress = Progress(expected_readings(fleet.plans), enabled)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM stops a run as Ctrl-C does: no half-written file, one line, exit 130.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.out is not None:
            result = record(fleet, args.out, progress)
        elif args.workers > 1:
            result = publish_parallel(
                cfg, args.workers, url, args.qos, speed, wall_start, progress, client_prefix()
            )
        else:
            result = publish(fleet, url, args.qos, speed, wall_start, progress, client_prefix())
    except PublishError as exc:
        progress.finish()
        print(f"cargowatch simulate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        progress.finish()
        print("cargowatch simulate: stopped before the end of the run", file=sys.stderr)
        return 130
    progress.finish()
    if args.labels:
        _write_lines(args.labels, result.labels)
    print(_summary(args, fleet, result, url))
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _validate(args: argparse.Namespace) -> tuple[BrokerUrl, float | None, Any]:
    if args.devices < 1:
        raise UsageError(f"--devices must be at least 1, got {args.devices}")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.out is not None and args.workers > 1:
        raise UsageError("--workers applies to publishing; --out is written by one process")
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise UsageError(f"--duration: {exc}") from None
    speed = _speed(args.speed)
    if args.mqtt_url:
        url = parse_mqtt_url(args.mqtt_url)
    else:
        env = os.environ.get("CARGOWATCH_MQTT_URL")
        url = (
            parse_mqtt_url(env, "CARGOWATCH_MQTT_URL") if env else parse_mqtt_url(DEFAULT_MQTT_URL)
        )
    if args.start is not None:
        try:
            start = parse_instant_ms(args.start)
        except ValueError as exc:
            raise UsageError(f"--start: {exc}") from None
    elif args.out is not None:
        start = parse_instant_ms(DEFAULT_START)
    else:
        # The run ends as the wall clock reaches its last simulated second, never before.
        lag = duration * (1.0 - (1.0 / speed if speed else 0.0))
        start = floor_minute_ms(time.time() * 1000.0 - lag * 1000.0)
    for path in (args.manifest, args.labels, args.out):
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"no directory for {path}")
    cfg = config(
        args.devices,
        args.scenario,
        duration,
        args.seed,
        start,
        _params(args.param),
        _names(args.profiles),
        _names(args.lanes),
        args.physics,
        args.air_probes,
        args.routine_stops,
    )
    return url, speed, cfg


def _write_manifest(path: Path, doc: dict[str, Any]) -> None:
    # One shipment per line: diffable and greppable, without a line per route coordinate.
    rows = [json.dumps(s, separators=(",", ":"), ensure_ascii=False) for s in doc["shipments"]]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text('{"shipments": [\n' + ",\n".join(rows) + "\n]}\n", encoding="utf-8")
    tmp.replace(path)


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    text = "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in rows)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _summary(args: argparse.Namespace, fleet: Fleet, r: RunResult, url: BrokerUrl) -> str:
    cfg = fleet.cfg
    end_ms = cfg.start_ms + round(cfg.duration_s * 1000)
    counts = fleet.scenario_counts()
    incidents = ", ".join(f"{n} {c}" for n, c in sorted(counts.items())) or "none"
    affected = sum(1 for p in fleet.plans if p.incidents)
    rate = r.readings / r.elapsed_s if r.elapsed_s > 0 else 0.0
    if args.out is not None:
        where = f"recorded to {args.out}"
    else:
        workers = f" with {args.workers} workers" if args.workers > 1 else ""
        where = f"published to {url.redacted()} at QoS {args.qos}{workers}"
    lines = [
        f"simulated {cfg.devices:,} shipments ({args.scenario}, seed {cfg.seed},"
        f" {cfg.physics} physics) from"
        f" {rfc3339(cfg.start_ms)} to {rfc3339(end_ms)}",
        f"  incidents: {incidents} ({affected:,} of {cfg.devices:,} shipments)",
        f"  {r.readings:,} readings in {r.messages:,} messages ({r.uploads:,} store-and-forward"
        f" uploads, {r.malformed:,} malformed), {r.bytes / 1e6:,.1f} MB",
        f"  {where} in {r.elapsed_s:,.1f} s: {rate:,.0f} readings/s",
    ]
    written = [f"manifest {args.manifest}"] if args.manifest else []
    written += [f"labels {args.labels} ({len(r.labels):,} incidents)"] if args.labels else []
    if written:
        lines.append("  wrote " + ", ".join(written))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators",
        description="Simulate a fleet of cargo trackers with labelled incidents.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
