"""Real mosquitto, influxd and PostgreSQL processes for integration tests and benchmarks.

The mosquitto and influxd managers are the product's own (``ingest.local_servers``,
``ingest.local_mosquitto``, ``ingest.local_influxd``: `cargowatch demo` runs on them), named
here so tests and bench scripts import every server from one place. PostgreSQL, which only the
tests and benchmarks start, is managed here on the same lifecycle: its own temporary directory,
a free loopback port, the process registry killed at interpreter exit and a parent-death
signal, so a failing or interrupted run never leaves servers behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from ingest.local_influxd import InfluxQueryError, InfluxServer, quote_ident
from ingest.local_mosquitto import (
    MosquittoServer,
    ShippedMosquittoServer,
    mqtt_connack_code,
    mqtt_connack_ok,
)
from ingest.local_servers import ServerProcess, find_executable, free_port, parent_death_signal

__all__ = [
    "InfluxQueryError",
    "InfluxServer",
    "MosquittoServer",
    "PostgresServer",
    "ShippedMosquittoServer",
    "find_executable",
    "free_port",
    "mqtt_connack_code",
    "mqtt_connack_ok",
    "parent_death_signal",
    "postgres_bin_dir",
    "quote_ident",
]


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


class PostgresServer(ServerProcess):
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
