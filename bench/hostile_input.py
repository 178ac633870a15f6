"""What a flood of hostile uploads costs the ingester, against the same valid load without it.

Starts a private mosquitto and influxd and one `cargowatch ingest`, then measures, in the
same run:
  1. the reference: N valid readings published and counted in InfluxDB;
  2. the same N valid readings published right after F uploads of 256 KiB of bare numbers
     (about 120,000 invalid elements each), counted the same way;
and prints both times, their ratio, the reject points the flood produced, and the
ingester's resident memory before the flood, after it, and its peak (VmHWM).

    .venv/bin/python bench/hostile_input.py --floods 10 --readings 20000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ingest_process import IngesterProcess, encode, publish, reading, topic
from services import InfluxServer, MosquittoServer


def memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def timed_store(broker, influx, db, device: str, n: int, before=()) -> float:
    """Seconds from the first publish until all n valid readings of `device` are counted."""
    started = time.perf_counter()
    publish(
        broker.port, [*before, *[(topic(device), encode(reading(device, i))) for i in range(n)]]
    )
    while True:
        rows = influx.query(
            "SELECT count(seq) FROM telemetry WHERE device_id = $d", db, params={"d": device}
        )
        if rows and rows[0]["count"] >= n:
            return time.perf_counter() - started
        if time.perf_counter() - started > 600:
            raise SystemExit(f"{device}: not all {n:,} readings stored after 600 s")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--floods", type=int, default=10)
    parser.add_argument("--readings", type=int, default=20_000)
    args = parser.parse_args()
    flood = b"[" + b",".join([b"1"] * 120_000) + b"]"
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        root = Path(tmp)
        with MosquittoServer(root / "m") as broker, InfluxServer(root / "i") as influx:
            ingester = IngesterProcess(broker.url, influx.url, "bench", root / "cw")
            ingester.start()
            try:
                pid = ingester.process.pid
                reference = timed_store(broker, influx, "bench", "trk-ref", args.readings)
                before = memory_kb(pid)
                floods = [(topic("trk-flood"), flood)] * args.floods
                flooded = timed_store(broker, influx, "bench", "trk-after", args.readings, floods)
                after = memory_kb(pid)
                points = influx.query(
                    "SELECT count(detail) FROM ingest_rejects WHERE device_id = $d",
                    "bench",
                    params={"d": "trk-flood"},
                )
            finally:
                assert ingester.terminate() == 0
    print(f"{args.readings:,} valid readings, {args.floods} floods of {len(flood):,} bytes")
    print(f"{'reference: valid readings alone':<52}{reference:>8.2f} s")
    print(f"{'the same readings behind the floods':<52}{flooded:>8.2f} s")
    print(f"{'ratio (floods + readings) / readings alone':<52}{flooded / reference:>8.2f}")
    print(f"{'reject points the floods produced':<52}{points[0]['count'] if points else 0:>8,}")
    print(
        f"ingester memory: {before['VmRSS'] / 1024:.0f} MB before the floods,"
        f" {after['VmRSS'] / 1024:.0f} MB after, peak {after['VmHWM'] / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
