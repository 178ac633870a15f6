"""The release report as CSV: the same numbers as the PDF, one fact per row, for spreadsheets.

Every row has the same columns (`COLUMNS`); ``section`` says what the row is and the others are
filled as that section documents (docs/reports.md). Numbers are written exactly as the PDF
writes them (`api.report_format`), times in UTC RFC 3339. UTF-8 with a header row, CRLF line
ends (RFC 4180), no byte-order mark.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Final

from api.report_data import ReportData
from api.report_format import celsius, degrees, metres, minutes, percent, score, when
from api.report_telemetry import Fix, SealChange

COLUMNS: Final = (
    "section",
    "item",
    "start",
    "end",
    "value",
    "unit",
    "lon",
    "lat",
    "actor",
    "comment",
    "detail",
)

Row = dict[str, str]


def render_csv(data: ReportData) -> bytes:
    """The report's rows as CSV bytes."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in report_rows(data):
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def _row(section: str, item: str, value: str = "", **cells: str) -> Row:
    return {"section": section, "item": item, "value": value, **cells}


def _where(position: Fix | None) -> Row:
    """The ``lon`` and ``lat`` cells of a position, empty when it is unknown."""
    if position is None:
        return {"lon": degrees(None), "lat": degrees(None)}
    return {"lon": degrees(position.lon), "lat": degrees(position.lat)}


def report_rows(data: ReportData) -> Iterator[Row]:
    """Every row of the CSV, section by section, in the PDF's order."""
    low, high = data.temp_range_c if data.temp_range_c is not None else (None, None)
    for item, value, unit in (
        ("shipment_id", data.shipment_id, ""),
        ("organisation", data.organisation, ""),
        ("device_id", data.device_id, ""),
        ("status", data.status, ""),
        ("profile", data.profile, ""),
        ("temp_low_c", celsius(low), "°C"),
        ("temp_high_c", celsius(high), "°C"),
        ("stability_budget_min", minutes(data.stability_budget_min), "min"),
        ("max_step_min", minutes(data.max_step_s / 60), "min"),
        ("departure", when(data.departure_ms), ""),
        ("arrival", when(data.arrival_ms), ""),
        ("first_reading", when(data.first_reading_ms), ""),
        ("last_reading", when(data.last_reading_ms), ""),
        ("generated_at", when(data.generated_at_ms), ""),
        ("chain_head", data.chain_head or "not available", ""),
    ):
        yield _row("header", item, value, unit=unit)
    yield _row("header", "probe", "product" if data.product_lag_min is None else "air")
    if data.product_lag_min is not None:
        yield _row("header", "product_lag_min", minutes(data.product_lag_min), unit="min")
    yield _row(
        "header",
        "report_window",
        start=when(data.window_start_ms),
        end=when(data.window_end_ms),
    )
    s = data.stats
    for item, value, unit in (
        ("readings", str(s.readings), "count"),
        ("implausible_readings", str(s.implausible), "count"),
        ("min_c", celsius(s.min_c), "°C"),
        ("max_c", celsius(s.max_c), "°C"),
        ("mean_c", celsius(s.mean_c), "°C"),
        ("mkt_c", celsius(s.mkt_c), "°C"),
        ("covered_min", minutes(s.covered_min), "min"),
    ):
        yield _row("temperature", item, value, unit=unit)
    for n, e in enumerate(data.excursions, 1):
        yield _row(
            "excursion",
            str(n),
            minutes(e.minutes),
            start=when(e.start_ms),
            end=when(e.end_ms),
            unit="min",
            detail=f"{e.side}; {e.readings} readings; {'ended' if e.ended else 'still out'}",
        )
        yield _row(
            "excursion_peak",
            str(n),
            celsius(e.peak_c),
            start=when(e.peak_at_ms),
            unit="°C",
            detail=f"{celsius(e.beyond_c)} °C beyond the range",
        )
    if data.budget is not None:
        b = data.budget
        yield _row("budget", "out_of_range_min", minutes(b.out_min), unit="min")
        yield _row("budget", "budget_min", minutes(b.budget_min), unit="min")
        yield _row("budget", "used_pct", percent(b.used_pct), unit="%")
        yield _row("budget", "exceeded", "yes" if b.exceeded else "no")
    for a in data.alerts:
        yield _row(
            "alert",
            a.alert_id,
            a.kind,
            start=when(a.opened_at_ms),
            end=when(a.resolved_at_ms),
            **_where(a.position),
            detail=f"{a.severity}; {a.state}; {a.summary}",
        )
        for entry in a.history:
            yield _row(
                "alert_history",
                a.alert_id,
                entry.action,
                start=when(entry.at_ms),
                actor=entry.actor,
                comment=entry.comment or "",
                detail=f"{entry.severity}; {entry.summary}",
            )
    for c in data.seal_changes:
        yield _row(
            "seal",
            c.seal_id or data.seal_id or "",
            c.seal,
            start=when(c.at_ms),
            **_where(c.position),
            detail=seal_where(c),
        )
    for a in data.customs_alerts:
        yield _row(
            "customs",
            a.alert_id,
            a.kind,
            start=when(a.opened_at_ms),
            end=when(a.resolved_at_ms),
            **_where(a.position),
            detail=a.summary,
        )
    for r in data.risk:
        yield _row(
            "risk",
            "risk_score",
            score(r.score),
            start=when(r.at_ms),
            unit="0-100",
            detail=f"{r.open_alerts} unresolved alerts",
        )
    for v in data.versions:
        low_v, high_v = v.temp_range_c if v.temp_range_c is not None else (None, None)
        yield _row(
            "manifest_version",
            str(v.version),
            v.profile,
            start=when(v.saved_at_ms),
            actor=v.actor,
            detail=(
                f"{v.status}; range {celsius(low_v)} to {celsius(high_v)} °C;"
                f" budget {minutes(v.stability_budget_min)} min"
            ),
        )


def seal_where(change: SealChange) -> str:
    """Where a seal change happened against the authorised stops, in words."""
    was = f"was {change.previous}" if change.previous is not None else "first seal reading"
    if change.position is None:
        return f"{was}; position unknown (no fix within 5 min)"
    if change.at_stop is not None:
        return f"{was}; at authorised stop {change.at_stop}"
    if change.nearest_stop is not None and change.nearest_m is not None:
        far = metres(change.nearest_m)
        return f"{was}; outside every authorised stop, {far} from {change.nearest_stop}"
    return f"{was}; the manifest names no authorised stop"
