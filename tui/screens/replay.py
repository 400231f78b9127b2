"""The replay player: a recording's screen with play/pause, speed, seek, commands and search."""

from __future__ import annotations

import asyncio
import bisect
import inspect
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Log, OptionList, Static
from textual.widgets.option_list import Option

from broker.common.errors import RecordingError
from broker.common.text import escape_controls
from recordings.asciicast import header_end, scan_events
from recordings.replay import Match, Player, Playhead, apply_event
from recordings.terminal import Screen as TermScreen
from recordings.terminal import Stream
from tui.text import plain
from tui.widgets.terminal_view import TerminalView
from tui.widgets.timeline import Timeline, fmt_time

log = logging.getLogger(__name__)

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
FRAME = 1 / 30
"""Seconds between playback ticks."""
MAX_IDLE = 1.0
"""With idle skipping on, pauses are shortened to this many seconds."""
SCROLLBACK_LINES = 10_000


class _HistoryScreen(TermScreen):
    """An emulator that keeps the rows scrolled off its top (the main screen's scrollback)."""

    def __init__(self, columns: int, lines: int) -> None:
        self.history: deque[str] = deque(maxlen=SCROLLBACK_LINES)
        super().__init__(columns, lines)

    def index(self) -> None:
        top, bottom = self.margins or (0, self.lines - 1)
        if self.cursor.y == bottom and top == 0 and not self.alternate:
            line = self.buffer[0]
            self.history.append("".join(line[x].data for x in range(self.columns)).rstrip())
        super().index()


def scrollback_lines(player: Player, t: float) -> tuple[list[str], list[str]]:
    """Replay from the start to ``t``; return (rows scrolled off, rows on screen) as text.

    Raises:
        RecordingError: the recording cannot be read.
    """
    path = player.cast_path
    try:
        with open(path, "rb") as f:
            header, offset = header_end(f, path=str(path))
            screen = _HistoryScreen(header.width, header.height)
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
    return list(screen.history), shown


class ReplayScreen(Screen[None]):
    """Play one recording; needs no services (``on_close`` is called once when it closes)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_play", "Play/pause"),
        Binding("left", "step(-5)", "-5s", show=False),
        Binding("right", "step(5)", "+5s", show=False),
        Binding("home", "seek_to(0)", "Start", show=False),
        Binding("end", "seek_end", "End", show=False),
        Binding("plus,equals_sign", "speed(1)", "Faster"),
        Binding("minus", "speed(-1)", "Slower"),
        Binding("i", "toggle_idle", "Skip idle"),
        Binding("left_square_bracket", "command(-1)", "Prev cmd", show=False),
        Binding("right_square_bracket", "command(1)", "Next cmd"),
        Binding("slash", "search", "Search", priority=True),  # see AuditScreen
        Binding("n", "match(1)", "Next match", show=False),
        Binding("N", "match(-1)", "Prev match", show=False),
        Binding("b", "scrollback", "Scrollback"),
        Binding("c", "focus_commands", "Commands", show=False),
        Binding("escape,q", "close", "Close"),
    ]

    def __init__(
        self,
        player: Player,
        *,
        on_close: Callable[[], object] | None = None,
        title: str = "",
        start: float = 0.0,
        search: str = "",
    ) -> None:
        """Open ``player`` at ``start`` seconds; ``search`` pre-fills the in-recording search."""
        super().__init__()
        self.player = player
        self.on_close = on_close
        self.title = escape_controls(title or f"Replay {player.cast_path.stem}")
        self.position = min(max(0.0, start), player.duration)
        self.playing = False
        self.speed = 1.0
        self.skip_idle = False
        self.matches: list[Match] = []
        self.match_index = -1
        self.search_text = search
        self._markers = list(player.commands())
        self._key_times = [k.time for k in player.index.keyframes]
        self._time_map = player.time_map(MAX_IDLE)
        self._head: Playhead | None = None
        self._timer: Timer | None = None
        self._last_tick = 0.0
        self._finished = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="replay-body"):
            yield TerminalView(id="replay-term")
            yield Log(id="replay-scrollback", max_lines=SCROLLBACK_LINES + 1000)
            options = [
                Option(plain(f"{fmt_time(m.time):>7}  {m.label}"), id=str(i))
                for i, m in enumerate(self._markers)
            ]
            yield OptionList(*options, id="replay-commands")
        yield Input(placeholder="search this recording, Enter", id="replay-search")
        yield Timeline(self.player.duration, [m.time for m in self._markers], id="replay-timeline")
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#replay-scrollback", Log).display = False
        self.query_one("#replay-search", Input).display = False
        self.query_one("#replay-commands", OptionList).display = bool(self._markers)
        self.seek(self.position)
        self._timer = self.set_interval(FRAME, self._tick, pause=True)
        self.query_one(TerminalView).focus()
        if self.search_text:
            self.query_one("#replay-search", Input).value = self.search_text
            self.run_search(self.search_text, jump=False)

    # -- state shown -------------------------------------------------------------------------

    @property
    def view(self) -> TerminalView:
        return self.query_one("#replay-term", TerminalView)

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(plain(text))
        status.set_class(error, "error")

    def _show_time(self) -> None:
        state = "▶ playing" if self.playing else "⏸ paused"
        speed = f"{self.speed:g}x"
        idle = " · idle skipped" if self.skip_idle else ""
        self.query_one(Timeline).show(self.position, f"{state} · {speed}{idle}")

    # -- moving in time ----------------------------------------------------------------------

    def seek(self, t: float) -> None:
        """Show the screen at ``t`` seconds (nearest keyframe, then the rest)."""
        t = min(max(0.0, t), self.player.duration)
        try:
            self._head = self.player.seek(t)
        except RecordingError as exc:
            self._fail(exc)
            return
        self.position = t
        self.view.attach(self._head.screen)
        self._show_time()

    def _move_to(self, t: float) -> None:
        head = self._head
        if head is None or t < head.time:
            self.seek(t)
            return
        i = bisect.bisect_right(self._key_times, t) - 1
        if i >= 0 and self.player.index.keyframes[i].offset > head.offset:
            self.seek(t)  # a keyframe is nearer than the playhead: jump (bounded work per tick)
            return
        try:
            head.advance(t)
        except RecordingError as exc:
            self._fail(exc)
            return
        self.position = t
        self.view.sync()
        self._show_time()

    def _fail(self, exc: RecordingError) -> None:
        self.playing = False
        if self._timer is not None:
            self._timer.pause()
        self._status(f"cannot replay: {exc}", error=True)

    def _tick(self) -> None:
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        if not self.playing:
            return
        step = dt * self.speed
        if self.skip_idle:
            tm = self._time_map
            target = tm.to_recording(tm.to_playback(self.position) + step)
        else:
            target = self.position + step
        if target >= self.player.duration:
            target = self.player.duration
            self.playing = False
            if self._timer is not None:
                self._timer.pause()
        self._move_to(target)

    def action_toggle_play(self) -> None:
        if self._timer is None:
            return
        if not self.playing and self.position >= self.player.duration:
            self.seek(0.0)
        self.playing = not self.playing
        if self.playing:
            self._last_tick = time.monotonic()
            self._timer.resume()
        else:
            self._timer.pause()
        self._show_time()

    def action_step(self, seconds: float) -> None:
        self.seek(self.position + seconds)

    def action_seek_to(self, t: float) -> None:
        self.seek(t)

    def action_seek_end(self) -> None:
        self.seek(self.player.duration)

    def action_speed(self, delta: int) -> None:
        i = SPEEDS.index(self.speed) + delta
        self.speed = SPEEDS[min(max(0, i), len(SPEEDS) - 1)]
        self._show_time()

    def action_toggle_idle(self) -> None:
        self.skip_idle = not self.skip_idle
        self._show_time()

    def on_timeline_seeked(self, message: Timeline.Seeked) -> None:
        self.seek(message.time)

    # -- commands ----------------------------------------------------------------------------

    def action_command(self, direction: int) -> None:
        times = [m.time for m in self._markers]
        if direction > 0:
            i = bisect.bisect_right(times, self.position + 1e-3)
        else:
            i = bisect.bisect_left(times, self.position - 0.5) - 1
        if not 0 <= i < len(times):
            self._status("No further command." if times else "No commands were captured.")
            return
        self._jump_command(i)

    def _jump_command(self, i: int) -> None:
        marker = self._markers[i]
        self.seek(marker.time)
        self.query_one("#replay-commands", OptionList).highlighted = i
        self._status(
            f"command {i + 1}/{len(self._markers)} at {fmt_time(marker.time)}: {marker.label}"
        )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self._jump_command(int(event.option.id))

    def action_focus_commands(self) -> None:
        if self._markers:
            self.query_one("#replay-commands", OptionList).focus()

    # -- search ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "search":  # in the search box, `/` is text
            return not isinstance(self.focused, Input)
        return True

    def action_search(self) -> None:
        box = self.query_one("#replay-search", Input)
        box.display = True
        self.set_focus(box)  # now: the search text typed right after `/` goes to the box

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        self.query_one("#replay-search", Input).display = False
        self.view.focus()
        if text:
            self.run_search(text, jump=True)

    @work(exclusive=True, group="search", exit_on_error=False)
    async def run_search(self, text: str, *, jump: bool) -> None:
        """Find ``text`` in the recording's text index; with ``jump``, go to the next match."""
        try:
            found = await asyncio.to_thread(self.player.search, text)
        except RecordingError as exc:
            self._status(f"search failed: {exc}", error=True)
            return
        self.search_text = text
        self.matches = found
        self.view.highlight = text
        if not found:
            self.match_index = -1
            self._status(f"{text!r} does not appear in this recording.", error=True)
            return
        times = [m.time for m in found]
        self.match_index = max(0, bisect.bisect_left(times, self.position - 1e-3) - 1)
        if jump:
            i = bisect.bisect_left(times, self.position - 1e-3)
            self._goto_match(i if i < len(found) else 0)
        else:
            self._status(f"{len(found)} matches for {text!r} · n next, N previous")

    def _goto_match(self, i: int) -> None:
        self.match_index = i % len(self.matches)
        m = self.matches[self.match_index]
        self.seek(m.time)
        n = len(self.matches)
        where = ""
        if (
            m.kind == "screen"
            and self.search_text.lower() not in "\n".join(self.view.text_lines()).lower()
        ):
            where = "  (scrolled off the screen here: b shows the scrollback)"
        self._status(
            f"match {self.match_index + 1}/{n} at {fmt_time(m.time)}: {m.line_text.strip()}{where}"
        )

    def action_match(self, direction: int) -> None:
        if not self.matches:
            self._status(
                "No search yet: press / to search." if not self.search_text else "No matches."
            )
            return
        self._goto_match(self.match_index + direction)

    # -- scrollback ---------------------------------------------------------------------------

    def action_scrollback(self) -> None:
        term, back = self.view, self.query_one("#replay-scrollback", Log)
        if back.display:
            back.display = False
            term.display = True
            term.focus()
            self._status("")
            return
        if self.playing:
            self.action_toggle_play()
        self._status("reading the scrollback…")
        self.load_scrollback(self.position)

    @work(exclusive=True, group="scrollback", exit_on_error=False)
    async def load_scrollback(self, t: float) -> None:
        """Show the text that scrolled off the screen up to ``t``, then the screen itself."""
        try:
            history, shown = await asyncio.to_thread(scrollback_lines, self.player, t)
        except RecordingError as exc:
            self._status(f"cannot read the scrollback: {exc}", error=True)
            return
        back = self.query_one("#replay-scrollback", Log)
        back.clear()
        back.write_lines([*history, f"──── on screen at {fmt_time(t)} ────", *shown])
        self.view.display = False
        back.display = True
        back.focus()
        back.scroll_end(animate=False)
        self._status(f"scrollback: {len(history)} lines scrolled off before {fmt_time(t)} · b back")

    # -- closing ------------------------------------------------------------------------------

    async def action_close(self) -> None:
        search = self.query_one("#replay-search", Input)
        if search.display:
            search.display = False
            self.view.focus()
            return
        if self.query_one("#replay-scrollback", Log).display:
            self.action_scrollback()
            return
        await self._finish()
        self.dismiss()

    async def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.playing = False
        if self._timer is not None:
            self._timer.stop()
        if self.on_close is not None:
            try:
                result = self.on_close()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("closing the replay of %s failed", self.player.cast_path.name)

    async def on_unmount(self) -> None:
        await self._finish()


class ReplayApp(App[None]):
    """A local app holding only the player (``gatehouse recordings play``; no broker, no ssh)."""

    CSS_PATH = str(Path(__file__).resolve().parents[1] / "app.tcss")
    TITLE = "Gatehouse"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, player: Player, *, title: str = "", start: float = 0.0) -> None:
        super().__init__()
        self.player = player
        self.replay_title = title
        self.start_at = start

    def on_mount(self) -> None:
        screen = ReplayScreen(
            self.player, on_close=self.exit, title=self.replay_title, start=self.start_at
        )
        self.push_screen(screen)


def run_player(player: Player, *, title: str = "", start: float = 0.0) -> None:
    """Run the player in this process's terminal until the user closes it."""
    ReplayApp(player, title=title, start=start).run()
