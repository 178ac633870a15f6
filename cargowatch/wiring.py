"""Builds the running processes from resolved settings; the only place that knows every part."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from api.db import StoreUnavailable, make_engine, session_factory
from api.delivery import AlertRecorder, OutboxDelivery
from api.schema import SchemaNotCurrent, require_current_schema
from api.shipment_watch import ShipmentWatcher
from cargowatch.settings import InfluxSettings, IngestSettings
from detectors.profiles import PROFILES, ManifestError, Shipment, parse_manifest
from detectors.registry import build_engine
from ingest.detector_stage import DetectorStage
from ingest.influx_client import InfluxAuthFailed, InfluxClient, InfluxUnavailable
from ingest.influx_sink import InfluxSink, RetryPolicy
from ingest.mqtt_publisher import MqttPublisher
from ingest.mqtt_source import MqttOptions, MqttSource
from ingest.pipeline import Pipeline, PipelineOptions
from ingest.spool import Spool
from ingest.stats import IngestStats
from ingest.stored_readings import readings_between

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


@dataclass
class Ingester:
    """The ingest process's stages, started in data-flow order and stopped in reverse.

    readings -> `pipeline` (MQTT in, InfluxDB out, detectors) -> `recorder` (SQL store and
    its outbox) -> `delivery` (MQTT out, InfluxDB `alerts`).
    """

    pipeline: Pipeline
    recorder: AlertRecorder
    publisher: MqttPublisher
    delivery: OutboxDelivery
    shipments: ShipmentWatcher

    def start(self) -> None:
        self.publisher.start()
        self.delivery.start()
        self.shipments.start()
        self.restore()
        self.pipeline.start()

    def restore(self) -> None:
        """Detector state from the last snapshot, plus the readings stored since."""
        stage = self.pipeline.stage
        if isinstance(stage, DetectorStage):
            client = self.pipeline.sink.client
            stage.restore(partial(readings_between, client), self.pipeline.remember)

    def stop(self, timeout_s: float = 30.0) -> bool:
        # A store that stays down must not hold the stop forever: past the timeout the
        # recorder gives up, and the alerts are rebuilt from stored readings next time.
        self.shipments.stop()
        give_up = threading.Timer(timeout_s, self.recorder.stop)
        give_up.start()
        try:
            clean = self.pipeline.stop(timeout_s)
        finally:
            give_up.cancel()
        self.recorder.stop()
        if not self.delivery.stop(timeout_s=10):
            log.warning("alert events left in the outbox go out at the next start")
        self.publisher.stop()
        return clean


def open_store(url: str) -> AlertRecorder:
    """The SQL store's recorder; an unreachable or un-migrated store stops start-up in one line."""
    engine = make_engine(url)
    try:
        require_current_schema(engine)
    except (SchemaNotCurrent, StoreUnavailable) as exc:
        raise StartupError(f"CARGOWATCH_DB_URL: {exc}") from None
    return AlertRecorder(session_factory(engine))


def build_ingester(settings: IngestSettings) -> Ingester:
    mqtt, writer, detect = settings.mqtt, settings.writer, settings.detect
    shipments = load_shipments(detect.shipments)
    recorder = open_store(settings.db_url)
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
    stage = pipeline.stage = DetectorStage(
        engine,
        recorder,
        state_path=detect.state_dir / "detectors.state",
        snapshot_s=detect.state_snapshot_s,
    )
    publisher = MqttPublisher(mqtt.url, f"{mqtt.client_id}-delivery")
    delivery = OutboxDelivery(recorder.sessions, publisher, influx_client(settings.influx))

    def watch(shipment: Shipment) -> None:
        stage.add_shipment(shipment)
        pipeline.set_shipment(shipment.device_id, shipment.shipment_id)

    def unwatch(device_id: str) -> None:
        stage.remove_shipment(device_id)
        pipeline.set_shipment(device_id, None)

    watcher = ShipmentWatcher(recorder.sessions, watch, unwatch)
    return Ingester(pipeline, recorder, publisher, delivery, watcher)
