"""Server-rendered SVG charts and the trip map: plain functions from values to markup, no JavaScript.

Every chart is an `<svg role="img">` with a title and a description; the page shows the same numbers in
a table beside it, so nothing is only in the picture. Colours pass WCAG contrast on white.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

GOOD = "#1b6e3a"
BAD = "#b3261e"
BAR = "#245c9e"
BAR_ALT = "#8a5a00"  # a second measure beside the first (cost beside km)
MUTED = "#6b7280"
GRID = "#e5e7eb"
TEXT = "#1f2937"


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg(width: float, height: float, title: str, desc: str, body: list[str], cls: str = "chart") -> Markup:
    head = (
        f'<svg class="{cls}" viewBox="0 0 {_f(width)} {_f(height)}" role="img" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>"
    )
    return Markup(head + "".join(body) + "</svg>")


def hbar_chart(
    rows: Sequence[tuple[str, float | None]],
    *,
    title: str,
    max_value: float | None = None,
    threshold: float | None = None,
    fmt: Callable[[float | None], str] = lambda v: "" if v is None else f"{v:g}",
    none_label: str = "—",
    width: float = 640,
    colour: str = BAR,
) -> Markup:
    """One horizontal bar per row (label, value). With `threshold`, bars under it are red, the others
    green, and a dashed line marks it; a None value is written `none_label` and drawn as no bar."""
    label_w, value_w, row_h, top = 150.0, 64.0, 22.0, 8.0
    plot_w = width - label_w - value_w
    values = [v for _, v in rows if v is not None]
    vmax = max_value if max_value is not None else max(values, default=0) or 1
    height = top * 2 + row_h * max(len(rows), 1)
    body = []
    for i, (label, value) in enumerate(rows):
        y = top + i * row_h
        body.append(
            f'<text x="{_f(label_w - 8)}" y="{_f(y + row_h * 0.68)}" text-anchor="end" font-size="13" '
            f'fill="{TEXT}">{escape(label)}</text>'
        )
        if value is None:
            body.append(
                f'<text x="{_f(label_w + 4)}" y="{_f(y + row_h * 0.68)}" font-size="12" '
                f'fill="{MUTED}">{escape(none_label)}</text>'
            )
            continue
        w = max(0.0, min(value / vmax, 1.0)) * plot_w
        fill = colour if threshold is None else (BAD if value < threshold else GOOD)
        body.append(
            f'<rect x="{_f(label_w)}" y="{_f(y + 3)}" width="{_f(max(w, 1))}" height="{_f(row_h - 6)}" '
            f'fill="{fill}" rx="2"/>'
            f'<text x="{_f(label_w + w + 6)}" y="{_f(y + row_h * 0.68)}" font-size="12" '
            f'fill="{TEXT}">{escape(fmt(value))}</text>'
        )
    if threshold is not None and vmax:
        x = label_w + min(threshold / vmax, 1.0) * plot_w
        body.append(
            f'<line x1="{_f(x)}" y1="{_f(top - 4)}" x2="{_f(x)}" y2="{_f(height - top + 4)}" '
            f'stroke="{TEXT}" stroke-dasharray="4 3" stroke-width="1.2"/>'
        )
    if not rows:
        body.append(f'<text x="{_f(label_w)}" y="{_f(top + 15)}" font-size="13" fill="{MUTED}">—</text>')
    desc = "; ".join(f"{label}: {fmt(v) if v is not None else none_label}" for label, v in rows)
    return _svg(width, height, title, desc, body)


def column_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    width: float = 640,
    height: float = 200,
    label_every: int | None = None,
    colour: str = BAR,
) -> Markup:
    """Vertical columns (label, value), e.g. trips per day; a few labels along the bottom."""
    left, right, top, bottom = 36.0, 8.0, 12.0, 28.0
    plot_w, plot_h = width - left - right, height - top - bottom
    vmax = max((v for _, v in points), default=0)
    nice = _nice_ceiling(vmax)
    body = []
    for k in range(5):  # horizontal grid with values
        v = nice * k / 4
        y = top + plot_h - plot_h * k / 4
        body.append(
            f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(width - right)}" y2="{_f(y)}" stroke="{GRID}"/>'
            f'<text x="{_f(left - 5)}" y="{_f(y + 4)}" text-anchor="end" font-size="11" '
            f'fill="{MUTED}">{_f(v)}</text>'
        )
    n = len(points)
    step = plot_w / max(n, 1)
    every = label_every or max(1, math.ceil(n / 8))
    for i, (label, value) in enumerate(points):
        h = plot_h * (value / nice) if nice else 0
        x = left + i * step
        body.append(
            f'<rect x="{_f(x + step * 0.15)}" y="{_f(top + plot_h - h)}" width="{_f(step * 0.7)}" '
            f'height="{_f(h)}" fill="{colour}"><title>{escape(label)}: {_f(value)}</title></rect>'
        )
        if i % every == 0 or (i == n - 1 and i % every >= every / 2):
            body.append(
                f'<text x="{_f(x + step / 2)}" y="{_f(height - 9)}" text-anchor="middle" font-size="11" '
                f'fill="{MUTED}">{escape(label)}</text>'
            )
    if not points:
        body.append(
            f'<text x="{_f(left + 8)}" y="{_f(top + plot_h / 2)}" font-size="13" fill="{MUTED}">—</text>'
        )
    desc = "; ".join(f"{label}: {_f(v)}" for label, v in points)
    return _svg(width, height, title, desc, body)


def _nice_ceiling(v: float) -> float:
    """The top of the axis: four grid steps of 1, 2 or 5 × 10^k covering v."""
    quarter = max(v / 4, 1.0)
    exp = 10 ** math.floor(math.log10(quarter))
    step = next(m * exp for m in (1, 2, 5, 10) if quarter <= m * exp)
    return float(step * 4)


# --- the trip: its time against the order's window ---------------------------------------------------


@dataclass(frozen=True)
class Span:
    label: str
    start: datetime
    end: datetime
    colour: str


def window_chart(
    spans: Sequence[Span],
    *,
    title: str,
    tick: Callable[[datetime], str],
    day_tick: Callable[[datetime], str] | None = None,
    width: float = 640,
) -> Markup:
    """Horizontal spans on one time axis (the trip, the order's planned and tolerated windows); ticks
    written `day_tick` when the axis spans more than a day."""
    label_w, row_h, top, bottom = 110.0, 26.0, 8.0, 26.0
    plot_w = width - label_w - 40
    height = top + bottom + row_h * max(len(spans), 1)
    if not spans:
        return _svg(width, height, title, "", [])
    t0 = min(s.start for s in spans).timestamp()
    t1 = max(s.end for s in spans).timestamp()
    pad = max((t1 - t0) * 0.05, 300)
    t0, t1 = t0 - pad, t1 + pad

    def x(ts: float) -> float:
        return label_w + (ts - t0) / (t1 - t0) * plot_w

    body = []
    hours = _hour_ticks(t0, t1)
    label = day_tick if day_tick is not None and t1 - t0 > 20 * 3600 else tick
    for ts in hours:
        body.append(
            f'<line x1="{_f(x(ts))}" y1="{_f(top)}" x2="{_f(x(ts))}" y2="{_f(height - bottom)}" '
            f'stroke="{GRID}"/>'
            f'<text x="{_f(x(ts))}" y="{_f(height - 8)}" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{escape(label(datetime.fromtimestamp(ts, spans[0].start.tzinfo)))}</text>'
        )
    for i, s in enumerate(spans):
        y = top + i * row_h
        a, b = x(s.start.timestamp()), x(s.end.timestamp())
        body.append(
            f'<text x="{_f(label_w - 8)}" y="{_f(y + row_h * 0.65)}" text-anchor="end" font-size="12" '
            f'fill="{TEXT}">{escape(s.label)}</text>'
            f'<rect x="{_f(a)}" y="{_f(y + 5)}" width="{_f(max(b - a, 2))}" height="{_f(row_h - 10)}" '
            f'fill="{s.colour}" rx="2"/>'
        )
    desc = "; ".join(f"{s.label}: {tick(s.start)} – {tick(s.end)}" for s in spans)
    return _svg(width, height, title, desc, body)


CHINA_OFFSET_S = 8 * 3600  # ticks fall on whole hours of China time (no daylight saving there)


def _hour_ticks(t0: float, t1: float) -> list[float]:
    span_h = (t1 - t0) / 3600
    every = next((h for h in (1, 2, 3, 6, 12, 24, 48) if span_h / h <= 8), 96) * 3600
    first = math.ceil((t0 + CHINA_OFFSET_S) / every) * every - CHINA_OFFSET_S
    return [float(ts) for ts in range(int(first), int(t1), every)]


# --- the trip map: the stored fixes on an equirectangular plane, no tiles --------------------------------


@dataclass(frozen=True)
class Marker:
    lat: float
    lon: float
    label: str  # a short text on the map
    title: str  # the tooltip / accessible name
    kind: str  # start | end | stop


def track_map(
    lats: Sequence[float],
    lons: Sequence[float],
    markers: Sequence[Marker],
    *,
    title: str,
    north: str = "N",
    width: float = 900,
    height: float = 520,
    max_points: int = 2000,
) -> Markup:
    """The track as a polyline on a local plane (metres east/north of its centre), fitted to the box with
    its aspect kept, with start/end/stop markers, a scale bar and a north arrow."""
    pts_lat = list(lats) + [m.lat for m in markers]
    pts_lon = list(lons) + [m.lon for m in markers]
    if not pts_lat:
        return _svg(width, height, title, "", [], cls="map")
    lat0 = (min(pts_lat) + max(pts_lat)) / 2
    lon0 = (min(pts_lon) + max(pts_lon)) / 2
    kx = 111_320.0 * math.cos(math.radians(lat0))
    ky = 110_574.0
    xs = [(lo - lon0) * kx for lo in pts_lon]
    ys = [(la - lat0) * ky for la in pts_lat]
    span_m = max(max(xs) - min(xs), max(ys) - min(ys), 200.0)
    pad = 36.0
    scale = min(
        (width - 2 * pad) / max(max(xs) - min(xs), 1.0), (height - 2 * pad) / max(max(ys) - min(ys), 1.0)
    )
    scale = min(scale, (min(width, height) - 2 * pad) / span_m * 4)  # a tiny track is not blown up
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2

    def px(x: float, y: float) -> tuple[float, float]:
        return width / 2 + (x - cx) * scale, height / 2 - (y - cy) * scale

    body = [f'<rect width="{_f(width)}" height="{_f(height)}" fill="#f6f7f9"/>']
    n = len(lats)
    if n:
        stride = max(1, math.ceil(n / max_points))
        idx = list(range(0, n, stride))
        if idx[-1] != n - 1:
            idx.append(n - 1)
        coords = " ".join("{:.1f},{:.1f}".format(*px(xs[i], ys[i])) for i in idx)
        body.append(
            f'<polyline points="{coords}" fill="none" stroke="#ffffff" stroke-width="6" '
            f'stroke-linejoin="round" stroke-linecap="round"/>'
            f'<polyline points="{coords}" fill="none" stroke="{BAR}" stroke-width="3" '
            f'stroke-linejoin="round" stroke-linecap="round"/>'
        )
    # stops under the start and end, their numbers beside them (a stop often lies where the trip starts)
    order = sorted(range(len(markers)), key=lambda k: markers[k].kind in ("start", "end"))
    for k in order:
        m = markers[k]
        x, y = px(xs[n + k], ys[n + k])
        if m.kind == "stop":
            body.append(
                f"<g><title>{escape(m.title)}</title>"
                f'<circle cx="{_f(x)}" cy="{_f(y)}" r="7" fill="#7c3aed" stroke="#fff" stroke-width="2"/>'
                f'<text x="{_f(x + 12)}" y="{_f(y - 8)}" font-size="13" font-weight="bold" fill="#5b21b6" '
                f'stroke="#fff" stroke-width="3" paint-order="stroke">{escape(m.label)}</text></g>'
            )
            continue
        colour = GOOD if m.kind == "start" else BAD
        body.append(
            f"<g><title>{escape(m.title)}</title>"
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="11" fill="{colour}" stroke="#fff" stroke-width="2"/>'
            f'<text x="{_f(x)}" y="{_f(y + 4)}" text-anchor="middle" font-size="11" font-weight="bold" '
            f'fill="#fff">{escape(m.label)}</text></g>'
        )
    # scale bar: a round distance about a fifth of the width
    target = (width / 5) / scale
    bar_m = next(
        (d for d in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000) if d >= target), 100000
    )
    bar_px = bar_m * scale
    text = f"{bar_m // 1000} km" if bar_m >= 1000 else f"{bar_m} m"
    y = height - 14
    body.append(
        f'<g stroke="{TEXT}" stroke-width="2">'
        f'<line x1="14" y1="{_f(y)}" x2="{_f(14 + bar_px)}" y2="{_f(y)}"/>'
        f'<line x1="14" y1="{_f(y - 5)}" x2="14" y2="{_f(y)}"/>'
        f'<line x1="{_f(14 + bar_px)}" y1="{_f(y - 5)}" x2="{_f(14 + bar_px)}" y2="{_f(y)}"/></g>'
        f'<text x="{_f(18 + bar_px)}" y="{_f(y + 4)}" font-size="12" fill="{TEXT}">{text}</text>'
        f'<g transform="translate({_f(width - 24)},18)"><path d="M0,-10 L6,8 L0,4 L-6,8 Z" fill="{TEXT}"/>'
        f'<text y="22" text-anchor="middle" font-size="12" fill="{TEXT}">{escape(north)}</text></g>'
    )
    desc = "; ".join(m.title for m in markers)
    return _svg(width, height, title, desc, body, cls="map")
