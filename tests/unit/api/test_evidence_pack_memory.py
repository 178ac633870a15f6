"""A long trip's readings in an evidence pack (`api.evidence_pack.TripPass`) are held once
as they are written out, not once as lines and again joined: the memory a pack takes grows with
the trip once, read from InfluxDB a page at a time, besides what the report keeps of them (its
temperatures and track, which it held before the pass fed it too, while the lines were written)."""

from __future__ import annotations

import tracemalloc
from typing import Any

import orjson

from api.evidence_pack import READINGS_PAGE, TripPass, raw_readings
from api.report_telemetry import TelemetryPass

T0_NS = 1_700_000_000_000 * 1_000_000
STEP_NS = 60_000 * 1_000_000
COLUMNS = ["time", "battery_v", "device_id", "lat", "lon", "seal", "shipment_id", "temp_c"]


class PagedInflux:
    """Answers the pack's paged query the way InfluxDB does, over `n` readings a minute apart."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pages = 0

    def query(self, q: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.pages += 1
        first = max(0, (params["after"] - T0_NS) // STEP_NS + 1)
        last = min(self.n, first + READINGS_PAGE)
        values = [
            [(T0_NS + i * STEP_NS) // 1_000_000, 3.6, "trk-1", -4.0, 39.6, "closed", "S-1", 5.0]
            for i in range(first, last)
        ]
        return [{"columns": COLUMNS, "values": values}] if values else []


def kept_by_the_report(n: int) -> int:
    """Bytes the report's own pass keeps of `n` readings."""
    tracemalloc.start()
    try:
        seen = TelemetryPass(())
        for reading in raw_readings(PagedInflux(n), "trk-1", T0_NS // 1_000_000, 2**40):  # type: ignore[arg-type]
            seen.add(reading["ts"], reading)
        kept = seen.result()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(kept.temperatures) == n
    return current


def test_a_long_trips_readings_are_held_once_while_written_out() -> None:
    influx = PagedInflux(12 * READINGS_PAGE)
    report = kept_by_the_report(influx.n)
    tracemalloc.start()
    try:
        read = TripPass("trk-1", T0_NS // 1_000_000, 2**40, ())
        body = read.run(influx)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    lines = body.splitlines()
    assert len(lines) == influx.n and influx.pages == 13
    assert orjson.loads(lines[-1])["ts"] == (T0_NS + (influx.n - 1) * STEP_NS) // 1_000_000
    # The output once, plus one page of the query's answer and the buffer's headroom (about
    # 1.4 times the output); the lines joined at the end took about 3 times.
    assert peak < 2 * len(body) + report, (peak, len(body), report)
