"""Checks shared by the detector unit tests: feeding readings, resuming after a pickle,
running `cargowatch backtest` (and simulate and score) as a user does, and the readings of a quantised probe (honest,
or stuck) for the stuck-probe tests."""

from __future__ import annotations

import json
import pickle
import random
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from detectors.alerts import Condition
from detectors.reading import Reading
from detectors.sensor_fault import SensorFault

_MIN = 60_000


def feed(detector: Any, readings: Sequence[Any]) -> list[tuple[int, Any]]:
    """(index of the reading, condition) for every condition the readings raise."""
    return [(i, c) for i, r in enumerate(readings) for c in detector.update(r) or []]


def assert_resumes_after_pickle(make: Callable[[], Any], readings: Sequence[Any], cut: int) -> None:
    """A detector pickled after `cut` readings carries on exactly as one never interrupted,
    and every clear it reports follows an active condition."""
    straight = feed(make(), readings)
    interrupted = make()
    first = feed(interrupted, readings[:cut])
    resumed = pickle.loads(pickle.dumps(interrupted))
    second = [(i + min(cut, len(readings)), c) for i, c in feed(resumed, readings[cut:])]
    assert first + second == straight
    active = False
    for _, c in straight:
        assert c.active or active, "a clear only follows an active condition"
        active = c.active


def backtest(
    tmp_path: Path,
    messages: Sequence[Mapping[str, object]],
    shipments: Sequence[Mapping[str, object]],
) -> list[dict[str, Any]]:
    """Alert events `cargowatch backtest --shipments` writes for messages in this order."""
    path, fleet, alerts = tmp_path / "r.jsonl", tmp_path / "fleet.json", tmp_path / "alerts.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    fleet.write_text(json.dumps({"shipments": shipments}))
    cargowatch("backtest", path, "--shipments", fleet, "--alerts", alerts)
    return [json.loads(line) for line in alerts.read_text().splitlines()]


def cargowatch(*args: object) -> None:
    """Run a `cargowatch` command as a user does; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "cargowatch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def simulated_and_scored(
    tmp_path: Path, scenario: str, devices: int = 6, seed: int = 8
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """A simulated fleet of `scenario` over 12 h, backtested and scored as a test engineer
    does: its alert events, and the score's figures per kind."""
    run, fleet, truth = tmp_path / "r.jsonl", tmp_path / "f.json", tmp_path / "t.jsonl"
    alerts, score = tmp_path / "a.jsonl", tmp_path / "s.json"
    cargowatch(
        "simulate", "--devices", devices, "--scenario", scenario, "--duration", "12h",
        "--seed", seed, "--out", run, "--manifest", fleet, "--labels", truth,
    )  # fmt: skip
    cargowatch("backtest", run, "--shipments", fleet, "--alerts", alerts)
    cargowatch(
        "score", "--labels", truth, "--alerts", alerts, "--shipments", fleet, "--json", score
    )
    kinds = {k["kind"]: k for k in json.loads(score.read_text())["kinds"]}
    return [json.loads(line) for line in alerts.read_text().splitlines()], kinds


def room_entry(device: str, room: str | None = "chiller-2", **fields: object) -> dict[str, object]:
    """A manifest entry for a logger only the sensor checks watch, in `room` (None: no room)."""
    entry: dict[str, object] = {
        "shipment_id": f"SHP-{device}",
        "device_id": device,
        "profile": "customs_transit",  # no range: only the sensor checks speak
        **fields,
    }
    if room is not None:
        entry["room"] = room
    return entry


def probe(
    interval_min: float,
    hours: float,
    *,
    level: float,
    sd_c: float,
    resolution_c: float,
    seed: int,
    start_min: float = 0.0,
) -> list[Reading]:
    """A steady product read by a probe with Gaussian noise, rounded to its resolution."""
    rng = random.Random(seed)
    out = []
    for i in range(int(hours * 60 / interval_min)):
        v = round(round((level + rng.gauss(0.0, sd_c)) / resolution_c) * resolution_c, 2)
        ts = int((start_min + i * interval_min) * _MIN)
        out.append(Reading("t", ts, temp_c=v, ambient_c=25.0))
    return out


def stuck_after(history: list[Reading], interval_min: float, hours: float) -> list[Reading]:
    """`history`, then its last value repeated every `interval_min` for `hours`."""
    last = history[-1]
    n = int(hours * 60 / interval_min)
    return history + [
        Reading(
            "t", last.ts_ms + int((i + 1) * interval_min * _MIN), temp_c=last.temp_c, ambient_c=25.0
        )
        for i in range(n)
    ]


def opened(readings: list[Reading]) -> list[tuple[Reading, Condition]]:
    """Each reading a `SensorFault` opens or updates an alert on, with its condition."""
    d = SensorFault()
    return [(r, c) for r in readings for c in d.update(r) or [] if c.active]
