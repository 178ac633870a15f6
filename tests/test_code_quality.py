"""The code is lint-clean, formatted and type-checked: the test command fails the moment it is not.

ruff and mypy run from the same virtual environment as the tests, with the settings in
pyproject.toml, over the whole source tree (mypy: the packages pyproject names, strictly).
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["cargowatch", "detectors", "ingest", "api", "dashboards", "simulators", "tests", "bench"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ruff", "check", *SOURCES], id="ruff finds nothing to flag"),
        pytest.param(
            ["ruff", "format", "--check", *SOURCES], id="ruff format would change nothing"
        ),
        pytest.param(["mypy"], id="mypy --strict finds no type error"),
    ],
)
def test_the_code_passes(command):
    result = run(*command)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
