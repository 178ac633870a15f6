"""Builds the running processes from resolved settings; the only place that knows every part."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from cargowatch.settings import InfluxSettings, IngestSettings
from detectors.profiles import PROFILES, ManifestError, Shipment, parse_manifest
from detectors.registry import build_engine
from ingest.alert_sink import AlertSink
from ingest.detector_stage import DetectorStage
from ingest.influx_client import InfluxAuthFailed, InfluxClient, InfluxUnavailable
from ingest.influx_sink import InfluxSink, RetryPolicy
from ingest.mqtt_source import MqttOptions, MqttSource
from ingest.pipeline import Pipeline, PipelineOptions
from ingest.spool import Spool
from ingest.stats import IngestStats

log = logging.getLogger("cargowatch")


class StartupError(RuntimeError):
    """The service cannot start; the message is one line for the operator."""


def influx_client(influx: InfluxSettings) -> InfluxClient:
    return InfluxClient(
        influx.url,
        influx.db,
        token=influx.token,
        username=influx.username,
        password=influx.password,
        timeout_s=influx.timeout_s,
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


def load_shipments(path: Path | None) -> list[Shipment]:
    """Read a manifest file; any problem is a one-line start-up error naming the file."""
    if path is None:
        return []
    try:
        return parse_manifest(json.loads(path.read_text()))
    except OSError as exc:
        raise StartupError(f"CARGOWATCH_SHIPMENTS {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise StartupError(f"CARGOWATCH_SHIPMENTS {path}: not JSON ({exc})") from None
    except ManifestError as exc:
        raise StartupError(f"CARGOWATCH_SHIPMENTS {path}: {exc}") from None


def build_ingester(settings: IngestSettings) -> Pipeline:
    mqtt, writer, detect = settings.mqtt, settings.writer, settings.detect
    shipments = load_shipments(detect.shipments)
    client = influx_client(settings.influx)
    prepare_database(client)
    stats = IngestStats()
    try:
        spool = Spool(writer.spool_dir, writer.spool_max_mb * 1_000_000)
    except OSError as exc:
        raise StartupError(
            f"CARGOWATCH_SPOOL_DIR {writer.spool_dir} is not usable: {exc}"
        ) from None
    sink = InfluxSink(client, spool, stats, RetryPolicy(window_s=writer.retry_window_s))
    source = MqttSource(
        MqttOptions(
            url=mqtt.url,
            client_id=mqtt.client_id,
            session_expiry_s=mqtt.session_expiry_s,
            receive_maximum=mqtt.receive_maximum,
            share_group=mqtt.share_group,
        )
    )
    options = PipelineOptions(
        batch_size=writer.batch_size,
        flush_interval_s=writer.flush_interval_ms / 1000,
        stats_interval_s=writer.stats_interval_s,
        instance=mqtt.client_id,
        max_age_ms=int(writer.max_reading_age_days * 86_400_000),
    )
    pipeline = Pipeline(
        source, sink, stats, options, shipment_of={s.device_id: s.shipment_id for s in shipments}
    )
    default = detect.default_profile
    engine = build_engine(
        shipments,
        PROFILES[default] if default else None,
        lateness_ms=int(detect.lateness_s * 1000),
    )
    pipeline.stage = DetectorStage(engine, AlertSink(pipeline.store_lines, source.publish))
    return pipeline
