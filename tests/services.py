"""Real mosquitto, influxd and PostgreSQL processes for integration tests and benchmarks.

Each server runs from its own temporary directory on free loopback ports, with a config file
that keeps it away from the system's data directories and default ports, so tests can start,
restart, crash and inspect brokers and databases without touching anything else on the machine.
The pytest fixtures in ``conftest.py`` and the scripts in ``bench/`` build on these classes; a
process registry killed at interpreter exit (and a parent-death signal on Linux) makes sure a
failing or interrupted run never leaves servers behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import psycopg
from psycopg import sql

from ingest.broker_auth import Role, add_user, init_files
from ingest.broker_config import (
    ACL_NAME,
    DURABLE,
    PASSWORD_NAME,
    PERSISTENCE_FILE,
    Durability,
    render_mosquitto_conf,
)

# Debian installs mosquitto in /usr/sbin, which is not on a non-root user's PATH.
_SBIN_DIRS = "/usr/local/sbin:/usr/sbin:/sbin"

_DEBIAN_PACKAGES = {"mosquitto": "mosquitto", "influxd": "influxdb"}

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


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_executable(name: str) -> str:
    """Locate a server binary on PATH or in the sbin directories, or explain how to get it."""
    found = shutil.which(name) or shutil.which(name, path=_SBIN_DIRS)
    if found is None:
        raise FileNotFoundError(
            f"'{name}' was not found on PATH or in {_SBIN_DIRS}; integration tests need the "
            f"real server: install it with 'apt-get install {_DEBIAN_PACKAGES.get(name, name)}'"
        )
    return found


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"({path} is empty)"


class _ServerProcess:
    """Lifecycle shared by both servers: spawn, wait until usable, stop, kill, restart."""

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


class MosquittoServer(_ServerProcess):
    """A mosquitto broker on 127.0.0.1 that keeps persistent sessions across restarts.

    By default it is anonymous, queues are unlimited so a persistent session never drops a
    QoS 1 message while its subscriber is away, and the in-memory database is written on
    every clean shutdown and every ``autosave_interval_s`` seconds (so a ``kill()`` loses at
    most that much). ``config`` replaces that config with the text it returns for this
    server (e.g. CargoWatch's shipped, secured config rendered for its port and directory);
    such a broker counts as ready once it answers a CONNECT at all, since it refuses the
    anonymous probe.
    """

    name = "mosquitto"

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        autosave_interval_s: int = 1,
        config: Callable[[MosquittoServer], str] | None = None,
    ) -> None:
        super().__init__(directory, port)
        self.autosave_interval_s = autosave_interval_s
        self.config_path = self.directory / "mosquitto.conf"
        self.log_path = self.directory / "mosquitto.log"
        self._render_config = config
        self._binary = find_executable("mosquitto")

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _command(self) -> list[str]:
        return [self._binary, "-c", str(self.config_path)]

    def _log_paths(self) -> list[Path]:
        return [self.log_path, self._output_path]

    def _write_config(self) -> None:
        if self._render_config is not None:
            self.config_path.write_text(self._render_config(self))
            return
        user = pwd.getpwuid(os.geteuid()).pw_name
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            # Started as root, mosquitto would switch to the 'mosquitto' user, which cannot
            # write into our temp directory; naming the current user keeps it as is.
            f"user {user}",
            "persistence true",
            f"persistence_location {self.directory}/",
            "persistence_file mosquitto.db",
            "autosave_on_changes false",
            f"autosave_interval {self.autosave_interval_s}",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            "max_inflight_messages 0",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _is_ready(self) -> bool:
        code = mqtt_connack_code(self.host, self.port)
        if self._render_config is not None:
            return code is not None
        return code == 0


class ShippedMosquittoServer(MosquittoServer):
    """mosquitto running CargoWatch's shipped config (``ingest/mosquitto``), rendered for its
    own port and temp directory: no anonymous clients, the password file and ACL in
    ``directory``, and the given persistence settings (`ingest.broker_config.DURABLE` by
    default). Users are added with `add_user`, as ``cargowatch broker add-user`` adds them.
    """

    def __init__(
        self, directory: Path, port: int | None = None, durability: Durability | None = None
    ) -> None:
        super().__init__(directory, port, config=self._render)
        self.durability = durability if durability is not None else DURABLE
        self.password_file = self.directory / PASSWORD_NAME
        self.acl_file = self.directory / ACL_NAME
        self.persistence_path = self.directory / PERSISTENCE_FILE
        init_files(self.password_file, self.acl_file)

    def _render(self, server: MosquittoServer) -> str:
        return render_mosquitto_conf(
            host=self.host,
            port=self.port,
            persistence_dir=self.directory,
            password_file=self.password_file,
            acl_file=self.acl_file,
            # As for MosquittoServer: run as root, stay the current user, not 'mosquitto'.
            run_as=pwd.getpwuid(os.geteuid()).pw_name,
            log_file=self.log_path,
            durability=self.durability,
        )

    def add_user(self, name: str, role: Role = Role.DEVICE, replace: bool = False) -> str:
        """Add a user to the password file (and ACL); return its password. A running broker
        loads it on SIGHUP."""
        added = add_user(self.password_file, name, role, acl_file=self.acl_file, replace=replace)
        return added.password

    def url_for(self, username: str, password: str) -> str:
        return f"mqtt://{username}:{password}@{self.host}:{self.port}"


def mqtt_connack_code(host: str, port: int, timeout_s: float = 1.0) -> int | None:
    """The return code of the CONNACK an anonymous MQTT 3.1.1 CONNECT to host:port gets
    (0 accepted, 5 not authorised, ...), or None when nothing answers."""
    client_id = f"probe-{os.getpid()}-{time.monotonic_ns()}".encode()
    variable_header = b"\x00\x04MQTT\x04\x02\x00\x0a"  # protocol MQTT, level 4, clean, 10 s
    body = variable_header + len(client_id).to_bytes(2, "big") + client_id
    connect = bytes([0x10, len(body)]) + body
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(connect)
            reply = b""
            while len(reply) < 4:
                chunk = sock.recv(4 - len(reply))
                if not chunk:
                    return None
                reply += chunk
            if reply[:3] != b"\x20\x02\x00":
                return None
            if reply[3] == 0:
                sock.sendall(b"\xe0\x00")
            return reply[3]
    except OSError:
        return None


def mqtt_connack_ok(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether an MQTT 3.1.1 CONNECT to host:port is accepted (CONNACK with return code 0)."""
    return mqtt_connack_code(host, port, timeout_s) == 0


class InfluxQueryError(RuntimeError):
    """InfluxDB answered a query or write with an error."""


class InfluxServer(_ServerProcess):
    """An InfluxDB 1.x ``influxd`` on 127.0.0.1 with its data in a temp directory.

    The HTTP API (``url``) and the RPC (backup) port are both free ephemeral ports; data
    survives ``restart()``. Helper methods speak the v1 HTTP API for assertions in tests.
    """

    name = "influxd"
    start_timeout_s = 30.0

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        rpc_port: int | None = None,
        data_options: dict[str, int] | None = None,
    ):
        super().__init__(directory, port)
        #: Extra ``[data]`` settings, e.g. ``{"max-values-per-tag": 10}`` to reach a limit fast.
        self.data_options = data_options or {}
        self._rpc_port = rpc_port if rpc_port is not None else free_port()
        self.config_path = self.directory / "influxdb.conf"
        self._binary = find_executable("influxd")
        self._client: httpx.Client | None = None

    @property
    def rpc_port(self) -> int:
        return self._rpc_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _command(self) -> list[str]:
        return [self._binary, "-config", str(self.config_path)]

    def _write_config(self) -> None:
        d = self.directory
        extra_data = "".join(f"  {k} = {v}\n" for k, v in self.data_options.items())
        # Every section that could bind a port or write outside the temp dir is pinned or off.
        config = f"""\
reporting-disabled = true
reporting-enabled = false
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{d}/meta"
  logging-enabled = false

[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  index-version = "inmem"
{extra_data}
[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  log-enabled = false
  pprof-enabled = false
  unix-socket-enabled = false
  bind-socket = "{d}/influxdb.sock"

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
  log-enabled = false

[ifql]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"""
        self.config_path.write_text(config)

    def _is_ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 204
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self._close_client()
        super().stop()

    def kill(self) -> None:
        self._close_client()
        super().kill()

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def http(self) -> httpx.Client:
        """A keep-alive HTTP client bound to this server (recreated after a restart)."""
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=30.0)
        return self._client

    def create_database(self, db: str) -> None:
        """Create ``db`` if it does not exist yet."""
        self._post_query(f"CREATE DATABASE {quote_ident(db)}")

    def drop_database(self, db: str) -> None:
        """Drop ``db`` and all of its data."""
        self._post_query(f"DROP DATABASE {quote_ident(db)}")

    def write(self, db: str, lines: str | Iterable[str], precision: str = "ms") -> None:
        """Write line-protocol points, raising InfluxQueryError on anything but 204."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        response = self.http.post(
            "/write", params={"db": db, "precision": precision}, content=body.encode()
        )
        if response.status_code != 204:
            raise InfluxQueryError(f"write to {db} failed: {response.status_code} {response.text}")

    def query(self, q: str, db: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one InfluxQL statement and return its rows as dicts, times in epoch ms.

        Rows of all series are concatenated; with GROUP BY each row also carries the series'
        tags as keys. ``params`` are bound parameters (``$name`` in the query).
        """
        request: dict[str, str] = {"q": q, "db": db, "epoch": "ms"}
        if params:
            request["params"] = json.dumps(params)
        response = self.http.get("/query", params=request)
        results = self._results(response, q)
        rows: list[dict[str, Any]] = []
        for series in results[0].get("series", []):
            tags = series.get("tags") or {}
            for values in series.get("values", []):
                row = dict(zip(series["columns"], values, strict=True))
                row.update(tags)
                rows.append(row)
        return rows

    def count(self, measurement: str, db: str, field: str = "*") -> int:
        """Number of points in ``measurement``, counted on ``field``.

        A named field counts the points that have it, which is every point when the field is
        always written (``seq`` for telemetry). ``"*"`` counts every field and returns the
        largest count, which equals the number of points when at least one field is always
        present. Points that differ only in tag values are counted separately; duplicates of
        the same series and timestamp are stored once and so counted once.
        """
        target = "*" if field == "*" else quote_ident(field)
        rows = self.query(f"SELECT count({target}) FROM {quote_ident(measurement)}", db)
        if not rows:
            return 0
        counts = [int(v) for k, v in rows[0].items() if k != "time" and v is not None]
        return max(counts, default=0)

    def _post_query(self, q: str) -> None:
        response = self.http.post("/query", params={"q": q})
        self._results(response, q)

    @staticmethod
    def _results(response: httpx.Response, q: str) -> list[dict[str, Any]]:
        if response.status_code != 200:
            raise InfluxQueryError(f"{q!r} failed: {response.status_code} {response.text}")
        results: list[dict[str, Any]] = response.json().get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxQueryError(f"{q!r} failed: {result['error']}")
        return results or [{}]


def quote_ident(name: str) -> str:
    """Quote an InfluxQL identifier (database, measurement, field)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def postgres_bin_dir() -> Path:
    """Debian's PostgreSQL binaries (the newest installed version), or explain how to get them."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise FileNotFoundError(
            "PostgreSQL was not found under /usr/lib/postgresql/*/bin; integration tests need "
            "the real server: install it with 'apt-get install postgresql'"
        )
    return found[-1].parent


class PostgresServer(_ServerProcess):
    """A PostgreSQL server on 127.0.0.1 with its cluster in a temp directory of its own.

    ``initdb`` makes the cluster on first start (trust authentication, superuser
    ``postgres``), and the server listens on a free loopback port with its unix socket inside
    the temp directory, so it never meets a system cluster. PostgreSQL refuses to run as root:
    run as root, both run as the ``postgres`` system user (``setpriv``, which also keeps the
    parent-death signal through the switch), and the cluster lives in a directory of its own
    under the system temp dir, owned by that user, because pytest's temp dirs are private to
    root; ``remove()`` deletes it. ``durable=False`` (tests) turns fsync off; benchmarks keep
    PostgreSQL's defaults.
    """

    name = "postgres"
    start_timeout_s = 30.0

    def __init__(self, directory: Path, port: int | None = None, durable: bool = False) -> None:
        super().__init__(directory, port)
        self.durable = durable
        self._bin = postgres_bin_dir()
        self._as_postgres: list[str] = []
        self._owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            self._owner = (owner.pw_uid, owner.pw_gid)
            self.cluster_dir = Path(tempfile.mkdtemp(prefix="cargowatch-postgres-"))
            os.chown(self.cluster_dir, owner.pw_uid, owner.pw_gid)
            self._as_postgres = [
                "setpriv",
                f"--reuid={owner.pw_uid}",
                f"--regid={owner.pw_gid}",
                "--clear-groups",
                "--pdeathsig=KILL",
                "--",
            ]
            atexit.register(shutil.rmtree, self.cluster_dir, ignore_errors=True)
        else:
            self.cluster_dir = self.directory / "cluster"
            self.cluster_dir.mkdir(exist_ok=True)
        self.data_dir = self.cluster_dir / "data"
        self.socket_dir = self.cluster_dir / "socket"

    @property
    def url(self) -> str:
        """The maintenance database, as the superuser."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "logging_collector": "off",
        }
        if not self.durable:
            # Test data is thrown away, so waiting for the disk buys nothing.
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [*self._as_postgres, str(self._bin / "postgres"), "-D", str(self.data_dir), *options]

    def _write_config(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        for path in (self.data_dir, self.socket_dir):
            path.mkdir(exist_ok=True)
            if self._owner is not None:
                os.chown(path, *self._owner)
        initdb = [
            *self._as_postgres,
            str(self._bin / "initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        result = subprocess.run(initdb, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed with code {result.returncode}: {result.stderr.strip()[-2000:]}"
            )

    def _is_ready(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=1) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def stop(self) -> None:
        """Fast shutdown (SIGINT): sessions are ended instead of waited for."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=self.stop_timeout_s)
        super().stop()

    def remove(self) -> None:
        """Stop the server and delete its cluster."""
        self.stop()
        shutil.rmtree(self.cluster_dir, ignore_errors=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database `name` (a copy of `template` when given); return its URL."""
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(query)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name`, ending any session still connected to it."""
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(query)
