"""Fleet dashboard: where every tracker is, what is wrong with it, and who is handling it.

For a cold-chain operator's wall screen: a map of each tracker's last position coloured by the
worst severity among its open alerts, the open alerts counted by kind and severity, shipments
ranked by the customs risk score, the trackers the silence detector says have gone quiet, the
open alerts with their state and assignee from the alert store, and the latest reading of each
shipment.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import geomap, table
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import (
    STATE_COLOURS,
    Grid,
    base,
    influx,
    open_aggregate,
    open_alerts,
    risk_query,
    severity_rank_mappings,
    severity_rank_thresholds,
    text_mappings,
    transformation,
)
from detectors.alerts import SEVERITIES, SEVERITY_RANK

NAME = "fleet"


def last_positions() -> str:
    return (
        'SELECT last("lat") AS "lat", "lon", "shipment_id" FROM "telemetry"'
        ' WHERE $timeFilter GROUP BY "device_id"'
    )


def worst_open_severity() -> str:
    return open_aggregate('max("severity_rank") AS "worst_open_severity"', ["device_id"])


def open_by_kind(severity: str) -> str:
    return open_aggregate(
        f'count("state") AS "{severity}"',
        ["kind"],
        where=f'"severity_rank" = {SEVERITY_RANK[severity]}',
    )


def latest_reading() -> str:
    return (
        'SELECT last("temp_c") AS "temp_c", "ambient_c", "humidity_pct", "battery_v", "seal",'
        ' "door", "lat", "lon" FROM "telemetry" WHERE $timeFilter'
        ' GROUP BY "shipment_id", "device_id"'
    )


def _map(grid: Grid) -> geomap.Panel:
    markers = (
        common_builders.MapLayerOptions()
        .type("markers")
        .name("Trackers")
        .location(
            common_builders.FrameGeometrySource()
            .mode(common_models.FrameGeometrySourceMode.COORDS)
            .latitude("lat")
            .longitude("lon")
        )
        .config(
            {
                "showLegend": True,
                "style": {
                    "size": {"fixed": 6},
                    "color": {"field": "worst_open_severity", "fixed": "green"},
                },
            }
        )
        .tooltip(True)
    )
    return (
        geomap.Panel()
        .title("Trackers: last position, coloured by worst open alert")
        .description(
            "Each tracker's last reported position in the time range. Green: no open alert;"
            " otherwise the colour of the most severe alert still open or acknowledged."
        )
        .grid_pos(grid.at(14, 12))
        .with_target(influx(last_positions(), "A", "table"))
        .with_target(influx(worst_open_severity(), "B", "table"))
        .with_transformation(transformation("joinByField", byField="device_id", mode="outer"))
        .layers([markers])
        .view(geomap.MapViewConfig().id("fit").all_layers(True))
        .unit("none")
        .thresholds(severity_rank_thresholds())
        .mappings(list(severity_rank_mappings()))
    )


def build() -> dash.Dashboard:
    grid = Grid()
    board = base(
        NAME,
        "CargoWatch fleet",
        "Every tracker's position and open alerts, shipments by customs risk, silent trackers.",
        time_from="now-24h",
    )
    board.with_panel(_map(grid))
    by_kind = (
        table.Panel()
        .title("Open alerts by kind and severity")
        .description("Alerts open or acknowledged now, counted per kind, one column per severity.")
        .grid_pos(grid.at(10, 12))
        .unit("short")
        .with_transformation(transformation("joinByField", byField="kind", mode="outer"))
    )
    for i, severity in enumerate(SEVERITIES):
        by_kind.with_target(influx(open_by_kind(severity), chr(ord("A") + i), "table"))
    board.with_panel(by_kind)
    board.with_panel(
        table.Panel()
        .title("Shipments ranked by customs risk")
        .description(
            "Risk 0-100 from each shipment's open alerts, combined as the API's risk score"
            " combines them (seal, zone and route alerts weigh most)."
        )
        .grid_pos(grid.at(12, 10))
        .with_target(influx(risk_query("shipment_id"), "A", "table"))
        .unit("none")
        .decimals(1)
        .sort_by([common_builders.TableSortByFieldState().display_name("risk").desc(True)])
    )
    board.with_panel(
        table.Panel()
        .title("Trackers gone silent")
        .description(
            "Trackers whose silence alert is open: no reading for longer than their"
            " profile's max gap. Summary says since when."
        )
        .grid_pos(grid.at(12, 10))
        .with_target(
            influx(
                open_alerts(
                    ["summary", "assignee", "severity_rank"],
                    ["shipment_id"],
                    where="\"kind\" = 'silence'",
                ),
                "A",
                "table",
            )
        )
        .unit("none")
        .mappings(severity_rank_mappings() + text_mappings(STATE_COLOURS))
    )
    board.with_panel(
        table.Panel()
        .title("Open alerts: state and assignee")
        .description(
            "Every alert open or acknowledged now, with who it is assigned to, as the alert"
            " store has them (acknowledgements and assignments reach InfluxDB through the"
            " outbox)."
        )
        .grid_pos(grid.at(24, 10))
        .with_target(
            influx(
                open_alerts(["severity_rank", "assignee", "summary", "alert_id"], ["shipment_id"]),
                "A",
                "table",
            )
        )
        .unit("none")
        .mappings(severity_rank_mappings() + text_mappings(STATE_COLOURS))
    )
    board.with_panel(
        table.Panel()
        .title("Latest reading per shipment")
        .description("Each shipment's tracker's latest reading in the time range.")
        .grid_pos(grid.at(24, 10))
        .with_target(influx(latest_reading(), "A", "table"))
        .unit("none")
        .override_by_name("temp_c", [model.DynamicConfigValue("unit", "celsius")])
        .override_by_name("ambient_c", [model.DynamicConfigValue("unit", "celsius")])
        .override_by_name("humidity_pct", [model.DynamicConfigValue("unit", "percent")])
        .override_by_name("battery_v", [model.DynamicConfigValue("unit", "volt")])
    )
    return board
