"""The report's words: codes from the data and the models said the way an auditor reads them.

The models keep short codes (`before_hours`, `account_settings`, `update`) because queries and
alerts match on them; a reader of the report should never have to know them. Each code the report
shows has its words here, in one place, and dates are written in full ("1 July 2026"), so a
period cannot be misread across date conventions.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone

# What someone did, by the record's `action` (Zendesk's own labels are localized: never relied on).
ACTION_WORDS = {
    "create": "created",
    "update": "changed",
    "destroy": "deleted",
    "login": "signed in",
    "exported": "exported",
}
# Why a change counts as off hours (off_hours_changes.off_hours_reason).
OFF_HOURS_WORDS = {
    "weekend": "on a day without business hours",
    "holiday": "on a holiday",
    "before_hours": "before opening time",
    "after_hours": "after closing time",
}
OFF_HOURS_SHORT = {
    "weekend": "weekend",
    "holiday": "holiday",
    "before_hours": "before opening",
    "after_hours": "after closing",
}
# Where the time zone of local times came from (accounts.time_zone_source).
ZONE_SOURCE_WORDS = {
    "configured": "set in this installation's configuration",
    "account_settings": "the time zone in the account's Zendesk settings",
    "utc_fallback": "UTC, because the account's own time zone could not be read",
}
WEEKDAY_WORDS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

__all__ = [
    "ACTION_WORDS",
    "OFF_HOURS_SHORT",
    "OFF_HOURS_WORDS",
    "ZONE_SOURCE_WORDS",
    "action_words",
    "business_hours_source_words",
    "business_hours_words",
    "clock",
    "count_words",
    "long_date",
    "moment",
    "off_hours_words",
    "zone_words",
]


def action_words(action: object, label: object = None) -> str:
    """`changed` for `update`; an unknown action falls back to Zendesk's label, then the code."""
    code = str(action or "").strip().lower()
    return ACTION_WORDS.get(code) or str(label or code or "did something").strip().lower()


def off_hours_words(reason: object, short: bool = False) -> str:
    words = OFF_HOURS_SHORT if short else OFF_HOURS_WORDS
    return words.get(str(reason), str(reason))


def zone_words(time_zone: str, source: str) -> str:
    """`Europe/Paris, the time zone in the account's Zendesk settings`."""
    if source == "utc_fallback":
        return ZONE_SOURCE_WORDS[source]
    return f"{time_zone}, {ZONE_SOURCE_WORDS.get(source, source)}"


def count_words(count: int, singular: str, plural: str | None = None) -> str:
    """`1 record`, `2,345 records`."""
    return f"{count:,} {singular if count == 1 else (plural or singular + 's')}"


def long_date(value: date) -> str:
    """`1 July 2026`: day, month in full, year; no reading of 07/01 can go wrong."""
    return f"{value.day} {value:%B %Y}"


def moment(value: datetime, zone_name: str = "UTC") -> str:
    """`1 July 2026, 14:05 UTC` for an aware datetime (shown in UTC unless it is local already)."""
    shown = value.astimezone(timezone.utc) if zone_name == "UTC" else value
    return f"{long_date(shown.date())}, {shown:%H:%M} {zone_name}"


def clock(minutes: int) -> str:
    """`09:30` for 570 minutes after midnight (`24:00` for the end of the day)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def business_hours_words(hours: Sequence[tuple[int, int, int]]) -> str:
    """`Monday to Friday, 09:00 to 18:00` from (iso_weekday, opens_minute, closes_minute) rows.

    Days with the same hours are grouped, consecutive days as a range; days without hours are
    named as off hours all day.
    """
    if not hours:
        return "no business hours are set up, so every change counts as off hours"
    by_day: dict[int, tuple[tuple[int, int], ...]] = {}
    for day in range(1, 8):
        shifts = sorted((opens, closes) for weekday, opens, closes in hours if weekday == day)
        by_day[day] = tuple(shifts)
    groups: list[tuple[list[int], tuple[tuple[int, int], ...]]] = []
    for day in range(1, 8):
        if groups and groups[-1][1] == by_day[day] and groups[-1][0][-1] == day - 1:
            groups[-1][0].append(day)
        else:
            groups.append(([day], by_day[day]))
    parts = []
    closed = []
    for days, shifts in groups:
        names = (WEEKDAY_WORDS[days[0] - 1] if len(days) == 1 else
                 f"{WEEKDAY_WORDS[days[0] - 1]} and {WEEKDAY_WORDS[days[1] - 1]}" if len(days) == 2 else
                 f"{WEEKDAY_WORDS[days[0] - 1]} to {WEEKDAY_WORDS[days[-1] - 1]}")
        if not shifts:
            closed.append(names)
            continue
        times = " and ".join(f"{clock(opens)} to {clock(closes)}" for opens, closes in shifts)
        parts.append(f"{names}, {times}")
    text = "; ".join(parts)
    if closed:
        text += "; " + " and ".join(closed) + " off hours all day"
    return text


def business_hours_source_words(sources: Sequence[tuple[str, str, int]], seed_words: str | None) -> str | None:
    """Whose business hours judged the period's records (off_hours_changes.business_hours_source).

    `sources`: (business_hours_source, schedule name, records by people) rows; `seed_words`: the
    seed's hours in words (None: unknown). Without any Zendesk schedule: the seed's words alone.
    """
    names = sorted({name for source, name, _ in sources if source == "zendesk_schedules" and name})
    if not names:
        return seed_words
    quoted = " and ".join(f"“{name}”" for name in names)
    words = (f"the account's own Zendesk schedule {quoted} (from its audit log: schedule_history), as it was when "
             "each record was made")
    if any(source == "seed" and count for source, _, count in sources) and seed_words:
        words += f"; where no schedule is recorded yet, the seed business_hours: {seed_words}"
    return words
