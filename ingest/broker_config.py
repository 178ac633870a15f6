"""The mosquitto configuration CargoWatch ships: secured listener, unlimited durable queues.

`render_mosquitto_conf` fills the packaged template ``ingest/mosquitto/mosquitto.conf``:
one listener, no anonymous clients, the password and ACL files of `ingest.broker_auth`, and
persistence that saves the in-memory database after every change (`DURABLE`) so a broker
killed with SIGKILL keeps the queue of the ingester's persistent session. `NON_DURABLE` is
mosquitto's own default (a save every 1800 s), kept so tests and the benchmark can show
what the setting buys and costs. `write_config` puts the config, the ACL and an empty
password file into one directory; that is what ``cargowatch broker write-config`` runs and
what ``scripts/demo`` starts mosquitto with.
"""

from __future__ import annotations

import os
import pwd
import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from ingest.broker_auth import BrokerAuthError, atomic_write, init_files

CONFIG_NAME: Final = "mosquitto.conf"
ACL_NAME: Final = "acl"
PASSWORD_NAME: Final = "passwd"
PERSISTENCE_FILE: Final = "mosquitto.db"


@dataclass(frozen=True, slots=True)
class Durability:
    """When mosquitto writes its in-memory database (queues, sessions, retained) to disk."""

    autosave_on_changes: bool
    autosave_interval: int


#: Save after every event-loop pass that changed anything: a SIGKILL loses at most what was
#: acknowledged in the last pass, instead of everything since the last timed save.
DURABLE: Final = Durability(autosave_on_changes=True, autosave_interval=1)
#: A save every second or two whatever happens (mosquitto saves once more than
#: autosave_interval whole seconds have passed): a SIGKILL loses what was acknowledged in the
#: last two seconds, but a busy connection no longer pays a whole-database save per message.
#: Offered by ``write-config --autosave timed`` for brokers the per-change cost hurts.
TIMED: Final = Durability(autosave_on_changes=False, autosave_interval=1)
#: Mosquitto's defaults: a save every 1800 s (and on a clean shutdown).
NON_DURABLE: Final = Durability(autosave_on_changes=False, autosave_interval=1800)
#: The choices of ``write-config --autosave``.
AUTOSAVE: Final = {"per-change": DURABLE, "timed": TIMED}

# A value containing white space or a line break would end the directive early or start a
# new one (mosquitto splits config lines on spaces); refusing it keeps the file what we mean.
_PLAIN: Final = re.compile(r"[^\s#]+")


def _plain(value: str, what: str) -> str:
    if not _PLAIN.fullmatch(value):
        raise BrokerAuthError(f"{what} must not be empty or contain spaces or '#': {value!r}")
    return value


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv4 or a name) -> (host, port).

    >>> parse_listen("127.0.0.1:1883")
    ('127.0.0.1', 1883)
    """
    host, colon, port_text = text.rpartition(":")
    if not colon or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise BrokerAuthError(f"--listen must be HOST:PORT with a port of 1-65535, got {text!r}")
    return _plain(host, "--listen host"), int(port_text)


def render_mosquitto_conf(
    *,
    host: str,
    port: int,
    persistence_dir: Path,
    password_file: Path,
    acl_file: Path,
    run_as: str | None = None,
    log_file: Path | None = None,
    durability: Durability = DURABLE,
) -> str:
    """The shipped mosquitto.conf for one listener. ``run_as`` names the user mosquitto runs
    as when started as root (it switches to 'mosquitto' otherwise); ``log_file`` None logs
    to stderr. Paths should be absolute: mosquitto resolves them against its own cwd."""
    text = resources.files("ingest").joinpath("mosquitto", CONFIG_NAME).read_text("utf-8")
    return string.Template(text).substitute(
        host=_plain(host, "listener host"),
        port=port,
        password_file=_plain(str(password_file), "password file path"),
        acl_file=_plain(str(acl_file), "ACL file path"),
        run_as_line=f"user {_plain(run_as, 'user')}" if run_as else "",
        persistence_dir=_plain(str(persistence_dir).rstrip("/"), "persistence directory"),
        autosave_on_changes=str(durability.autosave_on_changes).lower(),
        autosave_interval=durability.autosave_interval,
        log_lines=f"log_dest file {_plain(str(log_file), 'log file path')}"
        if log_file
        else "log_dest stderr",
    )


def _broker_owner(run_as: str | None) -> tuple[int, int] | None:
    """Owner (uid, gid) the broker's files need, or None when nothing needs to change.

    Started as root, mosquitto drops to ``run_as`` (default 'mosquitto') before it opens the
    password, ACL and log files and the persistence directory, and rereads them as that user
    on SIGHUP; files root created with mode 0600 would be unreadable to it.
    """
    if os.geteuid() != 0:
        return None  # mosquitto switches users only when started as root
    name = run_as or "mosquitto"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise BrokerAuthError(f"user {name!r} does not exist; pass --run-as USER") from None
    return entry.pw_uid, entry.pw_gid


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """Where `write_config` put things."""

    config: Path
    acl_file: Path
    password_file: Path


def write_config(
    directory: Path,
    *,
    host: str,
    port: int,
    persistence_dir: Path,
    run_as: str | None = None,
    log_file: Path | None = None,
    durability: Durability = DURABLE,
) -> BrokerFiles:
    """Write mosquitto.conf, the ACL and (if missing) an empty password file into
    ``directory``. The config is replaced; the ACL is rendered afresh from the template but
    keeps its users; an existing password file is left as it is. Run as root, the files
    mosquitto opens after dropping privileges are given to the user it drops to."""
    owner = _broker_owner(run_as)
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    persistence_dir = persistence_dir.resolve()
    persistence_dir.mkdir(parents=True, exist_ok=True)
    files = BrokerFiles(directory / CONFIG_NAME, directory / ACL_NAME, directory / PASSWORD_NAME)
    config = render_mosquitto_conf(
        host=host,
        port=port,
        persistence_dir=persistence_dir,
        password_file=files.password_file,
        acl_file=files.acl_file,
        run_as=run_as,
        log_file=log_file.resolve() if log_file else None,
        durability=durability,
    )
    init_files(files.password_file, files.acl_file)
    atomic_write(files.config, config, mode=0o644)
    if owner is not None:
        owned = [files.password_file, files.acl_file, persistence_dir]
        if log_file is not None:
            log_file.resolve().touch(mode=0o640)
            owned.append(log_file.resolve())
        for path in owned:
            os.chown(path, *owner)
    return files
