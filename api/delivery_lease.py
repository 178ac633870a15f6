"""Which process delivers from a store: a lease that one process holds at a time, and that
another takes over when the holder dies.

Several processes may run on one SQL store (the members of an MQTT share group beside the
ingester running the detectors). Each starts the delivery workers (`api.retrying`), but only
the holder of this lease sends anything; the others keep polling and take the lease on the
first pass after it is free. On PostgreSQL the lease is a session-level advisory lock
(``pg_try_advisory_lock`` on a key derived from the lease's name, scoped to the database by
the server) on a connection kept for it alone; on a SQLite file it is an exclusive ``flock``
on a lock file beside the database. Either way the lock belongs to something the system ends
when the process dies (the server's session, the open file), so a crashed holder never has to
be waited out; an in-memory SQLite database is private to its process and always held.

Asking is cheap once held: a SQLite holder asks nothing, and a PostgreSQL holder checks its
connection at most every `recheck_s` (the server drops the lock with the connection, so a
holder whose connection was cut learns it there, and for that long two processes may both
send: delivery is at least once anyway). The workers of one process share one lease: each
`join`s it when it starts and `leave`s it when it has stopped, and the last to leave releases it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from typing import Final

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from api.db import StoreUnavailable, first_line

log = logging.getLogger(__name__)

DEFAULT_NAME: Final = "cargowatch-delivery"


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key for `name`: a signed 64-bit number, the same in every
    process and release.

    >>> advisory_key("cargowatch-delivery") == advisory_key("cargowatch-delivery")
    True
    >>> -(2**63) <= advisory_key("x") < 2**63
    True
    """
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class DeliveryLease:
    """One process's claim to deliver from the store that `engine` connects to.

    `held` answers whether this process delivers now, taking the lease if it is free; it raises
    `StoreUnavailable` when the store cannot be asked. `release` gives the lease up.
    """

    def __init__(self, engine: Engine, name: str = DEFAULT_NAME, *, recheck_s: float = 2.0) -> None:
        self._engine = engine
        self.name = name
        self.recheck_s = recheck_s
        self._lock = threading.Lock()
        self._held = False
        self._standing_by = False
        self._users = 0
        self._checked_at = 0.0
        self._connection: Connection | None = None
        self._fd: int | None = None
        url = engine.url
        self._backend = url.get_backend_name()
        if self._backend == "sqlite":
            database = url.database or ""
            in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
            self._path = None if in_memory else f"{database}.{name}.lock"

    def held(self) -> bool:
        """Whether this process delivers now; takes the lease when it is free."""
        with self._lock:
            if self._held and not self._still_held():
                self._held = False
                log.warning("%s: lost the lease to deliver from this store", self.name)
            if not self._held:
                self._held = self._acquire()
                if self._held and self._standing_by:
                    log.warning("%s: taking over delivery from this store", self.name)
                elif not self._held and not self._standing_by:
                    log.warning(
                        "%s: another process delivers from this store; standing by", self.name
                    )
                self._standing_by = not self._held
            return self._held

    @property
    def holding(self) -> bool:
        """Whether the last answer was that this process delivers (asks nothing)."""
        return self._held

    @property
    def standing_by(self) -> bool:
        """Whether the last answer was that another process delivers."""
        return self._standing_by

    def join(self) -> None:
        """A worker of this process starts using the lease."""
        with self._lock:
            self._users += 1

    def leave(self) -> None:
        """A worker of this process has stopped; the last one to leave releases the lease."""
        with self._lock:
            self._users = max(0, self._users - 1)
            last = self._users == 0
        if last:
            self.release()

    def release(self) -> None:
        """Give the lease up (a standby takes it at its next pass); asking again takes it anew."""
        with self._lock:
            if self._connection is not None:
                if self._held:
                    # Unlocked at once, so a standby can take it at its very next pass; a
                    # connection already gone took the lock with it.
                    with contextlib.suppress(DBAPIError):
                        key = advisory_key(self.name)
                        self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                self._drop_connection()
            if self._fd is not None:
                os.close(self._fd)  # closing the file drops its flock
                self._fd = None
            self._held = self._standing_by = False

    def _acquire(self) -> bool:
        if self._backend == "postgresql":
            return self._acquire_pg()
        if self._backend == "sqlite":
            return self._path is None or self._acquire_file(self._path)
        return True

    def _still_held(self) -> bool:
        """For a PostgreSQL holder: whether its connection (and so its lock) is still there,
        asked at most every `recheck_s`."""
        if self._connection is None or time.monotonic() - self._checked_at < self.recheck_s:
            return True
        try:
            self._connection.execute(text("SELECT 1"))
        except DBAPIError:
            self._drop_connection()
            return False
        self._checked_at = time.monotonic()
        return True

    def _acquire_pg(self) -> bool:
        try:
            if self._connection is None:
                # Autocommit: the connection is kept open for the lock, never idle in a
                # transaction; a session-level lock outlives transactions anyway.
                self._connection = self._engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                )
            got = self._connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": advisory_key(self.name)}
            )
        except DBAPIError as exc:
            self._drop_connection()
            raise StoreUnavailable(f"the SQL store is unavailable: {first_line(exc)}") from exc
        self._checked_at = time.monotonic()
        return bool(got)

    def _drop_connection(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.invalidate()  # never back to the pool: its session may hold the lock
            self._connection.close()
        except DBAPIError:
            pass
        self._connection = None

    def _acquire_file(self, path: str) -> bool:
        if self._fd is None:
            try:
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StoreUnavailable(f"cannot open the delivery lock {path}: {exc}") from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
