"""The processes and files behind `cargowatch demo`: its lock, its servers, its keys, its children.

Everything lives in one directory (``var/demo`` by default). A lock file there, held with
``flock`` for as long as the demo runs and naming its pid and console, makes a second demo on
the same directory refuse with one line instead of clearing the data of the running one; a
demo in another directory coexists, since every port is a free one. mosquitto (CargoWatch's
shipped, secured config) and influxd are `ingest.local_mosquitto` and `ingest.local_influxd`,
the managers the integration tests use. ``cargowatch run`` and ``cargowatch simulate`` run as
child processes in sessions of their own, so a Ctrl-C in the terminal reaches the demo alone,
which then stops them in order; a parent-death signal takes them down if the demo is killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from api.db import make_engine, session_factory, write_transaction
from api.keys import create_api_key, organisation_for
from api.schema import upgrade
from ingest.broker_auth import Role
from ingest.local_influxd import InfluxServer
from ingest.local_mosquitto import ShippedMosquittoServer
from ingest.local_servers import parent_death_signal

#: What a fresh start removes: the previous run's data would mix with this run's fleet.
_RUN_FILES = (
    "influxdb",
    "mosquitto",
    "spool",
    "state",
    "cargowatch.db",
    "cargowatch.db-wal",
    "cargowatch.db-shm",
    "fleet.json",
    "truth.jsonl",
    "operator.key",
    "customs.key",
    "run.log",
    "simulate.log",
)


class DemoRefused(RuntimeError):
    """Another demo holds the directory; the message says which and what to do."""


class DemoFailed(RuntimeError):
    """A part of the demo did not start; the message is one line (and a log tail)."""


class DemoLock:
    """An exclusive ``flock`` on ``DIR/demo.lock``, released when the process ends however."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "demo.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DemoRefused(
                f"a demo is already running in {self.path.parent} ({holder}); it is left alone."
                " Stop it with Ctrl-C in its terminal, or start this one with --dir OTHER_DIR"
            ) from None
        self._file = handle
        self.describe(f"pid {os.getpid()}")

    def describe(self, text: str) -> None:
        """Say who holds the lock, for the message a second demo prints."""
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.write(text + "\n")
            self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the flock
            self._file = None


def clear_previous_run(directory: Path) -> None:
    """Remove what an earlier demo in `directory` left, so this run reports its own fleet."""
    for name in _RUN_FILES:
        path = directory / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class BrokerUsers:
    """Passwords of the demo broker's users, one per role (`cargowatch broker add-user`)."""

    service: str
    gateway: str
    reader: str


SERVICE_USER, GATEWAY_USER, READER_USER = "cargowatch", "fleet-gateway", "alerts-reader"


def start_broker(directory: Path) -> tuple[ShippedMosquittoServer, BrokerUsers]:
    """The shipped, secured mosquitto config on a free port, with a user per role."""
    broker = ShippedMosquittoServer(directory / "mosquitto")
    users = BrokerUsers(
        service=broker.add_user(SERVICE_USER, Role.SERVICE),
        gateway=broker.add_user(GATEWAY_USER, Role.GATEWAY),
        reader=broker.add_user(READER_USER, Role.CONSUMER),
    )
    _start(broker.start, "mosquitto")
    return broker, users


def start_influxd(directory: Path) -> InfluxServer:
    influxd = InfluxServer(directory / "influxdb")
    _start(influxd.start, "influxd")
    return influxd


def _start(start: Callable[[], None], name: str) -> None:
    try:
        start()
    except (FileNotFoundError, RuntimeError) as exc:
        raise DemoFailed(f"{name} did not start: {exc}") from None


def make_keys(db_url: str) -> tuple[str, str]:
    """Migrate the store, then make an operator key and a customs key; return both."""
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with write_transaction(session_factory(engine)) as session:
            shipper = organisation_for(session, "Demo Cold Chain")
            customs = organisation_for(session, "Demo Customs")
            _, operator_key = create_api_key(session, shipper.id, "operator", "demo operator")
            _, customs_key = create_api_key(session, customs.id, "customs", "demo risk unit")
    finally:
        engine.dispose()
    return operator_key, customs_key


def write_secret(path: Path, text: str) -> None:
    """A key file only its owner reads."""
    path.touch(mode=0o600)
    path.write_text(text + "\n")


class Child:
    """A ``python -m cargowatch ...`` child with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name, self.log = name, log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                preexec_fn=parent_death_signal(),
                # The demo alone takes the terminal's Ctrl-C, then stops its children in order.
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float) -> int:
        """SIGTERM, then SIGKILL past the timeout; the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def wait_until_serving(run: Child, api_url: str, timeout_s: float = 90.0) -> None:
    """Return once the API answers ``/health/live``; fail early if ``cargowatch run`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not run.running():
            raise DemoFailed(f"cargowatch run exited during start-up:\n{run.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api_url}/health/live", timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise DemoFailed(f"cargowatch run did not serve within {timeout_s:.0f} s:\n{run.log_tail()}")
