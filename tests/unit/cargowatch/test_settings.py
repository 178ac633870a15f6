"""Settings: flag over environment over default, and one clear line for a bad value."""

import subprocess
import sys

import pytest

from cargowatch.settings import INGEST, SettingError, resolve


def test_defaults_follow_the_architecture():
    v = resolve(INGEST, {}, env={})
    assert v["mqtt_url"] == "mqtt://127.0.0.1:1883"
    assert v["influx_url"] == "http://127.0.0.1:8086"
    assert v["influx_db"] == "cargowatch"
    assert str(v["spool_dir"]) == "var/spool"
    assert v["influx_token"] is None and v["mqtt_share_group"] is None


def test_a_flag_wins_over_the_environment_which_wins_over_the_default():
    env = {"CARGOWATCH_INFLUX_DB": "from_env", "CARGOWATCH_BATCH_SIZE": "100"}
    v = resolve(INGEST, {"influx_db": "from_flag"}, env=env)
    assert v["influx_db"] == "from_flag" and v["batch_size"] == 100


@pytest.mark.parametrize(
    "name, value, message",
    [
        (
            "influx_url",
            "localhost",
            "--influx-url / CARGOWATCH_INFLUX_URL must be http(s)://host[:port], got 'localhost'",
        ),
        (
            "influx_url",
            "http://h:99999",
            "must be http(s)://host[:port] with a port of 1-65535, got 'http://h:99999'",
        ),
        (
            "mqtt_url",
            "tcp://broker:1883",
            "--mqtt-url / CARGOWATCH_MQTT_URL must be mqtt(s)://host[:port]",
        ),
        ("mqtt_receive_maximum", "70000", "must be between 1 and 65,535, got '70000'"),
        (
            "batch_size",
            "lots",
            "--batch-size / CARGOWATCH_BATCH_SIZE must be an integer, got 'lots'",
        ),
        ("mqtt_client_id", "has space", "must be 1-64 characters"),
        ("log_level", "loud", "must be one of debug, info, warning, error"),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_the_setting(name, value, message):
    with pytest.raises(SettingError) as err:
        resolve(INGEST, {name: value}, env={})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_secret_is_never_echoed_back():
    from cargowatch.settings import Setting

    def reject(_: str) -> str:
        raise ValueError("is not valid")

    with pytest.raises(SettingError) as err:
        resolve(
            [Setting("influx_token", None, reject, "", secret=True)],
            {"influx_token": "hunter2"},
            env={},
        )
    assert "hunter2" not in str(err.value)


def test_the_command_exits_2_with_one_line_before_connecting_anywhere():
    run = subprocess.run(
        [sys.executable, "-m", "cargowatch", "ingest", "--influx-url", "localhost"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "cargowatch: --influx-url / CARGOWATCH_INFLUX_URL must be http(s)://host[:port], got 'localhost'"
    ]
