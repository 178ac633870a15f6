"""What `cargowatch demo` tells its user once everything runs: where to look and what to type.

The console's address, the keys, how to watch alerts arrive (server-sent events, MQTT), how
to publish a reading of one's own, why alerts wait for the reorder window, and the incidents
the fleet is about to stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from simulators.demo_stack import GATEWAY_USER, READER_USER, BrokerUsers


def print_welcome(
    args: argparse.Namespace,
    directory: Path,
    api_url: str,
    mqtt_port: int,
    users: BrokerUsers,
    labels: list[dict[str, Any]],
    lateness_s: float,
) -> None:
    d = directory
    print(
        f"""
The console:       {api_url}/
Operator key:      {(d / "operator.key").read_text().strip()}   (also in {d}/operator.key)
Customs key:       {(d / "customs.key").read_text().strip()}   (also in {d}/customs.key)

Watch alerts arrive, as server-sent events:
  curl -N -H "Authorization: Bearer $(cat {d}/operator.key)" {api_url}/alerts/stream
or on MQTT, as the broker's consumer user:
  mosquitto_sub -V mqttv5 -h 127.0.0.1 -p {mqtt_port} -u {READER_USER} -P {users.reader} \\
    -t 'cargo/v1/alerts/#' -v
List them:
  curl -s -H "Authorization: Bearer $(cat {d}/operator.key)" '{api_url}/alerts?state=open'
Publish a reading of your own, as the gateway user (it may publish for any tracker):
  mosquitto_pub -V mqttv5 -h 127.0.0.1 -p {mqtt_port} -q 1 -u {GATEWAY_USER} -P {users.gateway} \\
    -t cargo/v1/my-trk-1/telemetry \\
    -m '{{"device_id":"my-trk-1","ts":'$(date +%s%3N)',"temp_c":9.5}}'
(what it will and will not raise: the README's "A reading of your own")

An alert appears up to the reorder window ({lateness_s:.0f} s, --lateness-s) after the reading
that raises it: the detectors wait that long for late readings so they see each tracker's in
order. Logs: {d}/run.log (cargowatch run), {d}/simulate.log.

Streaming {args.devices} shipments, {args.duration} of transit at {args.speed:g}x;
the staged incidents:""",
        flush=True,
    )
    for label in labels:
        kinds = ", ".join(label["kinds"]) or "no alert expected within the run"
        print(f"  {label['device_id']:<10} {label['scenario']:<17} {kinds}")
    print(flush=True)
