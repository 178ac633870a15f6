"""Every dashboard query's time on a real influxd holding a fleet of 1,000 trackers over 7 days.

The fleet is written as line protocol straight to a fresh influxd (not through MQTT and the
ingester, which would take far longer than the queries do): each tracker reports every 5
minutes for 7 days (position, product and ambient temperature, humidity, seal, door, shock,
battery: 2,016,000 `telemetry` points), encoded by the ingester's own `telemetry_line`, with
the `shipments` point the ingester rewrites every 5 minutes; its alerts (three a tracker, each
opened, updated six times and resolved, a third of them acknowledged and assigned first) by
the outbox's own `alert_point` and `span_point`; and the ingester's counters
every 10 s into `cargowatch_stats`. Every panel, variable and annotation query of every
dashboard is then expanded as Grafana expands it (`dashboards.queries`) for the dashboard's
default time range and for the whole 7 days, and timed: per run, the median of `--repeats`
executions after one warm-up; over `--runs` runs, the median with the spread. The reference is
a trivial query (one tracker's last temperature in the last hour) timed the same way in the
same run; ratios are against it. The slowest query is named at the end.

    .venv/bin/python bench/dashboard_queries.py --trackers 1000 --days 7 --runs 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The repository first, so `dashboards` is the package; then tests/ for the server managers.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services import InfluxServer

from api.delivery import alert_point, span_point
from api.models import Alert, from_ms
from dashboards.catalogue import render_all
from dashboards.customs import CUSTOMS_KINDS
from dashboards.queries import ALL, DashboardQuery, Expander, Variable, queries_of
from detectors.alerts import KINDS, rfc3339
from detectors.reading import Reading
from ingest.line_protocol import point_line, telemetry_line
from ingest.shipment_points import REFRESH_S, ShipmentTag, shipment_line

DB = "cargowatch"
STEP_MS = 300_000
DEFAULT_RANGES = {
    "cargowatch-fleet": 86_400_000,
    "cargowatch-shipment": 86_400_000,
    "cargowatch-customs": 7 * 86_400_000,
    "cargowatch-ingest": 6 * 3_600_000,
}


def write(influx: InfluxServer, lines: list[str]) -> None:
    for i in range(0, len(lines), 20_000):
        influx.write(DB, lines[i : i + 20_000], precision="ns")


def load(influx: InfluxServer, trackers: int, days: int, end_ms: int) -> dict[str, int]:
    rng = random.Random(7)
    start_ms = end_ms - days * 86_400_000
    points = {"telemetry and shipments": 0, "alerts and spans": 0, "cargowatch_stats": 0}
    for d in range(trackers):
        device, shipment = f"trk-{d:05d}", f"SHP-{d:05d}"
        lat, lon = rng.uniform(-5, 5), rng.uniform(30, 40)
        lines = []
        for i, ts in enumerate(range(start_ms, end_ms, STEP_MS)):
            lat += rng.uniform(-0.01, 0.01)
            lon += rng.uniform(-0.01, 0.01)
            r = Reading(
                device,
                ts,
                seq=i,
                lat=lat,
                lon=lon,
                temp_c=5 + rng.gauss(0, 0.5),
                ambient_c=20 + rng.gauss(0, 2),
                humidity_pct=60.0,
                seal="closed",
                door="closed",
                shock_g=abs(rng.gauss(0, 0.3)),
                battery_v=3.9,
            )
            lines.append(telemetry_line(r, shipment))
        # The ingester rewrites each tracked shipment every REFRESH_S.
        tag = ShipmentTag(shipment, "vaccine_2_8", 2.0, 8.0)
        lines += [
            shipment_line(device, tag, ts * 1_000_000)
            for ts in range(start_ms, end_ms, int(REFRESH_S * 1000))
        ]
        write(influx, lines)
        points["telemetry and shipments"] += len(lines)
        alerts = []
        for n in range(3):
            kind = rng.choice(KINDS)
            at = rng.randrange(start_ms, end_ms - 12 * 3_600_000)
            base = {
                "alert_id": f"al_{d}_{n}",
                "kind": kind,
                "device_id": device,
                "shipment_id": shipment,
                "summary": f"{kind} on {device}",
                "evidence": {"lat": lat, "lon": lon},
                "severity": "warning",
            }
            events = [("open", "open", at)] + [
                ("update", "open", at + k * 600_000) for k in range(1, 7)
            ]
            if n == 0:
                events += [
                    ("ack", "acknowledged", at + 4_000_000),
                    ("assign", "acknowledged", at + 4_100_000),
                ]
            events.append(
                ("resolve", "resolved", at + 8 * 3_600_000)
                if n < 2
                else ("update", "open", at + 5_000_000)
            )
            for seq, (event, state, when) in enumerate(events, start=1):
                payload = {
                    **base,
                    "event": event,
                    "state": state,
                    "at": rfc3339(when),
                    "history_seq": seq,
                    "assignee": "bob" if event == "assign" else None,
                    "actor": "ana" if event in ("ack", "assign") else None,
                }
                alerts.append(alert_point(payload))
            resolved = events[-1][0] == "resolve"
            span = Alert(
                **base,
                state=events[-1][1],
                assignee="bob" if n == 0 else None,
                opened_at=from_ms(at),
                resolved_at=from_ms(events[-1][2]) if resolved else None,
            )
            alerts.append(span_point(span))
        write(influx, alerts)
        points["alerts and spans"] += len(alerts)
    stats, counter = [], 0
    for ts in range(end_ms - days * 86_400_000, end_ms, 10_000):
        counter += 1_000
        fields = {
            "messages_received": counter,
            "readings_stored": counter,
            "readings_spooled": 0,
            "readings_replayed": 0,
            "readings_lost": 0,
            "points_refused": 0,
            "duplicates": 0,
            "unverified": 0,
            "rejected_total": counter // 1000,
            "rejected_invalid_json": counter // 1000,
            "write_latency_ms_mean": 20.0,
            "write_latency_ms_max": 80.0,
            "writes": counter // 500,
        }
        stats.append(
            point_line(
                "cargowatch_stats", {"instance": "cargowatch-ingest"}, fields, ts * 1_000_000
            )
        )
    write(influx, stats)
    points["cargowatch_stats"] = len(stats)
    return points


def timed(influx: InfluxServer, q: str, repeats: int) -> float:
    def once() -> float:
        t = time.perf_counter()
        response = influx.http.get("/query", params={"q": q, "db": DB, "epoch": "ms"})
        elapsed = time.perf_counter() - t
        assert response.status_code == 200 and "error" not in response.json()["results"][0], (
            response.text[:300]
        )
        return elapsed

    once()  # warm-up: the first read of a shard pays for its index and caches
    return statistics.median(once() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trackers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        influx = InfluxServer(Path(tmp))
        influx.start()
        try:
            influx.create_database(DB)
            end_ms = int(time.time() * 1000) // 60_000 * 60_000
            t = time.perf_counter()
            points = load(influx, args.trackers, args.days, end_ms)
            print(
                f"loaded {points} in {time.perf_counter() - t:.0f} s (line protocol written directly)"
            )
            variables = {
                "shipment": Variable("SHP-00042"),
                "device": Variable("trk-00042"),
                "profile": Variable("vaccine_2_8"),
                "kind": Variable(ALL, CUSTOMS_KINDS),
                "instance": Variable(ALL, ["cargowatch-ingest"]),
            }
            cases: list[tuple[str, str, str]] = []
            for board in render_all():
                for query in queries_of(board):
                    for label, span in (
                        ("default", DEFAULT_RANGES[query.dashboard]),
                        ("7 days", args.days * 86_400_000),
                    ):
                        text = Expander(end_ms - span, end_ms, variables).expand(query)
                        cases.append((f"{query.key} [{label}]", text, query.source))
            reference = Expander(end_ms - 3_600_000, end_ms, variables).expand(
                DashboardQuery(
                    "bench",
                    "panel",
                    "reference",
                    "A",
                    'SELECT last("temp_c") FROM "telemetry" WHERE "device_id" = \'trk-00001\' AND $timeFilter',
                )
            )
            results: dict[str, list[float]] = {name: [] for name, _, _ in cases}
            refs: list[float] = []
            for _ in range(args.runs):
                refs.append(timed(influx, reference, args.repeats))
                for name, text, _ in cases:
                    results[name].append(timed(influx, text, args.repeats))
            ref = statistics.median(refs)
            print(
                f"reference (one tracker's last temperature, last hour): {1000 * ref:.1f} ms"
                f" ({1000 * min(refs):.1f}-{1000 * max(refs):.1f})"
            )
            print(f"{'query':<100} {'median ms':>10} {'spread ms':>15} {'x ref':>8}")
            for name, times in sorted(results.items(), key=lambda kv: -statistics.median(kv[1])):
                med = statistics.median(times)
                print(
                    f"{name:<100} {1000 * med:>10.1f} {f'{1000 * min(times):.1f}-{1000 * max(times):.1f}':>15} {med / ref:>8.0f}"
                )
            slowest = max(results, key=lambda n: statistics.median(results[n]))
            print(f"slowest: {slowest}: {1000 * statistics.median(results[slowest]):.0f} ms")
        finally:
            influx.stop()


if __name__ == "__main__":
    main()
