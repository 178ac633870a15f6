"""Builds the running processes from resolved settings; the only place that knows every part."""

from __future__ import annotations

import logging
from typing import Any

from ingest.influx_client import InfluxAuthFailed, InfluxClient, InfluxUnavailable
from ingest.influx_sink import InfluxSink, RetryPolicy
from ingest.mqtt_source import MqttOptions, MqttSource
from ingest.pipeline import Pipeline, PipelineOptions
from ingest.spool import Spool
from ingest.stats import IngestStats

log = logging.getLogger("cargowatch")


class StartupError(RuntimeError):
    """The service cannot start; the message is one line for the operator."""


def influx_client(values: dict[str, Any]) -> InfluxClient:
    return InfluxClient(
        values["influx_url"],
        values["influx_db"],
        token=values["influx_token"],
        username=values["influx_username"],
        password=values["influx_password"],
        timeout_s=values["influx_timeout_s"],
    )


def prepare_database(client: InfluxClient) -> None:
    """Create the database when InfluxDB answers; wrong credentials stop start-up.

    An unreachable InfluxDB does not: readings are spooled until it answers.
    """
    try:
        client.create_database()
    except InfluxAuthFailed as exc:
        raise StartupError(
            f"InfluxDB at {client.url} refused the credentials ({exc}); "
            "check CARGOWATCH_INFLUX_TOKEN or _USERNAME/_PASSWORD"
        ) from None
    except InfluxUnavailable as exc:
        log.warning(
            "InfluxDB at %s not reachable yet (%s); spooling until it answers", client.url, exc
        )


def build_ingester(values: dict[str, Any]) -> Pipeline:
    client = influx_client(values)
    prepare_database(client)
    stats = IngestStats()
    try:
        spool = Spool(values["spool_dir"], values["spool_max_mb"] * 1_000_000)
    except OSError as exc:
        raise StartupError(
            f"CARGOWATCH_SPOOL_DIR {values['spool_dir']} is not usable: {exc}"
        ) from None
    sink = InfluxSink(client, spool, stats, RetryPolicy(window_s=values["retry_window_s"]))
    source = MqttSource(
        MqttOptions(
            url=values["mqtt_url"],
            client_id=values["mqtt_client_id"],
            session_expiry_s=values["mqtt_session_expiry_s"],
            receive_maximum=values["mqtt_receive_maximum"],
            share_group=values["mqtt_share_group"],
        )
    )
    options = PipelineOptions(
        batch_size=values["batch_size"],
        flush_interval_s=values["flush_interval_ms"] / 1000,
        stats_interval_s=values["stats_interval_s"],
        instance=values["mqtt_client_id"],
    )
    return Pipeline(source, sink, stats, options)
