"""Settings: each one a CLI flag and a `CARGOWATCH_*` environment variable, validated at start-up.

One table declares every setting once (name, default, parser, help); the CLI
builds its flags from it and `parse_values` reads flag, then environment, then
default. A parser turns text into a typed value or raises `SettingError`,
whose message is the single line printed at start-up, naming the setting and
the value it got: `CARGOWATCH_INFLUX_URL must be http(s)://host[:port], got 'localhost'`.
`resolve` then files the ingester's values into frozen, typed groups
(`IngestSettings.mqtt.url`, `.writer.batch_size`, ...) and refuses settings
that each parse but cannot work together. Nothing connects anywhere until
every setting has parsed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingError(ValueError):
    """A setting's value is unusable; the message is one line for the operator."""


@dataclass(frozen=True)
class Setting:
    name: str  # snake_case; flag --name-with-dashes, env CARGOWATCH_NAME
    default: str | None
    parse: Callable[[str], Any]
    help: str
    secret: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "CARGOWATCH_" + self.name.upper()


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    shape = schemes[0] + "(s)" if len(schemes) == 2 else schemes[0]

    def parse(text: str) -> str:
        try:
            u = urlsplit(text)
            port = u.port
        except ValueError:
            raise ValueError(f"must be {shape}://host[:port] with a port of 1-65535") from None
        if u.scheme not in schemes or not u.hostname:
            raise ValueError(f"must be {shape}://host[:port]")
        if port is not None and port == 0:
            raise ValueError("must have a port of 1-65535")
        if u.path not in ("", "/") or u.query or u.fragment:
            raise ValueError(f"must be {shape}://host[:port] with no path")
        return text.rstrip("/")

    return parse


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError("must be an integer") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low:,} and {high:,}")
        return value

    return parse


def _float(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("must be a number") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return parse


_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _name(text: str) -> str:
    if not _NAME_RE.fullmatch(text):
        raise ValueError("must be 1-64 characters of A-Z a-z 0-9 . _ -")
    return text


def _optional_name(text: str) -> str | None:
    return _name(text) if text else None


def _text(text: str) -> str | None:
    return text or None


def _path(text: str) -> Path:
    if not text:
        raise ValueError("must be a path")
    return Path(text)


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be one of debug, info, warning, error")
    return level


def _db_url(text: str) -> str:
    if not re.match(r"(sqlite|postgresql)(\+\w+)?://", text):
        raise ValueError("must be sqlite:///path or postgresql://user@host/db")
    return text


MQTT = [
    Setting(
        "mqtt_url",
        "mqtt://127.0.0.1:1883",
        _url(("mqtt", "mqtts")),
        "MQTT broker, mqtt[s]://[user:password@]host[:port]",
    ),
    Setting(
        "mqtt_client_id",
        "cargowatch-ingest",
        _name,
        "stable MQTT client id; the broker keeps this id's session while the ingester is away",
    ),
    Setting(
        "mqtt_share_group",
        "",
        _optional_name,
        "subscribe through $share/GROUP/... so several ingesters split the load",
    ),
    Setting(
        "mqtt_session_expiry_s",
        "604800",
        _int(0, 2**32 - 1),
        "how long the broker keeps the session (and queues messages) while disconnected",
    ),
    Setting(
        "mqtt_receive_maximum",
        "10000",
        _int(1, 65535),
        "MQTT v5 Receive Maximum: unacked messages the broker may have in flight to us",
    ),
]
INFLUX = [
    Setting(
        "influx_url",
        "http://127.0.0.1:8086",
        _url(("http", "https")),
        "InfluxDB server (v1 HTTP API)",
    ),
    Setting("influx_db", "cargowatch", _name, "InfluxDB database; created if missing"),
    Setting("influx_token", "", _text, "InfluxDB token (Authorization: Token ...)", secret=True),
    Setting("influx_username", "", _text, "InfluxDB user, when not using a token"),
    Setting("influx_password", "", _text, "InfluxDB password", secret=True),
    Setting("influx_timeout_s", "10", _float(0.1, 300), "timeout of one InfluxDB request"),
]
WRITER = [
    Setting("batch_size", "5000", _int(1, 100_000), "readings per InfluxDB write"),
    # An alert can be no earlier than the write of the reading behind it: a short wait keeps
    # publish-to-alert latency low, and a busy stream fills batches by size long before it.
    Setting(
        "flush_interval_ms", "50", _int(1, 60_000), "longest a reading waits for its batch to fill"
    ),
    Setting(
        "retry_window_s",
        "5",
        _float(0, 3600),
        "how long a failing write is retried before batches go to the spool",
    ),
    Setting(
        "max_reading_age_days",
        "30",
        _float(0.01, 36_500),
        "readings older than this are rejected as too_old (each week spanned is an InfluxDB shard)",
    ),
    Setting("spool_dir", "./var/spool", _path, "where batches wait while InfluxDB is away"),
    Setting(
        "spool_max_mb",
        "1024",
        _int(1, 10_000_000),
        "spool size bound; when full, acks stop and the broker holds the backlog",
    ),
    Setting(
        "stats_interval_s",
        "10",
        _float(0.1, 3600),
        "how often counters go to the log and to cargowatch_stats",
    ),
]


def _profile(text: str) -> str | None:
    from detectors.profiles import PROFILES

    if text in ("", "none"):
        return None
    if text not in PROFILES:
        raise ValueError(f"must be none or one of {', '.join(sorted(PROFILES))}")
    return text


def _optional_path(text: str) -> Path | None:
    return Path(text) if text else None


DETECT = [
    Setting(
        "shipments",
        "",
        _optional_path,
        "shipment manifest (JSON, see docs/manifest.md) the detectors check against",
    ),
    Setting(
        "default_profile",
        "customs_transit",
        _profile,
        "profile for devices in no shipment, or none to leave them unwatched",
    ),
    Setting(
        "lateness_s",
        "30",
        _float(0, 3600),
        "how long readings may arrive out of order and still be processed in order",
    ),
    Setting(
        "state_dir",
        "./var/state",
        _path,
        "where the detectors' state is snapshotted, so a restart carries on where they were",
    ),
    Setting(
        "state_snapshot_s",
        "30",
        _float(1, 3600),
        "how often the detectors' state is snapshotted (also at every clean stop)",
    ),
]
STORE = [
    Setting(
        "db_url",
        "sqlite:///./var/cargowatch.db",
        _db_url,
        "SQL store of alerts, shipments and keys: sqlite:///path or postgresql://user@host/db",
    ),
]
OUTBOX = [
    Setting(
        "outbox_deadline_s",
        "3600",
        _float(1, 30 * 86400),
        "how long an alert entry InfluxDB refuses is retried before it is dead-lettered"
        " (an MQTT or InfluxDB outage only delays)",
    ),
]
WEBHOOK = [
    Setting(
        "webhook_deadline_s",
        "86400",
        _float(1, 30 * 86400),
        "how long a webhook delivery is retried before it is dead-lettered",
    ),
    Setting(
        "webhook_timeout_s",
        "10",
        _float(0.1, 300),
        "how long one webhook request may take before it counts as failed",
    ),
    Setting(
        "webhook_poll_s",
        "0.5",
        _float(0.01, 86400),
        "how often the webhook worker looks for deliveries written outside this process tree"
        " (those of the detectors, the API and escalation here wake it at their commit)",
    ),
    Setting(
        "webhook_allow_private",
        "false",
        _flag,
        "true lets webhooks reach private, loopback and link-local addresses",
    ),
]


def _smtp_host(text: str) -> str | None:
    if text and any(c.isspace() or c in "/@?#:" for c in text):
        raise ValueError("must be a host name or IP address (the port is --smtp-port)")
    return text or None


def _smtp_security(text: str) -> str:
    if text not in ("starttls", "tls", "none"):
        raise ValueError("must be starttls, tls or none")
    return text


def _address(text: str) -> str:
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or any(c.isspace() or c in "<>" for c in text):
        raise ValueError("must be an e-mail address like cargowatch@example.com")
    return text


def _console_url(text: str) -> str:
    u = urlsplit(text)
    if u.scheme not in ("http", "https") or not u.hostname or u.query or u.fragment:
        raise ValueError("must be http(s)://host[:port][/path]")
    return text.rstrip("/")


EMAIL = [
    Setting("smtp_host", "", _smtp_host, "SMTP server e-mail is sent through; empty: no e-mail"),
    Setting("smtp_port", "587", _int(1, 65535), "SMTP port (587 STARTTLS, 465 TLS, 25 none)"),
    Setting("smtp_security", "starttls", _smtp_security, "starttls, tls (implicit) or none"),
    Setting("smtp_username", "", _text, "SMTP login user name; empty: no login"),
    Setting("smtp_password", "", _text, "SMTP login password", secret=True),
    Setting("email_from", "cargowatch@localhost", _address, "the From address of e-mails"),
    Setting(
        "console_url",
        "http://localhost:8000",
        _console_url,
        "the console the alert links in e-mails point to: {console_url}/alerts/{id}",
    ),
    Setting(
        "email_deadline_s",
        "86400",
        _float(1, 30 * 86400),
        "how long an e-mail delivery is retried before it is dead-lettered",
    ),
]
COMMON = [
    Setting("log_level", "info", _log_level, "debug, info, warning or error"),
]
INGEST = [*MQTT, *INFLUX, *WRITER, *DETECT, *STORE, *OUTBOX, *WEBHOOK, *EMAIL, *COMMON]


def _host(text: str) -> str:
    if not text or any(c.isspace() or c in "/@?#" for c in text):
        raise ValueError("must be a host name or IP address to listen on")
    return text


API_SERVER = [
    Setting("api_host", "127.0.0.1", _host, "address the HTTP API listens on (0.0.0.0: every one)"),
    Setting("api_port", "8000", _int(1, 65535), "port the HTTP API listens on"),
]
#: `cargowatch api`: where to listen, the store it serves, and what /health probes.
API = [
    *API_SERVER,
    *(s for s in MQTT if s.name == "mqtt_url"),
    *INFLUX,
    *STORE,
    *COMMON,
]


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where readings come from: `--mqtt-*`."""

    url: str
    client_id: str
    share_group: str | None
    session_expiry_s: int
    receive_maximum: int


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """Where readings go: `--influx-*`."""

    url: str
    db: str
    # Kept out of repr, so a settings object in a log line or a traceback shows no secret.
    token: str | None = field(repr=False)
    username: str | None
    password: str | None = field(repr=False)
    timeout_s: float


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """How readings are batched, retried and spooled on their way into InfluxDB."""

    batch_size: int
    flush_interval_ms: int
    retry_window_s: float
    max_reading_age_days: float
    spool_dir: Path
    spool_max_mb: int
    stats_interval_s: float


@dataclass(frozen=True, slots=True)
class DetectSettings:
    """What the detectors watch stored readings for."""

    shipments: Path | None
    default_profile: str | None
    lateness_s: float
    state_dir: Path
    state_snapshot_s: float

    @property
    def enabled(self) -> bool:
        """Whether any device can have a profile: a default one, or a manifest that assigns one."""
        return self.default_profile is not None or self.shipments is not None


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """How hard webhook deliveries are tried, and where they may go."""

    deadline_s: float
    timeout_s: float
    allow_private: bool
    #: The fallback poll for deliveries no commit hook of this process tree announces.
    poll_s: float = 0.5


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """Where e-mail goes out and what its links point to; `host` None means no e-mail."""

    host: str | None
    port: int
    security: str
    username: str | None
    password: str | None = field(repr=False)
    from_address: str
    console_url: str
    deadline_s: float


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """Everything `cargowatch ingest` is configured with, parsed and checked."""

    mqtt: MqttSettings
    influx: InfluxSettings
    writer: WriterSettings
    detect: DetectSettings
    #: The SQL store alert events are recorded in (`--db-url`); kept out of repr (a password).
    db_url: str = field(repr=False)
    log_level: str
    webhook: WebhookSettings
    email: EmailSettings
    #: How long an outbox entry a channel refuses is retried (`--outbox-deadline-s`).
    outbox_deadline_s: float = 3_600.0


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Everything `cargowatch api` (and the API in `cargowatch run`) is configured with."""

    host: str
    port: int
    #: The broker /health probes; kept out of repr (a password).
    mqtt_url: str = field(repr=False)
    influx: InfluxSettings
    db_url: str = field(repr=False)
    log_level: str


def parse_values(
    settings: Sequence[Setting],
    flags: Mapping[str, str | None],
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Parse every setting from its flag, else its environment variable, else its default.

    >>> parse_values(INFLUX, {"influx_url": "http://db:8086"}, env={})["influx_url"]
    'http://db:8086'
    >>> try:
    ...     parse_values(INFLUX, {"influx_url": "localhost"}, env={})
    ... except SettingError as e:
    ...     print(e)
    --influx-url / CARGOWATCH_INFLUX_URL must be http(s)://host[:port], got 'localhost'
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for s in settings:
        raw = flags.get(s.name)
        if raw is None:
            raw = env.get(s.env, s.default)
        if raw is None:
            raw = ""
        try:
            values[s.name] = s.parse(raw)
        except ValueError as exc:
            shown = "'***'" if s.secret else repr(_without_password(raw))
            raise SettingError(f"{s.flag} / {s.env} {exc}, got {shown}") from None
    return values


def resolve(
    flags: Mapping[str, str | None], env: Mapping[str, str] | None = None
) -> IngestSettings:
    """The ingester's settings from flags, environment and defaults, or a `SettingError`.

    >>> s = resolve({"batch_size": "100"}, env={"CARGOWATCH_INFLUX_DB": "fleet"})
    >>> s.writer.batch_size, s.influx.db, s.mqtt.share_group
    (100, 'fleet', None)
    """
    values = parse_values(INGEST, flags, env)
    # Taking each value out means a row added to the table without a field here fails
    # the first test that resolves, instead of being parsed and silently ignored.
    take = values.pop
    settings = IngestSettings(
        mqtt=MqttSettings(
            url=take("mqtt_url"),
            client_id=take("mqtt_client_id"),
            share_group=take("mqtt_share_group"),
            session_expiry_s=take("mqtt_session_expiry_s"),
            receive_maximum=take("mqtt_receive_maximum"),
        ),
        influx=influx_settings(take),
        writer=WriterSettings(
            batch_size=take("batch_size"),
            flush_interval_ms=take("flush_interval_ms"),
            retry_window_s=take("retry_window_s"),
            max_reading_age_days=take("max_reading_age_days"),
            spool_dir=take("spool_dir"),
            spool_max_mb=take("spool_max_mb"),
            stats_interval_s=take("stats_interval_s"),
        ),
        detect=DetectSettings(
            shipments=take("shipments"),
            default_profile=take("default_profile"),
            lateness_s=take("lateness_s"),
            state_dir=take("state_dir"),
            state_snapshot_s=take("state_snapshot_s"),
        ),
        db_url=take("db_url"),
        log_level=take("log_level"),
        webhook=WebhookSettings(
            deadline_s=take("webhook_deadline_s"),
            timeout_s=take("webhook_timeout_s"),
            allow_private=take("webhook_allow_private"),
            poll_s=take("webhook_poll_s"),
        ),
        email=EmailSettings(
            host=take("smtp_host"),
            port=take("smtp_port"),
            security=take("smtp_security"),
            username=take("smtp_username"),
            password=take("smtp_password"),
            from_address=take("email_from"),
            console_url=take("console_url"),
            deadline_s=take("email_deadline_s"),
        ),
        outbox_deadline_s=take("outbox_deadline_s"),
    )
    if values:
        raise AssertionError(f"settings with no place in IngestSettings: {', '.join(values)}")
    _refuse_split_detectors(settings)
    return settings


def influx_settings(take: Callable[[str], Any]) -> InfluxSettings:
    """InfluxDB's settings, each `take`n by name from parsed values (`parse_values`)."""
    return InfluxSettings(
        url=take("influx_url"),
        db=take("influx_db"),
        token=take("influx_token"),
        username=take("influx_username"),
        password=take("influx_password"),
        timeout_s=take("influx_timeout_s"),
    )


def resolve_api(
    flags: Mapping[str, str | None], env: Mapping[str, str] | None = None
) -> ApiSettings:
    """The API's settings from flags, environment and defaults, or a `SettingError`.

    >>> s = resolve_api({"api_port": "8080"}, env={"CARGOWATCH_API_HOST": "0.0.0.0"})
    >>> s.host, s.port, s.db_url
    ('0.0.0.0', 8080, 'sqlite:///./var/cargowatch.db')
    """
    values = parse_values(API, flags, env)
    take = values.pop
    settings = ApiSettings(
        host=take("api_host"),
        port=take("api_port"),
        mqtt_url=take("mqtt_url"),
        influx=influx_settings(take),
        db_url=take("db_url"),
        log_level=take("log_level"),
    )
    if values:
        raise AssertionError(f"settings with no place in ApiSettings: {', '.join(values)}")
    return settings


def _refuse_split_detectors(settings: IngestSettings) -> None:
    """A share group gives each member an arbitrary part of every device's readings.

    A detector seeing part of a device raises false silences and misses excursions, so
    until readings are partitioned by device, the detectors run in one ingester outside
    the group; the members, with no profile to watch, only store.
    """
    group, detect = settings.mqtt.share_group, settings.detect
    if group is None or not detect.enabled:
        return
    watching = (
        f"--shipments {str(detect.shipments)!r}"
        if detect.shipments is not None
        else f"--default-profile {detect.default_profile!r}"
    )
    raise SettingError(
        "--mqtt-share-group / CARGOWATCH_MQTT_SHARE_GROUP splits each device's readings across"
        " ingesters, which breaks the detectors; run them in one ingester without a share"
        " group, and give the group's members CARGOWATCH_DEFAULT_PROFILE=none and no"
        f" CARGOWATCH_SHIPMENTS, got --mqtt-share-group {group!r} with {watching}"
    )


_URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")


def _without_password(text: str) -> str:
    """A value as it may be shown: a URL's password (the broker URL carries one) masked.

    >>> _without_password("mqtt://svc:s3cret@broker:1883/x")
    'mqtt://svc:***@broker:1883/x'
    """
    return _URL_PASSWORD.sub(r"\1***@", text)
