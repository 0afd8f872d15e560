"""JSON answers decoded fast, and a page that holds one undecodable record decoded anyway.

orjson refuses a whole answer for one lone surrogate escape (`"\\ud83d"`, valid JSON grammar) or
one invalid UTF-8 byte inside a string, so one such record would stop every run at its page.
Every answer goes to orjson first; only an audit-log page that orjson refuses is decoded again by
Python's reader over the bytes as `surrogateescape` text, which keeps such text as lone
surrogates (an invalid byte 0xNN becomes U+DCNN). Nothing else is loosened: NaN and Infinity stay
refused, as orjson refuses them. The record holding such text is then rejected into
`audit_logs_rejected` (`extract.batches.not_unicode`), its text kept as `\\uXXXX` escapes, and
the rest of its page loads.
"""
from __future__ import annotations

import json
from typing import Any

import orjson


class UndecodableAnswer(ValueError):
    """Not JSON even to the tolerant reader."""


def _no_constant(name: str) -> Any:
    raise UndecodableAnswer(f"{name} is not JSON")


def decode_answer(data: bytes, tolerant: bool = False) -> Any:
    """The JSON value of an answer's body; `tolerant`: text that is not valid Unicode is kept as
    lone surrogates instead of refusing the whole answer.

    Raises:
        UndecodableAnswer: the body is not JSON.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        if not tolerant:
            raise UndecodableAnswer("not valid JSON") from None
    try:
        return json.loads(data.decode("utf-8", "surrogateescape"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise UndecodableAnswer("not valid JSON") from None


def is_unicode(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (no lone surrogate in it)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def escaped(text: str) -> str:
    """`text` with every lone surrogate written as a `\\uXXXX` escape: safe to store anywhere."""
    return text if is_unicode(text) else text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
