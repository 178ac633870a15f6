"""`cargowatch demo --check` on a short fleet at high speed, and a second demo beside it.

The demo runs as a newcomer runs it, a subprocess with real mosquitto, influxd and `cargowatch
run` under it. A fleet of four trackers with incidents whose alerts do not hang on thermal
physics (seal tampering, a route deviation, a door left open, GPS jamming) is streamed at 1200
simulated seconds per second with a 5 s reorder window. While it runs, a second demo on the
same directory must refuse at once, naming the first, and leave it running; the first must
still pass its own check, exit 0 and leave no process of its own behind.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ingest_process import wait_for

pytestmark = pytest.mark.integration

FLEET = [
    "--devices", "4", "--duration", "4h", "--seed", "3", "--speed", "1200",
    "--scenarios", "seal_tamper,route_deviation,door_left_open,gps_jamming",
]  # fmt: skip


def demo(directory: Path, *args: str, output: Path) -> subprocess.Popen:
    with output.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cargowatch", "demo", "--dir", str(directory), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CARGOWATCH_LATENESS_S": "5"},
        )


def processes_serving(directory: Path) -> list[str]:
    """Live processes of this demo: its servers name its directory on their command line,
    `cargowatch run` and the simulator (and their children) in their environment. A zombie's
    command line and environment are empty, so only running ones count."""
    found = []
    marker = str(directory).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker in cmdline or marker in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {command}")
    return found


def test_the_demo_checks_every_incident_and_a_second_demo_leaves_it_alone(tmp_path):
    directory = tmp_path / "demo"
    first_out = tmp_path / "first.out"
    first = demo(directory, "--check", *FLEET, output=first_out)
    try:
        wait_for(
            lambda: "The console:" in first_out.read_text() or first.poll() is not None,
            120,
            "the first demo to serve its console",
        )
        assert first.poll() is None, first_out.read_text()

        second = subprocess.run(
            [sys.executable, "-m", "cargowatch", "demo", "--dir", str(directory), *FLEET],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 3, second.stdout + second.stderr
        assert f"a demo is already running in {directory} (pid {first.pid}" in second.stderr
        assert first.poll() is None, "the second demo stopped the first"

        first.wait(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    report = first_out.read_text()
    assert first.returncode == 0, report
    assert "FAIL" not in report
    assert "ok    readings stored in InfluxDB:" in report
    assert "its history holds the ack" in report
    assert "cargowatch run stopped with exit status 0" in report
    assert processes_serving(directory) == []


def test_ctrl_c_stops_the_demo_and_everything_it_started(tmp_path):
    directory = tmp_path / "demo"
    out = tmp_path / "demo.out"
    # A fleet that would stream for an hour: only Ctrl-C ends this one.
    running = demo(directory, "--devices", "2", "--duration", "12h", "--speed", "12", output=out)
    try:
        wait_for(
            lambda: "The console:" in out.read_text() or running.poll() is not None,
            120,
            "the demo to serve its console",
        )
        assert running.poll() is None, out.read_text()
        serving = processes_serving(directory)
        assert any("cargowatch run" in p for p in serving), serving
        assert any("mosquitto" in p for p in serving), serving
        running.send_signal(signal.SIGINT)
        running.wait(timeout=120)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
    assert running.returncode == 130, out.read_text()
    assert "SIGINT received; everything is stopped" in out.read_text()
    assert processes_serving(directory) == []
