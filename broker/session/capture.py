"""Command-line capture from a terminal session's echo: the line at a prompt when Enter is pressed.

A line is captured only at a shell prompt: never while a full-screen program holds the
alternate screen (vim, less, htop), and, once the shell sends its own prompt marks (OSC 133:
A prompt, B input, C output, D done), only between B and C, the prompt itself left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_CSI = re.compile(r"\x1b\[([0-9;?]*)([@-~])")
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_OTHER_ESC = re.compile(r"\x1b[()][0-9A-Za-z]|\x1b[=>78DEHMc]")
_PROMPT = re.compile(r"^.{0,200}?[$#%>](?:\s|$)")
_ALT_SCREEN = re.compile(r"\x1b\[\?(?:1049|1047|47)([hl])")
_MARK = re.compile(r"\x1b\]133;([ABCD])[^\x07\x1b]*(?:\x07|\x1b\\)")
_INPUT_START = "\ue000"
"""Stands in the line for the shell's input mark (B), so the prompt before it can be cut."""
_CARRY = 64
"""Characters of a chunk's end kept to find a mode or mark sequence split across chunks."""
MAX_LINE = 4096


def strip_prompt(line: str) -> str:
    """The command part of a rendered line (a shell prompt before it removed)."""
    match = _PROMPT.match(line)
    return (line[match.end() :] if match else line).strip()


class LineCapture:
    """Reads command lines from what the target echoes.

    Only the text after the last newline is kept, so bulk output costs one ``rfind``
    per chunk. What is stored is always the *echoed* line, captured when the echo of
    an entered line completes: input the target did not echo (a password at a
    no-echo prompt) is never part of it.
    """

    def __init__(self, width: Callable[[], int] = lambda: 0) -> None:
        """Start reading command lines.

        Args:
            width: The terminal's width now (it changes with a resize); 0 if unknown.
        """
        self._width = width
        self._tail = ""
        self._entered = False
        self._alternate = False
        """A full-screen program holds the alternate screen: no prompt there."""
        self._marked = False
        """The shell sends OSC 133 prompt marks: only its input (B..C) is a command."""
        self._input = False
        """Between the shell's B and C marks (the user is typing at its prompt)."""
        self._carry = ""

    @property
    def at_prompt(self) -> bool:
        """Whether a line entered now is typed at a shell prompt."""
        return not self._alternate and (self._input or not self._marked)

    def _note_modes(self, text: str) -> str:
        """Follow the alternate screen and the prompt marks; ``text`` with B as a stand-in.

        A switch of screens starts a new line: what came before it (a full-screen program's
        drawing) is no part of the next prompt's line, so the tail is dropped and ``text``
        returned from the switch on.
        """
        if "\x1b" not in text and "\x1b" not in self._carry:
            self._carry = ""
            return text
        seen = self._carry + text
        self._carry = seen[-_CARRY:] if "\x1b" in seen[-_CARRY:] else ""
        new = len(seen) - len(text)
        switched = -1
        for mode in _ALT_SCREEN.finditer(seen):
            if mode.end() > new:
                self._alternate = mode.group(1) == "h"
                switched = mode.end() - new
        if switched >= 0:
            self._tail, text = "", text[switched:]
            seen = seen[: new + switched] + text
        if "\x1b]133;" not in seen:
            return text
        for mark in _MARK.finditer(seen):
            if mark.end() > len(seen) - len(text):
                self._marked = True
                self._input = mark.group(1) == "B"
        return _MARK.sub(lambda m: _INPUT_START if m.group(1) == "B" else "", text)

    def feed_output(self, text: str) -> str | None:
        """Note output sent to the user; returns a command line when its echo completes."""
        captured = None
        if self._entered:
            newline = text.find("\n")
            if newline >= 0:
                self._entered = False
                head = self._note_modes(text[:newline])
                captured = self._command(render_line(self._tail + head, self._width()))
                text = text[newline:]
        text = self._note_modes(text)
        cut = text.rfind("\n")
        self._tail = text[cut + 1 :] if cut >= 0 else self._tail + text
        if len(self._tail) > 4 * MAX_LINE:
            self._tail = self._tail[-4 * MAX_LINE :]
        return captured or None

    def enter_pressed(self, typed: str = "") -> str:
        """Enter was pressed: the line to judge against command rules, NOT to store.

        Args:
            typed: Input that came in the same chunk as Enter (a paste). It is
                included for the policy decision only, since it may never be echoed.
        """
        self._entered = self.at_prompt
        return self._command(render_line(self._tail + typed, self._width()))

    def _command(self, rendered: str) -> str:
        """The command part of a rendered line: after the input mark, else after a prompt."""
        mark = rendered.rfind(_INPUT_START)
        if mark >= 0:
            return rendered[mark + 1 :].replace(_INPUT_START, "").strip()
        return strip_prompt(rendered)


def render_line(raw: str, width: int = 0) -> str:
    """Apply a line's cursor movements and erasures; the text a person sees on it.

    Args:
        raw: The output since the line began.
        width: The terminal's width, when known: a line longer than that wraps onto more rows
            (readline forces the wrap with a space and CR), and CR, BS, erasures and cursor
            moves act on the row the cursor is on. 0 renders one unbounded row.
    """
    raw = _OSC.sub("", _OTHER_ESC.sub("", raw))
    cells: list[str] = []
    col = 0
    pending = False
    """The last character filled a row's last column: the cursor waits there to wrap."""

    def row_start(at: int) -> int:
        return (at // width) * width if width else 0

    pos = 0
    while pos < len(raw):
        ch = raw[pos]
        here = col - 1 if pending else col  # where the cursor is, for row-relative moves
        if ch == "\x1b":
            m = _CSI.match(raw, pos)
            if m is None:
                pos += 1
                continue
            params, final = m.group(1), m.group(2)
            n = int(params) if params.isdigit() else 1
            first = row_start(here)
            end = first + width if width else len(cells)
            if final == "K":
                mode = int(params) if params.isdigit() else 0
                lo, hi = (
                    (col, end) if mode == 0 else (first, end) if mode == 2 else (first, col + 1)
                )
                if hi >= len(cells):
                    del cells[lo:]
                else:
                    cells[lo:hi] = [" "] * (hi - lo)
            elif final == "A" and width:
                col = here - n * width if here - n * width >= 0 else here % width
            elif final == "B" and width:
                col = here + n * width
            elif final == "C":
                col = min(here + n, end - 1) if width else col + n
            elif final == "D":
                col = max(first, here - n)
            elif final == "G":
                col = first + max(0, n - 1)
            elif final == "P":
                del cells[col : col + n]
            elif final == "@":
                cells[col:col] = [" "] * n
            pending = False
            pos = m.end()
            continue
        if ch == "\r":
            col = row_start(here)
            pending = False
        elif ch == "\b":
            col = max(row_start(here), here - 1)
            pending = False
        elif ch >= " " and ch != "\x7f":
            while len(cells) < col:
                cells.append(" ")
            if col < len(cells):
                cells[col] = ch
            else:
                cells.append(ch)
            col += 1
            pending = bool(width) and col % width == 0
        pos += 1
        if col > MAX_LINE:
            break
    return "".join(cells).rstrip()
