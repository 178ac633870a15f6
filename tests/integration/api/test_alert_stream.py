"""``GET /alerts/stream`` through a real uvicorn and a real ``cargowatch api`` process: events
arrive in order, ``Last-Event-ID`` resumes with exactly the missing ones, another
organisation's events never appear, a keyless request is refused, and stopping the server ends
the streams it serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_world import SHIPMENTS, World, alert_id, event
from services import free_port, parent_death_signal

from api.app import create_app
from api.routes.stream import StreamSettings
from api.server import ApiServer
from api.store import record_events

pytestmark = pytest.mark.integration


class Stream:
    """Reads one event stream on a thread of its own: the events' (id, payload), in order."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: list[tuple[int, dict[str, object]]] = []
        self.comments = 0
        self.ended = threading.Event()
        self.status: int | None = None
        self._opened = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()
        assert self._opened.wait(20), "the stream did not open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=30) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                event_id: int | None = None
                for line in response.iter_lines():
                    self._opened.set()
                    if line.startswith("id: "):
                        event_id = int(line[4:])
                    elif line.startswith("data: ") and event_id is not None:
                        with self._changed:
                            self.events.append((event_id, json.loads(line[6:])))
                            self._changed.notify_all()
                    elif line.startswith(":"):
                        with self._changed:
                            self.comments += 1
                            self._changed.notify_all()
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()
            self.ended.set()

    def wait_for(self, count: int) -> list[tuple[int, dict[str, object]]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.events) >= count, 20), self.events
            return list(self.events)

    def wait_for_comment(self) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.comments > 0, 20)


@pytest.fixture
def served(world: World) -> Iterator[str]:
    """The world's app behind a real uvicorn, polling every 20 ms, a keep-alive every 0.3 s."""
    app = create_app(world.sessions)
    app.state.stream = StreamSettings(poll_s=0.02, heartbeat_s=0.3)
    port = free_port()
    server = ApiServer(app, "127.0.0.1", port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    assert server.stop(timeout_s=10), "the server did not stop with a stream open"


def updates(shipment_id: str, count: int, first_seq: int = 2):
    device = SHIPMENTS[shipment_id][1]
    return [
        (event(shipment_id, device, alert_id(shipment_id), event_name="update"), seq)
        for seq in range(first_seq, first_seq + count)
    ]


def test_events_arrive_in_order_with_their_outbox_ids(world, served):
    stream = Stream(f"{served}/alerts/stream", world.headers("admin"))
    assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
    record_events(world.sessions, updates("SHP-A1", 5) + updates("SHP-G1", 5))
    got = stream.wait_for(10)
    ids = [i for i, _ in got]
    assert ids == sorted(ids) and len(set(ids)) == 10
    assert [p["history_seq"] for _, p in got if p["alert_id"] == alert_id("SHP-A1")] == [
        2,
        3,
        4,
        5,
        6,
    ]
    stream.wait_for_comment()


def test_resuming_with_last_event_id_yields_exactly_the_missing_events(world, served):
    first = Stream(f"{served}/alerts/stream?after=0", world.headers("admin"))
    before = first.wait_for(4)  # the world's four opens
    record_events(world.sessions, updates("SHP-A1", 6))
    everything = first.wait_for(10)
    last_seen = everything[5][0]
    resumed = Stream(
        f"{served}/alerts/stream", {**world.headers("admin"), "Last-Event-ID": str(last_seen)}
    )
    assert resumed.wait_for(4) == everything[6:]
    record_events(world.sessions, updates("SHP-A1", 2, first_seq=8))
    assert resumed.wait_for(6)[4:] == first.wait_for(12)[10:]
    assert len(before) == 4


def test_another_organisations_events_never_appear_and_filters_apply(world, served):
    acme = Stream(f"{served}/alerts/stream?after=0", world.headers("operator"))
    critical = Stream(
        f"{served}/alerts/stream?after=0&severity=critical&device_id=trk-a1",
        world.headers("admin"),
    )
    record_events(world.sessions, updates("SHP-G1", 3) + updates("SHP-A1", 1))
    got = acme.wait_for(3)  # SHP-A1, SHP-A2 opens and the SHP-A1 update
    assert {p["shipment_id"] for _, p in got} == {"SHP-A1", "SHP-A2"}
    assert {p["device_id"] for _, p in critical.wait_for(2)} == {"trk-a1"}
    # Another organisation's later events went by; the admin's stream shows they were sent.
    admin = Stream(f"{served}/alerts/stream?after=0", world.headers("admin"))
    assert len(admin.wait_for(8)) == 8
    assert len(acme.events) == 3 and len(critical.events) == 2


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no key"),
        pytest.param({"Authorization": "Bearer cw_00000000_nope"}, id="an unknown key"),
    ],
)
def test_a_request_without_a_valid_key_is_refused_with_401(world, served, headers):
    response = httpx.get(f"{served}/alerts/stream", headers=headers, timeout=10)
    assert response.status_code == 401


def test_a_last_event_id_that_is_not_an_id_is_a_400(world, served):
    headers = {**world.headers("admin"), "Last-Event-ID": "yesterday"}
    assert httpx.get(f"{served}/alerts/stream", headers=headers, timeout=10).status_code == 400


def test_a_cargowatch_api_process_streams_events_as_they_are_recorded_and_stops_on_sigterm(
    world, sql_url, mosquitto, influx_db, tmp_path: Path
):
    server, database = influx_db
    env = {
        **os.environ,
        "CARGOWATCH_DB_URL": sql_url,
        "CARGOWATCH_MQTT_URL": mosquitto.url,
        "CARGOWATCH_INFLUX_URL": server.url,
        "CARGOWATCH_INFLUX_DB": database,
    }
    port = free_port()
    with (tmp_path / "api.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cargowatch", "api", "--api-port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=parent_death_signal(),
        )
        try:
            base = f"http://127.0.0.1:{port}"
            opened = threading.Event()
            while not opened.is_set():
                assert process.poll() is None, (tmp_path / "api.log").read_text()
                try:
                    httpx.get(f"{base}/health/live", timeout=1)
                    opened.set()
                except httpx.TransportError:
                    opened.wait(0.05)
            stream = Stream(f"{base}/alerts/stream", world.headers("operator"))
            record_events(world.sessions, updates("SHP-A1", 3))
            assert [p["history_seq"] for _, p in stream.wait_for(3)] == [2, 3, 4]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
            assert stream.ended.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
