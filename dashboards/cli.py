"""`cargowatch dashboards build|push`: the arguments and what each action does.

`build --out DIR` writes the dashboards' JSON and the provisioning YAML into DIR, laid out as
Grafana's provisioning directory. `push --grafana-url URL --token TOKEN` creates or updates the
folder, the data source and the dashboards through Grafana's API and prints one line per
object saying what changed. Secrets come from flags or, better, from the environment
(`CARGOWATCH_GRAFANA_TOKEN`, `CARGOWATCH_INFLUX_TOKEN`, `CARGOWATCH_INFLUX_PASSWORD`), since
flags are visible to every user in the process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dashboards.provisioning import InfluxSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="write dashboard JSON and provisioning YAML for /etc/grafana/provisioning",
        description="Write the dashboards and Grafana provisioning files into a directory.",
    )
    build.add_argument("--out", type=Path, required=True, help="directory to write into")
    build.add_argument(
        "--dashboards-path",
        help="where Grafana will find the JSON (default /etc/grafana/provisioning/dashboards/"
        "cargowatch, i.e. OUT mounted as /etc/grafana/provisioning)",
    )
    _add_influx(build)
    push = actions.add_parser(
        "push",
        help="create or update the folder, data source and dashboards in a Grafana",
        description="Bring a Grafana up to date through its HTTP API; report what changed.",
    )
    push.add_argument("--grafana-url", required=True, help="e.g. http://127.0.0.1:3000")
    push.add_argument(
        "--token",
        default=os.environ.get("CARGOWATCH_GRAFANA_TOKEN"),
        help="service account token, or USER:PASSWORD [env CARGOWATCH_GRAFANA_TOKEN]",
    )
    _add_influx(push)


def _add_influx(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--influx-url",
        default="http://127.0.0.1:8086",
        help="InfluxDB as Grafana's server reaches it (default %(default)s)",
    )
    parser.add_argument("--influx-db", default="cargowatch", help="database (%(default)s)")
    parser.add_argument(
        "--influx-auth",
        choices=["token", "password"],
        help="how Grafana signs in to InfluxDB: a token (CARGOWATCH_INFLUX_TOKEN) or a user"
        " and password (--influx-username, CARGOWATCH_INFLUX_PASSWORD); default none",
    )
    parser.add_argument("--influx-username", help="InfluxDB user, with --influx-auth password")


def _settings(args: argparse.Namespace) -> InfluxSettings:
    return InfluxSettings(
        url=args.influx_url,
        database=args.influx_db,
        username=args.influx_username,
        auth=args.influx_auth,
    )


def run(args: argparse.Namespace) -> int:
    if args.dashboards_command == "build":
        from dashboards.provisioning import write

        for path in write(args.out, _settings(args), args.dashboards_path):
            print(path)
        return 0
    from dashboards.push import PushRefused, connect, push

    if not args.token:
        print("cargowatch: push needs --token or CARGOWATCH_GRAFANA_TOKEN", file=sys.stderr)
        return 2
    secret = None
    if args.influx_auth == "token":
        secret = os.environ.get("CARGOWATCH_INFLUX_TOKEN")
    elif args.influx_auth == "password":
        secret = os.environ.get("CARGOWATCH_INFLUX_PASSWORD")
    try:
        for change in push(connect(args.grafana_url, args.token), _settings(args), secret):
            print(change)
    except (PushRefused, OSError) as exc:
        print(f"cargowatch: {exc}", file=sys.stderr)
        return 1
    return 0
