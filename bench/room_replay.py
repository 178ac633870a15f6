"""Rooms watched by one logger each, replayed through the whole detector engine.

Shared by the room benches (`cold_rooms.py`, `freezer_defrost.py`): each room is a shipment
of one profile reporting every so many minutes, and its readings (minutes from a fixed start,
°C) are replayed in time order across all rooms, each a second after it was taken.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors.alerts import AlertEvent
from detectors.profiles import parse_manifest
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def at_ms(minute: float) -> int:
    """The time of a reading taken `minute` minutes after the start."""
    return START_MS + int(minute * MIN)


def logged(rng: random.Random, air_c: float, noise_c: float, resolution_c: float) -> float:
    """What a logger reads of air at `air_c`: its noise, then its resolution."""
    noisy = air_c + rng.gauss(0.0, noise_c)
    return round(round(noisy / resolution_c) * resolution_c, 2)


def next_read_min(rng: random.Random, last_min: float, interval_min: int) -> float:
    """When a logger reporting every `interval_min` reads next: each interval drifts by up to
    2 %, as a real logger's clock does."""
    return last_min + interval_min * (1.0 + rng.uniform(-0.02, 0.02))


def replay_rooms(
    series: Sequence[Sequence[tuple[float, float]]],
    intervals_min: Sequence[int],
    profile: str,
    name: str,
    extra: Mapping[str, Any] | None = None,
) -> list[AlertEvent]:
    """The alert events of rooms `room-0`, `room-1`... (shipments `{name}-0`...) whose
    readings are `series` and who report every `intervals_min`; `extra` adds manifest keys to
    every room's shipment (`{"probe": "air"}`)."""
    manifest = {
        "shipments": [
            {
                "shipment_id": f"{name}-{i}",
                "device_id": f"room-{i}",
                "profile": profile,
                "expected_interval_s": interval * 60,
                **(extra or {}),
            }
            for i, interval in enumerate(intervals_min)
        ]
    }
    engine = build_engine(parse_manifest(manifest))
    stream = sorted(
        (at_ms(minute), i, value) for i, values in enumerate(series) for minute, value in values
    )
    events: list[AlertEvent] = []
    for ts, i, value in stream:
        events += engine.process(Reading(f"room-{i}", ts, temp_c=value), ts + 1_000)
    events += engine.flush()
    return events


def room_of(event: AlertEvent) -> int:
    """The index of the room an event is about."""
    return int(event.device_id.removeprefix("room-"))
