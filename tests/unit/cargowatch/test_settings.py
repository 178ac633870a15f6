"""Settings: flag over environment over default, typed groups, and one clear line for a bad value."""

import dataclasses
import os
import subprocess
import sys
import typing

import pytest

from cargowatch.settings import INGEST, IngestSettings, SettingError, parse_values, resolve


def test_defaults_follow_the_architecture():
    s = resolve({}, env={})
    assert s.mqtt.url == "mqtt://127.0.0.1:1883"
    assert s.influx.url == "http://127.0.0.1:8086"
    assert s.influx.db == "cargowatch"
    assert str(s.writer.spool_dir) == "var/spool"
    assert s.influx.token is None and s.mqtt.share_group is None


def test_a_flag_wins_over_the_environment_which_wins_over_the_default():
    env = {"CARGOWATCH_INFLUX_DB": "from_env", "CARGOWATCH_BATCH_SIZE": "100"}
    s = resolve({"influx_db": "from_flag"}, env=env)
    assert s.influx.db == "from_flag" and s.writer.batch_size == 100


def _leaves(obj):
    """(dotted name, value, annotated type) of every setting in a settings object."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from ((f"{f.name}.{n}", v, t) for n, v, t in _leaves(value))
        else:
            yield f.name, value, hints[f.name]


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({}, id="with every default"),
        pytest.param(
            {
                "CARGOWATCH_MQTT_SHARE_GROUP": "ingest",
                "CARGOWATCH_DEFAULT_PROFILE": "none",
                "CARGOWATCH_INFLUX_TOKEN": "t",
                "CARGOWATCH_INFLUX_USERNAME": "u",
                "CARGOWATCH_INFLUX_PASSWORD": "p",
            },
            id="with every optional setting given",
        ),
        pytest.param({"CARGOWATCH_SHIPMENTS": "fleet.json"}, id="with a manifest"),
    ],
)
def test_every_setting_of_the_table_lands_in_a_field_of_the_type_it_declares(env):
    leaves = list(_leaves(resolve({}, env=env)))
    assert len(leaves) == len(INGEST), "one field per row of the table"
    for name, value, declared in leaves:
        assert isinstance(value, declared), f"{name} = {value!r} is not {declared}"


def test_a_settings_object_shown_in_a_log_or_traceback_carries_no_secret():
    env = {"CARGOWATCH_INFLUX_TOKEN": "hunter2", "CARGOWATCH_INFLUX_PASSWORD": "swordfish"}
    shown = repr(resolve({}, env=env))
    assert "hunter2" not in shown and "swordfish" not in shown


def test_settings_cannot_be_changed_once_resolved():
    s: IngestSettings = resolve({}, env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.writer.batch_size = 1  # type: ignore[misc]


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
        resolve({name: value}, env={})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_secret_is_never_echoed_back():
    from cargowatch.settings import Setting

    def reject(_: str) -> str:
        raise ValueError("is not valid")

    with pytest.raises(SettingError) as err:
        parse_values(
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


@pytest.mark.parametrize(
    "env, watching",
    [
        pytest.param({}, "--default-profile 'customs_transit'", id="with the default profile"),
        pytest.param(
            {"CARGOWATCH_DEFAULT_PROFILE": "none", "CARGOWATCH_SHIPMENTS": "fleet.json"},
            "--shipments 'fleet.json'",
            id="with a manifest and no default profile",
        ),
    ],
)
def test_a_share_group_is_refused_while_the_detectors_are_on(env, watching):
    with pytest.raises(SettingError) as err:
        resolve({"mqtt_share_group": "ingest"}, env=env)
    message = str(err.value)
    assert message.startswith("--mqtt-share-group / CARGOWATCH_MQTT_SHARE_GROUP splits each")
    assert "CARGOWATCH_DEFAULT_PROFILE=none and no CARGOWATCH_SHIPMENTS" in message
    assert message.endswith(f"got --mqtt-share-group 'ingest' with {watching}")
    assert "\n" not in message


def test_a_share_group_of_storage_only_ingesters_is_allowed():
    s = resolve({"mqtt_share_group": "ingest"}, env={"CARGOWATCH_DEFAULT_PROFILE": "none"})
    assert s.mqtt.share_group == "ingest" and not s.detect.enabled


def test_a_share_group_with_the_detectors_on_stops_the_command_with_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGOWATCH_")}
    run = subprocess.run(
        [sys.executable, "-m", "cargowatch", "ingest"],
        env={**env, "CARGOWATCH_MQTT_SHARE_GROUP": "ingest"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode != 0
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("cargowatch: --mqtt-share-group / CARGOWATCH_MQTT_SHARE_GROUP ")
    assert "CARGOWATCH_DEFAULT_PROFILE=none" in line


def test_a_refused_url_is_shown_without_its_password():
    with pytest.raises(SettingError) as info:
        resolve({"mqtt_url": "mqtt://svc:s3cret@broker:1883/not-a-path"}, env={})
    assert "s3cret" not in str(info.value) and "svc:***@broker" in str(info.value)
