"""Connections to the SQL store: an engine from a URL, sessions, and write transactions.

SQLite (the default, one file) is set up for one writer and many readers: WAL journal so
reads never wait for a write, foreign keys enforced (SQLite leaves them off), a busy timeout
so a second writer waits instead of failing, and full fsync at commit because this is the
system of record. Write transactions on SQLite start with ``BEGIN IMMEDIATE``: a transaction
that reads first and writes later would otherwise find, under WAL, that another writer
committed in between and fail at once instead of waiting. PostgreSQL goes through psycopg 3;
a plain ``postgresql://`` URL is taken to mean that driver. JSON columns are written with
orjson, which keeps key order, writes numpy numbers, and writes a non-finite float (which
JSON cannot hold and PostgreSQL would refuse) as null.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
#: Execution options of a connection that is about to write (SQLite: BEGIN IMMEDIATE).
WRITE_OPTIONS: Final = {"cargowatch_write": True}


class StoreUnavailable(RuntimeError):
    """The database could not be reached or stayed locked: retry later, nothing was stored."""


def database_url(url: str) -> URL:
    """Parse a store URL, choosing psycopg 3 for a bare ``postgresql://``.

    >>> database_url("postgresql://cw@db/cargowatch").drivername
    'postgresql+psycopg'
    >>> database_url("sqlite:///./var/cargowatch.db").database
    './var/cargowatch.db'
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redacted(url: str | URL) -> str:
    """The URL with its password masked, for logs and messages.

    >>> redacted("postgresql://cw:secret@db/cargowatch")
    'postgresql+psycopg://cw:***@db/cargowatch'
    """
    parsed = database_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def json_dumps(value: Any) -> str:
    # default=str: a value JSON has no type for (a datetime in some evidence) is stored as its
    # text rather than failing the transaction that carries a whole batch of alert events.
    return orjson.dumps(
        value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=str
    ).decode()


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for a SQLite or PostgreSQL URL, set up as the module docstring says."""
    parsed = database_url(url) if isinstance(url, str) else url
    options: dict[str, Any] = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, **options, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # pre_ping: a pooled connection a restarted server dropped is replaced, not handed out.
        return create_engine(parsed, pool_pre_ping=True, **options, **kwargs)
    raise ValueError(f"unsupported database {redacted(parsed)}: use sqlite:// or postgresql://")


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # The sqlite3 module's own transaction handling begins lazily and never around a SELECT;
    # turning it off lets _sqlite_begin start every transaction itself (SQLAlchemy's recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode (kept in the file), waiting for a lock to switch it.

    Switching needs the database to itself and fails at once, busy timeout or not, while
    another connection is in a transaction: several processes opening a new store together
    (upgrades, an ingester and its API) would see "database is locked". Once the file is in
    WAL mode nothing needs switching, so only a new database ever waits here.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            # Answers the mode it is in after: "wal", or "memory" for an in-memory database.
            cursor.execute("PRAGMA journal_mode=WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.05)
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return  # another connection switched it meanwhile


def _sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get("cargowatch_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine`; objects stay readable after commit (no expiry)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def write_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One write transaction: commits when the block ends, rolls back if it raises.

    On SQLite the transaction holds the write lock from its first statement; a database that
    cannot be reached, or stays locked past the busy timeout, raises `StoreUnavailable`.
    """
    try:
        with sessions() as session:
            session.connection(execution_options=WRITE_OPTIONS)
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
    except OperationalError as exc:
        raise StoreUnavailable(f"the SQL store is unavailable: {first_line(exc)}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(f"the SQL store is unavailable: {first_line(exc)}") from exc
        raise


def first_line(exc: BaseException) -> str:
    """The first line of a database error's own message (the driver's, not SQLAlchemy's
    wrapper), or its type's name when it has none: what a log line or an error shows."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__
