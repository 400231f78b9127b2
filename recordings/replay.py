"""Replay engine: seek through keyframes, play forward, list commands, search screen text."""

from __future__ import annotations

import bisect
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

from recordings.asciicast import Event, Header, header_end, parse_resize, scan_events
from recordings.errors import RecordingError
from recordings.index import Index, Keyframe, Marker, build_index, load_index
from recordings.scrollback import SCROLLBACK_LINES, ScrollbackScreen
from recordings.snapshot import ScreenState, render_text, restore, screen_state
from recordings.terminal import Screen, Stream

__all__ = [
    "Match",
    "Player",
    "Playhead",
    "ScreenState",
    "Scrollback",
    "TimeMap",
    "apply_event",
    "compress_idle",
    "render_text",
    "search_text_file",
]


@dataclass(frozen=True)
class Match:
    """A place where searched text appeared."""

    time: float
    """Seconds into the recording (the screen at this time shows it, or it just scrolled)."""
    line_text: str
    """The whole screen line (or command line) that contains the text."""
    kind: str = "screen"
    """``screen`` for text shown, ``command`` for a captured command line."""


@dataclass(frozen=True)
class Scrollback:
    """The text of a terminal at one moment: what scrolled off, then what is on screen."""

    history: tuple[str, ...]
    """Rows scrolled off the top of the main screen, oldest first (the newest ones kept)."""
    shown: tuple[str, ...]
    """The screen's rows, without trailing blank rows."""


def apply_event(screen: Screen, stream: Stream, event: Event) -> None:
    """Apply one recording event to an emulator (``o`` and ``r``; others change nothing)."""
    if event.code == "o":
        stream.feed(event.data)
    elif event.code == "r":
        cols, rows = parse_resize(event.data)
        screen.resize(rows, cols)


class Playhead:
    """A live emulator positioned in a recording; move it forward with :meth:`advance`.

    The TUI keeps one while playing: ``screen`` is a :class:`recordings.terminal.Screen`
    whose ``dirty`` rows tell what to repaint.
    """

    def __init__(self, player: Player, keyframe: Keyframe, screen: Screen, stream: Stream) -> None:
        self.player = player
        self.screen = screen
        self.stream = stream
        self.time = keyframe.time
        """Time of the last applied event (or of the keyframe)."""
        self.offset = keyframe.offset
        self.events = keyframe.events

    def advance(self, t: float) -> bool:
        """Apply every event with time <= ``t``; return True if any was applied.

        Raises:
            RecordingError: the recording cannot be read or is malformed there.
        """
        if self.offset >= self.player.index.cast_size:
            return False
        applied = False
        path = self.player.cast_path
        try:
            with open(path, "rb") as f:
                for event, end in scan_events(
                    f, self.offset, first_line=self.events + 2, last_time=self.time, path=str(path)
                ):
                    if event.time > t:
                        break
                    apply_event(self.screen, self.stream, event)
                    self.time, self.offset, self.events = event.time, end, self.events + 1
                    applied = True
        except OSError as exc:
            raise RecordingError(f"cannot read recording {path}: {exc.strerror}") from None
        return applied

    def state(self) -> ScreenState:
        """Return what the screen shows now."""
        return screen_state(self.screen)


class Player:
    """Random access to one recording through its index."""

    def __init__(self, cast_path: str | os.PathLike[str], index: Index, header: Header) -> None:
        """Use an already loaded index (see :meth:`open`)."""
        self.cast_path = Path(cast_path)
        self.index = index
        self.header = header
        self._times = [k.time for k in index.keyframes]

    @classmethod
    def open(cls, cast_path: str | os.PathLike[str]) -> Player:
        """Open a recording, (re)building its index if missing or stale.

        Raises:
            RecordingError: the recording is unreadable or malformed.
        """
        try:
            index = load_index(cast_path)
        except RecordingError:
            build_index(cast_path)
            index = load_index(cast_path)
        try:
            with open(cast_path, "rb") as f:
                header, _ = header_end(f, path=os.fspath(cast_path))
        except OSError as exc:
            raise RecordingError(f"cannot read recording {cast_path}: {exc.strerror}") from None
        return cls(cast_path, index, header)

    @property
    def duration(self) -> float:
        """Seconds from the start to the last event."""
        return self.index.duration

    def seek(self, t: float) -> Playhead:
        """Return a playhead at time ``t``: nearest keyframe at or before it, then the rest."""
        keyframes = self.index.keyframes
        i = max(0, bisect.bisect_right(self._times, t) - 1)
        keyframe = keyframes[i]
        try:
            screen, stream = restore(self.index.keyframe_state(keyframe))
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordingError(f"corrupt keyframe in {self.index.path}: {exc}") from None
        head = Playhead(self, keyframe, screen, stream)
        head.advance(t)
        return head

    def screen_at(self, t: float) -> ScreenState:
        """Return the screen as it was at ``t`` seconds (after every event at or before it)."""
        return self.seek(t).state()

    def scrollback(self, t: float, *, keep: int = SCROLLBACK_LINES) -> Scrollback:
        """Replay from the start to ``t``; return the rows scrolled off and those on screen.

        Keyframes hold no scrollback, so this reads every event up to ``t``.

        Raises:
            RecordingError: the recording cannot be read or is malformed.
        """
        path = self.cast_path
        try:
            with open(path, "rb") as f:
                header, offset = header_end(f, path=str(path))
                screen = ScrollbackScreen(header.width, header.height, keep=keep)
                stream = Stream(screen)
                for event, _ in scan_events(f, offset, path=str(path)):
                    if event.time > t:
                        break
                    apply_event(screen, stream, event)
        except OSError as exc:
            raise RecordingError(f"cannot read recording {path}: {exc.strerror}") from None
        shown = [row.rstrip() for row in screen.display]
        while shown and not shown[-1]:
            shown.pop()
        return Scrollback(tuple(screen.scrolled), tuple(shown))

    def commands(self) -> tuple[Marker, ...]:
        """Return the captured command lines with their times."""
        return self.index.markers

    def search(self, text: str, *, ignore_case: bool = True, limit: int = 1000) -> list[Match]:
        """Return the moments where ``text`` was on screen or in a command line."""
        return search_text_file(self.index.text_path, text, ignore_case=ignore_case, limit=limit)

    def time_map(self, max_idle: float = 2.0) -> TimeMap:
        """Return a mapping that shortens every pause to at most ``max_idle`` seconds."""
        return compress_idle(self.index.gaps, max_idle, self.duration)


def search_text_file(
    path: str | os.PathLike[str], text: str, *, ignore_case: bool = True, limit: int = 1000
) -> list[Match]:
    """Search one text index (``ID.txt``) without re-emulating anything.

    Args:
        path: the text index.
        text: what to look for (one line; tabs and newlines never match).
        ignore_case: ASCII case-insensitive when True (costs a lowercase copy of the file).
        limit: stop after this many matches.

    Raises:
        RecordingError: the file cannot be read.
    """
    needle = text.encode()
    if not needle or b"\n" in needle or b"\t" in needle or b"\r" in needle:
        return []
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return []
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _search(data, needle, ignore_case, limit)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise RecordingError(f"cannot read text index {path}: {exc.strerror}") from None


def _search(data: mmap.mmap, needle: bytes, ignore_case: bool, limit: int) -> list[Match]:
    out: list[Match] = []
    hay: bytes | mmap.mmap = data
    if ignore_case:  # ASCII case folding keeps byte offsets, so lines are cut from ``data``
        hay = data[:].lower()
        needle = needle.lower()
    pos = 0
    last_line = -1
    while len(out) < limit:
        hit = hay.find(needle, pos)
        if hit < 0:
            break
        start = data.rfind(b"\n", 0, hit) + 1
        end = data.find(b"\n", hit)
        if end < 0:
            break  # a partial last line (being written, or cut by a crash)
        pos = end + 1
        if start == last_line:
            continue
        line = bytes(data[start:end])
        ms, _, rest = line.partition(b"\t")
        kind, _, body = rest.partition(b"\t")
        if hit < start + len(ms) + len(kind) + 2 or not ms.isdigit():
            pos = hit + 1  # hit inside the time/kind prefix: look again after it
            continue
        last_line = start
        out.append(
            Match(
                int(ms) / 1000,
                body.decode("utf-8", "replace"),
                "command" if kind == b"c" else "screen",
            )
        )
    return out


@dataclass(frozen=True)
class TimeMap:
    """Maps recording time to playback time with long pauses shortened (idle skipping)."""

    pauses: tuple[tuple[float, float], ...]
    """``(start, length)`` of the pauses longer than ``max_idle``, ascending."""
    duration: float
    """Recording duration."""
    max_idle: float
    """Longest pause kept."""

    @property
    def playback_duration(self) -> float:
        """Duration after shortening."""
        return self.to_playback(self.duration)

    def to_playback(self, t: float) -> float:
        """Recording time → playback time (constant inside the removed part of a pause)."""
        removed = 0.0
        for start, length in self.pauses:
            cut = start + self.max_idle
            if t <= cut:
                break
            removed += min(t, start + length) - cut
        return t - removed

    def to_recording(self, p: float) -> float:
        """Playback time → recording time (a cut point maps to the end of its pause)."""
        removed = 0.0
        for start, length in self.pauses:
            if p < start + self.max_idle - removed:
                break
            removed += length - self.max_idle
        return p + removed


def compress_idle(
    gaps: tuple[tuple[float, float], ...], max_idle: float, duration: float
) -> TimeMap:
    """Build a :class:`TimeMap` from an index's pauses.

    Args:
        gaps: ``(start, length)`` pauses, ascending.
        max_idle: keep at most this many seconds of each pause (>= 0).
        duration: the recording's duration.
    """
    if max_idle < 0:
        raise ValueError("max_idle must be >= 0")
    kept = tuple((s, n) for s, n in gaps if n > max_idle)
    return TimeMap(kept, duration, max_idle)
