"""Real server processes on free loopback ports: the lifecycle the demo and the tests share.

`cargowatch demo`, the integration tests and the benchmarks each run their own mosquitto and
influxd (and the tests a PostgreSQL) from a directory of their own, with a config that keeps
them away from the system's data directories and default ports. `ServerProcess` spawns a
server, waits until it answers real requests, and stops, kills or restarts it; every server
it starts is in a registry killed at interpreter exit, and gets a parent-death signal on
Linux, so an interrupted run never leaves one behind. The servers themselves are
`ingest.local_mosquitto` and `ingest.local_influxd`.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

_SBIN_DIRS = "/usr/local/sbin:/usr/sbin:/sbin"

_DEBIAN_PACKAGES = {
    "mosquitto": "mosquitto",
    "mosquitto_sub": "mosquitto-clients",
    "influxd": "influxdb",
}

#: Where Linux says which ports it gives outgoing connections, and its default range.
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_EPHEMERAL_DEFAULT = (32_768, 60_999)
#: The lowest port an unprivileged server may listen on.
_FIRST_PORT = 1_024
#: Ports tried outside the ephemeral range before any free port is taken.
_PORT_TRIES = 200

_live_processes: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


def _kill_live_processes() -> None:
    with _live_lock:
        processes = list(_live_processes)
        _live_processes.clear()
    for process in processes:
        if process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


atexit.register(_kill_live_processes)


def parent_death_signal() -> Callable[[], None] | None:
    """Return a preexec hook that has the kernel SIGKILL the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        # Covers the case atexit cannot: the test runner itself being SIGKILLed (e.g. a CI
        # timeout). The signal fires when the spawning *thread* exits, so servers must be
        # started from a thread that outlives them (pytest fixtures and bench scripts use the
        # main thread).
        prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)

    return hook


def ephemeral_ports(path: Path = _EPHEMERAL_RANGE) -> tuple[int, int]:
    """The range the kernel gives outgoing connections their source ports from (Linux's
    default where `path` cannot be read)."""
    try:
        low, high = (int(field) for field in path.read_text().split())
    except (OSError, ValueError):
        return _EPHEMERAL_DEFAULT
    return low, high


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago, outside the ephemeral range.

    A port the kernel hands out itself (binding port 0) is one it also gives outgoing
    connections as their source port. A server that a test stops and starts again (an outage
    it stages) would then find its port taken meanwhile: by any client's connection, or by a
    client retrying to reach it, which on Linux connects to itself when the source port it
    was given is the very port it dials. Ports outside that range are never given so.
    """
    low, high = ephemeral_ports()
    # Unprivileged ports either side of the ephemeral range, in one run of numbers.
    below, above = max(0, low - _FIRST_PORT), max(0, 65_535 - high)
    rng = random.SystemRandom()
    for _ in range(_PORT_TRIES):
        if below + above == 0:
            break
        pick = rng.randrange(below + above)
        port = _FIRST_PORT + pick if pick < below else high + 1 + pick - below
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    # Everything outside the range busy (or no room outside it): any free port will do.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_executable(name: str) -> str:
    """Locate a server binary on PATH or in the sbin directories, or explain how to get it."""
    found = shutil.which(name) or shutil.which(name, path=_SBIN_DIRS)
    if found is None:
        raise FileNotFoundError(
            f"'{name}' was not found on PATH or in {_SBIN_DIRS}; install it with "
            f"'apt-get install {_DEBIAN_PACKAGES.get(name, name)}' (scripts/bootstrap does)"
        )
    return found


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"({path} is empty)"


class ServerProcess:
    """Lifecycle shared by every server: spawn, wait until usable, stop, kill, restart."""

    name = "server"
    start_timeout_s = 10.0
    stop_timeout_s = 10.0

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._port = port if port is not None else free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._output_path = self.directory / f"{self.name}.out"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._port

    # Subclasses describe how to run and probe the server.
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _write_config(self) -> None:
        raise NotImplementedError

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _log_paths(self) -> list[Path]:
        return [self._output_path]

    @property
    def pid(self) -> int | None:
        """Process id of the running server, or None when it is not running."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def is_running(self) -> bool:
        """Whether the server process exists and has not exited."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the server's log files, for error messages."""
        return "\n".join(f"--- {path}\n{_tail(path, lines)}" for path in self._log_paths())

    def start(self) -> None:
        """Spawn the server and return once it answers real requests."""
        if self.is_running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self._write_config()
        command = self._command()
        with open(self._output_path, "ab") as output:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                preexec_fn=parent_death_signal(),
                # Keeps a terminal's Ctrl-C away from the server; teardown stops it in order.
                start_new_session=True,
            )
        with _live_lock:
            _live_processes.add(process)
        self._process = process
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if process.poll() is not None:
                self._forget(process)
                raise RuntimeError(
                    f"{self.name} exited with code {process.returncode} during start-up "
                    f"({' '.join(command)})\n{self.log_tail()}"
                )
            if self._is_ready():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"{self.name} did not become ready within {self.start_timeout_s:.0f} s "
                    f"({' '.join(command)})\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Shut the server down gracefully (SIGTERM), killing it if it does not exit in time."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._forget(process)

    def kill(self) -> None:
        """Crash the server (SIGKILL): nothing gets flushed."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        self._forget(process)

    def restart(self) -> None:
        """Stop gracefully and start again with the same ports, config and data directory."""
        self.stop()
        self.start()

    def _forget(self, process: subprocess.Popen[bytes]) -> None:
        with _live_lock:
            _live_processes.discard(process)
        if self._process is process:
            self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            process.kill()
