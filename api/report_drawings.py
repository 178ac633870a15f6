"""The release report's two pictures as ReportLab vector drawings: the temperature plot and the
route map.

The plot draws the product's range as a band, every excursion shaded over its whole duration,
and the readings as one line, downsampled for long trips so that each time bucket keeps its
lowest and highest reading (`api.report_stats.plot_points`): a short excursion's peak survives
a month on one page. The map is a plain equirectangular projection (longitude scaled by the
cosine of the middle latitude, which is true to a few per cent over a region): planned route,
travelled track, authorised stops, restricted zones, seal state changes and where route and
stop alerts were raised. Both are drawn inside a named PDF form (`NamedForm`), so the
document says where each picture is and a reader can find it again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final, Literal

from reportlab.graphics import renderPDF
from reportlab.graphics.shapes import Circle, Drawing, Group, Line, Polygon, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.platypus import Flowable

from api.report_alerts import RiskPoint
from api.report_data import ReportData
from api.report_stats import TempPoint, plot_points
from api.report_telemetry import Fix

#: Most readings drawn on the temperature plot; beyond, buckets keep their extremes.
PLOT_POINTS: Final = 1200
#: Most track fixes drawn on the map (every n-th, always the first and last).
MAP_POINTS: Final = 1500
#: The names of the PDF forms the pictures are drawn in (``/FormXob.<name>`` in the file).
TEMPERATURE_FORM: Final = "TemperaturePlot"
ROUTE_FORM: Final = "RouteMap"
RISK_FORM: Final = "RiskPlot"

BAND: Final = colors.Color(0.80, 0.93, 0.80)
EXCURSION: Final = colors.Color(1.0, 0.80, 0.80)
LINE: Final = colors.Color(0.10, 0.25, 0.65)
GRID: Final = colors.Color(0.85, 0.85, 0.85)
_FONT: Final = "Helvetica"


class NamedForm(Flowable):
    """A drawing placed as a named PDF form XObject rather than inline in the page."""

    def __init__(self, name: str, drawing: Drawing) -> None:
        super().__init__()
        self.name = name
        self.drawing = drawing
        self.width = float(drawing.width)
        self.height = float(drawing.height)

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        canvas = self.canv
        if not canvas.hasForm(self.name):
            canvas.beginForm(self.name, 0, 0, self.width, self.height)
            renderPDF.draw(self.drawing, canvas, 0, 0)
            canvas.endForm()
        canvas.doForm(self.name)


def _rect(
    x: float,
    y: float,
    width: float,
    height: float,
    fill: colors.Color | None,
    stroke: colors.Color | None,
    stroke_width: float = 0.5,
) -> Rect:
    # Colours set after construction: the stubs type Rect's keyword arguments wrongly.
    rect = Rect(x, y, width, height)
    rect.fillColor = fill
    rect.strokeColor = stroke
    rect.strokeWidth = stroke_width
    return rect


def _nice_step(span: float, ticks: int) -> float:
    """A 1, 2 or 5 times a power of ten step giving about `ticks` divisions of `span`."""
    raw = span / max(ticks, 1)
    power = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def _time_label(ms: float, span_ms: float) -> str:
    at = datetime.fromtimestamp(ms / 1000, UTC)
    return at.strftime("%d %b %H:%M") if span_ms <= 3 * 86_400_000 else at.strftime("%d %b")


def temperature_plot(data: ReportData, width: float = 480, height: float = 220) -> Drawing:
    """The trip's temperatures over the band of the range, excursions shaded."""
    d = Drawing(width, height)
    left, bottom, right, top = 42.0, 30.0, width - 8, height - 10
    points = plot_points(data.temperatures, PLOT_POINTS)
    t0 = data.first_reading_ms if data.first_reading_ms is not None else data.window_start_ms
    t1 = data.last_reading_ms if data.last_reading_ms is not None else data.window_end_ms
    if t1 <= t0:
        t1 = t0 + 60_000
    temps = [t for _, t in points]
    bounds: list[float] = [*temps, *(data.temp_range_c or ())] or [0.0, 10.0]
    lo, hi = min(bounds), max(bounds)
    pad = max((hi - lo) * 0.08, 0.5)
    lo, hi = lo - pad, hi + pad

    def x(ms: float) -> float:
        return left + (ms - t0) / (t1 - t0) * (right - left)

    def y(c: float) -> float:
        return bottom + (c - lo) / (hi - lo) * (top - bottom)

    d.add(_rect(left, bottom, right - left, top - bottom, None, GRID))
    if data.temp_range_c is not None:
        low, high = data.temp_range_c
        d.add(_rect(left, y(low), right - left, y(high) - y(low), BAND, None))
    for e in data.excursions:
        x0, x1 = x(max(e.start_ms, t0)), x(min(e.end_ms, t1))
        d.add(_rect(x0, bottom, max(x1 - x0, 1.0), top - bottom, EXCURSION, None))
    step = _nice_step(hi - lo, 6)
    tick = math.ceil(lo / step) * step
    while tick <= hi:
        d.add(Line(left, y(tick), right, y(tick), strokeColor=GRID, strokeWidth=0.3))
        d.add(
            String(left - 4, y(tick) - 3, f"{tick:g}", fontName=_FONT, fontSize=7, textAnchor="end")
        )
        tick += step
    anchors: tuple[Literal["start", "middle", "end"], ...] = (
        "start",
        "middle",
        "middle",
        "middle",
        "end",
    )
    for i, anchor in enumerate(anchors):
        ms = t0 + (t1 - t0) * i / 4
        d.add(
            String(
                x(ms),
                bottom - 12,
                _time_label(ms, t1 - t0),
                fontName=_FONT,
                fontSize=7,
                textAnchor=anchor,
            )
        )
    d.add(String(4, (top + bottom) / 2, "°C", fontName=_FONT, fontSize=8))
    if len(points) >= 2:
        coords = [v for at, t in points for v in (x(at), y(t))]
        d.add(PolyLine(coords, strokeColor=LINE, strokeWidth=0.8))
    elif points:
        d.add(Circle(x(points[0][0]), y(points[0][1]), 1.5, fillColor=LINE, strokeColor=None))
    else:
        d.add(
            String(
                (left + right) / 2,
                (top + bottom) / 2,
                "no temperature readings",
                fontName=_FONT,
                fontSize=9,
                textAnchor="middle",
            )
        )
    return d


def plotted_points(data: ReportData) -> list[TempPoint]:
    """The readings the temperature plot draws, in its order (for checks)."""
    return plot_points(data.temperatures, PLOT_POINTS)


def risk_plot(
    risk: Sequence[RiskPoint], end_ms: int, width: float = 480, height: float = 110
) -> Drawing:
    """The customs risk score as a step line from 0 to 100 over the trip."""
    d = Drawing(width, height)
    left, bottom, right, top = 42.0, 22.0, width - 8, height - 8
    t0 = risk[0].at_ms if risk else end_ms - 60_000
    t1 = max(end_ms, t0 + 60_000, *(r.at_ms for r in risk))

    def x(ms: float) -> float:
        return left + (ms - t0) / (t1 - t0) * (right - left)

    def y(v: float) -> float:
        return bottom + v / 100 * (top - bottom)

    d.add(_rect(left, bottom, right - left, top - bottom, None, GRID))
    for v in (0, 50, 100):
        d.add(String(left - 4, y(v) - 3, str(v), fontName=_FONT, fontSize=7, textAnchor="end"))
    for i in (0, 4):
        ms = t0 + (t1 - t0) * i / 4
        anchor: Literal["start", "end"] = "start" if i == 0 else "end"
        d.add(
            String(
                x(ms),
                bottom - 12,
                _time_label(ms, t1 - t0),
                fontName=_FONT,
                fontSize=7,
                textAnchor=anchor,
            )
        )
    coords: list[float] = []
    for i, r in enumerate(risk):
        nxt = risk[i + 1].at_ms if i + 1 < len(risk) else t1
        coords += [x(r.at_ms), y(r.score), x(nxt), y(r.score)]
    if coords:
        d.add(PolyLine(coords, strokeColor=colors.Color(0.7, 0.1, 0.1), strokeWidth=0.9))
    return d


def _thin(fixes: Sequence[Fix], most: int) -> list[Fix]:
    if len(fixes) <= most:
        return list(fixes)
    stride = math.ceil(len(fixes) / most)
    return [*fixes[::stride], fixes[-1]]


def route_map(data: ReportData, width: float = 480, height: float = 300) -> Drawing:
    """Planned route, track, authorised stops, zones, seal changes and route/stop alerts."""
    d = Drawing(width, height)
    track = _thin(data.track, MAP_POINTS)
    seals = [c for c in data.seal_changes if c.position is not None]
    alerts = [a for a in data.customs_alerts if a.position is not None]
    lons = [
        *(p[0] for p in data.route),
        *(f.lon for f in track),
        *(s.lon for s in data.stops),
        *(v[0] for z in data.zones for v in z.ring),
    ]
    lats = [
        *(p[1] for p in data.route),
        *(f.lat for f in track),
        *(s.lat for s in data.stops),
        *(v[1] for z in data.zones for v in z.ring),
    ]
    box_l, box_b, box_r, box_t = 8.0, 22.0, width - 8, height - 8
    d.add(_rect(box_l, box_b, box_r - box_l, box_t - box_b, None, GRID))
    if not lons:
        d.add(
            String(
                width / 2,
                height / 2,
                "no route and no positions",
                fontName=_FONT,
                fontSize=9,
                textAnchor="middle",
            )
        )
        return d
    mid_lat = (min(lats) + max(lats)) / 2
    k = max(math.cos(math.radians(mid_lat)), 0.05)
    span_x = max((max(lons) - min(lons)) * k, 1e-4)
    span_y = max(max(lats) - min(lats), 1e-4)
    scale = min((box_r - box_l - 20) / span_x, (box_t - box_b - 20) / span_y)
    cx, cy = (box_l + box_r) / 2, (box_b + box_t) / 2
    mid_lon = (min(lons) + max(lons)) / 2

    def px(lon: float, lat: float) -> tuple[float, float]:
        return cx + (lon - mid_lon) * k * scale, cy + (lat - mid_lat) * scale

    for z in data.zones:
        ring = [v for lon, lat in z.ring for v in px(lon, lat)]
        d.add(
            Polygon(
                ring, fillColor=colors.Color(1, 0.85, 0.85), strokeColor=colors.red, strokeWidth=0.5
            )
        )
        zx, zy = px(*z.ring[0])
        d.add(String(zx, zy + 3, z.name, fontName=_FONT, fontSize=6, fillColor=colors.red))
    if len(data.route) >= 2:
        d.add(
            PolyLine(
                [v for p in data.route for v in px(*p)],
                strokeColor=colors.grey,
                strokeWidth=1.5,
                strokeDashArray=[4, 3],
            )
        )
    if len(track) >= 2:
        d.add(
            PolyLine(
                [v for f in track for v in px(f.lon, f.lat)], strokeColor=LINE, strokeWidth=0.9
            )
        )
    for s in data.stops:
        sx, sy = px(s.lon, s.lat)
        r = max(s.radius_m / 111_320 * scale, 3.0)
        d.add(Circle(sx, sy, r, fillColor=None, strokeColor=colors.green, strokeWidth=1))
        d.add(
            String(
                sx + r + 2, sy - 2, s.name, fontName=_FONT, fontSize=6, fillColor=colors.darkgreen
            )
        )
    seal_colour = {"closed": colors.green, "open": colors.orange, "tampered": colors.red}
    for c in seals:
        assert c.position is not None
        sx, sy = px(c.position.lon, c.position.lat)
        d.add(
            _rect(sx - 2.5, sy - 2.5, 5, 5, seal_colour.get(c.seal, colors.grey), colors.black, 0.3)
        )
    for a in alerts:
        assert a.position is not None
        ax, ay = px(a.position.lon, a.position.lat)
        g = Group(
            Line(ax - 3, ay - 3, ax + 3, ay + 3, strokeColor=colors.purple, strokeWidth=1.2),
            Line(ax - 3, ay + 3, ax + 3, ay - 3, strokeColor=colors.purple, strokeWidth=1.2),
        )
        d.add(g)
    d.add(
        String(
            box_l,
            6,
            "dashed grey: planned route   blue: track   green circles: authorised stops   "
            "squares: seal changes (green closed, orange open, red tampered)   "
            "purple x: route/stop alerts",
            fontName=_FONT,
            fontSize=5.5,
        )
    )
    return d
