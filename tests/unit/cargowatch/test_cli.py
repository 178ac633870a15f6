"""The `cargowatch` command itself: its version, errors that name the flag and the variable, and
output into a pipe that closed."""

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from cargowatch.wiring import StartupError, load_shipments


def cargowatch(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "cargowatch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_version_is_the_installed_package_version():
    done = cargowatch("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"cargowatch {version('cargowatch')}"


def test_a_manifest_problem_names_the_flag_and_the_environment_variable(tmp_path):
    with pytest.raises(StartupError) as caught:
        load_shipments(tmp_path / "fleet.json")
    assert str(caught.value).startswith(
        f"--shipments / CARGOWATCH_SHIPMENTS {tmp_path / 'fleet.json'}: "
    )


def test_ingest_refuses_a_missing_manifest_in_one_line_naming_both(tmp_path):
    missing = tmp_path / "fleet.json"
    done = cargowatch(
        "ingest", "--shipments", missing, "--db-url", f"sqlite:///{tmp_path / 'x.db'}"
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"cargowatch: --shipments / CARGOWATCH_SHIPMENTS {missing}: No such file or directory"
    )


def test_output_into_a_pipe_nobody_reads_ends_quietly_with_the_shells_status(tmp_path):
    # `cargowatch score ... | head -1`: the reader has gone before the report is written.
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cargowatch", "score", "--labels", empty, "--alerts", empty],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")
