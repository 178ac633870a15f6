"""The release report's layout: the CSV's columns and sections are the ones docs/reports.md
documents, and a long trip's PDF keeps its footers, its tables and its plot small."""

from __future__ import annotations

import io
import re
from pathlib import Path

from pypdf import PdfReader
from report_checks import plot_form

from api.report_alerts import AlertRecord, HistoryEntry, RiskPoint
from api.report_csv import COLUMNS, report_rows
from api.report_data import ManifestVersion, ReportData
from api.report_drawings import PLOT_POINTS
from api.report_pdf import render_pdf
from api.report_stats import budget_use, excursions, temperature_stats
from api.report_telemetry import Fix, SealChange
from detectors.profiles import Place

DOC = Path(__file__).resolve().parents[3] / "docs" / "reports.md"
T0 = 1_763_800_000_000
MIN = 60_000


def long_trip(readings: int = 20_000, alerts: int = 60) -> ReportData:
    """A trip of `readings` five-minute readings with two excursions and many alerts."""
    temps = [(T0 + i * 5 * MIN, 5.0 + (i % 40) / 20) for i in range(readings)]
    spike, cold = readings // 4, readings // 2
    temps[spike] = (temps[spike][0], 11.5)  # one short spike: the peak the plot must keep
    temps[cold : cold + 10] = [(at, 1.0) for at, _ in temps[cold : cold + 10]]
    track = tuple(Fix(at, 39.66 - i * 1e-4, -4.04 + i * 1e-4) for i, (at, _) in enumerate(temps))
    found = excursions(temps, 2.0, 8.0, 900)
    history = (
        HistoryEntry(T0, "detector", "open", "warning", "out of range", None, None),
        HistoryEntry(T0 + MIN, "qa@ACME (key k1)", "ack", "warning", "out", "on hold", None),
    )
    return ReportData(
        shipment_id="SHP-LONG",
        organisation="ACME",
        device_id="trk-long",
        status="delivered",
        profile="vaccine_2_8",
        temp_range_c=(2.0, 8.0),
        stability_budget_min=120.0,
        max_step_s=900.0,
        departure_ms=T0,
        arrival_ms=temps[-1][0],
        window_start_ms=T0,
        window_end_ms=temps[-1][0],
        first_reading_ms=T0,
        last_reading_ms=temps[-1][0],
        generated_at_ms=temps[-1][0] + MIN,
        chain_head="ab" * 32,
        temperatures=tuple(temps),
        stats=temperature_stats(temps, 900),
        excursions=tuple(found),
        budget=budget_use(found, 120.0),
        track=track,
        route=((39.66, -4.04), (37.66, -2.04)),
        stops=(Place("Depot", 39.66, -4.04, 500),),
        zones=(),
        seal_id="ES-1",
        seal_changes=(
            SealChange(T0, "closed", None, "ES-1", track[0], "Depot", "Depot", 0.0),
            SealChange(T0 + MIN, "open", "closed", "ES-1", None, None, None, None),
        ),
        alerts=tuple(
            AlertRecord(
                f"al_{n}",
                "unscheduled_stop" if n % 2 else "temp_excursion",
                "warning",
                "acknowledged",
                T0 + n * MIN,
                None,
                "summary",
                track[n],
                history,
            )
            for n in range(alerts)
        ),
        risk=(RiskPoint(T0, 0.0, 0), RiskPoint(T0 + MIN, 21.0, 1)),
        versions=(ManifestVersion(1, "delivered", "setup", T0, "vaccine_2_8", (2.0, 8.0), 120.0),),
    )


def _table_after(heading: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    after = text[text.index(heading) :]
    lines = [line for line in after.splitlines() if line.startswith("|")]
    table: list[list[str]] = []
    for line in after.splitlines()[after.splitlines().index(lines[0]) :]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    return [row for row in table if not set("".join(row)) <= set("-: ")]


def test_the_documented_columns_are_the_csvs_columns() -> None:
    header, *rows = _table_after("Every row has the same columns")
    named = [n for row in rows for n in re.findall(r"`([a-z_]+)`", row[0])]
    assert header[0] == "Column" and tuple(named) == COLUMNS


def test_every_section_the_csv_writes_is_documented_and_in_the_documented_order() -> None:
    _, *rows = _table_after("| `section` | One row per")
    documented = [re.findall(r"`([a-z_]+)`", row[0])[0] for row in rows]
    written = list(dict.fromkeys(row["section"] for row in report_rows(long_trip(200, 4))))
    assert written == documented


def test_a_long_trip_keeps_footers_on_every_page_and_its_plot_small() -> None:
    data = long_trip()
    reader = PdfReader(io.BytesIO(render_pdf(data)))
    pages = reader.pages
    assert len(pages) > 2  # the alert tables ran over several pages
    for n, page in enumerate(pages, 1):
        text = " ".join(page.extract_text().split())
        assert f"page {n} of {len(pages)}" in text and f"chain head: {'ab' * 32}" in text
    (form,) = [form for page in pages if (form := plot_form(page)) is not None]
    drawn = form.get_data().count(b" l\n") + form.get_data().count(b" l ")
    assert 0 < drawn <= PLOT_POINTS + 50  # the grid's few lines besides the readings'
    whole = " ".join(" ".join(p.extract_text().split()) for p in pages)
    assert "11.50" in whole  # the spike is the maximum and is stated
