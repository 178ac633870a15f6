"""Shared defaults of every CargoWatch dashboard: data source variable, uids, layout, thresholds.

Every dashboard takes its InfluxDB data source from the `datasource` variable, so one set of
dashboards serves any Grafana whatever the data source's uid there. Thresholds and colours come
from the detectors' own constants (profiles' temperature bands, severities, the battery and
shock detectors' defaults), so a dashboard line moves when a detector's limit does. The
queries of what is open now read the `alert_spans` measurement that the outbox fills: one point
per alert, rewritten from the alert store's row with every entry delivered, so it holds the
alert's current state, severity, assignee and risk points whatever order its entries' own times
are in (the `alerts` entries are stamped with those times, and a detector event stamped before
a person's acknowledgement can be delivered after it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model

from dashboards.influx import InfluxQueryBuilder, ResultFormat
from detectors.alerts import SEVERITIES, SEVERITY_RANK
from detectors.profiles import PROFILES
from detectors.sensor_fault import BatteryLow
from detectors.shock import Shock

DATASOURCE_VAR: Final = "datasource"
DATASOURCE: Final = model.DataSourceRef(type_val="influxdb", uid=f"${{{DATASOURCE_VAR}}}")
FOLDER_UID: Final = "cargowatch"
FOLDER_TITLE: Final = "CargoWatch"
TAGS: Final = ["cargowatch"]

#: How far back an alert's open time is looked for when asking what is open now: an
#: `alert_spans` point is at its alert's open time, and an alert may stay open (a tracker gone
#: silent, an acknowledged breach) long after its last event. An alert opened longer ago than
#: this and still unresolved is not shown.
OPEN_LOOKBACK: Final = "365d"

SEVERITY_COLOURS: Final = {"info": "blue", "warning": "orange", "critical": "red"}
STATE_COLOURS: Final = {"open": "red", "acknowledged": "yellow", "resolved": "green"}
SEAL_DOOR_COLOURS: Final = {"closed": "green", "open": "orange", "tampered": "dark-red"}


def dashboard_uid(name: str) -> str:
    """A stable uid: Grafana keeps a dashboard's URL, links and stars by it across pushes."""
    return f"cargowatch-{name}"


def base(name: str, title: str, description: str, time_from: str = "now-24h") -> dash.Dashboard:
    """A dashboard with its stable uid, CargoWatch tags, UTC time and the data source variable."""
    return (
        dash.Dashboard(title)
        .uid(dashboard_uid(name))
        .description(description)
        .tags(TAGS)
        .timezone("utc")
        .time(time_from, "now")
        .refresh("1m")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dash.DatasourceVariable(DATASOURCE_VAR)
            .label("InfluxDB")
            .type("influxdb")
            .description("The InfluxDB data source CargoWatch writes to (InfluxQL).")
        )
    )


def influx(query: str, ref_id: str = "A", fmt: ResultFormat = "time_series") -> InfluxQueryBuilder:
    """A raw InfluxQL target on the dashboard's data source variable."""
    return InfluxQueryBuilder(query, ref_id).format(fmt).datasource(DATASOURCE)


OPEN: Final = "\"state\" <> 'resolved'"
SPANS: Final = "alert_spans"


def open_alerts(fields: Sequence[str], group_by: Sequence[str], where: str = "") -> str:
    """Every alert open or acknowledged now, one row each: `fields` of its `alert_spans` point.

    Each point is rewritten from the alert store's row with every entry delivered, so its
    fields are the alert's current ones; an alert resolved in the store is filtered out here
    even if an entry stamped later (an acknowledgement) was delivered before the resolve.
    Rows come in series tagged by `group_by`, device and kind (the span's tags).
    """
    selected = ", ".join(f'"{f}"' for f in dict.fromkeys(["state", *fields]))
    return (
        f"SELECT {selected} {_open_spans(where)} GROUP BY {keys([*group_by, 'device_id', 'kind'])}"
    )


def keys(names: Sequence[str]) -> str:
    return ", ".join(f'"{k}"' for k in dict.fromkeys(names))


def open_aggregate(select: str, group_by: Sequence[str], where: str = "") -> str:
    """An aggregate (`select`) over the open alerts' span points, per `group_by`."""
    return f"SELECT {select} {_open_spans(where)} GROUP BY {keys(group_by)}"


def _open_spans(where: str) -> str:
    """The FROM and WHERE of the open alerts' span points, narrowed by `where` if given."""
    condition = f"{where} AND " if where else ""
    return f'FROM "{SPANS}" WHERE {condition}{OPEN} AND time > now() - {OPEN_LOOKBACK}'


def risk_query(group_by: str, where: str = "") -> str:
    """Risk per `group_by` as `detectors.risk.risk_score` combines it: 100 (1 - prod(1 - p/100)).

    The product is taken as exp(sum(ln(1 - p/100))), which InfluxQL can aggregate; p is the
    `risk_points` of each open alert (its kind's points scaled by its current severity).
    """
    inner = open_aggregate('ln(1 - "risk_points" / 100) AS "l"', [group_by], where)
    return (
        'SELECT 100 * (1 - exp(sum("l"))) AS "risk", count("l") AS "open_alerts"'
        f' FROM ({inner}) GROUP BY "{group_by}"'
    )


def steps(*pairs: tuple[float | None, str]) -> cogbuilder.Builder[model.ThresholdsConfig]:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=v, color=c) for v, c in pairs])
    )


def severity_rank_thresholds() -> cogbuilder.Builder[model.ThresholdsConfig]:
    """Colour a `severity_rank` by the severity it stands for; no open alert is green."""
    return steps(
        (None, "green"), *((float(SEVERITY_RANK[s]), SEVERITY_COLOURS[s]) for s in SEVERITIES)
    )


def severity_rank_mappings() -> list[model.ValueMapping]:
    return [
        model.ValueMap(
            options={
                str(SEVERITY_RANK[s]): model.ValueMappingResult(text=s, color=SEVERITY_COLOURS[s])
                for s in SEVERITIES
            }
        )
    ]


def text_mappings(colours: dict[str, str]) -> list[model.ValueMapping]:
    return [
        model.ValueMap(
            options={k: model.ValueMappingResult(text=k, color=c) for k, c in colours.items()}
        )
    ]


def temperature_bands() -> dict[str, tuple[float, float]]:
    """Each profile with a temperature range, by name: the band a shipment's product must keep."""
    return {p.name: p.temp_range_c for p in PROFILES.values() if p.temp_range_c is not None}


def band_thresholds(low: float, high: float) -> dict[str, Any]:
    """Thresholds JSON: below the band blue, inside green, above red (drawn as lines and areas)."""
    return {
        "mode": "absolute",
        "steps": [
            {"value": None, "color": "blue"},
            {"value": low, "color": "green"},
            {"value": high, "color": "red"},
        ],
    }


def battery_thresholds() -> cogbuilder.Builder[model.ThresholdsConfig]:
    d = BatteryLow()
    return steps((None, "red"), (d.critical_v, "orange"), (d.warning_v, "green"))


def shock_thresholds() -> cogbuilder.Builder[model.ThresholdsConfig]:
    d = Shock()
    return steps((None, "green"), (d.warning_g, "orange"), (d.critical_g, "red"))


def transformation(kind: str, **options: Any) -> model.DataTransformerConfig:
    return model.DataTransformerConfig(id_val=kind, options=options)


@dataclass
class Grid:
    """Places panels left to right in rows of 24 columns: modules list panels in reading order."""

    x: int = 0
    y: int = 0
    row_h: int = 0
    placed: list[tuple[int, int, int, int]] = field(default_factory=list)

    def at(self, w: int, h: int) -> model.GridPos:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = model.GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos
