"""Known answers for Zendesk schedules, in plain Python: the schedule_history mart and whose business hours judge each record.

Written from the text forms Zendesk's audit log documents for workweek changes
(`Workweek changed from {...} to {...}`): a Ruby hash `{:mon=>{"09:00"=>"17:00"}, :tue=>{}}`,
the same HTML-escaped once or twice, or JSON (`{"mon":{"09:00":"17:00"}}`, full day names too).
The JSON side is read with `json`, the Ruby side with two regular expressions; nothing here
follows the models' SQL (which compacts the text with string replacements).
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

WORKWEEK = "zendesk/business_hours/workweek"
DAY_NUMBERS = {
    name: number
    for number, names in enumerate(
        (("mon", "monday"), ("tue", "tuesday"), ("wed", "wednesday"), ("thu", "thursday"),
         ("fri", "friday"), ("sat", "saturday"), ("sun", "sunday")), start=1)
    for name in names
}
WEEKDAY_NAMES = {number: names for names, number in DAY_NUMBERS.items() if len(names) > 3}

Hours = dict[int, list[tuple[int, int]]]  # ISO weekday -> [(opens, closes) minutes], in written order


def minutes(clock: str) -> int:
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def decoded(text: str) -> str:
    """HTML entities decoded until nothing changes (exports escape once, twice, or more)."""
    for _ in range(5):
        once = html.unescape(text)
        if once == text:
            break
        text = once
    return text


def parse_workweek(side: str) -> Hours:
    """One side of a workweek change as hours per ISO weekday (a day without hours is absent)."""
    text = side.strip()
    try:
        days = json.loads(text)
    except ValueError:
        days = {
            day: dict(re.findall(r'"(\d{1,2}:\d{2})"\s*=>\s*"(\d{1,2}:\d{2})"', body))
            for day, body in re.findall(r':?"?([a-z]+)"?\s*=>\s*\{([^{}]*)\}', text.lower())
        }
    hours: Hours = {}
    for day, intervals in days.items():
        if intervals:
            hours[DAY_NUMBERS[day.lower()]] = [(minutes(opens), minutes(closes)) for opens, closes in intervals.items()]
    return hours


@dataclass
class Version:
    subdomain: str
    schedule_id: int
    number: int
    audit_log_id: int
    name: str
    hours: Hours
    valid_from: datetime | None
    valid_to: datetime | None

    def covers(self, moment: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= moment) and (self.valid_to is None or moment < self.valid_to)


def schedule_versions(records: list[dict[str, Any]]) -> dict[tuple[str, int], list[Version]]:
    """Each schedule's versions: n = after its n-th change; 0 = the first change's "from" side,
    when that side has hours (`{}` is how Zendesk records a new schedule)."""
    changes: dict[tuple[str, int], list[tuple[datetime, int, str, Hours, Hours]]] = {}
    for record in records:
        if record.get("source_type") != WORKWEEK or record.get("source_id") is None:
            continue
        text = decoded(record.get("change_description") or "")
        found = re.search(r" from (\{.*\}) to (\{.*\})\s*$", text, flags=re.DOTALL)
        if not found:
            continue
        label = record.get("source_label") or ""
        name = label[len("Workweek: "):] if label.lower().startswith("workweek: ") else label
        changes.setdefault((record["subdomain"], record["source_id"]), []).append(
            (record["created_at"], record["id"], name, parse_workweek(found.group(1)), parse_workweek(found.group(2))))
    versions: dict[tuple[str, int], list[Version]] = {}
    for (subdomain, schedule_id), items in changes.items():
        items.sort(key=lambda item: (item[0], item[1]))
        found_versions = []
        first_at, first_id, first_name, first_from, _ = items[0]
        if first_from:
            found_versions.append(Version(subdomain, schedule_id, 0, first_id, first_name, first_from, None, first_at))
        for number, (created_at, record_id, name, _, to_hours) in enumerate(items, start=1):
            valid_to = items[number][0] if number < len(items) else None
            found_versions.append(Version(subdomain, schedule_id, number, record_id, name, to_hours, created_at, valid_to))
        versions[(subdomain, schedule_id)] = found_versions
    return versions


def schedule_rows(records: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """schedule_history as (subdomain, schedule_id, version_number, weekday, interval_number,
    audit_log_id, schedule_name, opens_at_minute, closes_at_minute, valid_from, valid_to)."""
    rows = set()
    for versions in schedule_versions(records).values():
        for version in versions:
            for weekday in range(1, 8):
                intervals = version.hours.get(weekday, [])
                numbered = list(enumerate(intervals, start=1)) or [(0, (None, None))]
                for number, (opens, closes) in numbered:
                    rows.add((version.subdomain, version.schedule_id, version.number, weekday, number,
                              version.audit_log_id, version.name, opens, closes, version.valid_from, version.valid_to))
    return rows


class BusinessHours:
    """Whose business hours judge a record: the account's default schedule (its lowest id, or the
    one named) as it was then, else the seed's."""

    def __init__(self, records: list[dict[str, Any]], seed_hours: Hours, named: str | None = None) -> None:
        self.seed_hours = seed_hours
        self.chosen: dict[str, list[Version]] = {}
        by_account: dict[str, list[tuple[int, int, list[Version]]]] = {}
        for (subdomain, schedule_id), versions in schedule_versions(records).items():
            is_named = named is not None and (str(schedule_id) == named or any(v.name == named for v in versions))
            by_account.setdefault(subdomain, []).append((0 if is_named else 1, schedule_id, versions))
        for subdomain, schedules in by_account.items():
            self.chosen[subdomain] = min(schedules, key=lambda item: item[:2])[2]

    def of(self, record: dict[str, Any]) -> tuple[str, int | None, str | None, Hours]:
        """(business_hours_source, schedule id, schedule name, hours) for one record; the name is the
        schedule's when its hours last changed before the record."""
        versions = self.chosen.get(record["subdomain"], [])
        for position, version in enumerate(versions):
            if version.covers(record["created_at"]):
                start = position  # the name when these hours began: the first of the versions with them
                while start > 0 and versions[start - 1].hours == version.hours:
                    start -= 1
                return "zendesk_schedules", version.schedule_id, versions[start].name, version.hours
        return "seed", None, None, self.seed_hours


def off_hours_reason(hours: Hours, holidays: set[Any], local: datetime) -> str | None:
    """weekend, holiday, before_hours, after_hours or None (inside), in that precedence."""
    weekday, minute = local.isoweekday(), local.hour * 60 + local.minute
    if weekday not in hours:
        return "weekend"
    if local.date() in holidays:
        return "holiday"
    if any(opens <= minute < closes for opens, closes in hours[weekday]):
        return None
    if minute < min(opens for opens, _ in hours[weekday]):
        return "before_hours"
    return "after_hours"
