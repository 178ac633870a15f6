"""Fixtures for the simulator's tests: one decoded run per scenario, shared by the session."""

import sys
from pathlib import Path

import pytest

# The helpers live next to this file; tests import them as a top-level module (importlib mode).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from simruns import INCIDENTS, Run, run_of


@pytest.fixture(scope="session")
def catalogue() -> dict[str, Run]:
    """One run per scenario of the catalogue (and ``mixed``), shared by the whole session."""
    return {name: run_of(name) for name in [*INCIDENTS, "normal", "mixed"]}
