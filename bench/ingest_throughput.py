"""End-to-end ingest throughput against the references measured in the same run.

Starts a private mosquitto and influxd, then measures on identical pre-encoded
payloads from a pipelined raw-socket publisher (so the load generator is not
what is measured):
  1. the broker's own QoS 1 pass-through (publisher -> mosquitto -> mosquitto_sub), the ceiling;
  2. `cargowatch ingest` as deployed (separate process, QoS 1, manual acks, default batching),
     timed from the first publish until InfluxDB counts every reading;
  3. the tutorial-style pipeline (on_message -> one HTTP write per reading);
and prints each rate and the ratios. Figures are noisy on a shared 2-core machine:
compare within one run. `--profile FILE` records where the ingester spends its time
with py-spy (if installed) while it runs.

    .venv/bin/python bench/ingest_throughput.py --messages 200000 --devices 1000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from ingest_process import IngesterProcess  # noqa: E402
from mqtt_load import broker_passthrough, build_payloads, publish_pipelined  # noqa: E402
from naive_pipeline import run_naive  # noqa: E402
from services import InfluxServer, MosquittoServer  # noqa: E402


def cargowatch_rate(
    broker, influx, messages, workdir: Path, profile: str | None, db: str = "bench", **settings
) -> tuple[float, float]:
    """Readings/s from first publish to the last reading counted in InfluxDB, and publish time."""
    ingester = IngesterProcess(
        broker.url, influx.url, db, workdir, stats_interval_s="5", **settings
    )
    ingester.start()
    spy = None
    if profile:
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(ingester.process.pid),
                "--threads",
                "--format",
                "raw" if profile.endswith(".txt") else "flamegraph",
                "-o",
                profile,
                "--rate",
                "200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
    try:
        published: dict[str, float] = {}
        started = time.perf_counter()
        pub = threading.Thread(
            target=lambda: published.setdefault(
                "s", publish_pipelined(broker.host, broker.port, messages)
            )
        )
        pub.start()
        n = len(messages)
        while True:
            stored = (
                influx.count("telemetry", db, "seq") if time.perf_counter() - started > 0.5 else 0
            )
            if stored >= n:
                break
            if time.perf_counter() - started > 600:
                raise SystemExit(f"only {stored:,} of {n:,} readings stored after 600 s")
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        pub.join()
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
        assert ingester.terminate() == 0
    return n / elapsed, n / published["s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--naive-messages", type=int, default=3000)
    parser.add_argument("--profile", help="write a py-spy profile of the ingester to this file")
    args = parser.parse_args()
    if args.profile and not shutil.which("py-spy"):
        raise SystemExit("--profile needs py-spy (pip install py-spy)")

    now_ms = int(time.time() * 1000) - 3_600_000
    messages = build_payloads(args.devices, args.messages, now_ms, seed=7)
    print(f"{len(messages):,} readings from {args.devices:,} devices, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        with (
            MosquittoServer(root / "mosquitto") as broker,
            InfluxServer(root / "influxd") as influx,
        ):
            ceiling = broker_passthrough(broker.host, broker.port, messages)
            print(
                f"{'broker QoS 1 pass-through (publisher -> mosquitto -> mosquitto_sub):':<70}"
                f"{ceiling:>9,.0f} msg/s"
            )
            rate, pub_rate = cargowatch_rate(
                broker,
                influx,
                messages,
                root / "cw",
                args.profile,
                db="bench",
                default_profile="none",
            )
            print(
                f"{'cargowatch ingest (storage only), published -> counted in InfluxDB:':<70}"
                f"{rate:>9,.0f} readings/s"
                f"  (publisher finished at {pub_rate:,.0f} msg/s)"
            )
            with_detectors, _ = cargowatch_rate(
                broker,
                influx,
                messages,
                root / "cw-detect",
                None,
                db="bench_detect",
                default_profile="customs_transit",
            )
            print(
                f"{'  ... with every detector running on all 1,000 devices:':<70}"
                f"{with_detectors:>9,.0f} readings/s"
            )

            naive_msgs = build_payloads(100, args.naive_messages, now_ms, seed=8)
            ready = threading.Event()
            result: dict[str, float] = {}
            t = threading.Thread(
                target=lambda: result.setdefault(
                    "r",
                    run_naive(
                        broker.host, broker.port, influx.url, "naive", len(naive_msgs), 300.0, ready
                    ),
                )
            )
            t.start()
            ready.wait(30)
            publish_pipelined(broker.host, broker.port, naive_msgs)
            t.join()
            naive = result["r"]
            print(
                f"{'naive pipeline (on_message -> one HTTP write per reading):':<70}"
                f"{naive:>9,.0f} readings/s"
            )
    print(f"ratio cargowatch / broker pass-through: {rate / ceiling:.2f}  (target >= 0.4)")
    print(f"ratio cargowatch / naive pipeline:      {rate / naive:.0f}x (target >= 50x)")
    print(
        f"with detectors: {with_detectors / ceiling:.2f} of pass-through,"
        f" {with_detectors / naive:.0f}x the naive pipeline"
    )


if __name__ == "__main__":
    main()
