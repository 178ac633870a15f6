"""The delivery lease on SQLite files and PostgreSQL: of two leases on one store only one
holds; the other takes it at its next check once the holder releases it, once the process
holding it is killed, and (PostgreSQL) once the holder's connection is cut; the workers of one
process share one lease, released by the last of them to stop. Nothing sleeps: the tests wait on conditions."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from api.db import make_engine
from api.delivery_lease import DeliveryLease

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]

MakeLease = Callable[..., DeliveryLease]
WaitFor = Callable[..., None]


@pytest.fixture
def make_lease(empty_sql_url: str) -> Iterator[Callable[..., DeliveryLease]]:
    """Leases on the test's store, each on an engine of its own as another process's would be."""
    made: list[tuple[DeliveryLease, Engine]] = []

    def make(recheck_s: float = 2.0) -> DeliveryLease:
        engine = make_engine(empty_sql_url)
        lease = DeliveryLease(engine, recheck_s=recheck_s)
        made.append((lease, engine))
        return lease

    yield make
    for lease, engine in made:
        lease.release()
        engine.dispose()


def test_one_lease_holds_and_the_other_takes_over_at_its_next_check_once_released(
    make_lease: MakeLease, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="api.delivery_lease")
    first, second = make_lease(), make_lease()
    assert first.held()
    assert not second.held()
    assert not second.held() and second.standing_by
    assert first.held() and not first.standing_by
    assert (first.holding, second.holding) == (True, False)
    first.release()
    assert second.held()
    assert not first.held() and first.standing_by
    assert (first.holding, second.holding) == (False, True)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("standing by" in m for m in messages) == 2  # once each, however often asked
    assert sum("taking over" in m for m in messages) == 1


def test_the_workers_of_one_process_share_its_lease_and_the_last_to_stop_releases_it(
    make_lease: MakeLease,
) -> None:
    ours, theirs = make_lease(), make_lease()
    ours.join()
    ours.join()
    assert ours.held()
    ours.leave()
    assert not theirs.held()
    ours.leave()
    assert theirs.held()


def test_a_killed_holder_process_hands_the_lease_to_the_standby(
    empty_sql_url: str, make_lease: MakeLease, wait_for: WaitFor
) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from api.db import make_engine
        from api.delivery_lease import DeliveryLease
        lease = DeliveryLease(make_engine({empty_sql_url!r}))
        print("held" if lease.held() else "standing by", flush=True)
        sys.stdin.read()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        standby = make_lease()
        assert not standby.held()
        holder.send_signal(signal.SIGKILL)  # no release: the OS or the server must let go
        holder.wait(timeout=30)
        wait_for(standby.held)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


@pytest.mark.parametrize("empty_sql_url", ["postgresql"], indirect=True)
def test_a_holder_whose_connection_is_cut_loses_the_lease_to_the_standby(
    empty_sql_url: str, make_lease: MakeLease, wait_for: WaitFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="api.delivery_lease")
    holder = make_lease(recheck_s=0.0)
    standby = make_lease()
    assert holder.held()
    assert not standby.held()
    admin = make_engine(empty_sql_url)
    try:
        with admin.connect() as connection:
            terminated = connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database"
                    "                 WHERE datname = current_database())"
                )
            )
        assert terminated == 1
        wait_for(standby.held)
    finally:
        admin.dispose()
    assert not holder.held()
    assert any("lost the lease" in r.getMessage() for r in caplog.records)
    standby.release()
    assert holder.held()  # and it can be taken again on a new connection
