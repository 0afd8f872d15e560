"""Small inline-SVG charts for the HTML report: no JavaScript, no fonts, no network.

A report must open on an auditor's air-gapped laptop in ten years and print to PDF, so the charts
are plain SVG elements written here (bars, columns, a heatmap) with system fonts and a `<title>`
on every mark for the exact number. Each function returns one `<svg>` string. Labels from the data
go through `text_safety.html_text` (without markup: SVG text holds text only).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from zendesk_audit.text_safety import html_text

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
ACCENT = "#2563eb"
SEVERITY_COLOURS = {"critical": "#b91c1c", "high": "#ea580c", "medium": "#ca8a04", "low": "#2563eb"}
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _svg(width: int, height: int, label: str, body: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}" style="{FONT}"><title>{escape(label)}</title>{body}</svg>'
    )


def nice_ceiling(value: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at least `value`: round axis maxima."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def bar_chart(items: Sequence[tuple[str, float]], label: str, colours: dict[str, str] | None = None,
              width: int = 640) -> str:
    """Horizontal bars, one per (label, value), largest scale first; labels left, values right."""
    row, top, left, right = 24, 8, 200, 70
    height = top * 2 + row * max(len(items), 1)
    scale = max((value for _, value in items), default=0) or 1
    plot = width - left - right
    parts = []
    for index, (name, value) in enumerate(items):
        y = top + index * row
        length = max(plot * value / scale, 1 if value else 0)
        colour = (colours or {}).get(name, ACCENT)
        short = name if len(name) <= 26 else name[:25] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" font-size="12" fill="{INK}">'
            f"{html_text(short, markup=False)}</text>"
            f'<rect x="{left}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" fill="{colour}" rx="2">'
            f"<title>{html_text(name, markup=False)}: {_number(value)}</title></rect>"
            f'<text x="{left + length + 6:.1f}" y="{y + 16}" font-size="12" fill="{MUTED}">{_number(value)}</text>'
        )
    return _svg(width, height, label, "".join(parts))


def column_chart(points: Sequence[tuple[str, float]], label: str, width: int = 900, height: int = 220) -> str:
    """Vertical columns over a time axis (e.g. changes per day); x labels where the month changes."""
    left, right, top, bottom = 48, 12, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((value for _, value in points), default=0))
    parts = []
    for tick in range(5):
        value = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{MUTED}">{_number(value)}</text>'
        )
    step = plot_w / max(len(points), 1)
    last_month = ""
    for index, (name, value) in enumerate(points):
        x = left + index * step
        bar = plot_h * value / peak
        parts.append(
            f'<rect x="{x + step * 0.1:.2f}" y="{top + plot_h - bar:.2f}" width="{max(step * 0.8, 0.8):.2f}" '
            f'height="{bar:.2f}" fill="{ACCENT}"><title>{escape(name)}: {_number(value)}</title></rect>'
        )
        month = name[:7]
        if month != last_month:
            last_month = month
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="{MUTED}"/>'
                f'<text x="{x + 2:.1f}" y="{height - 8}" font-size="11" fill="{MUTED}">{escape(month)}</text>'
            )
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{MUTED}"/>')
    return _svg(width, height, label, "".join(parts))


def heatmap(counts: dict[tuple[int, int], float], label: str, width: int = 900) -> str:
    """Weekday (1 Monday .. 7 Sunday) by hour (0..23) cells, darker for more changes."""
    left, top, cell_h = 44, 22, 26
    cell_w = (width - left - 8) / 24
    height = top + cell_h * 7 + 8
    peak = max(counts.values(), default=0) or 1
    parts = []
    for hour in range(24):
        parts.append(
            f'<text x="{left + hour * cell_w + cell_w / 2:.1f}" y="14" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{hour:02d}</text>'
        )
    for day in range(1, 8):
        y = top + (day - 1) * cell_h
        name = WEEKDAY_NAMES[day - 1]
        parts.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end" font-size="12" fill="{INK}">{name}</text>')
        for hour in range(24):
            value = counts.get((day, hour), 0)
            share = value / peak
            # From near-white to the accent blue; empty cells stay visible on paper.
            red, green, blue = (int(239 - (239 - 37) * share), int(246 - (246 - 99) * share), int(255 - (255 - 235) * share))
            parts.append(
                f'<rect x="{left + hour * cell_w + 1:.1f}" y="{y + 1}" width="{cell_w - 2:.1f}" height="{cell_h - 2}" '
                f'fill="rgb({red},{green},{blue})"><title>{WEEKDAY_NAMES[day - 1]} {hour:02d}:00: '
                f"{_number(value)}</title></rect>"
            )
    return _svg(width, int(height), label, "".join(parts))
