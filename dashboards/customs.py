"""Customs transit dashboard: seal, route, stop, zone and GPS alerts across shipments in transit.

For a customs risk unit: shipments ranked by the risk of their open customs alerts, every open
customs alert with its state and assignee from the alert store and the position it was raised
at, a map of where each alert opened, and how many opened over time. The `kind` variable narrows
all of it to some kinds (all of them by default).
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import geomap, table, timeseries
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import (
    STATE_COLOURS,
    Grid,
    base,
    influx,
    open_alerts,
    risk_query,
    severity_rank_mappings,
    severity_rank_thresholds,
    text_mappings,
)
from detectors.alerts import KINDS

NAME = "customs"
#: The alert kinds customs act on, in the order of `detectors.alerts.KINDS`.
CUSTOMS_KINDS: Final = tuple(
    k
    for k in KINDS
    if k.startswith(("seal", "route", "gps")) or k in ("unscheduled_stop", "restricted_zone")
)
KIND = '"kind" =~ /^${kind:regex}$/'


def open_customs_alerts() -> str:
    return open_alerts(
        ["risk_points", "severity_rank", "assignee", "summary", "lat", "lon", "alert_id"],
        ["shipment_id"],
        where=KIND,
    )


def where_opened() -> str:
    return (
        'SELECT "lat", "lon", "summary", "severity_rank" FROM "alerts"'
        f' WHERE {KIND} AND "event" = \'open\' AND "lat" > -91 AND $timeFilter'
        ' GROUP BY "kind", "shipment_id", "device_id"'
    )


def opened_over_time() -> str:
    return (
        'SELECT count("alert_id") AS "opened" FROM "alerts"'
        f" WHERE {KIND} AND \"event\" = 'open' AND $timeFilter"
        ' GROUP BY time($__interval), "kind" fill(0)'
    )


def build() -> dash.Dashboard:
    grid = Grid()
    board = base(
        NAME,
        "CargoWatch customs transit",
        "Seal, route, stop, zone and GPS alerts across shipments in transit, ranked by risk.",
        time_from="now-7d",
    )
    board.with_variable(
        dash.CustomVariable("kind")
        .label("Alert kind")
        .values(",".join(CUSTOMS_KINDS))
        .multi(True)
        .include_all(True)
        .current(model.VariableOption(text=["All"], value=["$__all"]))
    )
    board.with_panel(
        table.Panel()
        .title("Shipments ranked by customs risk")
        .description(
            "Risk 0-100 from each shipment's open alerts of the chosen kinds, combined as the"
            " API's risk score combines them."
        )
        .grid_pos(grid.at(10, 12))
        .with_target(influx(risk_query("shipment_id", where=KIND), "A", "table"))
        .unit("none")
        .decimals(1)
        .sort_by([common_builders.TableSortByFieldState().display_name("risk").desc(True)])
    )
    board.with_panel(
        geomap.Panel()
        .title("Where each alert opened")
        .description("The position each customs alert was raised at, coloured by its severity.")
        .grid_pos(grid.at(14, 12))
        .with_target(influx(where_opened(), "A", "table"))
        .layers(
            [
                common_builders.MapLayerOptions()
                .type("markers")
                .name("Alerts")
                .location(
                    common_builders.FrameGeometrySource()
                    .mode(common_models.FrameGeometrySourceMode.COORDS)
                    .latitude("lat")
                    .longitude("lon")
                )
                .config({"style": {"color": {"field": "severity_rank"}, "size": {"fixed": 7}}})
                .tooltip(True)
            ]
        )
        .view(geomap.MapViewConfig().id("fit").all_layers(True))
        .unit("none")
        .thresholds(severity_rank_thresholds())
        .mappings(severity_rank_mappings())
    )
    board.with_panel(
        table.Panel()
        .title("Open customs alerts, by risk")
        .description(
            "Every customs alert open or acknowledged now: its risk points, severity, state and"
            " assignee (from the alert store, through the outbox) and where it was raised."
        )
        .grid_pos(grid.at(24, 12))
        .with_target(influx(open_customs_alerts(), "A", "table"))
        .unit("none")
        .mappings(severity_rank_mappings() + text_mappings(STATE_COLOURS))
        .sort_by([common_builders.TableSortByFieldState().display_name("risk_points").desc(True)])
    )
    board.with_panel(
        timeseries.Panel()
        .title("Customs alerts opened")
        .description("Customs alerts opened per interval, by kind.")
        .grid_pos(grid.at(24, 8))
        .with_target(influx(opened_over_time()))
        .unit("short")
    )
    return board
