"""How fast the fleet simulator records and publishes, against a bare paho client.

Prints readings/s for: generation alone; ``--out`` to a file (target >= 100,000); publishing
to a private mosquitto from one process at QoS 1 and QoS 0, and from ``--workers 2`` (target
>= 12,000 readings/s from one process). The reference, measured in the same run on the same
broker, is a bare paho client publishing the same pre-encoded payloads at QoS 0 in a loop:
the cheapest a general MQTT client gets, and what the simulator must not fall far behind
while also generating every reading.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators.fleet import Fleet, config
from simulators.progress import Progress
from simulators.publisher import parse_mqtt_url
from simulators.runner import publish, publish_parallel, record


def paho_reference(host: str, port: int, messages: list[tuple[str, bytes]]) -> float:
    """Messages/s a bare paho client publishes at QoS 0, timed to the last one written."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-paho", protocol=mqtt.MQTTv311
    )
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    try:
        started = time.perf_counter()
        info = None
        for topic, payload in messages:
            info = client.publish(topic, payload, qos=0)
        if info is not None:
            info.wait_for_publish(timeout=600)
        elapsed = time.perf_counter() - started
    finally:
        client.loop_stop()
        client.disconnect()
    return len(messages) / elapsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from services import MosquittoServer

    start = "2026-01-05T00:00:00Z"
    cfg = config(args.devices, "mixed", args.hours * 3600, args.seed, start)
    quiet = Progress(1, enabled=False)

    fleet = Fleet(cfg)
    started = time.perf_counter()
    readings = sum(m.readings for batch in fleet.batches() for m in batch)
    generate = readings / (time.perf_counter() - started)
    print(f"fleet: {args.devices:,} devices, {args.hours:g} h mixed: {readings:,} readings")
    print(f"generation alone:            {generate:>9,.0f} readings/s")

    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        out = record(Fleet(cfg), Path(tmp) / "readings.jsonl", quiet)
        print(f"--out to a file:             {out.readings / out.elapsed_s:>9,.0f} readings/s")

    messages = [(m.topic, m.payload) for m in Fleet(cfg).messages()]
    with (
        tempfile.TemporaryDirectory(prefix="bench-sim-broker-") as tmp,
        MosquittoServer(Path(tmp)) as broker,
    ):
        url = parse_mqtt_url(broker.url)
        rates = {}
        for qos in (1, 0):
            # Start far enough back that pacing never waits for the wall clock.
            r = publish(Fleet(cfg), url, qos, None, time.time(), quiet, f"bench-sim-q{qos}")
            rates[qos] = r.readings / r.elapsed_s
        r = publish_parallel(cfg, 2, url, 1, None, time.time(), quiet, "bench-sim-w")
        workers, publishing = r.readings / r.elapsed_s, r.readings / r.slowest_worker_s
        reference = paho_reference(broker.host, broker.port, messages)
    print(f"publish, 1 process, QoS 1:   {rates[1]:>9,.0f} readings/s")
    print(f"publish, 1 process, QoS 0:   {rates[0]:>9,.0f} readings/s")
    print(
        f"publish, 2 workers, QoS 1:   {workers:>9,.0f} readings/s"
        f" ({publishing:,.0f} once the workers have started)"
    )
    print(
        f"bare paho, QoS 0, pre-encoded: {reference:>7,.0f} messages/s"
        f" ({len(messages):,} messages; simulator 1 process QoS 1 = {rates[1] / reference:.2f}x)"
    )


if __name__ == "__main__":
    main()
