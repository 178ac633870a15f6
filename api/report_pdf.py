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

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    LongTable,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from api.report_chain import chain_head_line
from api.report_data import ReportData
from api.report_drawings import (
    TEMPERATURE_FORM,
    NamedForm,
    temperature_plot,
)
from api.report_format import celsius, minutes, percent, when
from api.report_pdf_customs import customs_section
from api.report_pdf_layout import (
    CAPTION,
    CELL,
    H1,
    H2,
    H3,
    HEAD_CELL,
    MARGIN,
    facts,
    numbered_canvas,
    para,
    table,
)


def _range(data: ReportData) -> str:
    if data.temp_range_c is None:
        return "none (the profile sets no temperature range)"
    low, high = data.temp_range_c
    return f"{celsius(low)} to {celsius(high)} °C"


def _probe(data: ReportData) -> str:
    if data.product_lag_min is None:
        return "in the product"
    return (
        "in the air: every temperature figure of this report is of the product simulated from"
        f" it, with a time constant of {minutes(data.product_lag_min)} min"
    )


def _header(data: ReportData) -> list[Flowable]:
    return [
        para(f"Shipment release report: {data.shipment_id}", H1),
        para(
            "This report states the facts CargoWatch recorded about the shipment. It does not "
            "release the lot: that decision is the QA person's, in the verdict section."
        ),
        Spacer(1, 4),
        facts(
            [
                ("Shipment", data.shipment_id),
                ("Organisation", data.organisation),
                ("Device", data.device_id),
                ("Status", data.status),
                ("Profile", data.profile),
                ("Temperature range", _range(data)),
                ("Stability budget", f"{minutes(data.stability_budget_min)} min"),
                ("Probe", _probe(data)),
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
        para("Manifest versions", H3),
        table(
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
        para("Temperature statistics", H2),
        facts(
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
        para(
            # Helvetica has no Greek letters or summation sign: the formula is spelt in words.
            "MKT = (dH/R) / -ln(sum(w * exp(-(dH/R) / T)) / sum(w)) - 273.15, with dH/R = "
            "83.144 kJ/mol / 8.3144 J/mol/K = 10,000 K, T each reading in kelvin and w its "
            "weight: the time to the next reading, at most "
            f"{minutes(data.max_step_s / 60)} min (the stability budget's own rule). The mean "
            "is weighted the same way."
        ),
        KeepTogether(
            [
                para("Temperature over the trip", H3),
                NamedForm(TEMPERATURE_FORM, temperature_plot(data)),
            ]
        ),
        para(
            "Green band: the range. Red shading: excursions. Long trips are drawn with each "
            "time bucket's lowest and highest reading, so peaks are kept.",
            CELL,
        ),
    ]


def _excursions(data: ReportData) -> list[Flowable]:
    out: list[Flowable] = [para("Excursions", H2)]
    if data.temp_range_c is None:
        return [*out, para("The profile sets no temperature range: nothing to be outside of.")]
    if not data.excursions:
        out.append(para("No reading was outside the range."))
    else:
        out.append(
            table(
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
            para("Time out of range against the stability budget", H2),
            facts(
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
    out: list[Flowable] = [para("Alerts", H2)]
    if not data.alerts:
        return [*out, para("No alert was raised on this shipment.")]
    out.append(
        table(
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
    out.append(para("Acknowledgements", H3))
    out.append(
        table(
            ["Alert", "Acknowledged by", "At", "Comment"],
            [[a.alert_id, e.actor, when(e.at_ms), e.comment or ""] for a, e in acks],
            [110, 120, 90, 185],
        )
        if acks
        else para("No alert was acknowledged.")
    )
    out.append(para("Alert timelines", H3))
    for a in data.alerts:
        out.append(para(f"{a.alert_id} ({a.kind})", CAPTION))
        out.append(
            table(
                ["At", "Action", "By", "Severity", "Comment or summary"],
                [
                    [
                        when(e.at_ms),
                        e.action,
                        e.actor,
                        e.severity,
                        e.comment or e.summary,
                    ]
                    for e in a.history
                ],
                [90, 45, 120, 45, 205],
            )
        )
        out.append(Spacer(1, 3))
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
        [[para(k, HEAD_CELL), ""] for k, _ in lines],
        colWidths=[0.35 * usable, 0.65 * usable],
        rowHeights=[22, 70, 22, 22, 22, 30],
    )
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    return [
        KeepTogether(
            [
                para("Verdict (for the QA person)", H2),
                para(
                    "Left blank on purpose: CargoWatch records and reports; the release of the "
                    "lot is decided and signed here by the person responsible."
                ),
                Spacer(1, 4),
                table,
            ]
        )
    ]


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
        *customs_section(data),
        *_verdict(),
    ]
    footer = f"{data.shipment_id} release report, generated {when(data.generated_at_ms)}"
    doc.build(story, canvasmaker=numbered_canvas(footer, chain_head_line(data.chain_head)))
    return out.getvalue()
