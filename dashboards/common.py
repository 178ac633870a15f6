"""Shared defaults of every CargoWatch dashboard: data source variable, uids, layout, thresholds.

Every dashboard takes its InfluxDB data source from the `datasource` variable, so one set of
dashboards serves any Grafana whatever the data source's uid there. Thresholds and colours come
from the detectors' own constants (profiles' temperature bands, severities, the battery and
shock detectors' defaults), so a dashboard line moves when a detector's limit does. The alert
queries read the `alerts` measurement that the outbox fills: each (device, kind) series' last
point is that alert's current state, since the detectors keep one alert open per device and
kind; `severity_rank`, `risk_points` and `assignee` are written there for these dashboards.
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

#: How far back an alert's last event is looked for when asking what is open now. Readings
#: older than this are refused at ingest by default, so an alert cannot stay open longer
#: without a later event.
OPEN_LOOKBACK: Final = "30d"

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


def latest_alerts(fields: Sequence[str], group_by: Sequence[str], where: str = "") -> str:
    """Each alert's latest event: `last(field)` of each field per (device, kind) and `group_by`.

    The detectors keep one alert open per device and kind, so the last event of a (device,
    kind) is the state of its current alert, whatever severity series it was written to: the
    state, assignee and severity are those of the latest escalation, human action or resolve.
    Filter the result with `OPEN` to keep the alerts still open (or acknowledged).
    """
    inner = ", ".join(f'last("{f}") AS "{f}"' for f in dict.fromkeys(["state", *fields]))
    condition = f"{where} AND " if where else ""
    return (
        f'SELECT {inner} FROM "alerts" WHERE {condition}time > now() - {OPEN_LOOKBACK}'
        f" GROUP BY {keys([*group_by, 'device_id', 'kind'])}"
    )


def keys(names: Sequence[str]) -> str:
    return ", ".join(f'"{k}"' for k in dict.fromkeys(names))


def open_alert_rows(fields: Sequence[str], group_by: Sequence[str], where: str = "") -> str:
    """One row per open alert with `fields`, its series tagged by `group_by`, device and kind."""
    tags = [*group_by, "device_id", "kind"]
    selected = ", ".join(f'"{f}"' for f in dict.fromkeys(["state", *fields]))
    return (
        f"SELECT {selected} FROM ({latest_alerts(fields, group_by, where)})"
        f" WHERE {OPEN} GROUP BY {keys(tags)}"
    )


def risk_query(group_by: str, where: str = "") -> str:
    """Risk per `group_by` as `detectors.risk.risk_score` combines it: 100 (1 - prod(1 - p/100)).

    The product is taken as exp(sum(ln(1 - p/100))), which InfluxQL can aggregate; p is the
    `risk_points` of each open alert (its kind's points scaled by its current severity).
    """
    inner = latest_alerts(["risk_points"], [group_by], where)
    return (
        'SELECT 100 * (1 - exp(sum("l"))) AS "risk", count("l") AS "open_alerts" FROM ('
        f'SELECT ln(1 - "risk_points" / 100) AS "l" FROM ({inner}) WHERE {OPEN}'
        f') GROUP BY "{group_by}"'
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
