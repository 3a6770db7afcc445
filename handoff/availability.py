"""Opening hours of second level: 'mon-fri 08:00-18:00; sat 09:00-13:00' in the hub's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_RULE = re.compile(r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")


@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (0 = Monday) the open intervals, in minutes after midnight."""

    intervals: dict[int, tuple[tuple[int, int], ...]]
    zone: ZoneInfo

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.intervals.get(local.weekday(), ()))


def _minutes(value: str) -> int:
    hours, minutes = (int(part) for part in value.split(":"))
    if value == "24:00":
        return 24 * 60
    time(hours, minutes)  # raises for 25:00 or 12:61
    return hours * 60 + minutes


def parse_opening_hours(spec: str, zone: str) -> OpeningHours:
    """Parse the OPENING_HOURS setting; raises ValueError with the offending part."""
    intervals: dict[int, list[tuple[int, int]]] = {}
    for part in filter(None, (p.strip().lower() for p in spec.split(";"))):
        match = _RULE.match(part)
        if not match or match["first"] not in DAYS or (match["last"] and match["last"] not in DAYS):
            raise ValueError(f"opening hours: cannot read {part!r} (expected e.g. 'mon-fri 08:00-18:00')")
        first = DAYS.index(match["first"])
        last = DAYS.index(match["last"] or match["first"])
        try:
            start, end = _minutes(match["start"]), _minutes(match["end"])
        except ValueError as exc:
            raise ValueError(f"opening hours: {part!r}: {exc}") from exc
        if end <= start:
            raise ValueError(f"opening hours: {part!r} ends before it starts")
        for day in range(first, last + 1):
            intervals.setdefault(day, []).append((start, end))
    return OpeningHours({day: tuple(spans) for day, spans in intervals.items()}, ZoneInfo(zone))
