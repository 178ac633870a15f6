"""Alembic's entry point for the SQL store's migrations; `api.schema` runs it in code.

`api.schema.upgrade` hands over an open connection (in ``config.attributes``), so the
migrations run inside the transaction and lock it holds. To write a new migration, bring a
scratch database to the current head and let Alembic compare it with ``api.models``, then
read and correct what it generated (one migration per schema change)::

    .venv/bin/cargowatch db upgrade --db-url sqlite:///var/dev.db
    .venv/bin/python -c "from alembic import command; from api.schema import alembic_config; \\
        command.revision(alembic_config('sqlite:///var/dev.db'), 'what changed', autogenerate=True)"

SQLite alters tables by copying them, so migrations are rendered in batch mode there.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from api.db import make_engine
from api.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection or sqlalchemy.url given to the migrations")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


_main()
