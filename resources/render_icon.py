"""Draw the tradedeck icon: writes tradedeck.svg and renders tradedeck-256.png / tradedeck-64.png.

The geometry lives here once, so the SVG and the PNGs cannot drift apart. The PNGs are rendered
from the SVG with QtSvg; if a PySide6 build lacks QtSvg, the same geometry is painted with QPainter.
Run it after changing the design: `.venv/bin/python resources/render_icon.py`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZE = 256  # design grid; the SVG viewBox is 0 0 SIZE SIZE
RADIUS = 52
BG_TOP = "#1f2937"
BG_BOTTOM = "#0b0f17"
BORDER = "#334155"
GRID = "#94a3b8"
GRID_OPACITY = 0.14
UP = "#22c55e"
DOWN = "#ef4444"
TREND = "#38bdf8"
PNG_SIZES = (256, 64)


@dataclass(frozen=True)
class Candle:
    """One candlestick in design units (y grows downwards, like SVG and Qt)."""

    x: float  # centre
    high: float
    low: float
    open: float
    close: float

    @property
    def up(self) -> bool:
        return self.close < self.open  # a higher price sits higher, i.e. a smaller y

    @property
    def body(self) -> tuple[float, float]:
        return min(self.open, self.close), max(self.open, self.close)


BODY_W = 26.0
WICK_W = 5.0
CANDLES = (
    Candle(x=58, high=150, low=206, open=194, close=164),
    Candle(x=99, high=128, low=190, open=142, close=174),
    Candle(x=140, high=104, low=176, open=162, close=116),
    Candle(x=181, high=94, low=150, open=108, close=134),
    Candle(x=218, high=44, low=128, open=118, close=62),
)
GRID_Y = (84.0, 128.0, 172.0)
TREND_POINTS = ((40.0, 186.0), (99.0, 160.0), (140.0, 132.0), (181.0, 120.0), (218.0, 60.0))


def svg_text() -> str:
    """The icon as a standalone SVG document."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" '
        f'viewBox="0 0 {SIZE} {SIZE}">',
        "  <title>tradedeck</title>",
        "  <defs>",
        '    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">',
        f'      <stop offset="0" stop-color="{BG_TOP}"/>',
        f'      <stop offset="1" stop-color="{BG_BOTTOM}"/>',
        "    </linearGradient>",
        "  </defs>",
        f'  <rect x="4" y="4" width="{SIZE - 8}" height="{SIZE - 8}" rx="{RADIUS}" '
        f'fill="url(#bg)" stroke="{BORDER}" stroke-width="4"/>',
    ]
    for y in GRID_Y:
        parts.append(
            f'  <line x1="28" y1="{y:g}" x2="{SIZE - 28}" y2="{y:g}" stroke="{GRID}" '
            f'stroke-opacity="{GRID_OPACITY}" stroke-width="2"/>'
        )
    points = " ".join(f"{x:g},{y:g}" for x, y in TREND_POINTS)
    parts.append(
        f'  <polyline points="{points}" fill="none" stroke="{TREND}" stroke-opacity="0.55" '
        'stroke-width="4" stroke-linecap="round" stroke-linejoin="round"/>'
    )
    for c in CANDLES:
        colour = UP if c.up else DOWN
        top, bottom = c.body
        parts.append(
            f'  <line x1="{c.x:g}" y1="{c.high:g}" x2="{c.x:g}" y2="{c.low:g}" '
            f'stroke="{colour}" stroke-width="{WICK_W:g}" stroke-linecap="round"/>'
        )
        parts.append(
            f'  <rect x="{c.x - BODY_W / 2:g}" y="{top:g}" width="{BODY_W:g}" '
            f'height="{bottom - top:g}" rx="4" fill="{colour}"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _paint_with_qpainter(painter: object) -> None:
    """Fallback: the same geometry drawn with QPainter (for a PySide6 without QtSvg)."""
    from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
    from PySide6.QtGui import QBrush, QColor, QLinearGradient, QPainter, QPen, QPolygonF

    assert isinstance(painter, QPainter)
    grad = QLinearGradient(0, 0, 0, SIZE)
    grad.setColorAt(0, QColor(BG_TOP))
    grad.setColorAt(1, QColor(BG_BOTTOM))
    painter.setPen(QPen(QColor(BORDER), 4))
    painter.setBrush(QBrush(grad))
    painter.drawRoundedRect(QRectF(4, 4, SIZE - 8, SIZE - 8), RADIUS, RADIUS)
    grid = QColor(GRID)
    grid.setAlphaF(GRID_OPACITY)
    painter.setPen(QPen(grid, 2))
    for y in GRID_Y:
        painter.drawLine(QLineF(28, y, SIZE - 28, y))
    trend = QColor(TREND)
    trend.setAlphaF(0.55)
    pen = QPen(trend, 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawPolyline(QPolygonF([QPointF(x, y) for x, y in TREND_POINTS]))
    for c in CANDLES:
        colour = QColor(UP if c.up else DOWN)
        top, bottom = c.body
        painter.setPen(QPen(colour, WICK_W, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawLine(QLineF(c.x, c.high, c.x, c.low))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(QRectF(c.x - BODY_W / 2, top, BODY_W, bottom - top), 4, 4)


def render_png(svg_path: Path, out: Path, px: int) -> str:
    """Render one PNG; returns which renderer was used."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter

    image = QImage(px, px, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    try:
        from PySide6.QtSvg import QSvgRenderer
    except ImportError:
        painter.scale(px / SIZE, px / SIZE)
        _paint_with_qpainter(painter)
        used = "QPainter"
    else:
        renderer = QSvgRenderer(str(svg_path))
        if not renderer.isValid():
            raise RuntimeError(f"QSvgRenderer could not parse {svg_path}")
        renderer.render(painter)
        used = "QSvgRenderer"
    painter.end()
    if not image.save(str(out)):  # the format follows the .png suffix
        raise RuntimeError(f"could not write {out}")
    return used


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    svg_path = HERE / "tradedeck.svg"
    svg_path.write_text(svg_text(), encoding="utf-8")
    app = QGuiApplication.instance() or QGuiApplication([*sys.argv[:1], "-platform", "offscreen"])
    for px in PNG_SIZES:
        out = HERE / f"tradedeck-{px}.png"
        used = render_png(svg_path, out, px)
        print(f"wrote {out.name} ({px}x{px}, {used})")
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
