"""Untrusted text made inert and visible before a terminal, a web page or a JSON reader gets it.

Every name, label and description in the audit log was typed by someone who can edit Zendesk, and
every error body or `Location` header was written by whatever answered the request. Printed as
they are, an ESC sequence clears the screen or retitles the terminal, a CR overwrites the start of
the line with something else, and a bidirectional override makes `rule: <U+202E>txt.exe` read as
`rule: exe.txt`. Two helpers cover that, each one place for one rule:

- `escape_controls`: C0 controls (NUL..US, including ESC, BEL, CR, LF, TAB), DEL and C1 controls
  (U+0080..U+009F, including the 8-bit CSI U+009B and NEL U+0085) become visible `\\x1b`-style
  escapes (`\\n`, `\\r`, `\\t` for the three common ones);
- `reveal_invisible`: characters that are invisible or reorder text (bidirectional embeddings,
  overrides, isolates and marks, zero-width spaces and joiners, the BOM, line and paragraph
  separators, tag characters, Hangul fillers: Unicode's Cf, Zl and Zp categories and a few
  invisible letters) become `<U+202E>`.

`terminal_text` applies both (every line the CLI prints from data or from a server goes through
it), `html_text` does the same for the HTML report (the invisible ones marked with `<mark>`), and
`json_text` writes JSON whose values decode to the exact data while the raw bytes stay inert.
Backslashes are left alone, so each helper is idempotent: a message escaped where it is made
(the HTTP client) is not escaped twice where it is printed.
"""
from __future__ import annotations

import json
import re
from html import escape
from typing import Any

# C0 controls, DEL and C1 controls.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# Unicode 15's Cf (format) characters, Zl and Zp (U+2028, U+2029), and letters that render as
# nothing (combining grapheme joiner, Hangul fillers). tests/test_text_safety.py checks this list
# against the running Python's unicodedata, so a newer Unicode with new Cf characters fails a test.
INVISIBLE_CHARACTERS = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
# Raw in JSON text they are still live on a terminal; as \\u escapes they decode to the same value.
_JSON_UNSAFE = re.compile(f"{CONTROL_CHARACTERS.pattern}|{INVISIBLE_CHARACTERS.pattern}")

__all__ = [
    "CONTROL_CHARACTERS",
    "INVISIBLE_CHARACTERS",
    "escape_controls",
    "html_text",
    "json_text",
    "reveal_invisible",
    "terminal_text",
]


def _control_escape(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\x{ord(char):02x}"


def _code_point(match: re.Match[str]) -> str:
    return f"<U+{ord(match.group()):04X}>"


def escape_controls(text: str) -> str:
    r"""`text` with every C0/C1 control and DEL written as a visible escape.

    Example:
        >>> escape_controls("Ann\x1b]0;pwned\x07\r\n")
        'Ann\\x1b]0;pwned\\x07\\r\\n'
    """
    return CONTROL_CHARACTERS.sub(_control_escape, text)


def reveal_invisible(text: str) -> str:
    """`text` with every invisible or reordering character shown as `<U+XXXX>`.

    Example:
        >>> reveal_invisible("rule: \\u202etxt.exe")
        'rule: <U+202E>txt.exe'
    """
    return INVISIBLE_CHARACTERS.sub(_code_point, text)


def terminal_text(value: Any) -> str:
    """`str(value)` safe to print on a terminal: one line, no control sequence, nothing hidden."""
    return escape_controls(reveal_invisible(str(value)))


def _html_mark(match: re.Match[str]) -> str:
    code = f"U+{ord(match.group()):04X}"
    return f'<mark class="hidden-char" title="invisible character {code} in the data">&lt;{code}&gt;</mark>'


def _code_point_html(match: re.Match[str]) -> str:
    return escape(_code_point(match))


def html_text(value: Any, markup: bool = True) -> str:
    """`str(value)` as HTML text: escaped, controls visible, invisible characters marked.

    Args:
        value: what to show.
        markup: wrap each invisible character's `<U+XXXX>` in `<mark class="hidden-char">`; pass
            False inside SVG `<text>` and `<title>`, where only text may go.
    """
    text = escape(escape_controls(str(value)))
    return INVISIBLE_CHARACTERS.sub(_html_mark if markup else _code_point_html, text)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_text(data: Any) -> str:
    """`data` as one line of JSON, readable (non-ASCII letters kept) but with every control and
    invisible character written as a `\\uXXXX` escape: a JSON reader gets the exact values back,
    a terminal shows nothing it would act on.
    """
    return _JSON_UNSAFE.sub(_json_escape, json.dumps(data, ensure_ascii=False, default=str))
