"""Builds the running processes from resolved settings; the only place that knows every part."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from api.commit_hook import notify_on_commit
from api.commit_signal import CommitFollower, CommitSignal
from api.db import StoreUnavailable, make_engine, session_factory
from api.delivery import AlertRecorder, OutboxDelivery
from api.delivery_lease import DeliveryLease
from api.email_sender import EmailSender, SmtpOptions
from api.escalation import EscalationWorker
from api.schema import SchemaNotCurrent, require_current_schema
from api.shipment_watch import ShipmentsUnreadable, ShipmentWatcher
from api.webhook_sender import WebhookOptions, WebhookSender
from cargowatch.settings import InfluxSettings, IngestSettings
from detectors.profiles import PROFILES, ManifestError, Shipment, parse_manifest
from detectors.reading import Reading
from detectors.registry import build_engine
from ingest.detector_process import DetectorProcess, DetectorsFailed
from ingest.detector_stage import DetectorStage
from ingest.influx_client import InfluxAuthFailed, InfluxClient, InfluxUnavailable
from ingest.influx_sink import InfluxSink, RetryPolicy
from ingest.mqtt_publisher import MqttPublisher
from ingest.mqtt_source import MqttOptions, MqttSource
from ingest.pipeline import Pipeline, PipelineOptions
from ingest.shipment_points import ShipmentTag
from ingest.spool import Spool
from ingest.stats import IngestStats
from ingest.stored_readings import readings_between

log = logging.getLogger("cargowatch")


class StartupError(RuntimeError):
    """The service cannot start; the message is one line for the operator."""


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # One line per HTTP request would drown the state changes the logs are for.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # Alembic narrates every schema check; the store's state is said in one line of our own.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))


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
            "check --influx-token / CARGOWATCH_INFLUX_TOKEN, or --influx-username and"
            " --influx-password / CARGOWATCH_INFLUX_USERNAME and CARGOWATCH_INFLUX_PASSWORD"
        ) from None
    except InfluxUnavailable as exc:
        log.warning(
            "InfluxDB at %s not reachable yet (%s); spooling until it answers", client.url, exc
        )


def load_shipments(
    path: Path | None, setting: str = "--shipments / CARGOWATCH_SHIPMENTS"
) -> list[Shipment]:
    """Read a manifest file; any problem is a one-line start-up error naming `setting` and the
    file (`cargowatch backtest` has the flag alone)."""
    if path is None:
        return []
    try:
        return parse_manifest(json.loads(path.read_text()))
    except OSError as exc:
        raise StartupError(f"{setting} {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise StartupError(f"{setting} {path}: not JSON ({exc})") from None
    except ManifestError as exc:
        raise StartupError(f"{setting} {path}: {exc}") from None


@dataclass
class Ingester:
    """The ingest process's stages, started in data-flow order and stopped in reverse.

    readings -> `pipeline` (MQTT in, InfluxDB out) -> `detectors` (a child process: the
    engine, and the SQL store and its outbox that its events go to) -> `delivery` (MQTT
    out, InfluxDB `alerts`), `webhooks` and `email` (the deliveries to people), and
    `escalation` (notices about alerts nobody has acknowledged). `commits` wakes the delivery
    workers when the detectors, the escalation worker or (under ``cargowatch run``) the API
    commit new deliveries.
    """

    pipeline: Pipeline
    detectors: DetectorProcess
    publisher: MqttPublisher
    delivery: OutboxDelivery
    shipments: ShipmentWatcher
    webhooks: WebhookSender
    email: EmailSender | None
    escalation: EscalationWorker
    commits: CommitFollower

    def start(self) -> None:
        try:
            self.detectors.start()
            # The shipments the store holds reach the detectors before their snapshot does: a
            # device restored under a shipment the engine does not know yet would start afresh,
            # and the readings stored since the snapshot would be replayed unwatched. So a store
            # that cannot be read now stops start-up, as one that cannot be opened does.
            self.shipments.poll(strict=True)
            # Detector state from the last snapshot, plus the readings stored since.
            self.detectors.restore(self.pipeline.remember)
        except (DetectorsFailed, ShipmentsUnreadable) as exc:
            # Not `detectors.close()`: its snapshot would replace the last one with an engine
            # that has not taken it back. The child is a daemon and ends with this process.
            raise StartupError(str(exc)) from None
        self.publisher.start()
        self.delivery.start()
        self.webhooks.start()
        if self.email is not None:
            self.email.start()
        self.escalation.start()
        self.commits.start()
        self.shipments.start()
        self.pipeline.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        # The detectors stop with the pipeline (it closes its stage); a store that stays
        # down past the timeout gets the child killed, and its alerts are rebuilt from the
        # stored readings at the next start.
        self.shipments.stop()
        clean = self.pipeline.stop(timeout_s)
        self.commits.stop()
        if not self.delivery.stop(timeout_s=10):
            log.warning("alert events left in the outbox go out at the next start")
        self.escalation.stop(timeout_s=10)
        if self.email is not None:
            self.email.stop(timeout_s=10)
        self.webhooks.stop(timeout_s=10)
        self.publisher.stop()
        return clean


def open_store(url: str) -> sessionmaker[Session]:
    """Sessions on the SQL store; an unreachable or un-migrated store stops start-up in one line."""
    engine = make_engine(url)
    try:
        require_current_schema(engine)
    except (SchemaNotCurrent, StoreUnavailable) as exc:
        raise StartupError(f"--db-url / CARGOWATCH_DB_URL: {exc}") from None
    return session_factory(engine)


@dataclass
class Detectors:
    """The detector process's parts: its stage, the stored readings it replays, its store."""

    stage: DetectorStage
    recorder: AlertRecorder
    influx: InfluxClient

    def stored(self, after_ms: int, until_ms: int) -> Iterable[Reading]:
        return readings_between(self.influx, after_ms, until_ms)

    def close(self) -> None:
        self.recorder.stop()
        self.influx.close()


def build_detectors(settings: IngestSettings, commits: CommitSignal | None = None) -> Detectors:
    """Runs in the detector process: the engine, its snapshots, and the store it records into;
    `commits` is raised after each commit that added deliveries."""
    configure_logging(settings.log_level)
    detect = settings.detect
    default = detect.default_profile
    engine = build_engine(
        load_shipments(detect.shipments),
        PROFILES[default] if default else None,
        lateness_ms=int(detect.lateness_s * 1000),
    )
    sessions = open_store(settings.db_url)
    if commits is not None:
        notify_on_commit(sessions, commits.notify)
    recorder = AlertRecorder(sessions)
    stage = DetectorStage(
        engine,
        recorder,
        state_path=detect.state_dir / "detectors.state",
        snapshot_s=detect.state_snapshot_s,
    )
    return Detectors(stage, recorder, influx_client(settings.influx))


def build_ingester(settings: IngestSettings) -> Ingester:
    mqtt, writer, detect = settings.mqtt, settings.writer, settings.detect
    shipments = load_shipments(detect.shipments)
    commits = CommitSignal()
    sessions = open_store(settings.db_url)
    # The escalation worker's notices and the workers' redeliveries wake the workers too.
    notify_on_commit(sessions, commits.notify)
    client = influx_client(settings.influx)
    prepare_database(client)
    stats = IngestStats()
    try:
        spool = Spool(writer.spool_dir, writer.spool_max_mb * 1_000_000)
    except OSError as exc:
        raise StartupError(
            f"--spool-dir / CARGOWATCH_SPOOL_DIR {writer.spool_dir} is not usable: {exc}"
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
    stage = DetectorProcess(partial(build_detectors, settings, commits))
    pipeline = Pipeline(
        source,
        sink,
        stats,
        options,
        stage=stage,
        shipment_of={s.device_id: ShipmentTag.of(s) for s in shipments},
    )
    publisher = MqttPublisher(mqtt.url, f"{mqtt.client_id}-delivery")
    # One process at a time delivers from the store; every worker of this one asks this lease.
    lease = DeliveryLease(sessions.kw["bind"])
    # Which of several processes on the store sends: the stats say it every interval.
    stats.delivering = lambda: lease.holding
    delivery = OutboxDelivery(
        sessions,
        publisher,
        influx_client(settings.influx),
        deadline_s=settings.outbox_deadline_s,
        lease=lease,
    )

    def watch(shipment: Shipment) -> None:
        stage.add_shipment(shipment)
        pipeline.set_shipment(shipment.device_id, ShipmentTag.of(shipment))

    def unwatch(device_id: str) -> None:
        stage.remove_shipment(device_id)
        pipeline.set_shipment(device_id, None)

    watcher = ShipmentWatcher(sessions, watch, unwatch)
    webhooks = WebhookSender(
        sessions,
        WebhookOptions(
            deadline_s=settings.webhook.deadline_s,
            timeout_s=settings.webhook.timeout_s,
            allow_private=settings.webhook.allow_private,
            poll_s=settings.webhook.poll_s,
        ),
        lease=lease,
    )
    mail = settings.email
    email = (
        EmailSender(
            sessions,
            SmtpOptions(
                host=mail.host,
                port=mail.port,
                security=mail.security,  # type: ignore[arg-type]
                username=mail.username,
                password=mail.password,
                from_address=mail.from_address,
                console_url=mail.console_url,
                deadline_s=mail.deadline_s,
            ),
            lease=lease,
        )
        if mail.host is not None
        else None
    )
    escalation = EscalationWorker(sessions, lease=lease)
    woken = [delivery.wake, webhooks.wake] + ([email.wake] if email is not None else [])
    follower = CommitFollower(commits, woken)
    return Ingester(
        pipeline, stage, publisher, delivery, watcher, webhooks, email, escalation, follower
    )
