"""The console tests' world: a running `cargowatch run` with an operator and a viewer key of
ACME, reefer shipments made through the API on a route with a corridor and a restricted zone,
and a failing reefer's readings published through the broker, as a tracker would send them.
Screenshots go to ``test-artifacts/console/`` (ignored by git), where a person or CI can look
at them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cargowatch_run import RunProcess
from ingest_process import encode, publish, topic, wait_for
from playwright.sync_api import Page
from services import MosquittoServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
MIN = 60_000
#: Mombasa to Nairobi, the planned route of every test shipment.
ROUTE = [[39.66, -4.04], [38.56, -3.40], [37.52, -2.38], [36.82, -1.29]]
#: North of the route, so it is drawn but not entered.
ZONE = [[[38.6, -2.7], [39.0, -2.7], [39.0, -2.3], [38.6, -2.3], [38.6, -2.7]]]
#: A reefer losing power: steady at 4 °C, then warming 2 °C an hour toward the 8 °C limit,
#: stopping at 6.5 °C, 45 min before the breach, so a warning (not yet critical) is open.
REEFER_FAILURE = [4.0] * 8 + [4.0 + 2.0 * i / 12 for i in range(1, 16)]


@dataclass
class Console:
    """The running service and the keys the tests sign in with."""

    service: RunProcess
    broker: MosquittoServer
    operator_key: str
    viewer_key: str

    @property
    def base(self) -> str:
        return self.service.base

    def create_shipment(self, shipment_id: str, device_id: str, start_ms: int) -> None:
        body = {
            "shipment_id": shipment_id,
            "device_id": device_id,
            "profile": "vaccine_2_8",
            "departure": _rfc3339(start_ms - 60 * MIN),
            "route": {"type": "LineString", "coordinates": ROUTE},
            "corridor_m": 8000,
            "restricted_zones": [
                {"name": "Tsavo", "polygon": {"type": "Polygon", "coordinates": ZONE}}
            ],
            "seal_id": f"SEAL-{device_id}",
        }
        created = self.service.call("POST", "/shipments", json=body)
        assert created.status_code == 201, created.text
        moved = self.service.call(
            "PATCH", f"/shipments/{shipment_id}", json={"status": "in_transit"}
        )
        assert moved.status_code == 200, moved.text
        wait_for(
            lambda: f"watching {shipment_id} on {device_id}" in self.service.log(),
            60,
            f"the detectors to watch {device_id}",
        )

    def stage_reefer_failure(self, device_id: str, start_ms: int) -> None:
        """Publish a failing reefer's readings, one each 5 min from `start_ms`, along the route."""
        messages = []
        for i, temp in enumerate(REEFER_FAILURE):
            lon, lat = _along(i / (len(REEFER_FAILURE) - 1))
            reading: dict[str, Any] = {
                "device_id": device_id,
                "ts": start_ms + i * 5 * MIN,
                "seq": i,
                "temp_c": temp,
                "lat": lat,
                "lon": lon,
                "seal": "closed",
                "door": "closed",
            }
            messages.append((topic(device_id), encode(reading)))
        publish(self.broker.port, messages)


def journey_start_ms() -> int:
    """A start such that the whole failure lies in the past, as the detectors want it."""
    return (int(time.time() * 1000) // MIN) * MIN - (len(REEFER_FAILURE) + 2) * 5 * MIN


def _along(fraction: float) -> tuple[float, float]:
    """The position `fraction` of the way along ROUTE, by segment count (close enough here)."""
    scaled = fraction * (len(ROUTE) - 1)
    n = min(math.floor(scaled), len(ROUTE) - 2)
    f = scaled - n
    (lon0, lat0), (lon1, lat1) = ROUTE[n], ROUTE[n + 1]
    return lon0 + f * (lon1 - lon0), lat0 + f * (lat1 - lat0)


def _rfc3339(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot of the whole page as a test artifact and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
