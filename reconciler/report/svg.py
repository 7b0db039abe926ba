"""Inline SVG line charts: no scripts, no fonts, no network, readable without colour.

Every series differs in three ways at once — an Okabe-Ito colour, a marker shape and a dash
pattern — so the chart reads for colour-blind readers and in black-and-white print. The legend
repeats shape + dash next to each name. Each data point is a marker carrying `data-product`,
`data-period`, `data-value` and a `<title>` (the browser tooltip), so tests and curious readers
can check a point against the ledger. A period with no figure is a gap in the line, not a zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

from reconciler.report.figures import Series
from reconciler.report.markup import escape

# Okabe & Ito (2008). Yellow goes last: it has the weakest contrast on white.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
DASHES = ("", "8 4", "2 3", "10 3 2 3", "5 5", "1 3 6 3", "12 3", "3 2 3 6")

WIDTH = 960
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_HEIGHT = 64, 24, 16, 280
AXIS_LABELS = 40  # room under the plot for the period labels
LEGEND_ROW, LEGEND_COLUMNS = 24, 2


@lru_cache(maxsize=65536)  # the same slots and seat counts on every page (issue 22)
def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _polygon(points: Sequence[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{_fmt(x)} {_fmt(y)}" for x, y in points) + " Z"


def _circle(x: float, y: float, r: float) -> str:
    arc = f"a{_fmt(r)} {_fmt(r)} 0 1 0"
    return f"M{_fmt(x - r)} {_fmt(y)} {arc} {_fmt(2 * r)} 0 {arc} {_fmt(-2 * r)} 0 Z"


def _square(x: float, y: float, r: float) -> str:
    r *= 0.9
    return _polygon([(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)])


def _triangle(x: float, y: float, r: float, up: bool = True) -> str:
    s = -1 if up else 1
    r *= 1.2
    return _polygon([(x, y + s * r), (x + r, y - s * r * 0.8), (x - r, y - s * r * 0.8)])


def _diamond(x: float, y: float, r: float) -> str:
    r *= 1.3
    return _polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)])


def _cross(x: float, y: float, r: float, angle: float = 0.0) -> str:
    r *= 1.3
    w = r * 0.38
    outline = [
        (-w, -r),
        (w, -r),
        (w, -w),
        (r, -w),
        (r, w),
        (w, w),
        (w, r),
        (-w, r),
        (-w, w),
        (-r, w),
        (-r, -w),
        (-w, -w),
    ]
    c, s = math.cos(angle), math.sin(angle)
    return _polygon([(x + px * c - py * s, y + px * s + py * c) for px, py in outline])


def _star(x: float, y: float, r: float) -> str:
    r *= 1.4
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.45
        a = -math.pi / 2 + i * math.pi / 5
        points.append((x + radius * math.cos(a), y + radius * math.sin(a)))
    return _polygon(points)


MARKERS: tuple[Callable[[float, float, float], str], ...] = (
    _circle,
    _square,
    _triangle,
    _diamond,
    lambda x, y, r: _triangle(x, y, r, up=False),
    _cross,
    lambda x, y, r: _cross(x, y, r, math.pi / 4),
    _star,
)
MARKER_NAMES = ("circle", "square", "triangle", "diamond", "triangle-down", "plus", "cross", "star")


@lru_cache(maxsize=65536)
def _marker(marker: int, x: float, y: float, r: float) -> str:
    """The outline of marker `marker` at (x, y): points repeat on every page (same slots, same
    seat counts), so each distinct one is formatted once."""
    return MARKERS[marker](x, y, r)


def style_for(index: int) -> tuple[str, str, int]:
    """(colour, dash pattern, marker index) of series `index`.

    Colours and shapes cycle with different lengths offset so that, past eight series, no two
    series share all three.
    """
    return (
        OKABE_ITO[index % len(OKABE_ITO)],
        DASHES[(index + index // len(DASHES)) % len(DASHES)],
        (index + index // len(MARKERS) * 3) % len(MARKERS),
    )


def nice_scale(maximum: int) -> tuple[int, int]:
    """(top, step) of a 0-based axis with 4–6 round ticks covering `maximum`."""
    maximum = max(maximum, 1)
    raw = maximum / 5
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(int(step), 1)
    return step * math.ceil(maximum / step), step


def line_chart(chart_id: str, title: str, periods: Sequence[str], series: Sequence[Series],
               unit: str = "seats") -> str:
    """An accessible SVG line chart of `series` over `periods` (oldest first)."""
    legend_rows = math.ceil(len(series) / LEGEND_COLUMNS)
    plot_bottom = PLOT_TOP + PLOT_HEIGHT
    height = plot_bottom + AXIS_LABELS + legend_rows * LEGEND_ROW + 8
    plot_width = WIDTH - PLOT_LEFT - PLOT_RIGHT
    values = [v for s in series for v in s.values if v is not None]
    top, step = nice_scale(max(values, default=0))
    slot = plot_width / max(len(periods), 1)

    def x_at(i: int) -> float:
        return PLOT_LEFT + slot * (i + 0.5)

    def y_at(value: int) -> float:
        return plot_bottom - PLOT_HEIGHT * value / top

    t = escape(title)
    out = [
        f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">',
        f'<title id="{escape(chart_id)}-title">{t}</title>',
        f'<desc id="{escape(chart_id)}-desc">Line chart, one line per series, {escape(unit)} per billing '
        f"period {escape(periods[0])} to {escape(periods[-1])}. "
        "Each line has its own colour, marker shape and dash pattern; the table that follows "
        "holds the same numbers.</desc>",
        '<g class="grid" aria-hidden="true">',
    ]
    for tick in range(0, top + 1, step):
        tick_y = _fmt(y_at(tick))
        out.append(
            f'<line x1="{PLOT_LEFT}" x2="{WIDTH - PLOT_RIGHT}" y1="{tick_y}" y2="{tick_y}" class="tick"/>'
            f'<text x="{PLOT_LEFT - 8}" y="{tick_y}" class="ylabel">{tick}</text>'
        )
    for i, period in enumerate(periods):
        out.append(
            f'<text x="{_fmt(x_at(i))}" y="{plot_bottom + 22}" class="xlabel">'
            f"{escape(period)}</text>"
        )
    out.append("</g>")
    if not values:
        out.append(
            f'<text x="{WIDTH / 2}" y="{PLOT_TOP + PLOT_HEIGHT / 2}" class="empty">'
            "No billing was sent in these periods.</text>"
        )

    for index, s in enumerate(series):
        colour, dash, marker = style_for(index)
        product = escape(s.product)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        path, pen_down = [], False
        for i, value in enumerate(s.values):
            if value is None:
                pen_down = False  # a gap: the next point starts a new segment
                continue
            path.append(f"{'L' if pen_down else 'M'}{_fmt(x_at(i))} {_fmt(y_at(value))}")
            pen_down = True
        out.append(f'<g class="series" data-product="{product}">')
        if path:
            out.append(
                f'<path class="line" d="{" ".join(path)}" stroke="{colour}"{dash_attr} '
                'aria-hidden="true"/>'
            )
        for i, value in enumerate(s.values):
            if value is None:
                continue
            out.append(
                f'<path class="point" d="{_marker(marker, x_at(i), y_at(value), 5)}" '
                f'fill="{colour}" '
                f'data-product="{product}" data-period="{escape(periods[i])}" data-value="{value}">'
                f"<title>{escape(s.label)}, {escape(periods[i])}: {value} {escape(unit)}</title></path>"
            )
        out.append("</g>")

    legend_top = plot_bottom + AXIS_LABELS
    column_width = (WIDTH - PLOT_LEFT) / LEGEND_COLUMNS
    out.append('<g class="legend">')
    for index, s in enumerate(series):
        colour, dash, marker = style_for(index)
        x = PLOT_LEFT + (index % LEGEND_COLUMNS) * column_width
        y = legend_top + (index // LEGEND_COLUMNS) * LEGEND_ROW + 8
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<g class="key" data-product="{escape(s.product)}" '
            f'data-marker="{MARKER_NAMES[marker]}">'
            f'<line x1="{_fmt(x)}" x2="{_fmt(x + 36)}" y1="{y}" y2="{y}" stroke="{colour}"'
            f'{dash_attr} class="line"/>'
            f'<path d="{_marker(marker, x + 18, y, 5)}" fill="{colour}" class="point"/>'
            f'<text x="{_fmt(x + 44)}" y="{y}" class="legendlabel">{escape(s.label)}</text></g>'
        )
    out.append("</g></svg>")
    return "\n".join(out)
