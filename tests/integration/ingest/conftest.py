"""Fixtures for ingestion tests: ingester processes that are always stopped after the test."""

import pytest
from ingest_process import IngesterProcess


@pytest.fixture
def start_ingester(tmp_path):
    """Start `cargowatch ingest` processes; each is killed at teardown if still running."""
    started: list[IngesterProcess] = []

    def start(mqtt_url: str, influx_url: str, db: str, **settings: str) -> IngesterProcess:
        process = IngesterProcess(
            mqtt_url, influx_url, db, tmp_path / f"ingest-{len(started)}", **settings
        )
        started.append(process)
        process.start()
        return process

    yield start
    for process in started:
        process.close()
