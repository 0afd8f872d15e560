"""One reading of ISO-8601 times for the whole project: aware, UTC, and the same on Python 3.10."""
from __future__ import annotations

from datetime import datetime, timezone


def parse_utc(text: str) -> datetime:
    """An ISO-8601 date or time as an aware UTC datetime.

    Zendesk writes `2023-01-01T05:01:05Z`; Python 3.10's `fromisoformat` refuses the `Z`, so it is
    read as `+00:00` here. A time without an offset, and a bare date, are UTC.

    Raises:
        ValueError: not an ISO-8601 date or time (also for a value that is not a string, and for a
            year 1 or 9999 time whose offset moves it outside what a datetime holds).
    """
    if not isinstance(text, str):
        raise ValueError(f"not a string: {type(text).__name__}")
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the years a time can hold once in UTC") from None
