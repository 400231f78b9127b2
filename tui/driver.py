"""A Textual driver that talks to one SSH channel instead of the process's own terminal."""

from __future__ import annotations

import asyncio
import logging
from codecs import getincrementaldecoder
from typing import TYPE_CHECKING, Any

from textual import constants, events
from textual._xterm_parser import XTermParser
from textual.driver import Driver
from textual.geometry import Size
from textual.message import Message

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
    buffer drains, the whole screen is repainted (pitfall 7). Input is decoded
    and fed to Textual's xterm parser; a lone Esc is delivered by a timer
    after the escape delay (pitfall 2).
    """

    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
        channel: Terminal,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self.channel = channel
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
        if self.channel.consumer is self:
            self.channel.set_consumer(None)

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
        text = self._decode(data)
        if not text:
            return
        try:
            for event in self._parser.feed(text):
                self.process_message(event)
        except Exception:  # a malformed sequence must not kill the session
            log.warning("[%s] unparseable input dropped", self.channel.principal.name)
            self._parser = XTermParser(debug=False)
            return
        self._schedule_tick()

    def _schedule_tick(self) -> None:
        if self._tick is None and getattr(self._parser, "_timeout_time", None) is not None:
            self._tick = self._loop.call_later(ESCAPE_DELAY + 0.005, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        for event in self._parser.tick():
            self.process_message(event)
        self._schedule_tick()

    def size_changed(self, cols: int, rows: int) -> None:
        self._send_size()

    def eof_received(self) -> None:
        self._app.call_later(self._app.exit)
