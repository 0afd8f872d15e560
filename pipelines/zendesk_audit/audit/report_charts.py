"""Small inline-SVG charts for the report: no JavaScript, no fonts, no network, vector on paper.

A report must open on an auditor's air-gapped laptop in ten years and print to PDF, so the charts
are plain SVG elements written here (bars, columns, a heatmap) with system fonts and a `<title>`
on every mark for the exact number. Each function returns one `<svg>` string whose every label
stays inside its box: label widths are estimated generously (`text_width`) and a label that would
not fit is moved or left out, never clipped. Labels from the data are made inert and visible
(`text_safety.terminal_text`) and escaped; SVG text holds text only, so nothing is marked up.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape

from zendesk_audit.text_safety import terminal_text

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif"
INK = "#1f2937"
MUTED = "#4b5563"
GRID = "#e5e7eb"
ACCENT = "#1d4ed8"
EMPTY_DAY = "#f3f4f6"
SEVERITY_COLOURS = {"critical": "#b91c1c", "high": "#ea580c", "medium": "#ca8a04", "low": "#2563eb"}
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Heatmap palettes: (empty cell, lightest filled cell, darkest filled cell). Business hours in
# blue, off hours in orange to red: an off-hours cell with one change is clearly coloured, never
# near-white, and an empty off-hours cell is still tinted so the off-hours zone shows.
BUSINESS_PALETTE = ((241, 245, 249), (191, 219, 254), (30, 58, 138))
OFF_HOURS_PALETTE = ((255, 237, 213), (253, 186, 116), (153, 27, 27))

__all__ = ["bar_chart", "day_chart", "heatmap", "text_width"]


def text_width(text: str, size: float) -> float:
    """A generous estimate of a label's width: wide fonts (DejaVu Sans) average ~0.6 em."""
    return len(text) * size * 0.64 + 2


def _svg(width: int, height: int, label: str, body: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}" style="{FONT}"><title>{escape(label)}</title>{body}</svg>'
    )


def _label(text: str, limit: int) -> str:
    shown = terminal_text(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


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
              width: int = 720) -> str:
    """Horizontal bars, one per (label, value), scaled to the largest; labels left, values right."""
    row, top, left, right, size = 24, 6, 230, 64, 12
    height = top * 2 + row * max(len(items), 1)
    scale = max((value for _, value in items), default=0) or 1
    plot = width - left - right
    limit = int((left - 12) / (size * 0.64))
    parts = []
    for index, (name, value) in enumerate(items):
        y = top + index * row
        length = max(plot * value / scale, 1 if value else 0)
        colour = (colours or {}).get(name, ACCENT)
        parts.append(
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" font-size="{size}" fill="{INK}">'
            f"{escape(_label(name, limit))}</text>"
            f'<rect x="{left}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" fill="{colour}" rx="2">'
            f"<title>{escape(terminal_text(name))}: {_number(value)}</title></rect>"
            f'<text x="{left + length + 6:.1f}" y="{y + 16}" font-size="{size}" fill="{MUTED}">{_number(value)}</text>'
        )
    return _svg(width, height, label, "".join(parts))


def _day_ticks(days: Sequence[date]) -> list[tuple[int, str]]:
    """(index, label) for the x axis: each day, each Monday, or each month start, as space allows."""
    count = len(days)
    if count <= 16:
        return [(index, f"{day.day} {day:%b}") for index, day in enumerate(days)]
    if count <= 75:
        return [(index, f"{day.day} {day:%b}") for index, day in enumerate(days) if day.weekday() == 0]
    ticks = [(index, f"{day:%b %Y}" if day.month == 1 or not index else f"{day:%b}")
             for index, day in enumerate(days) if day.day == 1]
    if count > 500:  # two years or more: every quarter
        ticks = [(index, text) for index, text in ticks if days[index].month in (1, 4, 7, 10)]
    return ticks


def day_chart(points: Sequence[tuple[date, float]], label: str, width: int = 1100, height: int = 230) -> str:
    """One column per day of the period, days without records included (shaded), axis labels inside."""
    left, right, top, bottom, size = 52, 14, 10, 34, 11
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((value for _, value in points), default=0))
    step = plot_w / max(len(points), 1)
    parts = []
    # Days without records first, as full-height pale bands: a gap of a month is seen at once.
    for index, (day, value) in enumerate(points):
        if not value:
            parts.append(
                f'<rect class="empty-day" x="{left + index * step:.2f}" y="{top}" width="{max(step, 0.6):.2f}" '
                f'height="{plot_h}" fill="{EMPTY_DAY}"><title>{day.isoformat()} ({day:%a}): no records</title></rect>'
            )
    for tick in range(5):
        value = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="{size}" fill="{MUTED}">{_number(value)}</text>'
        )
    for index, (day, value) in enumerate(points):
        if value:
            bar = max(plot_h * value / peak, 1)
            parts.append(
                f'<rect class="day" x="{left + index * step + step * 0.12:.2f}" y="{top + plot_h - bar:.2f}" '
                f'width="{max(step * 0.76, 0.6):.2f}" height="{bar:.2f}" fill="{ACCENT}">'
                f"<title>{day.isoformat()} ({day:%a}): {_number(value)} records</title></rect>"
            )
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{MUTED}"/>')
    days = [day for day, _ in points]
    last_end = -math.inf
    for index, text in _day_ticks(days):
        x = left + index * step
        span = text_width(text, size)
        start = min(max(x + 2, 0), width - span)  # never past either edge
        if start < last_end + 6:
            continue  # would overlap the previous label
        last_end = start + span
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 5}" stroke="{MUTED}"/>'
            f'<text x="{start:.1f}" y="{height - 14}" font-size="{size}" fill="{MUTED}">{escape(text)}</text>'
        )
    return _svg(width, height, label, "".join(parts))


def _shade(palette: tuple[tuple[int, int, int], ...], share: float) -> tuple[int, int, int]:
    _, light, dark = palette
    return tuple(round(light[i] + (dark[i] - light[i]) * share) for i in range(3))  # type: ignore[return-value]


def heatmap(counts: dict[tuple[int, int], int], off_counts: dict[tuple[int, int], int],
            business: dict[tuple[int, int], str], label: str, width: int = 1100) -> str:
    """Weekday (1 Monday .. 7 Sunday) by hour (0..23): the number in each cell, darker for more.

    `business` says per cell whether the hour is inside business hours (`business`), partly
    (`partly`) or outside (`off`): off-hours cells use the orange-red palette, business cells the
    blue one, and a legend below says so. Colour grows with the square root of the count, from a
    clearly visible first step, so one change at 3 a.m. is never near-white.
    """
    left, top, cell_h, size = 48, 22, 28, 11
    cell_w = (width - left - 6) / 24
    legend_y = top + cell_h * 7 + 22
    height = legend_y + 14
    peak = max(counts.values(), default=0) or 1
    parts = [
        f'<text x="{left + hour * cell_w + cell_w / 2:.1f}" y="14" text-anchor="middle" font-size="{size}" '
        f'fill="{MUTED}">{hour:02d}</text>'
        for hour in range(24)
    ]
    for day in range(1, 8):
        y = top + (day - 1) * cell_h
        parts.append(f'<text x="{left - 8}" y="{y + 18}" text-anchor="end" font-size="12" fill="{INK}">'
                     f"{WEEKDAY_NAMES[day - 1]}</text>")
        for hour in range(24):
            value = counts.get((day, hour), 0)
            off = off_counts.get((day, hour), 0)
            zone = business.get((day, hour), "off")
            palette = BUSINESS_PALETTE if zone == "business" else OFF_HOURS_PALETTE
            share = math.sqrt(value / peak) if value else 0.0
            red, green, blue = _shade(palette, share) if value else palette[0]
            x = left + hour * cell_w
            what = {"business": "business hours", "partly": "partly off hours", "off": "off hours"}[zone]
            detail = f", {off:,} of them off hours" if off and zone != "off" else ""
            parts.append(
                f'<rect class="cell {zone}" data-count="{value}" x="{x + 1:.1f}" y="{y + 1}" width="{cell_w - 2:.1f}" '
                f'height="{cell_h - 2}" fill="rgb({red},{green},{blue})"'
                + (' stroke="#ea580c" stroke-width="1" stroke-dasharray="3 2"' if zone == "partly" else "")
                + f"><title>{WEEKDAY_NAMES[day - 1]} {hour:02d}:00 to {hour:02d}:59, {what}: "
                f"{_number(value)} records{detail}</title></rect>"
            )
            if value:
                text = _number(value) if value < 10_000 else f"{value / 1000:.0f}k"
                ink = "#ffffff" if share > 0.45 else INK
                font = size if text_width(text, size) < cell_w - 3 else 8
                parts.append(f'<text x="{x + cell_w / 2:.1f}" y="{y + 18}" text-anchor="middle" font-size="{font}" '
                             f'fill="{ink}">{text}</text>')
    legend = [("business", BUSINESS_PALETTE, "business hours"), ("off", OFF_HOURS_PALETTE, "off hours (weekends, "
              "before opening, after closing)")]
    x = float(left)
    for _, palette, text in legend:
        for step, colour in enumerate((palette[0], _shade(palette, 0.35), palette[2])):
            parts.append(f'<rect x="{x + step * 15:.1f}" y="{legend_y - 10}" width="13" height="12" '
                         f'fill="rgb({colour[0]},{colour[1]},{colour[2]})"/>')
        x += 50
        parts.append(f'<text x="{x:.1f}" y="{legend_y}" font-size="{size}" fill="{INK}">{escape(text)}</text>')
        x += text_width(text, size) + 28
    note = "darker: more records; the number is the records in that hour"
    if x + text_width(note, size) <= width:
        parts.append(f'<text x="{x:.1f}" y="{legend_y}" font-size="{size}" fill="{MUTED}">{escape(note)}</text>')
    return _svg(width, int(height), label, "".join(parts))
