"""The store's schema is made only by its migrations: ``cargowatch db upgrade`` brings an empty
SQLite or PostgreSQL database to the head in one line of output, builds exactly what the models
describe, and every user of the store refuses a database that is not at the head with one line
telling the operator what to run."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from api.db import StoreUnavailable, make_engine
from api.models import Base
from api.schema import (
    SchemaNotCurrent,
    current_revision,
    head_revision,
    require_current_schema,
    upgrade,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def cargowatch(*args, cwd, env=None):
    """Run the installed command line as an operator would, from `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "cargowatch", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_upgrading_an_empty_database_builds_every_table_at_the_head(empty_sql_url):
    line = upgrade(empty_sql_url)
    assert "upgraded from empty to schema revision 0006" in line
    engine = make_engine(empty_sql_url)
    try:
        with engine.connect() as connection:
            assert current_revision(connection) == head_revision() == "0006"
            tables = set(inspect(connection).get_table_names())
        assert tables == set(Base.metadata.tables) | {"alembic_version"}
        require_current_schema(engine)
    finally:
        engine.dispose()


def test_the_migrated_schema_is_exactly_what_the_models_describe(sql_url):
    engine = make_engine(sql_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrading_a_database_at_the_head_changes_nothing_and_says_so(sql_url):
    assert upgrade(sql_url).endswith("is already at schema revision 0006")


def test_upgrades_started_at_once_take_turns_and_both_succeed(empty_sql_url):
    barrier = threading.Barrier(3)

    def run(_):
        barrier.wait()
        return upgrade(empty_sql_url)

    with ThreadPoolExecutor(3) as pool:
        lines = list(pool.map(run, range(3)))
    assert sum("upgraded from empty" in line for line in lines) == 1
    assert sum("already at schema revision 0006" in line for line in lines) == 2


def test_a_database_never_migrated_is_refused_with_one_line_naming_the_upgrade_command(
    empty_sql_url,
):
    engine = make_engine(empty_sql_url)
    try:
        with pytest.raises(SchemaNotCurrent) as refused:
            require_current_schema(engine)
    finally:
        engine.dispose()
    message = str(refused.value)
    assert "\n" not in message
    assert "has no CargoWatch schema" in message
    assert message.endswith("run `cargowatch db upgrade`")


def test_a_database_at_a_revision_this_release_does_not_know_is_refused_too(sql_url):
    engine = make_engine(sql_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(
            SchemaNotCurrent,
            match=r"has schema revision 9999, this release needs 0006: run `cargowatch db upgrade`",
        ):
            require_current_schema(engine)
    finally:
        engine.dispose()


def test_an_unreachable_database_is_reported_as_unavailable_not_as_unmigrated():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/cargowatch")
    try:
        with pytest.raises(StoreUnavailable):
            require_current_schema(engine)
    finally:
        engine.dispose()


def test_cargowatch_db_upgrade_prints_one_line_and_is_safe_to_run_again(empty_sql_url, tmp_path):
    first = cargowatch("db", "upgrade", "--db-url", empty_sql_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (
        first.stdout.count("\n") == 1
        and "upgraded from empty to schema revision 0006" in first.stdout
    )
    again = cargowatch("db", "upgrade", cwd=tmp_path, env={"CARGOWATCH_DB_URL": empty_sql_url})
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("\n") == 1 and "already at schema revision 0006" in again.stdout


def test_cargowatch_db_upgrade_by_default_makes_var_cargowatch_db_where_it_is_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CARGOWATCH_DB_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "cargowatch", "db", "upgrade"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout
        == "SQL store sqlite:///./var/cargowatch.db upgraded from empty to schema revision 0006\n"
    )
    assert (tmp_path / "var" / "cargowatch.db").is_file()


def test_cargowatch_db_upgrade_against_an_unreachable_server_fails_in_one_line_without_the_password(
    tmp_path,
):
    result = cargowatch(
        "db", "upgrade", "--db-url", "postgresql://cw:hunter2@127.0.0.1:1/cargowatch", cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        "cargowatch: cannot upgrade postgresql+psycopg://cw:***@127.0.0.1:1/cargowatch"
    )
    assert "hunter2" not in result.stderr


def test_cargowatch_db_upgrade_refuses_a_url_it_cannot_use_in_one_line(tmp_path):
    result = cargowatch("db", "upgrade", "--db-url", "mysql://db/cargowatch", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr
        == "cargowatch: --db-url / CARGOWATCH_DB_URL must be sqlite:///path or postgresql://user@host/db, got 'mysql://db/cargowatch'\n"
    )


def test_a_store_at_the_first_revision_with_alerts_in_it_is_upgraded_to_the_head_keeping_them(
    empty_sql_url, tmp_path
):
    from alembic import command

    from api.schema import alembic_config

    command.upgrade(alembic_config(empty_sql_url), "0001")
    engine = make_engine(empty_sql_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO alerts (alert_id, kind, severity, device_id, state, summary,"
                    " evidence, opened_at, updated_at, events_applied, last_event_seq,"
                    " history_length) VALUES ('a-1', 'seal_breach', 'critical', 'trk-1', 'open',"
                    " 'seal tampered', '{}', '2025-11-22 08:26:40', '2025-11-22 08:26:40', 1, 1, 1)"
                )
            )
        result = cargowatch("db", "upgrade", "--db-url", empty_sql_url, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "upgraded from 0001 to schema revision 0006" in result.stdout
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            assert connection.execute(text("SELECT alert_id FROM alerts")).scalars().all() == [
                "a-1"
            ]
        require_current_schema(engine)
    finally:
        engine.dispose()


def test_the_alert_listing_indexes_come_off_again_on_a_downgrade_to_the_first_revision(sql_url):
    from alembic import command

    from api.schema import alembic_config

    command.downgrade(alembic_config(sql_url), "0001")
    engine = make_engine(sql_url)
    try:
        with engine.connect() as connection:
            indexes = {index["name"] for index in inspect(connection).get_indexes("alerts")}
    finally:
        engine.dispose()
    assert indexes == {
        "ix_alerts_device_id_kind",
        "ix_alerts_organisation_id",
        "ix_alerts_state_kind",
    }
    assert upgrade(sql_url).endswith("upgraded from 0001 to schema revision 0006")
