"""The scrollback emulator: a terminal screen that keeps the rows scrolled off its top."""

from __future__ import annotations

from collections import deque

from recordings.terminal import Screen

__all__ = ["SCROLLBACK_LINES", "ScrollbackScreen"]

SCROLLBACK_LINES = 10_000
"""Rows of scrollback the player keeps (the oldest are dropped first)."""


class ScrollbackScreen(Screen):
    """A screen that appends each row scrolled off the main screen's top to ``scrolled``.

    Only a full-screen scroll of the main screen counts, as in xterm: rows leaving a
    scroll region or the alternate screen never reach the scrollback. The index builder
    takes and clears the rows after each event; the player keeps the last ``keep``.
    """

    def __init__(self, columns: int, lines: int, *, keep: int | None = None) -> None:
        """Make an empty screen; ``keep`` bounds ``scrolled`` (None: unbounded)."""
        self.scrolled: deque[str] = deque(maxlen=keep)
        """The rows scrolled off, oldest first, as text without trailing blanks."""
        super().__init__(columns, lines)

    def index(self) -> None:
        """Move the cursor down (LF), scrolling the screen at the bottom margin."""
        top, bottom = self.margins or (0, self.lines - 1)
        if self.cursor.y == bottom and top == 0 and not self.alternate:
            self.scrolled.append(self.row_text(0))
        super().index()

    def row_text(self, y: int) -> str:
        """Return row ``y`` as text without trailing blanks (a row never written is "")."""
        if y not in self.buffer:  # reading a missing row of the defaultdict would add it
            return ""
        line = self.buffer[y]
        return "".join(line[x].data for x in range(self.columns)).rstrip()
