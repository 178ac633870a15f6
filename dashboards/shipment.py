"""Shipment dashboard: one shipment's tracker, its product against its band, and its alerts.

Pick a shipment, then its device (a shipment can change trackers); its profile is read from the
`shipments` measurement the ingester writes. Product temperature is drawn as the interval's min
and max, so a short excursion is not averaged away, with the profile's band as threshold lines
and areas and the band in force for this shipment (overrides included) as dashed lines. Every
alert is a region from open to resolve (a marker while still open) and every alert event an
annotation with its summary; the alert timeline shows each kind's state; a forecast breach
shows when and how sure.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import geomap, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import (
    DATASOURCE,
    SEAL_DOOR_COLOURS,
    STATE_COLOURS,
    Grid,
    band_thresholds,
    base,
    battery_thresholds,
    influx,
    shock_thresholds,
    temperature_bands,
    text_mappings,
)
from dashboards.influx import InfluxAnnotationBuilder

NAME = "shipment"
DEVICE = '"device_id" =~ /^${device:regex}$/'


def shipment_values() -> str:
    return 'SHOW TAG VALUES FROM "telemetry" WITH KEY = "shipment_id"'


def device_values() -> str:
    return (
        'SHOW TAG VALUES FROM "telemetry" WITH KEY = "device_id"'
        ' WHERE "shipment_id" =~ /^${shipment:regex}$/'
    )


def shipment_profiles() -> str:
    return (
        'SHOW TAG VALUES FROM "shipments" WITH KEY = "profile"'
        ' WHERE "shipment_id" =~ /^${shipment:regex}$/'
    )


def shipment_band() -> str:
    # fill(previous) carries the band across intervals; the ingester rewrites it every few
    # minutes, so a range never starts long before its first point.
    return (
        'SELECT last("temp_low_c") AS "band low", last("temp_high_c") AS "band high"'
        ' FROM "shipments" WHERE "shipment_id" =~ /^${shipment:regex}$/'
        f" AND {DEVICE} AND $timeFilter GROUP BY time($__interval) fill(previous)"
    )


def alert_spans() -> str:
    return (
        'SELECT "summary", "resolved_at_ms", "kind" FROM "alert_spans"'
        f" WHERE {DEVICE} AND $timeFilter"
    )


def product_temperature() -> str:
    return (
        'SELECT min("temp_c") AS "${profile:raw} min", max("temp_c") AS "${profile:raw} max"'
        f' FROM "telemetry" WHERE {DEVICE} AND $timeFilter GROUP BY time($__interval) fill(none)'
    )


def series(*fields: str, fn: str = "mean") -> str:
    selected = ", ".join(f'{fn}("{f}") AS "{f}"' for f in fields)
    return (
        f'SELECT {selected} FROM "telemetry" WHERE {DEVICE} AND $timeFilter'
        " GROUP BY time($__interval) fill(none)"
    )


def seal_and_door() -> str:
    return (
        'SELECT last("seal") AS "seal", last("door") AS "door" FROM "telemetry"'
        f" WHERE {DEVICE} AND $timeFilter GROUP BY time($__interval) fill(previous)"
    )


def route() -> str:
    return f'SELECT "lat", "lon" FROM "telemetry" WHERE {DEVICE} AND "lat" > -91 AND $timeFilter'


def alert_states() -> str:
    return (
        'SELECT last("state") AS "state" FROM "alerts"'
        f' WHERE {DEVICE} AND $timeFilter GROUP BY time($__interval), "kind" fill(previous)'
    )


def predicted_breach() -> str:
    return (
        'SELECT last("predicted_breach_at_ms") AS "predicted_breach_at", "confidence", "state",'
        ' "summary" FROM "alerts" WHERE "kind" = \'temp_breach_predicted\''
        f' AND {DEVICE} AND $timeFilter GROUP BY "severity"'
    )


def alert_history() -> str:
    return (
        'SELECT "event", "state", "summary", "assignee", "actor" FROM "alerts"'
        f' WHERE {DEVICE} AND $timeFilter GROUP BY "kind", "severity"'
    )


def alert_annotations() -> str:
    return f'SELECT "summary", "event", "state" FROM "alerts" WHERE {DEVICE} AND $timeFilter'


def _variables(board: dash.Dashboard) -> None:
    bands = temperature_bands()
    board.with_variable(
        dash.QueryVariable("shipment")
        .label("Shipment")
        .datasource(DATASOURCE)
        .query(shipment_values())
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    board.with_variable(
        dash.QueryVariable("device")
        .label("Tracker")
        .datasource(DATASOURCE)
        .query(device_values())
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    board.with_variable(
        dash.QueryVariable("profile")
        .label("Profile")
        .description(
            "The shipment's profile, whose temperature band the product must keep, as the"
            " ingester recorded it; the first cold-chain profile when it recorded none."
        )
        .datasource(DATASOURCE)
        .query(shipment_profiles())
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .current(model.VariableOption(text=next(iter(bands)), value=next(iter(bands))))
    )


def _temperature(grid: Grid) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title("Product temperature against the profile's band")
        .description(
            "Min and max of the product probe per interval; the band of the chosen profile is"
            " drawn as threshold lines and areas (blue below, red above)."
        )
        .grid_pos(grid.at(24, 10))
        .with_target(influx(product_temperature()))
        .with_target(influx(shipment_band(), "B"))
        .unit("celsius")
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common_models.GraphThresholdsStyleMode.LINE_AND_AREA
            )
        )
    )
    # One override per profile: the series are named after the chosen profile, so the band
    # that applies is the one whose name the series carry.
    for name, (low, high) in temperature_bands().items():
        panel.override_by_regexp(
            f"^{name} (min|max)$",
            [model.DynamicConfigValue("thresholds", band_thresholds(low, high))],
        )
    panel.override_by_regexp(
        "^band (low|high)$",
        [
            model.DynamicConfigValue("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
            model.DynamicConfigValue("custom.fillOpacity", 0),
            model.DynamicConfigValue("color", {"mode": "fixed", "fixedColor": "orange"}),
        ],
    )
    return panel


def build() -> dash.Dashboard:
    grid = Grid()
    board = base(
        NAME,
        "CargoWatch shipment",
        "One shipment's tracker: product temperature against its band, conditions, seal and"
        " door, route, and every alert.",
        time_from="now-24h",
    )
    _variables(board)
    board.annotation(
        InfluxAnnotationBuilder("Alerts", alert_annotations(), DATASOURCE).columns(
            title="summary", text="state", tags="event"
        )
    )
    board.annotation(
        InfluxAnnotationBuilder("Alert periods", alert_spans(), DATASOURCE)
        .columns(title=None, text="summary", tags="kind")
        .time_end("resolved_at_ms")
        .icon_color("orange")
    )
    board.with_panel(_temperature(grid))
    board.with_panel(
        timeseries.Panel()
        .title("Ambient temperature and humidity")
        .description("Mean per interval of the tracker's ambient probe and relative humidity.")
        .grid_pos(grid.at(12, 8))
        .with_target(influx(series("ambient_c", "humidity_pct")))
        .unit("celsius")
        .override_by_name(
            "humidity_pct",
            [
                model.DynamicConfigValue("unit", "percent"),
                model.DynamicConfigValue("custom.axisPlacement", "right"),
            ],
        )
    )
    board.with_panel(
        timeseries.Panel()
        .title("Tracker battery")
        .description("Battery voltage; thresholds are the battery detector's warning and critical.")
        .grid_pos(grid.at(12, 8))
        .with_target(influx(series("battery_v", fn="min")))
        .unit("volt")
        .thresholds(battery_thresholds())
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common_models.GraphThresholdsStyleMode.LINE
            )
        )
    )
    board.with_panel(
        statetimeline.Panel()
        .title("Seal and door")
        .description("Electronic seal (closed, open, tampered) and door state over time.")
        .grid_pos(grid.at(12, 6))
        .with_target(influx(seal_and_door()))
        .unit("none")
        .mappings(text_mappings(SEAL_DOOR_COLOURS))
    )
    board.with_panel(
        timeseries.Panel()
        .title("Shock")
        .description("Peak acceleration per interval; thresholds are the shock detector's.")
        .grid_pos(grid.at(12, 6))
        .with_target(influx(series("shock_g", fn="max")))
        .unit("accG")
        .thresholds(shock_thresholds())
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common_models.GraphThresholdsStyleMode.LINE
            )
        )
    )
    board.with_panel(
        geomap.Panel()
        .title("Route travelled")
        .description("Every position the tracker reported in the time range.")
        .grid_pos(grid.at(12, 12))
        .with_target(influx(route(), "A", "table"))
        .layers(
            [
                common_builders.MapLayerOptions()
                .type("route")
                .name("Route")
                .location(
                    common_builders.FrameGeometrySource()
                    .mode(common_models.FrameGeometrySourceMode.COORDS)
                    .latitude("lat")
                    .longitude("lon")
                )
                .config({"style": {"size": {"fixed": 3}, "color": {"fixed": "blue"}}})
            ]
        )
        .view(geomap.MapViewConfig().id("fit").all_layers(True))
        .unit("none")
    )
    board.with_panel(
        statetimeline.Panel()
        .title("Alerts: open to resolved")
        .description("Each alert kind's state over time: open, acknowledged, resolved.")
        .grid_pos(grid.at(12, 12))
        .with_target(influx(alert_states()))
        .unit("none")
        .mappings(text_mappings(STATE_COLOURS))
    )
    board.with_panel(
        table.Panel()
        .title("Predicted breach")
        .description(
            "When the predicted-breach detector expects the product to leave its band, and how"
            " sure it is (empty when no breach is forecast)."
        )
        .grid_pos(grid.at(24, 5))
        .with_target(influx(predicted_breach(), "A", "table"))
        .unit("none")
        .override_by_name(
            "predicted_breach_at", [model.DynamicConfigValue("unit", "dateTimeAsIso")]
        )
        .override_by_name("confidence", [model.DynamicConfigValue("unit", "percentunit")])
    )
    board.with_panel(
        table.Panel()
        .title("Alert history")
        .description("Every detector event and human action on this tracker's alerts.")
        .grid_pos(grid.at(24, 10))
        .with_target(influx(alert_history(), "A", "table"))
        .unit("none")
        .mappings(text_mappings(STATE_COLOURS))
    )
    return board
