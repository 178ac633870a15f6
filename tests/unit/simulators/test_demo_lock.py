"""One demo per directory: the lock a running demo holds, and what a second one is told."""

import os

import pytest

from simulators.demo_stack import DemoLock, DemoRefused, clear_previous_run


def test_a_second_demo_on_the_same_directory_is_refused_with_the_first_ones_pid(tmp_path):
    first = DemoLock(tmp_path)
    first.acquire()
    first.describe(f"pid {os.getpid()}, console http://127.0.0.1:1234/")
    try:
        with pytest.raises(DemoRefused) as refused:
            DemoLock(tmp_path).acquire()
        assert f"pid {os.getpid()}, console http://127.0.0.1:1234/" in str(refused.value)
        assert "--dir" in str(refused.value)
    finally:
        first.release()


def test_a_released_lock_lets_the_next_demo_start(tmp_path):
    first = DemoLock(tmp_path)
    first.acquire()
    first.release()
    second = DemoLock(tmp_path)
    second.acquire()
    second.release()


def test_a_demo_in_another_directory_is_not_refused(tmp_path):
    first = DemoLock(tmp_path / "a")
    first.acquire()
    try:
        other = DemoLock(tmp_path / "b")
        other.acquire()
        other.release()
    finally:
        first.release()


def test_a_fresh_start_removes_the_last_runs_data_and_keeps_the_lock(tmp_path):
    (tmp_path / "influxdb" / "data").mkdir(parents=True)
    (tmp_path / "operator.key").write_text("cw_x")
    (tmp_path / "demo.lock").write_text("pid 1")
    clear_previous_run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.lock"]
