"""Opening hours of second level: 'mon-fri 08:00-18:00; sat 09:00-13:00' in the hub's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.messages import text

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

    def next_opening(self, moment: datetime) -> datetime | None:
        """When second level opens next after `moment`, in the hub's time zone; None while it is open (or if no
        hours are set at all)."""
        if self.is_open(moment):
            return None
        local = moment.astimezone(self.zone)
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            for start, _end in sorted(self.intervals.get(day.weekday(), ())):
                opening = datetime.combine(day, time(start // 60, start % 60), self.zone)
                if opening > local:
                    return opening
        return None


def when_back(opening: datetime | None, now: datetime, language: str) -> str:
    """ "today at 08:00", "tomorrow at 08:00", "on Monday at 08:00" (in German: "ab heute 08:00 Uhr", ...);
    "as soon as possible" when no opening is known."""
    if opening is None:
        return text("hub_back_later", language)
    days = (opening.date() - now.astimezone(opening.tzinfo).date()).days
    clock = opening.strftime("%H:%M")
    if days == 0:
        return text("hub_back_today", language, time=clock)
    if days == 1:
        return text("hub_back_tomorrow", language, time=clock)
    weekday = text("hub_weekdays", language).split(",")[opening.weekday()].strip()
    return text("hub_back_on", language, day=weekday, time=clock)


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
