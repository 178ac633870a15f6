"""The operator's path, as separate processes: ``cargowatch db upgrade``, ``cargowatch keys
create`` printing a key once, alone on stdout, ``cargowatch api`` serving on its port with that
key working and ``/health`` probing the real broker and InfluxDB, ``keys revoke`` shutting the
key out, and SIGTERM stopping the server cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from services import free_port, parent_death_signal

pytestmark = pytest.mark.integration


def cargowatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cargowatch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(sql_url: str, mosquitto, influx_db) -> dict[str, str]:
    server, database = influx_db
    return {
        **os.environ,
        "CARGOWATCH_DB_URL": sql_url,
        "CARGOWATCH_MQTT_URL": mosquitto.url,
        "CARGOWATCH_INFLUX_URL": server.url,
        "CARGOWATCH_INFLUX_DB": database,
    }


@pytest.fixture
def api(env: dict[str, str], tmp_path: Path, wait_for) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cargowatch", "api", "--api-port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=parent_death_signal(),  # never outlive a crashed test run
    )
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert process.poll() is None, (tmp_path / "api.log").read_text()
        try:
            httpx.get(f"{base}/health/live", timeout=1)
        except httpx.TransportError:
            return False
        return True

    wait_for(answering, 60)
    yield base, process
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()


def test_a_key_created_on_the_command_line_works_against_the_served_api(env, api):
    base, process = api
    created = cargowatch("keys", "create", "--org", "ACME", "--role", "operator", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == f"{key}\n" and key.startswith("cw_")
    assert "shown only this once" in created.stderr and key not in created.stderr

    health = httpx.get(f"{base}/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["components"] == {"sql": "up", "broker": "up", "influxdb": "up"}
    assert httpx.get(f"{base}/alerts", timeout=10).status_code == 401
    headers = {"Authorization": f"Bearer {key}"}
    shipment = {"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "vaccine_2_8"}
    created_shipment = httpx.post(f"{base}/shipments", json=shipment, headers=headers, timeout=10)
    assert created_shipment.status_code == 201
    assert created_shipment.json()["organisation"] == "ACME"
    listed = httpx.get(f"{base}/alerts", headers=headers, timeout=10)
    assert listed.status_code == 200 and listed.json()["data"] == []

    revoked = cargowatch("keys", "revoke", key[3:11], env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert httpx.get(f"{base}/alerts", headers=headers, timeout=10).status_code == 401
    again = cargowatch("keys", "revoke", key[3:11], env=env)
    assert again.returncode == 1 and "no unrevoked key" in again.stderr

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_a_second_key_of_the_same_organisation_reuses_it(env, api):
    first = cargowatch("keys", "create", "--org", "ACME", "--role", "viewer", env=env)
    second = cargowatch(
        "keys", "create", "--org", "ACME", "--role", "admin", "--name", "ops lead", env=env
    )
    assert (first.returncode, second.returncode) == (0, 0)
    assert "for ACME" in second.stderr and "ops lead" in second.stderr


def test_the_api_refuses_to_start_on_an_unmigrated_store_in_one_line(tmp_path):
    env = {**os.environ, "CARGOWATCH_DB_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = cargowatch("api", "--api-port", str(free_port()), env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cargowatch db upgrade" in result.stderr


def test_a_bad_port_is_refused_naming_the_setting(tmp_path):
    result = cargowatch("api", "--api-port", "99999", env={**os.environ})
    assert result.returncode == 2
    assert "--api-port / CARGOWATCH_API_PORT" in result.stderr


def test_cargowatch_run_ingests_and_serves_in_one_process_and_stops_on_sigterm(
    env, tmp_path, wait_for
):
    port = free_port()
    run_env = {
        **env,
        "CARGOWATCH_SPOOL_DIR": str(tmp_path / "spool"),
        "CARGOWATCH_STATE_DIR": str(tmp_path / "state"),
        "CARGOWATCH_MQTT_CLIENT_ID": f"run-{port}",
    }
    key = cargowatch("keys", "create", "--org", "Ops", "--role", "admin", env=env).stdout.strip()
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cargowatch", "run", "--api-port", str(port)],
            env=run_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=parent_death_signal(),
        )
    try:

        def ready() -> bool:
            assert process.poll() is None, log_path.read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 60)
        wait_for(lambda: "subscribed to" in log_path.read_text(), 30)
        metrics = httpx.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert "cargowatch_ingest_messages_received 0.0" in metrics.text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_keys_create_offers_exactly_the_roles_the_store_knows(capsys):
    from api.models import ROLES
    from cargowatch.cli import main

    with pytest.raises(SystemExit):
        main(["keys", "create", "--org", "ACME", "--role", "nobody"])
    assert f"choose from {', '.join(repr(r) for r in ROLES)}" in capsys.readouterr().err
