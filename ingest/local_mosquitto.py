"""A real mosquitto on a free loopback port: plain and anonymous, or CargoWatch's shipped config.

`MosquittoServer` keeps persistent sessions across restarts with unlimited queues (what the
durability tests need); `ShippedMosquittoServer` renders `cargowatch broker write-config`'s
secured config (a password for every client, per-role ACLs) for its own port and directory,
which is what `cargowatch demo` runs. Readiness is an MQTT CONNECT answered, not an open port.
"""

from __future__ import annotations

import os
import pwd
import socket
import time
from collections.abc import Callable
from pathlib import Path

from ingest.broker_auth import Role, add_user, init_files
from ingest.broker_config import (
    ACL_NAME,
    DURABLE,
    PASSWORD_NAME,
    PERSISTENCE_FILE,
    Durability,
    render_mosquitto_conf,
)
from ingest.local_servers import ServerProcess, find_executable


class MosquittoServer(ServerProcess):
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
