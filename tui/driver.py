"""A Textual driver that talks to one SSH channel instead of the process's own terminal."""

from __future__ import annotations

import asyncio
import logging
import time
from codecs import getincrementaldecoder
from typing import TYPE_CHECKING, Any

from textual import constants, events
from textual._xterm_parser import XTermParser
from textual.driver import Driver
from textual.geometry import Size
from textual.message import Message

from tui.input_guard import SLICE, EscapeLimiter, InputBudget, resize_cost

if TYPE_CHECKING:
    from textual.app import App

    from broker.session.terminal import Terminal

log = logging.getLogger(__name__)

ESCAPE_DELAY: float = constants.ESCAPE_DELAY
"""Seconds after a lone Esc before the parser gives up waiting for a sequence (pitfall 2)."""

_ENTER = (
    "\x1b[?1049h\x1b[?1000h\x1b[?1003h\x1b[?1015h\x1b[?1006h\x1b[?25l\x1b[?1004h\x1b[?2004h\x1b[?7l"
)
_LEAVE = (
    "\x1b[?2004l\x1b[?7h\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?1004l\x1b[?1049l\x1b[?25h"
)
_PUSH_TITLE = b"\x1b[22;0t"
"""Save the terminal's window and icon titles (xterm): sessions may set their own."""
_POP_TITLE = b"\x1b[23;0t"
"""Restore the titles saved by :data:`_PUSH_TITLE` when the user leaves the TUI."""
PENDING_HIGH = 8 << 10
"""Input bytes waiting for the parser above which the channel stops reading (the SSH window
closes and the client waits); reading resumes once they are parsed."""
QUEUE_HIGH = 32
"""Messages waiting in the app's queue above which no more input is parsed for now."""
BEHIND = 0.02
"""Seconds before looking again when the app is behind."""
HANDED_OVER = 8 * SLICE
"""Input parsed at once when the TUI hands the keyboard to a session (the rest is dropped)."""


_KEY_SEQUENCES = {
    "up": "\x1b[A",
    "down": "\x1b[B",
    "right": "\x1b[C",
    "left": "\x1b[D",
    "home": "\x1b[H",
    "end": "\x1b[F",
    "insert": "\x1b[2~",
    "delete": "\x1b[3~",
    "pageup": "\x1b[5~",
    "pagedown": "\x1b[6~",
}


def key_bytes(event: events.Key) -> bytes:
    """The bytes a terminal sends for ``event`` (empty for keys with no common encoding)."""
    text = event.character if event.character is not None else _KEY_SEQUENCES.get(event.key, "")
    return text.encode("utf-8", "replace")


class ChannelDriver(Driver):
    """Drives one in-process App over a :class:`~broker.session.terminal.Terminal`.

    Output frames are written to the channel; when the client stops reading
    (send buffer above the channel's limit) frames are dropped and, once the
    buffer drains, the whole screen is repainted (pitfall 7). Input loses
    overlong control sequences (:class:`~tui.input_guard.EscapeLimiter`), waits
    for the user's :class:`~tui.input_guard.InputBudget` and for the app to keep
    up, then is decoded and fed to Textual's xterm parser a slice at a time; a
    lone Esc is delivered by a timer after the escape delay (pitfall 2). Window
    sizes are applied from the same budget, the latest one only.
    """

    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
        channel: Terminal,
        budget: InputBudget | None = None,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self.channel = channel
        self.budget = budget if budget is not None else InputBudget()
        """This session's, within its user's (see :class:`tui.runner.InProcessRunner`)."""
        self._limiter = EscapeLimiter()
        self._pending = bytearray()
        """Input read from the channel, not parsed yet."""
        self._pump: asyncio.Handle | None = None
        self._paused = False
        self._size_wanted = False
        self._gone = False
        self._parser = XTermParser(debug=False)
        self._decode = getincrementaldecoder("utf-8")(errors="replace").decode
        self._tick: asyncio.TimerHandle | None = None
        self._active = False
        self._drainer: asyncio.Task[None] | None = None
        self._title_saved = False
        self._suspending = False
        self.frames_dropped = 0

    @property
    def is_headless(self) -> bool:
        return False

    @property
    def can_suspend(self) -> bool:
        return True

    # -- output ----------------------------------------------------------

    def write(self, data: str) -> None:
        if not self._active or self.channel.closed:
            return
        if self._drainer is not None or self.channel.congested:
            self.frames_dropped += 1
            if self._drainer is None:
                self._drainer = self._loop.create_task(self._drain_then_repaint())
            return
        self.channel.write(data.encode("utf-8", "replace"))

    async def _drain_then_repaint(self) -> None:
        try:
            await self.channel.drain()
        finally:
            self._drainer = None
        if self._active and not self.channel.closed:
            self._send_size()

    def flush(self) -> None:
        """Writes go straight to the channel; nothing is buffered here."""

    # -- modes -----------------------------------------------------------

    def _send_size(self) -> None:
        size = Size(self.channel.cols, self.channel.rows)
        self._app.post_message(events.Resize(size, size))

    def start_application_mode(self) -> None:
        self._active = True
        # once per app: a session run in between may set titles; leaving restores the user's
        push = b"" if self._title_saved else _PUSH_TITLE
        self._title_saved = True
        self.channel.write(push + _ENTER.encode())
        self.channel.set_consumer(self)
        self._send_size()

    def disable_input(self) -> None:
        """Stop reading the user's keys (a session takes them, decision 025).

        Input read but not parsed yet is parsed now, behind the keys the app already has,
        so that it is given back in order; beyond :data:`HANDED_OVER` bytes it is dropped.
        """
        if self.channel.consumer is self:
            self.channel.set_consumer(None)
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        if self._paused:
            self._paused = False
            self.channel.resume_input()
        pending = bytes(self._pending[:HANDED_OVER]) + self._limiter.flush()
        self._pending.clear()
        if pending:
            self._parse(pending)

    def enable_input(self) -> None:
        """Read the user's keys again (after :meth:`disable_input`, while the app runs)."""
        if self._active and self.channel.consumer is None:
            self.channel.set_consumer(self)

    def stop_application_mode(self) -> None:
        self.disable_input()
        if self._active:
            last = self._title_saved and not self._suspending
            self.channel.write(_LEAVE.encode() + (_POP_TITLE if last else b""))
            self._title_saved = self._title_saved and not last
        self._active = False
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        if self._limiter.dropped:
            principal = self.channel.principal
            log.info(
                "[conn=%d user=%s] %d overlong control sequences (%d bytes) were dropped",
                principal.conn_id,
                principal.name,
                self._limiter.dropped,
                self._limiter.dropped_bytes,
            )

    def suspend_application_mode(self) -> None:
        """Step aside for a pass-through session (the saved title stays saved)."""
        self._suspending = True
        try:
            super().suspend_application_mode()
        finally:
            self._suspending = False

    def close(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()

    # -- input (InputConsumer) ---------------------------------------------

    def send_message(self, message: Message) -> None:
        # Already on the app's loop: post directly instead of run_coroutine_threadsafe.
        self._app.post_message(message)

    def data_received(self, data: bytes) -> None:
        if self._gone:
            return
        dropped = self._limiter.dropped
        self._pending += self._limiter.feed(data)
        if self._limiter.dropped and not dropped:
            principal = self.channel.principal
            log.warning(
                "[conn=%d user=%s] overlong control sequences in TUI input dropped",
                principal.conn_id,
                principal.name,
            )
        if len(self._pending) >= PENDING_HIGH and not self._paused:
            self._paused = True
            self.channel.pause_input()
        if self._pump is None:  # nothing waits for the budget: a key goes to the app now
            self._pump_input()

    def _schedule_pump(self, delay: float = 0.0) -> None:
        if self._pump is not None or self._gone:
            return
        if delay > 0:
            self._pump = self._loop.call_later(delay, self._pump_input)
        else:
            self._pump = self._loop.call_soon(self._pump_input)

    def _pump_input(self) -> None:
        """Hand one slice of the budget to the parser, apply a wanted size; plan the next."""
        self._pump = None
        now = time.monotonic()
        budget = self.budget
        size_cost = resize_cost(self.channel.cols, self.channel.rows)
        if self._size_wanted and budget.affords(now, size_cost):
            self._size_wanted = False
            budget.charge(now, 0, size_cost)
            self._send_size()
        if self._pending and self._app.message_queue_size <= QUEUE_HIGH:
            allowed = budget.allowance(now, len(self._pending))
            if allowed:
                chunk = bytes(self._pending[:allowed])
                del self._pending[:allowed]
                budget.charge(now, allowed, self._parse(chunk))
        if self._paused and len(self._pending) < PENDING_HIGH // 2:
            self._paused = False
            self.channel.resume_input()
        if self._pending or self._size_wanted:
            if self._app.message_queue_size > QUEUE_HIGH:
                wait = BEHIND
            elif self._pending:
                wait = budget.wait(now, min(len(self._pending), SLICE))
            else:
                wait = budget.wait(now, 0, size_cost)
            self._schedule_pump(wait)
        self._schedule_tick()

    def _parse(self, data: bytes) -> int:
        """Feed ``data`` to the parser and dispatch what it yields; returns how many events."""
        text = self._decode(data)
        if not text:  # the start of a character split across reads (empty means EOF to it)
            return 0
        count = 0
        try:
            for event in self._parser.feed(text):
                self.process_message(event)
                count += 1
        except Exception:  # a malformed sequence must not kill the session
            log.warning("[%s] unparseable input dropped", self.channel.principal.name)
            self._parser = XTermParser(debug=False)
        return count

    def _schedule_tick(self) -> None:
        waiting = getattr(self._parser, "_timeout_time", None) is not None
        if self._tick is None and (waiting or self._limiter.holding) and not self._gone:
            self._tick = self._loop.call_later(ESCAPE_DELAY + 0.005, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        if self._pending:  # what is still to parse may complete the sequence
            self._schedule_tick()
            return
        if self._limiter.holding:  # the rest of a split sequence never came: pass it as is
            self._pending += self._limiter.flush()
            self._schedule_pump()
            return
        for event in self._parser.tick():
            self.process_message(event)
        self._schedule_tick()

    def size_changed(self, cols: int, rows: int) -> None:
        """Apply the latest size when the budget allows (sizes in between are skipped)."""
        self._size_wanted = True
        self._schedule_pump()

    def eof_received(self) -> None:
        """The user has gone: drop what they sent that was not parsed yet, and end the app."""
        self._gone = True
        self._pending.clear()
        self._limiter.flush()
        self._size_wanted = False
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        self._app.call_later(self._app.exit)
