"""Every InfluxQL query of a dashboard, and the text Grafana would send for it to InfluxDB.

`queries_of` lists the queries of every panel target, query variable and annotation of a
dashboard's JSON. `Expander` turns one into what Grafana 11's InfluxDB data source (InfluxQL,
server-side query path) sends to `/query`, in the order Grafana does it:

1. the front end interpolates dashboard variables with `templateSrv.replace(query, vars,
   'regex')`: `$var`, `${var}`, `[[var]]` and `${var:format}`; the default format for InfluxQL
   is `regex` (values regex-escaped, several values as `(a|b)`); an "All" selection is the
   variable's custom all value unformatted, or else all of its options; unknown names stay;
2. the interval is `rangeUtil.calculateInterval`: (to - from) / max data points, rounded by
   Grafana's `roundInterval` table, no less than the panel's min interval or else the data
   source's `timeInterval`;
3. the server (`pkg/tsdb/influxdb/models/query.go`, `Build`) replaces `$timeFilter` with
   `time >= {from}ms and time <= {to}ms`, then `$interval`, `$__interval_ms` and `$__interval`
   (`gtime.FormatInterval`: whole years, days, hours, minutes, seconds or milliseconds).

The tests and `bench/dashboard_queries.py` run the result against a real influxd.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

#: Grafana's `variableRegex` (public/app/features/variables/utils.ts).
_VARIABLE: Final = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}"
)
#: Characters `escapeRegex` (@grafana/data) escapes.
_REGEX_SPECIAL: Final = re.compile(r"[\\^$*+?.()|\[\]{}/]")
ALL: Final = "$__all"

#: `roundInterval` (@grafana/data rangeutil): (upper bound ms, interval ms), first match wins.
_ROUNDING: Final = (
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
)
_YEAR_MS: Final = 31_536_000_000
_UNITS_MS: Final = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True)
class DashboardQuery:
    """One query of a dashboard: where it is, its text, and how Grafana asks for it."""

    dashboard: str
    source: str  # "panel", "variable" or "annotation"
    title: str  # panel title, variable name or annotation name
    ref_id: str
    query: str
    result_format: str = "time_series"
    max_data_points: int | None = None
    min_interval: str | None = None

    @property
    def key(self) -> str:
        return f"{self.dashboard}/{self.source}/{self.title}/{self.ref_id}"


def queries_of(board: Mapping[str, Any]) -> list[DashboardQuery]:
    """Every query in a dashboard's JSON model, in panel, variable, annotation order."""
    uid = board["uid"]
    found = []
    for panel in board.get("panels", []):
        for target in panel.get("targets", []):
            found.append(
                DashboardQuery(
                    uid,
                    "panel",
                    panel["title"],
                    target["refId"],
                    target["query"],
                    target.get("resultFormat", "time_series"),
                    panel.get("maxDataPoints"),
                    panel.get("interval"),
                )
            )
    for variable in board.get("templating", {}).get("list", []):
        if variable["type"] == "query":
            found.append(DashboardQuery(uid, "variable", variable["name"], "", variable["query"]))
    for annotation in board.get("annotations", {}).get("list", []):
        if "query" in annotation:
            found.append(
                DashboardQuery(uid, "annotation", annotation["name"], "", annotation["query"])
            )
    return found


def escape_regex(value: str) -> str:
    r"""`escapeRegex` of @grafana/data.

    >>> escape_regex("trk.1/a")
    'trk\\.1\\/a'
    """
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def format_value(value: str | Sequence[str], fmt: str) -> str:
    """A variable's value in one of Grafana's formats.

    >>> format_value(["SHP-1", "SHP.2"], "regex"), format_value("SHP.2", "regex")
    ('(SHP-1|SHP\\\\.2)', 'SHP\\\\.2')
    >>> format_value(["a", "b"], "csv"), format_value(["a", "b"], "pipe")
    ('a,b', 'a|b')
    """
    values = [value] if isinstance(value, str) else list(value)
    if fmt == "regex":
        escaped = [escape_regex(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt in ("raw", "csv", "text"):
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    raise ValueError(f"no such variable format in this expander: {fmt!r}")


def interval_ms(range_ms: int, max_data_points: int, min_interval: str | None) -> int:
    """`rangeUtil.calculateInterval`: the rounded interval, no less than the lower limit.

    >>> interval_ms(24 * 3_600_000, 1000, None), interval_ms(24 * 3_600_000, 1000, "5m")
    (60000, 300000)
    """
    raw = range_ms / max_data_points
    rounded = next((ms for bound, ms in _ROUNDING if raw < bound), _YEAR_MS)
    low = parse_interval(min_interval) if min_interval else 1
    return max(rounded, low)


def parse_interval(text: str) -> int:
    """A Grafana interval string ("10s", "5m", ">1m") in milliseconds."""
    match = re.fullmatch(r">?(\d+)(ms|s|m|h|d)", text.strip())
    if match is None:
        raise ValueError(f"not an interval: {text!r}")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def format_interval(ms: int) -> str:
    """`gtime.FormatInterval` of grafana-plugin-sdk-go: the largest whole unit.

    >>> format_interval(60_000), format_interval(90_000), format_interval(500)
    ('1m', '1m', '500ms')
    """
    for unit_ms, unit in ((_YEAR_MS, "y"), (86_400_000, "d"), (3_600_000, "h"), (60_000, "m")):
        if ms >= unit_ms:
            return f"{ms // unit_ms}{unit}"
    if ms >= 1_000:
        return f"{ms // 1_000}s"
    return f"{ms}ms" if ms >= 1 else "1ms"


@dataclass
class Variable:
    """A dashboard variable's current value and what "All" means for it."""

    value: str | list[str]
    options: Sequence[str] = ()
    all_value: str | None = None


class Expander:
    """Expands queries as Grafana does for one time range and set of variable values."""

    def __init__(
        self,
        from_ms: int,
        to_ms: int,
        variables: Mapping[str, Variable],
        datasource_min_interval: str | None = "10s",
        default_max_data_points: int = 1000,
    ) -> None:
        self.from_ms, self.to_ms = from_ms, to_ms
        self.variables = dict(variables)
        self.datasource_min_interval = datasource_min_interval
        self.default_max_data_points = default_max_data_points

    def interpolate(self, text: str, default_format: str = "regex") -> str:
        """Step 1: dashboard variables, as `templateSrv.replace` with `default_format`."""

        def replace(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2) or match.group(4)
            fmt = match.group(3) or match.group(6) or default_format
            variable = self.variables.get(name)
            if variable is None:
                return match.group(0)  # Grafana leaves names it does not know
            value = variable.value
            if value == ALL or value == [ALL]:
                if variable.all_value is not None:
                    return variable.all_value  # a custom all value is used unformatted
                value = list(variable.options)
            return format_value(value, fmt)

        return _VARIABLE.sub(replace, text)

    def expand(self, query: DashboardQuery) -> str:
        """The InfluxQL Grafana sends for `query`."""
        text = self.interpolate(query.query)
        ms = interval_ms(
            self.to_ms - self.from_ms,
            query.max_data_points or self.default_max_data_points,
            query.min_interval or self.datasource_min_interval,
        )
        text = text.replace("$timeFilter", f"time >= {self.from_ms}ms and time <= {self.to_ms}ms")
        text = text.replace("$interval", format_interval(ms))
        text = text.replace("$__interval_ms", str(ms))
        return text.replace("$__interval", format_interval(ms))
