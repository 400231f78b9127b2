"""Playing a recording on an injected clock: play, pause, speed, idle skipping, seek, scrollback."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from recordings.errors import RecordingError
from recordings.index import Marker
from recordings.replay import Match, Player, Playhead, Scrollback

__all__ = [
    "FRAME",
    "MAX_IDLE",
    "SPEEDS",
    "Clock",
    "MonotonicClock",
    "PlaybackController",
    "VirtualClock",
]

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""The playback speeds offered, slowest first."""
FRAME = 1 / 30
"""Seconds between playback frames."""
MAX_IDLE = 1.0
"""With idle skipping on, pauses are shortened to this many seconds."""


class Clock(Protocol):
    """Where playback reads the time and waits for its next frame."""

    def now(self) -> float:
        """Return the current time in seconds (any origin; only differences count)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class MonotonicClock:
    """The clock of a person watching: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on the event loop."""
        await asyncio.sleep(seconds)


class VirtualClock:
    """A clock whose time moves only when :meth:`advance` moves it (tests, tools).

    Each :meth:`advance` wakes the sleepers in deadline order, each at its own deadline,
    and lets the woken task run up to its next wait before time moves on, so playback
    on this clock takes the same frames, in the same order, as it would in real time.
    """

    MAX_WAKEUPS = 1_000_000
    """Most sleepers one :meth:`advance` wakes (a task sleeping 0 forever is a bug)."""

    def __init__(self, start: float = 0.0) -> None:
        """Start at ``start`` seconds."""
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._slept: asyncio.Event | None = None

    def now(self) -> float:
        """Return the virtual time."""
        return self._now

    @property
    def sleeping(self) -> int:
        """How many tasks wait on this clock now."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    async def sleep(self, seconds: float) -> None:
        """Wait until :meth:`advance` has moved time ``seconds`` on."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._order), fut))
        if self._slept is not None:
            self._slept.set()
        try:
            await fut
        finally:
            fut.cancel()  # a cancelled sleeper is skipped (no-op once it was woken)

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Return once at least ``count`` tasks wait on this clock (no time passes)."""
        while self.sleeping < count:
            self._slept = self._slept or asyncio.Event()
            self._slept.clear()
            await self._slept.wait()

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` on, waking each sleeper whose deadline is passed.

        Raises:
            RuntimeError: more than :attr:`MAX_WAKEUPS` wake-ups (a task that sleeps 0
                in a loop would otherwise keep time from moving).
        """
        target = self._now + max(0.0, seconds)
        for _ in range(self.MAX_WAKEUPS):
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline, _, fut = heapq.heappop(self._sleepers)
            if fut.done():
                continue
            self._now = max(self._now, deadline)
            fut.set_result(None)
            await asyncio.sleep(0)  # the woken task runs to its next wait
        else:
            raise RuntimeError("virtual clock: too many wake-ups in one advance")
        self._now = target


class PlaybackController:
    """Where the playback of one recording stands and how it moves; no UI.

    A view reads ``position``, ``playing``, ``speed``, ``skip_idle`` and ``head`` (the
    emulator at ``position``) after each call, and repaints. :meth:`run` plays frames on
    the clock until paused or at the end. Methods that read the recording raise
    ``RecordingError``; playback is then paused and the position left where it was.
    """

    def __init__(
        self,
        player: Player,
        clock: Clock | None = None,
        *,
        start: float = 0.0,
        frame: float = FRAME,
        max_idle: float = MAX_IDLE,
    ) -> None:
        """Open paused at ``start`` seconds (no screen until the first :meth:`seek`).

        Args:
            player: the recording.
            clock: where time comes from (:class:`MonotonicClock` when None).
            start: the first position, clamped to the recording.
            frame: seconds between frames while playing.
            max_idle: longest pause kept when idle skipping is on.
        """
        self.player = player
        self.clock: Clock = clock or MonotonicClock()
        self.frame = frame
        self.position = self._clamp(start)
        """Seconds into the recording shown now."""
        self.playing = False
        """True while :meth:`run` moves the position on."""
        self.speed = 1.0
        """Recording seconds per clock second (one of :data:`SPEEDS`)."""
        self.skip_idle = False
        """True: pauses longer than ``max_idle`` are shortened to it."""
        self.head: Playhead | None = None
        """The emulator at ``position`` (a new object after a jump, the same after a step)."""
        self.markers: tuple[Marker, ...] = player.commands()
        """The captured command lines, in time order."""
        self.search_text = ""
        """The text of the last search."""
        self.matches: tuple[Match, ...] = ()
        """Where it appeared, in time order."""
        self.match_index = -1
        """The match shown last (-1: none)."""
        self._marker_times = [m.time for m in self.markers]
        self._key_times = [k.time for k in player.index.keyframes]
        self._time_map = player.time_map(max_idle)

    @property
    def duration(self) -> float:
        """Seconds from the start to the last event."""
        return self.player.duration

    @property
    def at_end(self) -> bool:
        """True when the position is the end of the recording."""
        return self.position >= self.duration

    def _clamp(self, t: float) -> float:
        return min(max(0.0, t), self.player.duration)

    # -- moving in time ----------------------------------------------------------------------

    def seek(self, t: float) -> None:
        """Show the screen at ``t`` seconds (clamped): nearest keyframe, then the rest."""
        t = self._clamp(t)
        try:
            self.head = self.player.seek(t)
        except RecordingError:
            self.playing = False
            raise
        self.position = t

    def step(self, seconds: float) -> None:
        """Seek ``seconds`` forward (negative: back)."""
        self.seek(self.position + seconds)

    def move_to(self, t: float) -> None:
        """Move to ``t``, playing the events on from the playhead when that is nearer."""
        head = self.head
        if head is None or t < head.time:
            self.seek(t)
            return
        i = bisect.bisect_right(self._key_times, t) - 1
        if i >= 0 and self.player.index.keyframes[i].offset > head.offset:
            self.seek(t)  # a keyframe is nearer than the playhead: jump (bounded work a frame)
            return
        try:
            head.advance(t)
        except RecordingError:
            self.playing = False
            raise
        self.position = t

    def advance(self, elapsed: float) -> None:
        """Play ``elapsed`` clock seconds on at the current speed; pause at the end."""
        step = elapsed * self.speed
        if self.skip_idle:
            tm = self._time_map
            target = tm.to_recording(tm.to_playback(self.position) + step)
        else:
            target = self.position + step
        if target >= self.duration:
            target = self.duration
            self.playing = False
        self.move_to(target)

    async def run(self, on_frame: Callable[[], object]) -> None:
        """Play a frame every :attr:`frame` seconds until paused or at the end.

        ``on_frame`` is called after each frame moved the position (the view repaints).
        """
        last = self.clock.now()
        while self.playing:
            await self.clock.sleep(self.frame)
            if not self.playing:
                return
            now = self.clock.now()
            self.advance(now - last)
            last = now
            on_frame()

    # -- the controls --------------------------------------------------------------------

    def play(self) -> None:
        """Start playing (from the start when at the end); :meth:`run` moves time on."""
        if self.at_end:
            self.seek(0.0)
        self.playing = True

    def pause(self) -> None:
        """Stop playing; the position stays."""
        self.playing = False

    def change_speed(self, steps: int) -> float:
        """Go ``steps`` along :data:`SPEEDS` (bounded at both ends); return the new speed."""
        i = SPEEDS.index(self.speed) + steps
        self.speed = SPEEDS[min(max(0, i), len(SPEEDS) - 1)]
        return self.speed

    def toggle_idle(self) -> bool:
        """Turn idle skipping on or off; return whether it is on."""
        self.skip_idle = not self.skip_idle
        return self.skip_idle

    def command_index(self, direction: int) -> int | None:
        """Return the index of the next (``direction`` > 0) or previous command, or None.

        The previous command is one that started more than half a second ago, so that
        pressing "previous" right after a jump goes further back.
        """
        times = self._marker_times
        if direction > 0:
            i = bisect.bisect_right(times, self.position + 1e-3)
        else:
            i = bisect.bisect_left(times, self.position - 0.5) - 1
        return i if 0 <= i < len(times) else None

    # -- search --------------------------------------------------------------------------

    def search(self, text: str) -> list[Match]:
        """Find ``text`` in the recording's text index (reads a file: call it off the loop)."""
        return self.player.search(text)

    def take_matches(self, text: str, found: Sequence[Match]) -> int | None:
        """Keep a search's result; return the first match at or after the position.

        Wraps to the first match when none is after the position; None when nothing matched.
        The match before the position counts as the one shown, so "next" goes forward.
        """
        self.search_text, self.matches = text, tuple(found)
        if not found:
            self.match_index = -1
            return None
        times = [m.time for m in found]
        i = bisect.bisect_left(times, self.position - 1e-3)
        self.match_index = max(0, i - 1)
        return i if i < len(found) else 0

    def goto_match(self, i: int) -> Match:
        """Seek to match ``i`` (counted round: -1 is the last) and return it."""
        self.match_index = i % len(self.matches)
        match = self.matches[self.match_index]
        self.seek(match.time)
        return match

    # -- scrollback ---------------------------------------------------------------------

    def scrollback(self, t: float | None = None) -> Scrollback:
        """Return the text scrolled off up to ``t`` (default: the position), and the screen.

        This reads the recording from its start: call it off the event loop.
        """
        return self.player.scrollback(self.position if t is None else t)
