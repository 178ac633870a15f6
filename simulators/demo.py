"""`cargowatch demo`: the whole product, live, in one command.

It starts a private mosquitto and influxd on free ports, runs ``cargowatch run`` (ingest,
detectors, the HTTP API and its console) as a child process with the fleet's manifest, makes
an operator key and a customs key, registers the fleet's shipments through the API, and
streams a simulated fleet with a staged incident per tracker *live*: ``--speed`` simulated
seconds per second, so 12 hours of transit unfold in 3 minutes at the default 240. New alerts
are printed as the API lists them. ``--check`` then verifies that InfluxDB holds every reading
published and, per incident, that its alerts are in the API; it acknowledges an alert through
the API while the fleet streams (an incident's alerts resolve when it ends), loads the
console, and stops everything.

``cargowatch run`` is a child rather than started in this process: it is the same command an
operator runs, its log goes to a file of its own, its SIGTERM stop (flush, then exit 0) is
itself checked, and the demo's terminal stays free for what the demo says.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from ingest.local_influxd import InfluxQueryError, InfluxServer
from ingest.local_servers import free_port
from simulators.demo_check import (
    DemoApi,
    RegistrationFailed,
    Result,
    all_expected_arrived,
    incident_results,
)
from simulators.demo_stack import (
    GATEWAY_USER,
    SERVICE_USER,
    Child,
    DemoFailed,
    DemoLock,
    DemoRefused,
    clear_previous_run,
    make_keys,
    start_broker,
    start_influxd,
    wait_until_serving,
    write_secret,
)
from simulators.demo_welcome import print_welcome
from simulators.fleet import Fleet, config
from simulators.timeutil import floor_minute_ms, parse_duration, rfc3339

#: Scenarios the demo fleet draws from: one incident per tracker, each a different story.
POOL = (
    "reefer_failure,power_loss,door_left_open,heat_wave,seal_tamper,route_deviation,"
    "unscheduled_stop,tracker_silence,gps_jamming,gps_spoofing"
)

#: The demo fleet's defaults.
DEVICES = 12
DURATION = "12h"
SEED = 7
INFLUX_DB = "cargowatch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the demo's flags on ``parser``."""
    a = parser.add_argument
    a("--check", action="store_true", help="verify every staged incident end to end, then stop")
    a(
        "--speed",
        type=float,
        default=240.0,
        metavar="N",
        help="simulated seconds per second (default 240: 12 h of transit in 3 min)",
    )
    a(
        "--devices",
        type=int,
        default=DEVICES,
        metavar="N",
        help=f"trackers in the fleet (default {DEVICES})",
    )
    a(
        "--duration",
        default=DURATION,
        metavar="D",
        help=f"simulated transit, e.g. 3h (default {DURATION})",
    )
    a(
        "--scenarios",
        default=POOL,
        metavar="NAME[,NAME]",
        help="scenarios the incidents are drawn from, one per tracker (see cargowatch simulate"
        " --list; default: ten of them, from reefer failure to GPS spoofing)",
    )
    a(
        "--seed",
        type=int,
        default=SEED,
        help=f"same seed, same fleet and incidents (default {SEED})",
    )
    a(
        "--dir",
        type=Path,
        default=Path("var/demo"),
        help="where the demo keeps its data, logs and keys; cleared at every start "
        "(default var/demo)",
    )
    a("--api-port", type=int, default=0, metavar="PORT", help="API port (default: a free one)")


def demo_fleet(devices: int, duration_s: float, seed: int, scenarios: str, start_ms: int) -> Fleet:
    """The demo's fleet: every tracker with one incident drawn from `scenarios`."""
    fleet_args: dict[str, Any] = {"mixed.share": "1.0", "mixed.scenarios": scenarios}
    return Fleet(config(devices, "mixed", duration_s, seed, start_ms, fleet_args))


class _Stop(Exception):
    """Ctrl-C or SIGTERM: stop everything in order."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Execute a parsed ``cargowatch demo`` command line; returns the exit code."""
    if not args.speed > 0 or args.devices < 1:
        print("cargowatch demo: --speed and --devices must be positive", file=sys.stderr)
        return 2
    try:
        duration_s = parse_duration(args.duration)
    except ValueError as exc:
        print(f"cargowatch demo: --duration: {exc}", file=sys.stderr)
        return 2
    directory = args.dir.resolve()
    lock = DemoLock(directory)
    try:
        lock.acquire()
    except DemoRefused as exc:
        print(f"cargowatch demo: {exc}", file=sys.stderr)
        return 3
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        with ExitStack() as stack:
            return _demo(args, directory, duration_s, lock, stack)
    except _Stop as stop:
        say(f"{stop} received; everything is stopped")
        return 130
    except DemoFailed as exc:
        print(f"cargowatch demo: {exc}", file=sys.stderr)
        return 1
    finally:
        lock.release()


@contextmanager
def _no_interruptions() -> Iterator[None]:
    """A second Ctrl-C must not cut the orderly shutdown short (each step has a time limit)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    yield


def _demo(
    args: argparse.Namespace, directory: Path, duration_s: float, lock: DemoLock, stack: ExitStack
) -> int:
    # Timestamps start early enough that the last reading is not ahead of the wall clock when
    # published at this speed (the ingester rejects future_ts), and stay in the recent past.
    start_ms = floor_minute_ms(time.time() * 1000 - duration_s * (1 - 1 / args.speed) * 1000)
    try:
        fleet = demo_fleet(args.devices, duration_s, args.seed, args.scenarios, start_ms)
    except ValueError as exc:  # the scenarios' own errors are ValueErrors naming the setting
        raise DemoFailed(f"the fleet: {exc}") from None
    # One pass makes the labels and counts the readings the simulator will publish.
    published = sum(m.readings for m in fleet.messages())
    manifest, labels = fleet.manifest(), fleet.labels()
    clear_previous_run(directory)
    (directory / "spool").mkdir()
    (directory / "fleet.json").write_text(json.dumps(manifest))
    (directory / "truth.jsonl").write_text("".join(json.dumps(x) + "\n" for x in labels))

    say("starting mosquitto (the shipped, secured config) and influxd on free loopback ports")
    broker, users = start_broker(directory)
    influxd = start_influxd(directory)
    stack.callback(_stop_servers, broker, influxd)
    db_url = f"sqlite:///{directory / 'cargowatch.db'}"
    operator_key, customs_key = make_keys(db_url)
    write_secret(directory / "operator.key", operator_key)
    write_secret(directory / "customs.key", customs_key)

    api_port = args.api_port or free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    env = {
        **os.environ,
        "CARGOWATCH_MQTT_URL": broker.url_for(SERVICE_USER, users.service),
        "CARGOWATCH_MQTT_CLIENT_ID": "cargowatch-demo",
        "CARGOWATCH_INFLUX_URL": influxd.url,
        "CARGOWATCH_INFLUX_DB": INFLUX_DB,
        "CARGOWATCH_SPOOL_DIR": str(directory / "spool"),
        "CARGOWATCH_STATE_DIR": str(directory / "state"),
        "CARGOWATCH_SHIPMENTS": str(directory / "fleet.json"),
        "CARGOWATCH_DB_URL": db_url,
        "CARGOWATCH_API_HOST": "127.0.0.1",
        "CARGOWATCH_API_PORT": str(api_port),
    }
    say(f"starting cargowatch run (log: {directory / 'run.log'})")
    runner = Child("run", [sys.executable, "-m", "cargowatch", "run"], env, directory / "run.log")
    stack.callback(_stop_child, runner, 40.0)
    wait_until_serving(runner, api_url)
    lock.describe(f"pid {os.getpid()}, console {api_url}/")
    operator = DemoApi(api_url, operator_key)
    stack.callback(operator.close)
    try:
        operator.register(manifest["shipments"])
    except RegistrationFailed as exc:
        raise DemoFailed(f"registering the fleet's shipments: {exc}") from None

    lateness_s = float(os.environ.get("CARGOWATCH_LATENESS_S", "30"))
    print_welcome(args, directory, api_url, broker.port, users, labels, lateness_s)
    simulate = [
        sys.executable, "-m", "cargowatch", "simulate", "--devices", str(args.devices),
        "--scenario", "mixed", "-P", "mixed.share=1.0", "-P", f"mixed.scenarios={args.scenarios}",
        "--duration", args.duration, "--seed", str(args.seed), "--start", rfc3339(start_ms),
        "--speed", repr(args.speed), "--no-progress",
    ]  # fmt: skip
    # The gateway user's password goes in the environment, not on a command line `ps` shows.
    sim_env = {**env, "CARGOWATCH_MQTT_URL": broker.url_for(GATEWAY_USER, users.gateway)}
    simulator = Child("simulate", simulate, sim_env, directory / "simulate.log")
    stack.callback(_stop_child, simulator, 10.0)
    watch = _Watch(operator, runner, acknowledge=args.check)
    while simulator.running():
        watch.poll()
    if simulator.process.returncode != 0:
        raise DemoFailed(f"cargowatch simulate failed:\n{simulator.log_tail()}")
    say(
        f"the whole fleet is published; the last alerts follow within the reorder window"
        f" ({lateness_s:.0f} s)"
    )
    if args.check:
        stored = _Stored(influxd, published)
        return _check(watch, labels, stored, lateness_s, stack)
    say("everything keeps running until Ctrl-C")
    while True:
        watch.poll()


def _check(
    watch: _Watch,
    labels: list[dict[str, Any]],
    stored: _Stored,
    lateness_s: float,
    stack: ExitStack,
) -> int:
    # Alerts follow their reading by the reorder window, then by the outbox; the margin is for
    # a slow machine, not a wait the demo needs.
    deadline = time.monotonic() + lateness_s + 90.0
    alerts = watch.poll()
    while not all_expected_arrived(labels, alerts) and time.monotonic() < deadline:
        alerts = watch.poll()
    while not stored.complete() and time.monotonic() < deadline:
        time.sleep(0.5)
    results = [stored.result(), *incident_results(labels, alerts)]
    # Each round acknowledges an open alert; one that resolved first is a race, tried again.
    while watch.acked is None and _any_open(alerts) and time.monotonic() < deadline:
        alerts = watch.poll()
    if watch.acked is None:
        watch.acked = watch.api.acknowledge(alerts) or Result(
            False, "every alert listed open resolved before its ack landed"
        )
    results.append(watch.acked)
    results.append(watch.api.console())
    operator, runner = watch.api, watch.runner
    with _no_interruptions():
        say("stopping cargowatch run (SIGTERM: it flushes, then exits 0), influxd and mosquitto")
        operator.close()
        status = runner.stop(40.0)
        results.append(Result(status == 0, f"cargowatch run stopped with exit status {status}"))
        stack.close()
    print("\nCheck (per staged incident: the alert kinds its label expects, on its tracker):")
    for result in results:
        print(result.line())
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"demo: CHECK FAILED ({len(failed)} of {len(results)})", file=sys.stderr)
        return 1
    say(f"check passed: {len(results)} of {len(results)}; everything is stopped")
    return 0


class _Stored:
    """Whether InfluxDB holds every reading the simulator published (``seq`` is in each)."""

    def __init__(self, influxd: InfluxServer, published: int) -> None:
        self.influxd, self.published, self.count = influxd, published, 0

    def complete(self) -> bool:
        try:
            self.count = self.influxd.count("telemetry", INFLUX_DB, "seq")
        except (httpx.HTTPError, InfluxQueryError):
            return False
        return self.count >= self.published

    def result(self) -> Result:
        self.complete()
        text = f"readings stored in InfluxDB: {self.count:,} of the {self.published:,} published"
        return Result(self.count == self.published, text)


class _Watch:
    """Prints new alerts as the API lists them; with ``--check``, acknowledges the first one
    still open (an incident's alerts resolve when it ends, and only an open alert takes an ack).
    """

    def __init__(self, api: DemoApi, runner: Child, acknowledge: bool) -> None:
        self.api, self.runner = api, runner
        self.acknowledge = acknowledge
        self.acked: Result | None = None
        self._seen: set[str] = set()
        self._alerts: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """One round, about a second: the alerts listed now (or last time, if the API is busy)."""
        if not self.runner.running():
            raise DemoFailed(
                f"cargowatch run exited with status {self.runner.process.returncode}:\n"
                f"{self.runner.log_tail()}"
            )
        time.sleep(1.0)
        try:
            self._alerts = self.api.alerts()
        except httpx.HTTPError:
            return self._alerts  # a busy API skips one round of printing; the check asks again
        for alert in reversed(self._alerts):
            if alert["alert_id"] not in self._seen:
                self._seen.add(alert["alert_id"])
                print(
                    f"  alert {alert['opened_at'][11:19]} {alert['device_id']:<10}"
                    f" {alert['kind']:<22} {alert['severity']:<8} {alert['summary'][:80]}",
                    flush=True,
                )
        if self.acknowledge and self.acked is None and _any_open(self._alerts):
            self.acked = self.api.acknowledge(self._alerts)
            if self.acked is not None:
                print(f"  {self.acked.text}", flush=True)
        return self._alerts


def _any_open(alerts: list[dict[str, Any]]) -> bool:
    return any(a["state"] == "open" for a in alerts)


def _stop_child(child: Child, timeout_s: float) -> None:
    with _no_interruptions():
        child.stop(timeout_s)


def _stop_servers(*servers: Any) -> None:
    with _no_interruptions():
        for server in servers:
            server.stop()
