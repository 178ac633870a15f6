"""Shared pytest fixtures: real mosquitto, influxd and PostgreSQL servers on free loopback ports.

Integration tests get a fresh broker or database server per test (``mosquitto``, ``influxd``)
when they restart, crash or otherwise disturb it, or a fresh database name on one influxd
shared by the whole session (``influx_db``) when they only need somewhere to write. Missing
server binaries fail the tests loudly instead of skipping them, because CI installs both and
a silently skipped integration suite would hide real breakage.

Tests of the SQL store take ``sql_url``: a fresh database migrated to the head, once on SQLite
(a file in the test's temp dir) and once on PostgreSQL (a new database on one server shared by
the session), because their locking and types differ; ``empty_sql_url`` is the same without
the migration.
"""

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

# Imported as a top-level module from this directory whether or not tests/ is a package, so
# the bench scripts and the tests share one copy of the server managers.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from services import InfluxServer, MosquittoServer, PostgresServer, free_port  # noqa: E402
from smtp_server import SmtpServer  # noqa: E402
from webhook_receiver import Receiver  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs real servers (mosquitto, influxd) started by fixtures"
    )


_Server = TypeVar("_Server", MosquittoServer, InfluxServer, PostgresServer)


def _started(make: type[_Server], directory: Path) -> _Server:
    try:
        server = make(directory)
        server.start()
    except (FileNotFoundError, RuntimeError) as error:
        problem = str(error)
    else:
        return server
    # Failing outside the except block keeps the report to the one message that matters.
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    """A broker of this test's own, free to be restarted or killed."""
    server = _started(MosquittoServer, tmp_path_factory.mktemp("mosquitto"))
    yield server
    server.stop()


@pytest.fixture
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """An influxd of this test's own, free to be restarted or killed."""
    server = _started(InfluxServer, tmp_path_factory.mktemp("influxd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxd_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """One influxd for every test that only needs a database; do not restart or kill it."""
    server = _started(InfluxServer, tmp_path_factory.mktemp("influxd-shared"))
    yield server
    server.stop()


@pytest.fixture
def influx_db(influxd_shared: InfluxServer) -> tuple[InfluxServer, str]:
    """The shared influxd and a database name no other test uses (not created yet)."""
    return influxd_shared, f"t_{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; tests make databases of their own on it."""
    server = _started(PostgresServer, tmp_path_factory.mktemp("postgres"))
    yield server
    server.remove()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="on SQLite"),
        pytest.param("postgresql", id="on PostgreSQL"),
    ]
)
def empty_sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database of this test's own with nothing in it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    # Only tests that run on PostgreSQL start the server.
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex}"
    url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.fixture
def sql_url(empty_sql_url: str) -> str:
    """The URL of a database of this test's own, migrated to the current schema."""
    from api.schema import upgrade

    upgrade(empty_sql_url)
    return empty_sql_url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP webhook receiver on a free loopback port."""
    server = Receiver(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on a free loopback port, keeping every message it accepts."""
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()
