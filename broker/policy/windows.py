"""Time windows of access rules: when a rule applies, and when its current window closes (pure).

A window is a set of weekdays and a span of wall-clock time in one time zone, e.g.
``{days: mon-fri, hours: "08:00-18:00", tz: Europe/Berlin}``. A span whose end is not after
its start runs past midnight (``22:00-06:00``); its days are the days it starts on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_DAY = 24 * 60


class WindowError(ValueError):
    """A window that cannot be read; the message says which part and why."""


@dataclass(frozen=True)
class Window:
    """Weekdays × a span of local time in which a rule applies."""

    days: frozenset[int]
    """Weekdays the span starts on (0 is Monday)."""
    start: int
    """Minutes after local midnight the span starts."""
    end: int
    """Minutes after local midnight the span ends (not after ``start``: the next day)."""
    tz: str
    """IANA time zone name the times are in."""

    def closes(self, now: float) -> float | None:
        """When the span that holds ``now`` ends (epoch seconds), or None if ``now`` is outside."""
        zone = ZoneInfo(self.tz)
        local = datetime.fromtimestamp(now, UTC).astimezone(zone)
        minute = local.hour * 60 + local.minute
        midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
        today, yesterday = local.weekday(), (local.weekday() - 1) % 7
        if self.start < self.end:
            if today in self.days and self.start <= minute < self.end:
                return _at(midnight, self.end)
            return None
        if today in self.days and minute >= self.start:
            return _at(midnight + timedelta(days=1), self.end)
        if yesterday in self.days and minute < self.end:
            return _at(midnight, self.end)
        return None


def _at(midnight: datetime, minutes: int) -> float:
    local = midnight + timedelta(minutes=minutes)  # wall-clock time that day
    return local.replace(tzinfo=midnight.tzinfo).timestamp()


def open_until(windows: Sequence[Window], now: float) -> float | None:
    """With no windows: ``inf`` (always open). Else the latest close of the windows holding
    ``now``, or None when none does (the rule does not apply now)."""
    if not windows:
        return float("inf")
    closes = [c for w in windows if (c := w.closes(now)) is not None]
    return max(closes) if closes else None


def parse_days(text: str) -> frozenset[int]:
    """``mon-fri``, ``sat,sun``, ``mon,wed-fri`` or ``daily`` → weekday numbers.

    Raises:
        WindowError: an unknown day or an empty list.
    """
    text = text.strip().lower()
    if text in ("daily", "*"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if first not in DAYS or (dash and last not in DAYS):
            raise WindowError(f"unknown day in {part.strip()!r} (use mon … sun, or daily)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(DAYS.index(d) for d in _span(a, b))
    return frozenset(days)


def _span(a: int, b: int) -> list[str]:
    return [DAYS[(a + i) % 7] for i in range((b - a) % 7 + 1)]


def parse_hours(text: str) -> tuple[int, int]:
    """``08:00-18:00`` (``24:00`` may end a span) → minutes after midnight.

    Raises:
        WindowError: malformed, out of range, or a span of no length.
    """
    m = _HOURS.match(text.strip())
    if m is None:
        raise WindowError(f"must look like 08:00-18:00, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > _DAY:
        raise WindowError(f"{text!r} is not a time of day (00:00 to 24:00)")
    if start == end:
        raise WindowError(f"{text!r} starts where it ends (use 00:00-24:00 for the whole day)")
    return start, end


def check_zone(name: str) -> str:
    """``name`` if it is a known IANA time zone.

    Raises:
        WindowError: unknown zone.
    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(f"unknown time zone {name!r} (an IANA name like Europe/Berlin)") from None
    return name
