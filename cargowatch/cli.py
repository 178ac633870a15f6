"""The `cargowatch` command line: a subcommand per process, flags built from the settings table."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Final

from cargowatch.settings import (
    API,
    API_SERVER,
    INFLUX,
    INGEST,
    STORE,
    Setting,
    SettingError,
    influx_settings,
    parse_values,
    resolve,
)
from cargowatch.wiring import StartupError, build_ingester, configure_logging, influx_client
from ingest.influx_client import InfluxClient

log = logging.getLogger("cargowatch")

#: The settings of the commands that read a trip from the SQL store and InfluxDB directly.
TRIP_SETTINGS: Final = [*STORE, *INFLUX]


def _add_settings(parser: argparse.ArgumentParser, settings: list[Setting]) -> None:
    for s in settings:
        default = "(secret)" if s.secret else repr(s.default)
        parser.add_argument(
            s.flag,
            dest=s.name,
            default=None,
            metavar=s.name.split("_")[-1].upper(),
            help=f"{s.help} [env {s.env}, default {default}]",
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cargowatch", description="Watch cargo in transit and warn early when it is at risk."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ingest = commands.add_parser(
        "ingest",
        help="MQTT telemetry -> InfluxDB, at least once, with a disk spool",
        description="Subscribe to cargo/v1/+/telemetry and store every reading in InfluxDB.",
    )
    _add_settings(ingest, INGEST)

    simulate = commands.add_parser(
        "simulate",
        help="publish (or record) a simulated tracker fleet with labelled incidents",
        description="Simulate a fleet of trackers that speaks only the wire format; "
        "write its manifest and ground-truth labels.",
    )
    from simulators.cli import add_arguments as add_simulate_arguments

    add_simulate_arguments(simulate)

    backtest = commands.add_parser(
        "backtest",
        help="replay recorded readings through the detectors in event time",
        description="Replay JSON Lines of wire-format readings, or a timestamp,value CSV, "
        "through the detectors; write the alert events they raise.",
    )
    backtest.add_argument("input", type=Path, help="readings.jsonl or a timestamp,value CSV")
    backtest.add_argument("--shipments", type=Path, help="shipment manifest the readings belong to")
    backtest.add_argument(
        "--profile",
        help="profile for devices in no shipment (default: customs_transit for "
        "JSON Lines; none for CSV unless given)",
    )
    backtest.add_argument(
        "--alerts", type=Path, required=True, help="where to write alert events (JSON Lines)"
    )
    backtest.add_argument(
        "--scores", type=Path, help="CSV timestamp,value,anomaly_score for every reading"
    )
    backtest.add_argument(
        "--plot", type=Path, help="PNG of the channel, the profile band and the alerts"
    )
    backtest.add_argument(
        "--channel", default="temp_c", help="numeric channel a CSV holds and scores are for"
    )
    backtest.add_argument(
        "--device", help="device id for a CSV's readings (default: from the file name)"
    )
    backtest.add_argument(
        "--lateness-s",
        help="how far (s of event time) a reading may come after newer ones of its tracker and "
        "still be processed in order, as the live ingester's --lateness-s (default: its 30)",
    )

    broker = commands.add_parser(
        "broker",
        help="write the secured mosquitto config; add device and user credentials",
        description="Manage the broker's config, password file and ACL.",
    )
    from ingest.broker_cli import add_arguments as add_broker_arguments

    add_broker_arguments(broker)

    db = commands.add_parser(
        "db", help="manage the SQL store's schema", description="Manage the SQL store's schema."
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser(
        "upgrade",
        help="migrate the SQL store to this release's schema",
        description="Create or migrate the SQL store's tables; safe to run again.",
    )
    _add_settings(upgrade, STORE)
    _add_api_commands(commands)
    from simulators.scoring_cli import DESCRIPTION as SCORE_DESCRIPTION
    from simulators.scoring_cli import add_arguments as add_score_arguments

    score = commands.add_parser(
        "score",
        help="score a run's alerts against the simulator's labels",
        description=SCORE_DESCRIPTION,
    )
    add_score_arguments(score)
    dashboards = commands.add_parser(
        "dashboards",
        help="build Grafana dashboards and provisioning, or push them to a Grafana",
        description="Grafana dashboards as code: build files for provisioning, or push them.",
    )
    from dashboards.cli import add_arguments as add_dashboards_arguments

    add_dashboards_arguments(dashboards)
    demo = commands.add_parser(
        "demo",
        help="the whole product, live: servers, cargowatch run, keys and a simulated fleet",
        description="Start a private mosquitto and InfluxDB, cargowatch run, an operator and a "
        "customs key, and stream a simulated fleet with staged incidents, live.",
    )
    from simulators.demo import add_arguments as add_demo_arguments

    add_demo_arguments(demo)
    epcis = commands.add_parser(
        "epcis",
        help="write a shipment's readings and alert conditions as a GS1 EPCIS 2.0 document",
        description="Export a shipment as EPCIS 2.0 JSON-LD (docs/epcis.md), from the SQL "
        "store and InfluxDB directly.",
    )
    from api.epcis_cli import add_arguments as add_epcis_arguments

    add_epcis_arguments(epcis)
    _add_settings(epcis, TRIP_SETTINGS)
    _add_report_command(commands)
    _add_evidence_command(commands)
    return parser


def _add_evidence_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from api.evidence_cli import add_pack_arguments, add_verify_arguments

    evidence = commands.add_parser(
        "evidence",
        help="check the tamper-evident history, or write a shipment's evidence pack",
        description="The alert history and manifest versions as hash chains (docs/evidence.md).",
    )
    actions = evidence.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="check a store's chains, one shipment's, or an evidence pack offline",
        description="Recompute the evidence chains and name the first broken link of each; "
        "exit 0 when intact, 1 when broken, 2 on input that cannot be checked.",
    )
    add_verify_arguments(verify)
    _add_settings(verify, STORE)
    pack = actions.add_parser(
        "pack",
        help="write a shipment's evidence pack (zip) from the store and InfluxDB",
        description="Write the readings, alert history, manifest versions, report and SHA-256 "
        "sums of a shipment as one zip that `cargowatch evidence verify` checks offline.",
    )
    add_pack_arguments(pack)
    _add_settings(pack, TRIP_SETTINGS)


def _run_evidence(args: argparse.Namespace) -> int:
    from api import evidence_cli

    if args.evidence_command == "verify":
        return evidence_cli.run_verify(args, parse_values(STORE, vars(args))["db_url"])
    return evidence_cli.run_pack(args, *_trip_sources(args))


def _add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        help="write a shipment's release report (PDF or CSV) from the store and InfluxDB",
        description="Write a shipment's release report: temperature statistics and MKT, "
        "excursions against the stability budget, alerts and who acknowledged them, the route, "
        "seal changes and the customs risk score (docs/reports.md).",
    )
    report.add_argument("shipment", help="the shipment's id")
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        help="where to write it; - for stdout (default SHIPMENT-report.FORMAT here)",
    )
    # api.report_cli.FORMATS, spelt out so that parsing imports no report code.
    report.add_argument(
        "--format", choices=["pdf", "csv"], help="default: the output's suffix, else pdf"
    )
    report.add_argument("--org", help="the shipment's organisation, when several use the id")
    _add_settings(report, TRIP_SETTINGS)


def _run_report(args: argparse.Namespace) -> int:
    from api.report_cli import run_command as run_report

    return run_report(args, *_trip_sources(args))


def _trip_sources(args: argparse.Namespace) -> tuple[str, InfluxClient]:
    """The SQL store's URL and an InfluxDB client, from the `TRIP_SETTINGS` of `report`,
    `evidence pack` and `epcis` (flags, environment, defaults, as `cargowatch api` takes them)."""
    values = parse_values(TRIP_SETTINGS, vars(args))
    return values["db_url"], influx_client(influx_settings(values.pop))


def _version() -> str:
    """The installed distribution's version, as pip and the package metadata know it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cargowatch")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _add_api_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = commands.add_parser(
        "api",
        help="serve the HTTP API on the SQL store",
        description="Serve shipments, alerts and their workflow over HTTP, behind API keys.",
    )
    _add_settings(api, API)
    run = commands.add_parser(
        "run",
        help="ingest, detectors and the HTTP API under one command",
        description=(
            "Run `cargowatch ingest` and `cargowatch api` as one service "
            "(the detectors in a child process of their own, as under ingest)."
        ),
    )
    _add_settings(run, [*API_SERVER, *INGEST])
    keys = commands.add_parser(
        "keys", help="create and revoke API keys", description="Manage the HTTP API's keys."
    )
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="make a key; it is printed once, alone on stdout",
        description="Make an API key for an organisation (created if missing).",
    )
    create.add_argument("--org", required=True, help="the key's organisation, by name")
    create.add_argument(
        # api.models.ROLES, spelt out so that parsing imports no store (a test holds them equal)
        "--role",
        required=True,
        choices=["admin", "operator", "customs", "viewer"],
    )
    create.add_argument("--name", help="who or what holds the key (default ROLE@ORG)")
    _add_settings(create, STORE)
    revoke = actions.add_parser(
        "revoke", help="revoke a key by its prefix", description="Revoke an API key."
    )
    revoke.add_argument("prefix", help="the key's prefix: the 8 characters after cw_")
    _add_settings(revoke, STORE)


def _run_api(args: argparse.Namespace) -> int:
    from cargowatch.serve import serve
    from cargowatch.settings import resolve_api

    settings = resolve_api(vars(args))
    configure_logging(settings.log_level)
    if args.command == "api":
        return serve(settings)
    ingest = resolve(vars(args))
    return serve(settings, build_ingester(ingest))


def _run_ingest(args: argparse.Namespace) -> int:
    settings = resolve(vars(args))
    configure_logging(settings.log_level)
    ingester = build_ingester(settings)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.warning("%s received; flushing and stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ingester.start()
    # The URL carries the broker password (mqtt://user:password@...); the log must not.
    from simulators.publisher import parse_mqtt_url

    log.warning(
        "ingesting %s from %s into %s/%s",
        ingester.pipeline.source.options.topic_filter,
        parse_mqtt_url(settings.mqtt.url).redacted(),
        settings.influx.url,
        settings.influx.db,
    )
    while not stop.wait(0.5):
        if ingester.pipeline.failed.is_set():
            ingester.stop(timeout_s=5)
            return 1
    return 0 if ingester.stop() else 1


def _run_backtest(args: argparse.Namespace) -> int:
    from cargowatch.backtest import run_command

    return run_command(args)


def _run_epcis(args: argparse.Namespace) -> int:
    from api.epcis_cli import run as run_epcis

    return run_epcis(args, *_trip_sources(args))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "ingest":
            return _run_ingest(args)
        if args.command == "backtest":
            return _run_backtest(args)
        if args.command == "score":
            from simulators.scoring_cli import run as run_score

            return run_score(args)
        if args.command == "simulate":
            from simulators.cli import run as run_simulate

            return run_simulate(args)
        if args.command == "broker":
            from ingest.broker_cli import run as run_broker

            return run_broker(args)
        if args.command in ("api", "run"):
            return _run_api(args)
        if args.command == "keys":
            from api.keys import run_command as run_keys

            return run_keys(args, parse_values(STORE, vars(args))["db_url"])
        if args.command == "dashboards":
            from dashboards.cli import run as run_dashboards

            return run_dashboards(args)
        if args.command == "demo":
            from simulators.demo import run as run_demo

            return run_demo(args)
        if args.command == "report":
            return _run_report(args)
        if args.command == "epcis":
            return _run_epcis(args)
        if args.command == "evidence":
            return _run_evidence(args)
        if args.command == "db":
            from api.schema import run_command as run_db

            return run_db(args, parse_values(STORE, vars(args))["db_url"])
    except (SettingError, StartupError) as exc:
        print(f"cargowatch: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into `head` and the like, which stopped reading: not an error of ours.
        # Standard output is pointed at /dev/null so the interpreter's own flush at exit is
        # quiet too; the exit status is the shell's for a closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
