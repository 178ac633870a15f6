"""The release report's customs pages: the route map, seal state changes against the authorised
stops, route deviations, unscheduled stops and zone entries, and the risk score over time.
"""

from __future__ import annotations

from reportlab.platypus import Flowable, KeepTogether

from api.report_csv import seal_where
from api.report_data import ReportData
from api.report_drawings import RISK_FORM, ROUTE_FORM, NamedForm, risk_plot, route_map
from api.report_format import degrees, score, when
from api.report_pdf_layout import H2, para, table


def customs_section(data: ReportData) -> list[Flowable]:
    """The route map and the customs findings, in that order."""
    out: list[Flowable] = [
        KeepTogether([para("Route map", H2), NamedForm(ROUTE_FORM, route_map(data))]),
        para("Customs: seal state changes", H2),
    ]
    out.append(
        table(
            ["At", "Seal", "Seal id", "Lat", "Lon", "Where, against the authorised stops"],
            [
                [
                    when(c.at_ms),
                    c.seal,
                    c.seal_id or data.seal_id or "",
                    degrees(c.position.lat) if c.position else "",
                    degrees(c.position.lon) if c.position else "",
                    seal_where(c),
                ]
                for c in data.seal_changes
            ],
            [90, 45, 60, 48, 48, 214],
        )
        if data.seal_changes
        else para("No seal state was recorded.")
    )
    out.append(para("Customs: route deviations, unscheduled stops, restricted zones", H2))
    out.append(
        table(
            ["Alert", "Kind", "Opened\nresolved", "Lat", "Lon", "Summary"],
            [
                [
                    a.alert_id,
                    a.kind,
                    f"{when(a.opened_at_ms)}\n{when(a.resolved_at_ms)}",
                    degrees(a.position.lat) if a.position else "",
                    degrees(a.position.lon) if a.position else "",
                    a.summary,
                ]
                for a in data.customs_alerts
            ],
            [85, 75, 90, 48, 48, 159],
        )
        if data.customs_alerts
        else para("None was raised.")
    )
    out += [
        KeepTogether(
            [
                para("Customs: risk score over time", H2),
                NamedForm(RISK_FORM, risk_plot(data.risk, data.window_end_ms)),
            ]
        ),
        table(
            ["From", "Risk score (0-100)", "Unresolved alerts"],
            [[when(r.at_ms), score(r.score), str(r.open_alerts)] for r in data.risk],
            [200, 150, 155],
        ),
    ]
    return out
