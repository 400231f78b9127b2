"""The audit pane's logic without a UI: typed filters, and live records read back and verified."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from broker.auditlog.query import RecordFilter, RecordView, parse_time

__all__ = [
    "GIVE_UP_AFTER",
    "READ_BACK_MARGIN",
    "FilterText",
    "LiveVerifier",
    "Poll",
    "ReadBack",
    "parse_filter",
]

READ_BACK_MARGIN: Final = 100
"""Extra records read back when verifying live ones (arrivals while the read runs)."""

GIVE_UP_AFTER: Final = 3
"""Read-backs in a row that find none of the awaited records before they are given up on."""

_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")

Poll = Callable[[], Awaitable[None]]
"""Waits until the next read-back is due (a short sleep in the broker; a trigger in tests)."""


@dataclass(frozen=True, slots=True)
class FilterText:
    """The filter fields as typed."""

    user: str = ""
    """The actor, exactly."""
    action: str = ""
    """An action or the start of one (``login`` matches ``login.success``)."""
    target: str = ""
    """The target, exactly."""
    since: str = ""
    """A time (``24h``, ``2026-11-22``, RFC 3339), or empty."""
    until: str = ""
    """A time, or empty; a bare date means the end of that day."""


def parse_filter(text: FilterText, *, now: datetime | None = None) -> RecordFilter:
    """Turn typed filter fields into a :class:`RecordFilter`.

    A bare date as ``until`` means the end of that day.

    Raises:
        ValueError: A time is not understood, or ``since`` is after ``until``; the message
            names the field.
    """
    since = _when("since", text.since.strip(), now)
    until = _when("until", text.until.strip(), now)
    if until is not None and _DATE.fullmatch(text.until.strip()):
        until += timedelta(days=1, microseconds=-1)
    if since is not None and until is not None and since > until:
        raise ValueError("since: is after until")
    return RecordFilter(
        actor=text.user.strip(),
        action=text.action.strip(),
        target=text.target.strip(),
        since=since,
        until=until,
    )


def _when(name: str, value: str, now: datetime | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value, now=now)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{name}: {exc}") from None


@dataclass(frozen=True, slots=True)
class ReadBack:
    """What one read-back of live records found."""

    found: tuple[RecordView, ...]
    """Awaited records read back from the log, each with what verifying it found."""
    lost: frozenset[int]
    """Awaited records given up on: reported as written, but not found in the log."""


class LiveVerifier:
    """Reads records reported as written back from the log until each one has been checked.

    The broker reports a record to the pane once it is durable, and the pane shows it at
    once as pending. :meth:`rounds` then reads the newest matching records back (a bounded
    read, never a scan of the log), yields what verifying the awaited ones found, and gives
    the rest up after :data:`GIVE_UP_AFTER` reads in a row that found none of them.
    """

    def __init__(
        self,
        read: Callable[[int], Awaitable[list[RecordView]]],
        poll: Poll,
        *,
        margin: int = READ_BACK_MARGIN,
        give_up_after: int = GIVE_UP_AFTER,
    ) -> None:
        """Read back with ``read(limit)`` (newest matching records, oldest first).

        Args:
            read: the newest ``limit`` records that match the pane's filter, verified.
            poll: awaited before each read-back.
            margin: extra records read back for arrivals while the read runs.
            give_up_after: read-backs in a row without a find before giving up.
        """
        self._read = read
        self._poll = poll
        self.margin = margin
        self.give_up_after = give_up_after
        self.pending: set[int] = set()
        """Sequence numbers of the records still to be read back."""

    def expect(self, seqs: Iterable[int]) -> None:
        """Await these records (shown as pending) in the next read-backs."""
        self.pending.update(seqs)

    def clear(self) -> None:
        """Stop awaiting anything (the pane reloads; :meth:`rounds` ends at its next round)."""
        self.pending.clear()

    async def rounds(self, shown: Callable[[], Sequence[int]]) -> AsyncIterator[ReadBack]:
        """Read back until nothing is awaited; yield what each read-back found.

        Args:
            shown: the sequence numbers the pane shows now; records no longer shown (dropped
                past the pane's cap) are not awaited any more.

        Raises:
            GatehouseError: the log cannot be read (as ``read`` raises it).
        """
        misses = 0
        while self.pending:
            await self._poll()
            seqs = shown()
            self.pending &= set(seqs)
            wanted = set(self.pending)
            if not wanted:
                return
            # Every matching record written since the oldest awaited one was reported to the
            # pane, so reading back that many (and a margin for those still on their way)
            # covers them all.
            oldest = min(wanted)
            newer = sum(1 for seq in seqs if seq >= oldest)
            views = await self._read(newer + self.margin)
            found = tuple(v for v in views if v.record is not None and v.record.seq in wanted)
            self.pending -= {v.record.seq for v in found if v.record is not None}
            misses = 0 if found else misses + 1
            lost: frozenset[int] = frozenset()
            if misses >= self.give_up_after:
                lost = frozenset(self.pending)
                self.pending.clear()
            yield ReadBack(found, lost)
