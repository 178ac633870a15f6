"""The SQL store's schema version: bring a database to the current Alembic head, or refuse one
that is not there. `upgrade` is what ``cargowatch db upgrade`` runs; every process that uses the
store calls `require_current_schema` first, so a database migrated by an older release (or not
at all) stops start-up with one line telling the operator what to run, instead of failing later
on a missing column. The Alembic configuration is built in code and points at the migrations
inside this package, so it works from an installed package as well as from a checkout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from api.db import WRITE_OPTIONS, StoreUnavailable, first_line, make_engine, redacted

MIGRATIONS: Final = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND: Final = "cargowatch db upgrade"
# Any constant will do: it only has to be the same for every process that upgrades.
_PG_UPGRADE_LOCK: Final = 0x63617267  # "carg"


class SchemaNotCurrent(RuntimeError):
    """The database is not at the schema this code needs: the operator runs the upgrade."""


class UpgradeFailed(RuntimeError):
    """The upgrade could not run (database unreachable, refused); nothing was changed."""


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """Alembic's configuration, for a connection (preferred) or a URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolation would read a % in a password as a reference.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision the migrations in this package end at."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def require_current_schema(engine: Engine) -> None:
    """Raise `SchemaNotCurrent` (one line) unless the database is at the head revision."""
    try:
        with engine.connect() as connection:
            current = current_revision(connection)
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot read {redacted(engine.url)}: {first_line(exc)}") from exc
    head = head_revision()
    if current != head:
        found = f"schema revision {current}" if current else "no CargoWatch schema"
        raise SchemaNotCurrent(
            f"the SQL store {redacted(engine.url)} has {found}, this release needs {head}: "
            f"run `{UPGRADE_COMMAND}`"
        )


def upgrade(url: str) -> str:
    """Migrate the database at `url` to the head revision; return one line saying what changed.

    Concurrent upgrades of one database take turns: on PostgreSQL behind an advisory lock, on
    SQLite behind the write lock, both held by the transaction the migrations run in.
    """
    engine = make_engine(url)
    database = engine.url.database
    try:
        if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
            # The default URL points into ./var, which a fresh checkout or host does not have.
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        with (
            engine.connect().execution_options(**WRITE_OPTIONS) as connection,
            connection.begin(),
        ):
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_UPGRADE_LOCK}
                )
            before = current_revision(connection)
            command.upgrade(alembic_config(connection=connection), "head")
            after = current_revision(connection)
    except DBAPIError as exc:
        raise UpgradeFailed(f"cannot upgrade {redacted(engine.url)}: {first_line(exc)}") from exc
    except OSError as exc:
        raise UpgradeFailed(f"cannot upgrade {redacted(engine.url)}: {exc}") from exc
    finally:
        engine.dispose()
    where = redacted(engine.url)
    if before == after:
        return f"SQL store {where} is already at schema revision {after}"
    return f"SQL store {where} upgraded from {before or 'empty'} to schema revision {after}"


def run_command(args: argparse.Namespace, db_url: str) -> int:
    """``cargowatch db ACTION``: print one line, return the exit status."""
    if args.db_command != "upgrade":
        raise AssertionError(f"unhandled db command {args.db_command}")
    try:
        print(upgrade(db_url))
    except UpgradeFailed as exc:
        print(f"cargowatch: {exc}", file=sys.stderr)
        return 1
    return 0
