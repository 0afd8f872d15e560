"""Numbers a server sends (headers, `expires_in`), made safe before any arithmetic touches them.

`float("inf")`, `1e400` and `nan` all parse; `math.ceil(inf)` raises and `nan` compares false
with everything, so an unchecked header can crash a worker or defeat a bound. Every number read
from an answer goes through `bounded_number` first: finite, and clamped into a range the caller
names, so what follows is plain arithmetic on ordinary numbers.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Past this, a header's number means "forever" to every caller (a wait is refused, a limit is
# unlimited); as a finite float it keeps every product and quotient finite.
NUMBER_CEILING = 1e9


def bounded_number(value: Any, low: float = 0.0, high: float = NUMBER_CEILING) -> float | None:
    """`value` (text or a number) as a float clamped to [low, high]; None when it is not a number,
    is NaN, or is below `low` (a negative wait or count means nothing). Infinity becomes `high`."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    elif isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int past float's range: as big as it gets
            number = math.inf if value > 0 else -math.inf
    else:
        return None
    if math.isnan(number) or number < low:
        return None
    return min(number, high)


def header_number(headers: Mapping[str, str], *names: str, high: float = NUMBER_CEILING) -> float | None:
    """The first of `names` that holds a usable number (`bounded_number`), or None."""
    for name in names:
        number = bounded_number(headers.get(name), high=high)
        if number is not None:
            return number
    return None
