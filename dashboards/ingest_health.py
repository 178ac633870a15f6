"""Ingest health dashboard: is CargoWatch keeping up, and is anything being lost or refused.

From the ingester's own counters (`cargowatch_stats`, cumulative since each instance started,
so rates are non-negative derivatives and survive restarts): messages received and readings
stored per second, rejects per reason, the spool's backlog and replay, write latency, and the
rate of alerts opened from the `alerts` measurement. The `instance` variable picks ingesters.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import DATASOURCE, SEVERITY_COLOURS, Grid, base, influx, steps

NAME = "ingest"
INSTANCE = '"instance" =~ /^${instance:regex}$/'
PER_INSTANCE = ' GROUP BY time($__interval), "instance" fill(none)'


def stats(select: str) -> str:
    return f'SELECT {select} FROM "cargowatch_stats" WHERE {INSTANCE} AND $timeFilter{PER_INSTANCE}'


def rate(field: str, label: str) -> str:
    return f'non_negative_derivative(last("{field}"), 1s) AS "{label}"'


def throughput() -> str:
    return stats(
        f"{rate('messages_received', 'messages received/s')},"
        f" {rate('readings_stored', 'readings stored/s')}"
    )


def rejects() -> str:
    return stats("non_negative_difference(last(/^rejected_/))")


def spool() -> str:
    return stats(
        'last("readings_spooled") - last("readings_replayed") - last("readings_lost")'
        f' AS "waiting in spool", {rate("readings_spooled", "spooled/s")},'
        f" {rate('readings_replayed', 'replayed/s')}"
    )


def write_latency() -> str:
    return stats('max("write_latency_ms_max") AS "max", mean("write_latency_ms_mean") AS "mean"')


def losses() -> str:
    return (
        'SELECT last("readings_lost") AS "lost", last("points_refused") AS "refused",'
        ' last("unverified") AS "unverified", last("duplicates") AS "duplicates"'
        f' FROM "cargowatch_stats" WHERE {INSTANCE} AND $timeFilter'
    )


def alert_rate() -> str:
    return (
        'SELECT count("alert_id") AS "opened" FROM "alerts" WHERE "event" = \'open\''
        ' AND $timeFilter GROUP BY time($__interval), "severity" fill(0)'
    )


def build() -> dash.Dashboard:
    grid = Grid()
    board = base(
        NAME,
        "CargoWatch ingest health",
        "The ingester's throughput, rejects, spool, write latency and the alert rate.",
        time_from="now-6h",
    )
    board.with_variable(
        dash.QueryVariable("instance")
        .label("Ingester")
        .datasource(DATASOURCE)
        .query('SHOW TAG VALUES FROM "cargowatch_stats" WITH KEY = "instance"')
        .multi(True)
        .include_all(True)
        .current(model.VariableOption(text=["All"], value=["$__all"]))
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
    )
    board.with_panel(
        timeseries.Panel()
        .title("Messages received and readings stored")
        .description("Per second; stored falling behind received means a backlog is building.")
        .grid_pos(grid.at(12, 8))
        .with_target(influx(throughput()))
        .unit("reqps")
    )
    board.with_panel(
        timeseries.Panel()
        .title("Rejects by reason")
        .description("Messages rejected per interval, one series per reason (see the README).")
        .grid_pos(grid.at(12, 8))
        .with_target(influx(rejects()))
        .unit("short")
    )
    board.with_panel(
        timeseries.Panel()
        .title("Spool: backlog and replay")
        .description(
            "Readings waiting in the disk spool while InfluxDB is away (spooled minus replayed"
            " and lost since start-up), and the spool and replay rates."
        )
        .grid_pos(grid.at(12, 8))
        .with_target(influx(spool()))
        .unit("short")
    )
    board.with_panel(
        timeseries.Panel()
        .title("InfluxDB write latency")
        .description("Mean and worst write latency since each ingester started.")
        .grid_pos(grid.at(12, 8))
        .with_target(influx(write_latency()))
        .unit("ms")
    )
    board.with_panel(
        timeseries.Panel()
        .title("Alerts opened")
        .description("Alerts opened per interval, by severity.")
        .grid_pos(grid.at(12, 8))
        .with_target(influx(alert_rate()))
        .unit("short")
        .overrides(
            [
                dash.DashboardFieldConfigSourceOverrides()
                .matcher(model.MatcherConfig(id_val="byRegexp", options=f".*{s}.*"))
                .properties([model.DynamicConfigValue("color", {"mode": "fixed", "fixedColor": c})])
                for s, c in SEVERITY_COLOURS.items()
            ]
        )
    )
    board.with_panel(
        stat.Panel()
        .title("Lost, refused, unverified, duplicates")
        .description(
            "Readings lost (damaged spool files), points InfluxDB refused, readings stored"
            " without the duplicate check, and redeliveries taken once, since start-up."
        )
        .grid_pos(grid.at(12, 8))
        .with_target(influx(losses(), "A", "table"))
        .unit("short")
        .thresholds(steps((None, "green"), (1.0, "orange")))
    )
    return board
