"""Terminal output parser: escape sequences split across chunks, dispatched to a Screen."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recordings.terminal import Screen

_MAX_PENDING = 64 * 1024
_SEQUENCE = re.compile(
    r"(?P<text>[^\x00-\x1f\x7f-\x9f]+)"
    r"|(?:\x1b\[|\x9b)(?P<prefix>[<=>?]?)(?P<params>[0-9:;]*)(?P<inter>[\x20-\x2f]*)"
    r"(?P<final>[\x40-\x7e])"
    r"|(?:\x1b\]|\x9d)(?P<osc>[^\x07\x1b\x9c]*)(?:\x07|\x1b\\|\x9c)"
    r"|(?:\x1b[P_^X]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)"
    r"|\x1b(?![\[\]P_^X])(?P<einter>[\x20-\x2f]*)(?P<efinal>[\x30-\x7e])"
    r"|(?P<ctl>[\x00-\x1f\x7f-\x9f])"
)
_PARTIAL = re.compile(
    r"(?:\x1b|\x9b|\x9d|\x90|\x98|\x9e|\x9f)"
    r"(?:\[[<=>?]?[0-9:;]*[\x20-\x2f]*|\][^\x07\x1b\x9c]*\x1b?|[P_^X][^\x1b\x9c]*\x1b?"
    r"|(?<=\x9b)[<=>?]?[0-9:;]*[\x20-\x2f]*|(?<=\x9d)[^\x07\x1b\x9c]*\x1b?"
    r"|(?<=[\x90\x98\x9e\x9f])[^\x1b\x9c]*\x1b?|[\x20-\x2f]*)\Z"
)


class Stream:
    """Parse terminal output and drive a :class:`Screen` (xterm-like, UTF-8 text in).

    An escape sequence split across ``feed`` calls is held until complete, so
    :attr:`idle` tells whether the parser is between sequences (keyframes are taken
    only then).
    """

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.pending = ""
        s = screen
        self._basic: dict[str, Callable[[], None]] = {
            "\x08": s.backspace,
            "\t": s.tab,
            "\n": s.linefeed,
            "\x0b": s.linefeed,
            "\x0c": s.linefeed,
            "\r": s.carriage_return,
            "\x0e": s.shift_out,
            "\x0f": s.shift_in,
            "\x84": s.index,
            "\x85": s.linefeed,
            "\x8d": s.reverse_index,
            "\x88": s.set_tab_stop,
        }
        self._escape: dict[str, Callable[[], None]] = {
            "c": s.reset,
            "D": s.index,
            "E": self._next_line,
            "M": s.reverse_index,
            "H": s.set_tab_stop,
            "7": s.save_cursor,
            "8": s.restore_cursor,
        }
        self._csi: dict[str, Callable[..., None]] = {
            "@": s.insert_characters,
            "A": s.cursor_up,
            "B": s.cursor_down,
            "C": s.cursor_forward,
            "D": s.cursor_back,
            "E": s.cursor_down1,
            "F": s.cursor_up1,
            "G": s.cursor_to_column,
            "H": s.cursor_position,
            "I": s.forward_tab,
            "J": s.erase_in_display,
            "K": s.erase_in_line,
            "L": s.insert_lines,
            "M": s.delete_lines,
            "P": s.delete_characters,
            "S": s.scroll_up,
            "T": s.scroll_down,
            "X": s.erase_characters,
            "Z": s.backward_tab,
            "`": s.cursor_to_column,
            "a": s.cursor_forward,
            "b": s.repeat_last,
            "d": s.cursor_to_line,
            "e": s.cursor_down,
            "f": s.cursor_position,
            "g": s.clear_tab_stop,
            "h": s.set_mode,
            "l": s.reset_mode,
            "r": s.set_margins,
        }

    def _next_line(self) -> None:
        self.screen.carriage_return()
        self.screen.linefeed()

    @property
    def idle(self) -> bool:
        """True when no partial escape sequence is held."""
        return not self.pending

    def feed(self, data: str) -> None:
        """Parse ``data`` and apply it to the screen.

        Args:
            data: decoded terminal output (any chunking).
        """
        if self.pending:
            data = self.pending + data
            self.pending = ""
        screen = self.screen
        pos, end = 0, len(data)
        match = _SEQUENCE.match
        while pos < end:
            m = match(data, pos)
            if m is None or (m.lastgroup == "ctl" and data[pos] in "\x1b\x9b\x9d\x90\x98\x9e\x9f"):
                if _PARTIAL.match(data, pos):
                    rest = data[pos:]
                    self.pending = rest if len(rest) <= _MAX_PENDING else ""
                    return
                pos += 1  # a lone or malformed introducer: drop it
                continue
            pos = m.end()
            kind = m.lastgroup
            if kind == "text":
                screen.draw(m.group("text"))
            elif kind == "final":
                self._dispatch_csi(m.group("prefix"), m.group("params"), m.group("inter"), m[kind])
            elif kind == "efinal":
                self._dispatch_escape(m.group("einter"), m.group("efinal"))
            elif kind == "osc":
                self._dispatch_osc(m.group("osc"))
            elif kind == "ctl":
                handler = self._basic.get(m.group("ctl"))
                if handler is not None:
                    handler()
            # DCS/APC/PM/SOS strings are consumed and ignored

    def _dispatch_escape(self, inter: str, final: str) -> None:
        if inter in ("(", ")", "*", "+"):
            self.screen.define_charset(final, inter)
        elif inter == "#" and final == "8":
            self.screen.alignment_display()
        elif not inter:
            handler = self._escape.get(final)
            if handler is not None:
                handler()

    def _dispatch_csi(self, prefix: str, params: str, inter: str, final: str) -> None:
        if inter or prefix in ("<", "=", ">"):
            return  # DECSCUSR, DECSTR, modifyOtherKeys, kitty keyboard…: no screen effect
        groups = [[min(int(v), 9999) if v else 0 for v in p.split(":")] for p in params.split(";")]
        screen = self.screen
        if final == "m":
            if not prefix:
                screen.sgr_groups(groups)
            return
        args = [grp[0] for grp in groups]
        if prefix == "?":
            if final == "h":
                screen.set_mode(*args, private=True)
            elif final == "l":
                screen.reset_mode(*args, private=True)
            elif final in "JK":
                self._csi[final](*args[:1])
            return
        if final == "s" and params == "":
            screen.save_cursor()
        elif final == "u" and params == "":
            screen.restore_cursor()
        elif final == "r":
            screen.set_margins(*args[:2])
        elif final == "J":
            screen.erase_in_display(args[0])
        else:
            handler = self._csi.get(final)
            if handler is not None:
                handler(*args)

    def _dispatch_osc(self, text: str) -> None:
        code, _, value = text.partition(";")
        if code in ("0", "1"):
            self.screen.set_icon_name(value)
        if code in ("0", "2"):
            self.screen.set_title(value)
