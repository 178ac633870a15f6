"""A spool on a disk that really fills up: the ingester holds acks instead of dying or losing data.

The spool directory sits on a small tmpfs of the test's own, filled to the last page, so the
kernel itself answers the spool's writes with ENOSPC. Mounting needs root (CI runs as root);
elsewhere the test says why it cannot run, and the unit tests cover the same decisions with
injected errors.
"""

import contextlib
import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from ingest_process import encode, publish, reading, topic, wait_for
from paho.mqtt.enums import CallbackAPIVersion

pytestmark = pytest.mark.integration

DISK_BYTES = 4 * 1024 * 1024
READINGS = 3000
REFUSED = "the disk refused the spool write"
WORKS_AGAIN = "work again; acking resumes"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for this test alone."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill up needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    # Lazy: the ingester may still hold the directory open while it is being killed.
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the file system has no page left; return it."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        chunk = b"\0" * 65536
        with pytest.raises(OSError) as full:
            while True:
                f.write(chunk)
    assert full.value.errno == errno.ENOSPC
    return filler


class StoredMessages:
    """The broker's count of messages it holds ($SYS, refreshed every 10 s by mosquitto)."""

    def __init__(self, port: int) -> None:
        self.count = -1
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"sys-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        client.on_connect = lambda c, *a: c.subscribe("$SYS/broker/store/messages/count")
        client.on_message = lambda c, u, m: setattr(self, "count", int(m.payload))
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def stored_messages(mosquitto) -> Iterator[StoredMessages]:
    watcher = StoredMessages(mosquitto.port)
    yield watcher
    watcher.close()


def count(influx, db) -> int:
    with contextlib.suppress(Exception):  # influxd is down for part of this test
        return influx.count("telemetry", db, "seq")
    return -1


def test_a_full_disk_holds_acks_until_it_has_room_and_nothing_is_lost(
    small_disk, mosquitto, influxd, stored_messages, start_ingester
):
    db = "cargowatch"
    spool = small_disk / "spool"
    ingester = start_ingester(
        mosquitto.url,
        influxd.url,
        db,
        spool_dir=str(spool),
        retry_window_s="0.5",
        batch_size="500",
    )
    influxd.stop()
    filler = fill(small_disk)
    devices = [f"trk-{k:02d}" for k in range(10)]
    publish(
        mosquitto.port,
        [(topic(devices[i % 10]), encode(reading(devices[i % 10], i))) for i in range(READINGS)],
    )

    wait_for(lambda: REFUSED in ingester.log(), 60, "the disk to refuse the spool write")
    # Nothing was acked: the broker still holds every message (its count includes its own $SYS).
    wait_for(lambda: stored_messages.count >= READINGS, 30, "the broker to report its backlog")
    # Each attempt creates and removes a temporary file, which changes the directory's mtime.
    seen = {spool.stat().st_mtime_ns}
    wait_for(
        lambda: seen.add(spool.stat().st_mtime_ns) or len(seen) >= 4,
        30,
        "three more attempts at the spool",
    )
    assert ingester.process.poll() is None, "a full disk must not stop the ingester"
    assert sorted(p.name for p in spool.iterdir()) == [], "nothing spooled, nothing left behind"
    assert ingester.log().count(REFUSED) == 1, "the refusal is logged once, not per attempt"

    filler.unlink()
    wait_for(lambda: WORKS_AGAIN in ingester.log(), 30, "spooling to resume")
    influxd.start()
    wait_for(lambda: count(influxd, db) >= READINGS, 120, "every reading to be stored")
    assert count(influxd, db) == READINGS
    wait_for(lambda: "InfluxDB writes resumed" in ingester.log(), 30, "the replay to finish")
    log = ingester.log()
    [resumed] = [line for line in log.splitlines() if "InfluxDB writes resumed" in line]
    assert resumed.endswith("lost 0"), resumed
    assert log.count(REFUSED) == 1 and log.count(WORKS_AGAIN) == 1
    assert "Traceback" not in log
    wait_for(lambda: stored_messages.count < READINGS, 30, "the broker to drop what was acked")
    assert ingester.terminate() == 0
