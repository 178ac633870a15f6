"""Engines for the store's URLs: psycopg 3 for a bare postgresql:// URL, passwords kept out of
messages, SQLite set up for one writer and many readers, times always aware UTC, and JSON
written as given (key order kept) with the values JSON cannot hold made null."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from api.db import database_url, first_line, json_dumps, make_engine, redacted
from api.models import UtcDateTime, from_ms, to_ms


@pytest.mark.parametrize(
    "url, driver",
    [
        pytest.param(
            "postgresql://cw@db/cargowatch",
            "postgresql+psycopg",
            id="a bare postgresql URL goes through psycopg 3",
        ),
        pytest.param(
            "postgres://cw@db/cargowatch",
            "postgresql+psycopg",
            id="the short postgres scheme goes through psycopg 3 too",
        ),
        pytest.param(
            "postgresql+psycopg://cw@db/cargowatch",
            "postgresql+psycopg",
            id="an explicit psycopg URL is kept",
        ),
        pytest.param("sqlite:///./var/cargowatch.db", "sqlite", id="a SQLite URL is kept"),
    ],
)
def test_a_store_url_chooses_its_driver(url, driver):
    assert database_url(url).drivername == driver


def test_a_password_never_appears_in_a_redacted_url():
    assert (
        redacted("postgresql://cw:s3cr%40t@db:5432/cargowatch")
        == "postgresql+psycopg://cw:***@db:5432/cargowatch"
    )


def test_a_database_other_than_sqlite_or_postgresql_is_refused():
    with pytest.raises(ValueError, match="unsupported database"):
        make_engine("mysql+pymysql://cw@db/cargowatch")


def test_sqlite_runs_with_wal_foreign_keys_a_busy_timeout_and_full_sync(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.execute(text(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 30_000,
        "synchronous": 2,
    }


@pytest.mark.parametrize(
    "value, stored",
    [
        pytest.param({"b": 1, "a": 2}, '{"b":1,"a":2}', id="key order is kept as written"),
        pytest.param(
            {"rate": math.nan, "peak": -math.inf},
            '{"rate":null,"peak":null}',
            id="a non-finite float becomes null",
        ),
        pytest.param(
            {"temp_c": np.float64(8.25), "n": np.int64(3)},
            '{"temp_c":8.25,"n":3}',
            id="numpy numbers are written as numbers",
        ),
        pytest.param(
            {"at": datetime(2026, 1, 2, tzinfo=UTC)},
            '{"at":"2026-01-02T00:00:00+00:00"}',
            id="a datetime is written as its ISO text",
        ),
        pytest.param(
            {"note": "Température 冷链"},
            '{"note":"Température 冷链"}',
            id="text is kept as unicode",
        ),
    ],
)
def test_json_columns_are_written_as_given_where_json_can_hold_it(value, stored):
    assert json_dumps(value) == stored
    assert orjson.loads(stored) is not None


@pytest.mark.parametrize(
    "dialect", [sqlite.dialect(), postgresql.dialect()], ids=["on SQLite", "on PostgreSQL"]
)
def test_times_are_stored_as_utc_and_come_back_aware(dialect):
    column = UtcDateTime()
    at = datetime(2026, 11, 22, 8, 0, tzinfo=timezone(timedelta(hours=3)))
    bound = column.process_bind_param(at, dialect)
    assert bound.replace(tzinfo=UTC) == datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    back = column.process_result_value(bound, dialect)
    assert back == at and back.tzinfo == UTC


def test_a_naive_time_is_refused_rather_than_guessed_at():
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2026, 11, 22, 8, 0), sqlite.dialect())


@pytest.mark.parametrize("ms", [0, 1, 999, 1_763_800_000_250, 4_102_444_800_001])
def test_engine_milliseconds_convert_to_datetimes_and_back_exactly(ms):
    assert to_ms(from_ms(ms)) == ms


class _DriverError(Exception):
    pass


@pytest.mark.parametrize(
    "exc, shown",
    [
        pytest.param(
            DBAPIError("SELECT 1", None, _DriverError("relation missing\nLINE 1: ...")),
            "relation missing",
            id="the driver's first line, not SQLAlchemy's wrapper text",
        ),
        pytest.param(
            DBAPIError("SELECT 1", None, _DriverError("")),
            "_DriverError",
            id="a driver error with no message is named by its type",
        ),
        pytest.param(OSError("disk full\nmore"), "disk full", id="any other error's first line"),
    ],
)
def test_a_database_error_is_shown_by_its_first_own_line(exc, shown):
    assert first_line(exc) == shown
