"""The release report as a PDF (ReportLab): what a QA person and a customs officer read.

Sections, in order: the header (shipment, device, organisation, profile, range, trip period,
generated at) and the manifest versions; the temperature statistics with MKT; the temperature
plot; the excursions; time out of range against the stability budget; the alerts with their
acknowledgements and whole timelines; the route map; the customs section (seal state changes
against the authorised stops, route deviations, unscheduled stops and zone entries, the risk
score over time); and a verdict section left blank for the QA person: the report states
facts, it does not release the lot. Every page's footer carries the evidence chain's head and
"page x of y". Long tables split across pages with their header row repeated.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from api.report_chain import chain_head_line
from api.report_csv import seal_where
from api.report_data import ReportData
from api.report_drawings import (
    RISK_FORM,
    ROUTE_FORM,
    TEMPERATURE_FORM,
    NamedForm,
    risk_plot,
    route_map,
    temperature_plot,
)
from api.report_format import celsius, degrees, minutes, percent, score, when

MARGIN: Final = 16 * mm
_STYLES: Final = getSampleStyleSheet()
H1: Final = ParagraphStyle("h1", parent=_STYLES["Heading1"], fontSize=15, spaceAfter=4)
H2: Final = ParagraphStyle(
    "h2", parent=_STYLES["Heading2"], fontSize=12, spaceBefore=8, keepWithNext=1
)
H3: Final = ParagraphStyle(
    "h3", parent=_STYLES["Heading3"], fontSize=9.5, spaceBefore=4, keepWithNext=1
)
BODY: Final = ParagraphStyle("body", parent=_STYLES["BodyText"], fontSize=8.5, leading=10.5)
CELL: Final = ParagraphStyle("cell", parent=BODY, fontSize=7.5, leading=9)
HEAD_CELL: Final = ParagraphStyle("headcell", parent=CELL, fontName="Helvetica-Bold")
_TABLE: Final = TableStyle(
    [
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.88, 0.90, 0.94)),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
)


def _p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    """A paragraph of plain text (never markup: summaries and comments come from people)."""
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]
) -> LongTable:
    """A table that splits across pages with its header repeated; every cell wraps.

    `widths` are in points, scaled to the page's usable width.
    """
    cells = [[_p(h, HEAD_CELL) for h in header]] + [[_p(c, CELL) for c in row] for row in rows]
    total = sum(widths)
    usable = A4[0] - 2 * MARGIN
    table = LongTable(cells, colWidths=[w / total * usable for w in widths], repeatRows=1)
    table.setStyle(_TABLE)
    return table


def _facts(rows: Sequence[tuple[str, str]]) -> LongTable:
    cells = [[_p(k, HEAD_CELL), _p(v, CELL)] for k, v in rows]
    usable = A4[0] - 2 * MARGIN
    table = LongTable(cells, colWidths=[0.28 * usable, 0.72 * usable])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


def _range(data: ReportData) -> str:
    if data.temp_range_c is None:
        return "none (the profile sets no temperature range)"
    low, high = data.temp_range_c
    return f"{celsius(low)} to {celsius(high)} °C"


def _header(data: ReportData) -> list[Flowable]:
    return [
        _p(f"Shipment release report: {data.shipment_id}", H1),
        _p(
            "This report states the facts CargoWatch recorded about the shipment. It does not "
            "release the lot: that decision is the QA person's, in the verdict section."
        ),
        Spacer(1, 4),
        _facts(
            [
                ("Shipment", data.shipment_id),
                ("Organisation", data.organisation),
                ("Device", data.device_id),
                ("Status", data.status),
                ("Profile", data.profile),
                ("Temperature range", _range(data)),
                ("Stability budget", f"{minutes(data.stability_budget_min)} min"),
                ("Seal id (manifest)", data.seal_id or "none"),
                (
                    "Trip period (manifest)",
                    f"departure {when(data.departure_ms) or 'not given'}, "
                    f"arrival {when(data.arrival_ms) or 'not given'}",
                ),
                (
                    "Readings",
                    f"{when(data.first_reading_ms) or 'none'} to {when(data.last_reading_ms)}"
                    f" (report window {when(data.window_start_ms)} to"
                    f" {when(data.window_end_ms)})",
                ),
                ("Generated at", when(data.generated_at_ms)),
                ("Evidence chain", chain_head_line(data.chain_head)),
            ]
        ),
        _p("Manifest versions", H3),
        _table(
            ["Version", "Saved at", "By", "Status", "Profile", "Range °C", "Budget min"],
            [
                [
                    str(v.version),
                    when(v.saved_at_ms),
                    v.actor,
                    v.status,
                    v.profile,
                    (
                        f"{celsius(v.temp_range_c[0])} to {celsius(v.temp_range_c[1])}"
                        if v.temp_range_c is not None
                        else "none"
                    ),
                    minutes(v.stability_budget_min),
                ]
                for v in data.versions
            ],
            [40, 90, 130, 60, 75, 65, 45],
        ),
    ]


def _temperature(data: ReportData) -> list[Flowable]:
    s = data.stats
    return [
        _p("Temperature statistics", H2),
        _facts(
            [
                (
                    "Readings",
                    f"{s.readings} (left out as implausible probe values: {s.implausible})",
                ),
                ("Minimum", f"{celsius(s.min_c)} °C"),
                ("Maximum", f"{celsius(s.max_c)} °C"),
                ("Mean (time-weighted)", f"{celsius(s.mean_c)} °C"),
                ("MKT (mean kinetic temperature)", f"{celsius(s.mkt_c)} °C"),
                ("Time covered by readings", f"{minutes(s.covered_min)} min"),
            ]
        ),
        _p(
            # Helvetica has no Greek letters or summation sign: the formula is spelt in words.
            "MKT = (dH/R) / -ln(sum(w * exp(-(dH/R) / T)) / sum(w)) - 273.15, with dH/R = "
            "83.144 kJ/mol / 8.3144 J/mol/K = 10,000 K, T each reading in kelvin and w its "
            "weight: the time to the next reading, at most "
            f"{minutes(data.max_step_s / 60)} min (the stability budget's own rule). The mean "
            "is weighted the same way."
        ),
        KeepTogether(
            [
                _p("Temperature over the trip", H3),
                NamedForm(TEMPERATURE_FORM, temperature_plot(data)),
            ]
        ),
        _p(
            "Green band: the range. Red shading: excursions. Long trips are drawn with each "
            "time bucket's lowest and highest reading, so peaks are kept.",
            CELL,
        ),
    ]


def _excursions(data: ReportData) -> list[Flowable]:
    out: list[Flowable] = [_p("Excursions", H2)]
    if data.temp_range_c is None:
        return [*out, _p("The profile sets no temperature range: nothing to be outside of.")]
    if not data.excursions:
        out.append(_p("No reading was outside the range."))
    else:
        out.append(
            _table(
                [
                    "#",
                    "Start",
                    "End",
                    "Minutes",
                    "Side",
                    "Peak °C",
                    "Peak at",
                    "Beyond °C",
                    "Count",
                ],
                [
                    [
                        str(n),
                        when(e.start_ms),
                        when(e.end_ms) + ("" if e.ended else " (still out)"),
                        minutes(e.minutes),
                        e.side,
                        celsius(e.peak_c),
                        when(e.peak_at_ms),
                        celsius(e.beyond_c),
                        str(e.readings),
                    ]
                    for n, e in enumerate(data.excursions, 1)
                ],
                [20, 90, 90, 42, 38, 40, 90, 45, 45],
            )
        )
    b = data.budget
    if b is not None:
        out += [
            _p("Time out of range against the stability budget", H2),
            _facts(
                [
                    ("Time out of range", f"{minutes(b.out_min)} min"),
                    ("Stability budget", f"{minutes(b.budget_min)} min"),
                    ("Budget used", f"{percent(b.used_pct)} %"),
                    ("Budget exceeded", "yes" if b.exceeded else "no"),
                ]
            ),
        ]
    return out


def _alerts(data: ReportData) -> list[Flowable]:
    out: list[Flowable] = [_p("Alerts", H2)]
    if not data.alerts:
        return [*out, _p("No alert was raised on this shipment.")]
    out.append(
        _table(
            ["Alert", "Kind", "Severity", "State", "Opened\nresolved", "Summary"],
            [
                [
                    a.alert_id,
                    a.kind,
                    a.severity,
                    a.state,
                    f"{when(a.opened_at_ms)}\n{when(a.resolved_at_ms)}",
                    a.summary,
                ]
                for a in data.alerts
            ],
            [85, 75, 42, 62, 90, 150],
        )
    )
    acks = [(a, e) for a in data.alerts for e in a.acknowledgements]
    out.append(_p("Acknowledgements", H3))
    out.append(
        _table(
            ["Alert", "Acknowledged by", "At", "Comment"],
            [[a.alert_id, e.actor, when(e.at_ms), e.comment or ""] for a, e in acks],
            [110, 120, 90, 185],
        )
        if acks
        else _p("No alert was acknowledged.")
    )
    out.append(_p("Alert timelines", H3))
    for a in data.alerts:
        out.append(_p(f"{a.alert_id} ({a.kind})", CELL))
        out.append(
            _table(
                ["At", "Action", "By", "Severity", "Comment or summary"],
                [
                    [
                        when(e.at_ms),
                        e.action,
                        e.actor,
                        e.severity,
                        e.comment if e.comment is not None else e.summary,
                    ]
                    for e in a.history
                ],
                [90, 45, 120, 45, 205],
            )
        )
        out.append(Spacer(1, 3))
    return out


def _customs(data: ReportData) -> list[Flowable]:
    out: list[Flowable] = [
        KeepTogether([_p("Route map", H2), NamedForm(ROUTE_FORM, route_map(data))]),
        _p("Customs: seal state changes", H2),
    ]
    out.append(
        _table(
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
        else _p("No seal state was recorded.")
    )
    out.append(_p("Customs: route deviations, unscheduled stops, restricted zones", H2))
    out.append(
        _table(
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
        else _p("None was raised.")
    )
    out += [
        KeepTogether(
            [
                _p("Customs: risk score over time", H2),
                NamedForm(RISK_FORM, risk_plot(data.risk, data.window_end_ms)),
            ]
        ),
        _table(
            ["From", "Risk score (0-100)", "Unresolved alerts"],
            [[when(r.at_ms), score(r.score), str(r.open_alerts)] for r in data.risk],
            [200, 150, 155],
        ),
    ]
    return out


def _verdict() -> list[Flowable]:
    lines = [
        ("Decision (release / reject / investigate)", ""),
        ("Reasons", "\n\n\n"),
        ("Name", ""),
        ("Role", ""),
        ("Date", ""),
        ("Signature", ""),
    ]
    usable = A4[0] - 2 * MARGIN
    table = LongTable(
        [[_p(k, HEAD_CELL), ""] for k, _ in lines],
        colWidths=[0.35 * usable, 0.65 * usable],
        rowHeights=[22, 70, 22, 22, 22, 30],
    )
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    return [
        KeepTogether(
            [
                _p("Verdict (for the QA person)", H2),
                _p(
                    "Left blank on purpose: CargoWatch records and reports; the release of the "
                    "lot is decided and signed here by the person responsible."
                ),
                Spacer(1, 4),
                table,
            ]
        )
    ]


def _numbered_canvas(footer_left: str, chain_head: str) -> type[Canvas]:
    """A canvas that holds its pages back so each footer can say "page x of y"."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802  (ReportLab's name, overridden)
            # Keep the page's state instead of writing it: its footer needs the page count.
            self._pages.append(dict(self.__dict__))
            self._startPage()  # type: ignore[attr-defined]  # ReportLab's own page reset

        def save(self) -> None:
            total = len(self._pages)
            for n, state in enumerate(self._pages, 1):
                self.__dict__.update(state)
                self._footer(n, total)
                super().showPage()
            super().save()

        def _footer(self, n: int, total: int) -> None:
            self.saveState()
            self.setFont("Helvetica", 7)
            self.setFillColor(colors.black)
            width = A4[0]
            self.line(MARGIN, 12 * mm, width - MARGIN, 12 * mm)
            self.drawString(MARGIN, 8 * mm, footer_left)
            self.drawRightString(width - MARGIN, 8 * mm, f"page {n} of {total}")
            self.setFont("Courier", 6.5)
            self.drawString(MARGIN, 4.5 * mm, chain_head)
            self.restoreState()

    return NumberedCanvas


def render_pdf(data: ReportData) -> bytes:
    """The report's PDF bytes."""
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=f"Shipment release report {data.shipment_id}",
        author="CargoWatch",
        subject=f"{data.organisation} / {data.shipment_id} / {data.device_id}",
    )
    story: list[Flowable] = [
        *_header(data),
        *_temperature(data),
        *_excursions(data),
        *_alerts(data),
        *_customs(data),
        *_verdict(),
    ]
    footer = f"{data.shipment_id} release report, generated {when(data.generated_at_ms)}"
    doc.build(story, canvasmaker=_numbered_canvas(footer, chain_head_line(data.chain_head)))
    return out.getvalue()
