"""Checks shared by the detector unit tests: feeding readings, resuming after a pickle, and
running `cargowatch backtest` as a user does."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


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
    args = [str(path), "--shipments", str(fleet), "--alerts", str(alerts)]
    done = subprocess.run(
        [sys.executable, "-m", "cargowatch", "backtest", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in alerts.read_text().splitlines()]


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
