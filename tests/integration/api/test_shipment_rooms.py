"""Trackers put in one room through the API watch each other's probes in a real `cargowatch run`.

Two cold-store loggers of one organisation, 15-minute readings, no ambient channel: one is
created with its `room`, the other gets the same room by a PATCH. One logger jumps 14.3 °C in
15 minutes and stays; the other holds. The readings go through the real broker and ingester,
and the `sensor_fault` on the jumper is read back through the API. A bad room is a 422 naming
the field, and the room is kept in the manifest the API returns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cargowatch_run import RunProcess
from ingest_process import encode, publish, topic
from services import InfluxServer, MosquittoServer

pytestmark = pytest.mark.integration

MIN_MS = 60_000
STEP_MS = 15 * MIN_MS
JUMPER = [2.0, 2.1, 2.0, 2.1, 16.4, 16.4, 16.5, 16.4, 16.4]  # +14.3 °C at the fifth reading
STILL = [2.2, 2.1, 2.2, 2.2, 2.1, 2.2, 2.2, 2.1, 2.2]
ROOM = "store-a/chiller-2"


@pytest.fixture
def service(
    mosquitto: MosquittoServer, influxd_shared: InfluxServer, tmp_path: Path
) -> Iterator[RunProcess]:
    process = RunProcess(
        mosquitto.url,
        influxd_shared.url,
        "rooms",
        tmp_path / "run",
        db_url=f"sqlite:///{tmp_path / 'store.db'}",
        default_profile="none",
        lateness_s="0",
    )
    process.start()
    yield process
    process.close()


def readings(device: str, temps: list[float], start_ms: int) -> list[dict[str, Any]]:
    return [
        {"device_id": device, "ts": start_ms + k * STEP_MS, "seq": k + 1, "temp_c": t}
        for k, t in enumerate(temps)
    ]


def sensor_faults(service: RunProcess) -> list[dict[str, Any]]:
    listed = service.call("GET", "/alerts", params={"kind": "sensor_fault"})
    assert listed.status_code == 200, listed.text
    data: list[dict[str, Any]] = listed.json()["data"]
    return data


def test_a_logger_jumping_alone_in_a_room_set_through_the_api_raises_a_sensor_fault(
    service: RunProcess, mosquitto: MosquittoServer, wait_for: Any
) -> None:
    service.operator_key("ACME")
    base = {"profile": "customs_transit"}  # no range: only the sensor checks speak
    bad = service.call(
        "POST",
        "/shipments",
        json={**base, "shipment_id": "SHP-L1", "device_id": "log-1", "room": "chiller 2"},
    )
    assert bad.status_code == 422, bad.text
    assert [e["loc"] for e in bad.json()["detail"]] == [["body", "room"]]

    created = service.call(
        "POST",
        "/shipments",
        json={**base, "shipment_id": "SHP-L1", "device_id": "log-1", "room": ROOM},
    )
    assert created.status_code == 201, created.text
    assert created.json()["manifest"]["room"] == ROOM
    second = service.call(
        "POST", "/shipments", json={**base, "shipment_id": "SHP-L2", "device_id": "log-2"}
    )
    assert second.status_code == 201, second.text
    patched = service.call("PATCH", "/shipments/SHP-L2", json={"room": ROOM})
    assert patched.status_code == 200, patched.text
    assert patched.json()["manifest"]["room"] == ROOM and patched.json()["version"] == 2
    assert service.call("GET", "/shipments/SHP-L2").json()["manifest"]["room"] == ROOM
    wait_for(lambda: "watching SHP-L1 on log-1" in service.log())
    wait_for(lambda: "watching SHP-L2 on log-2 (version 2" in service.log())

    # The last reading is about now; the neighbour reads 5 minutes after the jumper.
    start_ms = int(time.time() * 1000) - len(JUMPER) * STEP_MS
    stream = sorted(
        readings("log-1", JUMPER, start_ms) + readings("log-2", STILL, start_ms + 5 * MIN_MS),
        key=lambda r: r["ts"],
    )
    publish(mosquitto.port, [(topic(r["device_id"]), encode(r)) for r in stream])
    wait_for(lambda: sensor_faults(service) != [], 60)
    [fault] = sensor_faults(service)
    assert (fault["device_id"], fault["shipment_id"]) == ("log-1", "SHP-L1")
    assert f"in room {ROOM}" in fault["summary"], fault["summary"]
    assert service.terminate() == 0
