"""The report's HTML pieces: cells that wrap only where a reader would, tables, notes, the page.

Two rules keep every value readable at 1,400 px and on A4 or Letter paper:

- nothing breaks inside a word: the CSS never allows it (`overflow-wrap: normal`), and a long
  value gets break opportunities (`<wbr>`) after the characters a reader splits it at (`/`, `.`,
  `_`, `-`, `@`, `:`, `=`, ...); only a run of more than `HARD_RUN` letters with none of them (a
  hash, a token) is cut every `HARD_RUN` characters;
- a value longer than its column's limit is cut at a word, ends with `…` and a numbered note: the
  full value is in the cell's tooltip (on screen) and in the appendix (on paper).

Every value from the data goes through `text_safety.html_text` (escaped, control characters
visible, invisible and bidirectional characters marked), piece by piece, so a `<wbr>` never lands
inside an entity or a mark.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape
from typing import Any

from zendesk_audit.text_safety import html_text, terminal_text

SOFT_RUN = 16  # a token longer than this gets break opportunities after punctuation
HARD_RUN = 20  # the longest run without any break opportunity
_BREAK_AFTER = re.compile(r"(?<=[/\\._\-@=&?:,;|+)\]}>])")
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
PAPER_SIZES = {"a4": "A4", "letter": "letter"}

__all__ = ["Column", "Notes", "breakable", "css_string", "page", "table"]


def breakable(text: str) -> str:
    """`text` as HTML with `<wbr>` where a long value may wrap; never inside an ordinary word."""
    parts: list[str] = []
    for token in re.split(r"( +)", text):
        if not token:
            continue
        if len(token) <= SOFT_RUN or token.isspace():
            parts.append(html_text(token))
            continue
        pieces = []
        for piece in _BREAK_AFTER.split(token):
            pieces.extend(piece[start:start + HARD_RUN] for start in range(0, len(piece), HARD_RUN))
        parts.append("<wbr>".join(html_text(piece) for piece in pieces if piece))
    return "".join(parts)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a space where one is near, ending with `…`."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if not text[limit - 1].isspace() and space > limit * 0.6:  # the cut falls inside a word: cut before it
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def css_string(text: str) -> str:
    """A CSS string literal for `text` (page footers): made inert, quotes, `\\` and `<` escaped."""
    safe = terminal_text(text)
    return '"' + "".join(ch if ch.isalnum() or ch in " .,:;()/-–·'" else f"\\{ord(ch):x} " for ch in safe) + '"'


def local_time(value: Any) -> str:
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


@dataclass
class Notes:
    """Values cut in a table, numbered, for the appendix: on paper there is no tooltip."""

    items: list[tuple[int, str, str]] = field(default_factory=list)  # (number, where, full value)

    def add(self, where: str, value: str) -> int:
        number = len(self.items) + 1
        self.items.append((number, where, value))
        return number


@dataclass(frozen=True)
class Column:
    """A table column: its header, how its values are shown, and the length past which they are cut.

    kinds: `text` (wraps at spaces and `<wbr>`), `long` (the same, line breaks kept), `time`,
    `number`, `severity` (a badge), `ip` (never wrapped unless very long), `html` (built here).
    """

    header: str
    kind: str = "text"
    limit: int = 80


def _text_cell(value: Any, column: Column, notes: Notes | None, where: str) -> tuple[str, str]:
    """(inner HTML, extra attributes) for a text value, cut with a note when too long."""
    text = "" if value is None else str(value)
    if column.kind == "long":
        text = text.replace("\r\n", "\n").strip()
    shown = shorten(text, column.limit)
    attributes = ""
    note = ""
    if shown != text:
        attributes = f' title="{html_text(text[:1000], markup=False)}"'
        if notes is not None:
            number = notes.add(where, text)
            note = f' <a class="note" href="#note-{number}">[{number}]</a>'
    lines = shown.split("\n") if column.kind == "long" else [shown]
    return "<br>".join(breakable(line) for line in lines) + note, attributes


def cell(value: Any, column: Column, notes: Notes | None = None, where: str = "") -> str:
    """One `<td>`: the value shown by its column's kind."""
    kind = column.kind
    if kind == "time":
        return f'<td class="k-time">{escape(local_time(value))}</td>'
    if kind == "number":
        shown = f"{int(value):,}" if isinstance(value, (int, float)) else html_text(value if value is not None else "")
        return f'<td class="k-number">{shown}</td>'
    if kind == "severity":
        name = str(value or "").lower()
        css = name if name in ("critical", "high", "medium", "low") else "other"
        return f'<td class="k-severity"><span class="badge sev-{css}">{html_text(name)}</span></td>'
    if kind == "html":
        return f'<td>{value}</td>'
    if kind == "ip":
        text = "" if value is None else str(value)
        return f'<td class="k-ip">{breakable(text) if len(text) > 15 else html_text(text)}</td>'
    inner, attributes = _text_cell(value, column, notes, where)
    return f'<td class="k-{kind}"{attributes}>{inner}</td>'


def table(columns: Sequence[Column], rows: Sequence[Sequence[Any]], notes: Notes | None = None, where: str = "",
          row_ids: Sequence[str] = ()) -> str:
    """A table of `rows`; header cells and row cells in the columns' order; `row_ids` anchor rows."""
    head = "".join(f'<th class="k-{column.kind}">{escape(column.header)}</th>' for column in columns)
    body = "".join(
        (f'<tr id="{escape(row_ids[index])}">' if index < len(row_ids) else "<tr>")
        + "".join(cell(value, column, notes, f"{where}, {column.header}") for value, column in zip(row, columns))
        + "</tr>"
        for index, row in enumerate(rows)
    )
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


STYLE = """
:root { color-scheme: light; --ink: #1f2937; --muted: #4b5563; --faint: #6b7280; --line: #e5e7eb;
        --accent: #1d4ed8; --alarm: #b91c1c; --warn: #b45309; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1180px; padding: 28px 32px; line-height: 1.45; font-size: 14px;
       -webkit-print-color-adjust: exact; print-color-adjust: exact; }
/* No word is ever split inside: long values carry <wbr> break opportunities instead. */
body, td, th { overflow-wrap: normal; word-break: normal; hyphens: manual; }
a { color: inherit; }
a.note { color: var(--accent); text-decoration: none; font-size: 0.85em; white-space: nowrap; }
h1 { margin: 0 0 6px; font-size: 30px; line-height: 1.2; }
/* Numbers and counts sit beside the headings, not in them: the PDF's bookmarks are the headings' text. */
.part-head { display: flex; align-items: baseline; gap: 10px; margin: 40px 0 6px; padding-bottom: 6px;
             border-bottom: 2px solid var(--ink); }
.part-head .num { color: var(--accent); font-size: 22px; font-weight: 700; }
h2 { font-size: 22px; margin: 0; }
.section-head { display: flex; align-items: baseline; gap: 8px; margin: 22px 0 4px; }
h3 { font-size: 16px; margin: 0; }
.count { display: inline-block; min-width: 1.8em; padding: 0 7px; border-radius: 10px; background: #e5e7eb;
         font-size: 13px; font-weight: 600; text-align: center; }
.count.alarm { background: var(--alarm); color: #fff; }
.count.warn { background: #f59e0b; color: #111827; }
section > h3, .notes h3 { margin: 22px 0 4px; }
h4 { font-size: 14px; margin: 14px 0 4px; }
p { margin: 4px 0 10px; }
.lead { color: var(--muted); max-width: 80ch; }
.intro { color: var(--muted); font-size: 13px; max-width: 95ch; }
.more, .empty, .not-checked { color: var(--faint); font-size: 12.5px; }
.empty::before { content: "✓ "; color: #15803d; }
.not-checked { border-left: 3px solid #f59e0b; padding-left: 8px; }
.notice { color: var(--alarm); border: 1px solid var(--alarm); border-radius: 6px; padding: 6px 10px; font-size: 13px; }
.cover { border: 1px solid var(--line); border-top: 6px solid var(--accent); border-radius: 8px; padding: 22px 26px; }
.cover .kicker { text-transform: uppercase; letter-spacing: 0.08em; color: var(--accent); font-size: 12px; font-weight: 600; }
.cover .period { font-size: 19px; margin: 2px 0 16px; }
.facts { display: grid; grid-template-columns: 12em 1fr; gap: 6px 18px; margin: 0; font-size: 13.5px; }
.facts dt { color: var(--faint); }
.facts dd { margin: 0; }
.facts dd p { margin: 0 0 2px; }
.contents { margin-top: 16px; font-size: 13px; color: var(--muted); }
.contents a { margin-right: 14px; white-space: nowrap; }
.figures { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; margin: 8px 0; }
.figure { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.figure b { display: block; font-size: 24px; line-height: 1.15; }
.figure .name { color: var(--muted); font-size: 12.5px; }
.figure .then { display: block; color: var(--faint); font-size: 12px; margin-top: 2px; }
.figure .up { color: var(--alarm); font-weight: 600; }
.figure .down { color: #15803d; font-weight: 600; }
.figure.alarm { border-color: var(--alarm); }
.figure.alarm b { color: var(--alarm); }
svg.chart { display: block; max-width: 100%; height: auto; margin: 6px 0; }
figure.chart { margin: 8px 0; break-inside: avoid; }
figcaption { color: var(--faint); font-size: 12px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 6px 0; }
th, td { text-align: left; padding: 4px 7px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; }
td.k-time, td.k-number, td.k-severity, td.k-ip, th.k-time, th.k-number, th.k-severity { white-space: nowrap; }
td.k-number, th.k-number { text-align: right; font-variant-numeric: tabular-nums; }
td.k-ip { font-size: 11.5px; color: var(--muted); }
td.k-text { min-width: 7em; }
td.k-long { min-width: 12em; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 9px; font-size: 11px; font-weight: 600;
         text-transform: uppercase; letter-spacing: 0.03em; white-space: nowrap; }
.sev-critical { background: #b91c1c; color: #fff; }
.sev-high { background: #ea580c; color: #fff; }
.sev-medium { background: #fde68a; color: #78350f; }
.sev-low { background: #dbeafe; color: #1e3a8a; }
.sev-other { background: #e5e7eb; }
mark.hidden-char { background: #fde68a; color: #92400e; font-family: ui-monospace, "DejaVu Sans Mono", monospace;
                   font-size: 0.85em; }
.notes td:first-child, .nowrap { white-space: nowrap; }
dl.rules { display: grid; grid-template-columns: 7em 1fr; gap: 2px 12px; font-size: 13px; }
dl.rules dt { margin: 0; }
dl.rules dd { margin: 0; }
footer { margin-top: 36px; border-top: 1px solid var(--line); padding-top: 8px; color: var(--faint); font-size: 12px; }
@media screen and (max-width: 820px) {
  .figures { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .facts { grid-template-columns: 1fr; }
}
@page { margin: 15mm 14mm 17mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5px; }
  h1 { font-size: 26px; }
  .part-head { margin-top: 0; }
  h2, .part-head .num { font-size: 17px; }
  h3 { font-size: 13px; }
  .count { font-size: 10px; }
  .intro, .more, .empty, .not-checked, .facts, dl.rules, footer { font-size: 10.5px; }
  .cover .facts { font-size: 12px; }
  table { font-size: 9.5px; }
  th, td { padding: 3px 5px; }
  td.k-ip { font-size: 9px; }
  .cover { border: none; border-top: 8px solid var(--accent); border-radius: 0; padding: 30mm 0 0; min-height: 240mm;
           break-after: page; }
  .cover h1 { font-size: 32px; }
  .contents { margin-top: 28px; }
  .part { break-before: page; }
  .part-head, .section-head, h2, h3, h4, .lead, .intro { break-after: avoid; }
  section { break-inside: auto; }
  .figures, figure.chart, svg.chart, .facts { break-inside: avoid; }
  tr, td, th { break-inside: avoid; }
  thead { display: table-header-group; }
  .figure b { font-size: 19px; }
  a.note { color: var(--accent); }
  footer { break-before: avoid; }
}
"""


def page(title: str, cover: str, parts: Sequence[str], footer: str, footer_line: str, paper: str | None = None) -> str:
    """The whole document: CSP, inline CSS, nothing fetched. `footer_line` goes to every printed page
    (with "Page n of N") except the cover; `paper` (`a4`, `letter`) fixes the page size for a PDF,
    None leaves it to the printer."""
    size = f"size: {PAPER_SIZES[paper]}; " if paper else ""
    margin_boxes = (
        f"@page {{ {size}"
        f"@bottom-left {{ content: {css_string(footer_line)}; font: 8px system-ui, 'DejaVu Sans', sans-serif; color: #6b7280; }} "
        "@bottom-right { content: \"Page \" counter(page) \" of \" counter(pages); "
        "font: 8px system-ui, 'DejaVu Sans', sans-serif; color: #6b7280; } }\n"
        "@page :first { @bottom-left { content: none; } @bottom-right { content: none; } }\n"
    )
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html_text(title, markup=False)}</title><style>{STYLE}{margin_boxes}</style></head>\n<body>\n"
        + cover + "\n" + "\n".join(parts)
        + f"\n<footer>{footer}</footer>\n</body></html>\n"
    )
