"""The replay player: a recording's screen with play/pause, speed, seek, commands and search."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Log, OptionList, Static
from textual.widgets.option_list import Option

from broker.common.errors import RecordingError
from broker.common.text import escape_controls
from recordings.playback import SPEEDS, Clock, PlaybackController
from recordings.replay import Match, Player, Playhead
from recordings.scrollback import SCROLLBACK_LINES
from tui.screens.help import HelpScreen
from tui.text import plain
from tui.widgets.terminal_view import TerminalView
from tui.widgets.timeline import Timeline, fmt_time

__all__ = ["SPEEDS", "ReplayScreen"]

log = logging.getLogger(__name__)


class ReplayScreen(Screen[None]):
    """Play one recording; needs no services (``on_close`` is called once when it closes)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_play", "Play/pause"),
        Binding("left", "step(-5)", "-5s", show=False),
        Binding("right", "step(5)", "+5s", show=False),
        Binding("home", "seek_to(0)", "Start", show=False),
        Binding("end", "seek_end", "End", show=False),
        Binding("plus,equals_sign", "speed(1)", "Faster"),
        Binding("minus", "speed(-1)", "Slower", show=False),
        Binding("i", "toggle_idle", "Skip idle", show=False),
        Binding("left_square_bracket", "command(-1)", "Prev cmd", show=False),
        Binding("right_square_bracket", "command(1)", "Next cmd", show=False),
        Binding("slash", "search", "Search", priority=True),  # see AuditScreen
        Binding("n", "match(1)", "Next match", show=False),
        Binding("N", "match(-1)", "Prev match", show=False),
        Binding("b", "scrollback", "Scrollback"),
        Binding("c", "focus_commands", "Commands", show=False),
        Binding("escape,q", "close", "Close"),
        Binding("question_mark", "help", "Help", show=False),
    ]
    """The footer shows what fits at 80 columns; the command palette (Ctrl+P) lists them all."""

    def __init__(
        self,
        player: Player,
        *,
        on_close: Callable[[], object] | None = None,
        title: str = "",
        start: float = 0.0,
        search: str = "",
        clock: Clock | None = None,
    ) -> None:
        """Open ``player`` at ``start`` seconds; ``search`` pre-fills the in-recording search.

        ``clock`` drives playback (the monotonic clock when None; tests pass a virtual one).
        """
        super().__init__()
        self.player = player
        self.playback = PlaybackController(player, clock, start=start)
        self.on_close = on_close
        self.title = escape_controls(title or f"Replay {player.cast_path.stem}")
        self.playback.search_text = search
        self._markers = self.playback.markers
        self._shown_head: Playhead | None = None
        self._finished = False

    @property
    def position(self) -> float:
        """Seconds into the recording shown now."""
        return self.playback.position

    @property
    def playing(self) -> bool:
        """True while playing."""
        return self.playback.playing

    @property
    def speed(self) -> float:
        """The playback speed."""
        return self.playback.speed

    @property
    def skip_idle(self) -> bool:
        """True while long pauses are shortened."""
        return self.playback.skip_idle

    @property
    def matches(self) -> tuple[Match, ...]:
        """Where the last search found its text."""
        return self.playback.matches

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
        self.query_one(TerminalView).focus()
        if self.playback.search_text:
            self.query_one("#replay-search", Input).value = self.playback.search_text
            self.run_search(self.playback.search_text, jump=False)

    # -- state shown -------------------------------------------------------------------------

    @property
    def view(self) -> TerminalView:
        return self.query_one("#replay-term", TerminalView)

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(plain(text))
        status.set_class(error, "error")

    def _show_time(self) -> None:
        playback = self.playback
        state = "▶ playing" if playback.playing else "⏸ paused"
        speed = f"{playback.speed:g}x"
        idle = " · idle skipped" if playback.skip_idle else ""
        self.query_one(Timeline).show(playback.position, f"{state} · {speed}{idle}")

    def _render_playback(self) -> None:
        """Show the controller's screen (attach a new playhead, else repaint dirty rows)."""
        head = self.playback.head
        if head is not None and head is not self._shown_head:
            self._shown_head = head
            self.view.attach(head.screen)
        elif head is not None:
            self.view.sync()
        self._show_time()

    def _fail(self, exc: RecordingError) -> None:
        self.playback.pause()  # a running playback ends at its next frame
        self._status(f"cannot replay: {exc}", error=True)
        self._show_time()

    # -- moving in time ----------------------------------------------------------------------

    def seek(self, t: float) -> None:
        """Show the screen at ``t`` seconds (nearest keyframe, then the rest)."""
        try:
            self.playback.seek(t)
        except RecordingError as exc:
            self._fail(exc)
            return
        self._render_playback()

    def _pause(self) -> None:
        self.playback.pause()
        self.workers.cancel_group(self, "playback")

    @work(exclusive=True, group="playback", exit_on_error=False)
    async def run_playback(self) -> None:
        """Play frames on the controller's clock until paused or at the end."""
        try:
            await self.playback.run(self._render_playback)
        except RecordingError as exc:
            self._fail(exc)
            return
        self._show_time()

    def action_toggle_play(self) -> None:
        if self.playback.playing:
            self._pause()
            self._show_time()
            return
        try:
            self.playback.play()
        except RecordingError as exc:
            self._fail(exc)
            return
        self._render_playback()
        self.run_playback()

    def action_step(self, seconds: float) -> None:
        self.seek(self.position + seconds)

    def action_seek_to(self, t: float) -> None:
        self.seek(t)

    def action_seek_end(self) -> None:
        self.seek(self.player.duration)

    def action_speed(self, delta: int) -> None:
        self.playback.change_speed(delta)
        self._show_time()

    def action_toggle_idle(self) -> None:
        self.playback.toggle_idle()
        self._show_time()

    def on_timeline_seeked(self, message: Timeline.Seeked) -> None:
        self.seek(message.time)

    # -- commands ----------------------------------------------------------------------------

    def action_command(self, direction: int) -> None:
        i = self.playback.command_index(direction)
        if i is None:
            self._status("No further command." if self._markers else "No commands were captured.")
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
            found = await asyncio.to_thread(self.playback.search, text)
        except RecordingError as exc:
            self._status(f"search failed: {exc}", error=True)
            return
        first = self.playback.take_matches(text, found)
        self.view.highlight = text
        if first is None:
            self._status(f"{text!r} does not appear in this recording.", error=True)
        elif jump:
            self._goto_match(first)
        else:
            self._status(f"{len(found)} matches for {text!r} · n next, N previous")

    def _goto_match(self, i: int) -> None:
        playback = self.playback
        try:
            m = playback.goto_match(i)
        except RecordingError as exc:
            self._fail(exc)
            return
        self._render_playback()
        where = ""
        if (
            m.kind == "screen"
            and playback.search_text.lower() not in "\n".join(self.view.text_lines()).lower()
        ):
            where = "  (scrolled off the screen here: b shows the scrollback)"
        n, at = len(playback.matches), playback.match_index + 1
        self._status(f"match {at}/{n} at {fmt_time(m.time)}: {m.line_text.strip()}{where}")

    def action_match(self, direction: int) -> None:
        playback = self.playback
        if not playback.matches:
            self._status(
                "No search yet: press / to search." if not playback.search_text else "No matches."
            )
            return
        self._goto_match(playback.match_index + direction)

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
            self._pause()
            self._show_time()
        self._status("reading the scrollback…")
        self.load_scrollback(self.position)

    @work(exclusive=True, group="scrollback", exit_on_error=False)
    async def load_scrollback(self, t: float) -> None:
        """Show the text that scrolled off the screen up to ``t``, then the screen itself."""
        try:
            text = await asyncio.to_thread(self.playback.scrollback, t)
        except RecordingError as exc:
            self._status(f"cannot read the scrollback: {exc}", error=True)
            return
        back = self.query_one("#replay-scrollback", Log)
        back.clear()
        back.write_lines([*text.history, f"──── on screen at {fmt_time(t)} ────", *text.shown])
        self.view.display = False
        back.display = True
        back.focus()
        back.scroll_end(animate=False)
        n = len(text.history)
        self._status(f"scrollback: {n} lines scrolled off before {fmt_time(t)} · b back")

    def action_help(self) -> None:
        if not isinstance(self.app.screen, HelpScreen):
            self.app.push_screen(HelpScreen())

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
        self._pause()
        if self.on_close is not None:
            try:
                result = self.on_close()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("closing the replay of %s failed", self.player.cast_path.name)

    async def on_unmount(self) -> None:
        await self._finish()
