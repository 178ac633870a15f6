"""The release report's page layout: styles, wrapping tables, and footers that count pages.

Tables split across pages with their header row repeated, and every cell is a paragraph of
plain text (never markup: summaries and comments are people's words), so long text wraps
instead of running off the page. The footer of every page names the shipment, says "page x of
y" and carries the evidence chain's head; the page count is known only once the last page is
laid out, so the canvas holds pages back until then (`numbered_canvas`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import LongTable, Paragraph, TableStyle

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
#: A line naming the table below it, kept on the same page as the table.
CAPTION: Final = ParagraphStyle("caption", parent=CELL, keepWithNext=1)
_TABLE: Final = TableStyle(
    [
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.88, 0.90, 0.94)),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
)


def para(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    """A paragraph of plain text (never markup: summaries and comments come from people)."""
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]
) -> LongTable:
    """A table that splits across pages with its header repeated; every cell wraps.

    `widths` are in points, scaled to the page's usable width.
    """
    cells = [[para(h, HEAD_CELL) for h in header]] + [[para(c, CELL) for c in row] for row in rows]
    total = sum(widths)
    usable = A4[0] - 2 * MARGIN
    grid = LongTable(cells, colWidths=[w / total * usable for w in widths], repeatRows=1)
    grid.setStyle(_TABLE)
    return grid


def facts(rows: Sequence[tuple[str, str]]) -> LongTable:
    cells = [[para(k, HEAD_CELL), para(v, CELL)] for k, v in rows]
    usable = A4[0] - 2 * MARGIN
    grid = LongTable(cells, colWidths=[0.28 * usable, 0.72 * usable])
    grid.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return grid


def numbered_canvas(footer_left: str, chain_head: str) -> type[Canvas]:
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
