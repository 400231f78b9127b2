"""Showing text that came from a user, a target or a file without letting it drive a terminal.

A connection name holding ``\\r\\x1b[2K`` erases the line a terminal is printing and can forge
the next one; an OSC sequence can set a window title or a clipboard. Every printable
character is kept as it is; each control character becomes a visible escape instead.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

_NAMED: Final = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

_BEYOND_C0: Final = (
    "\x7f-\x9f"  # DEL, C1 (U+009B is CSI to a terminal that reads 8-bit controls)
    "\u2028\u2029"  # line and paragraph separators
    "\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks, embeddings, overrides
)
_CONTROLS: Final = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
_CONTROLS_BUT_NEWLINE: Final = re.compile(f"[\x00-\x09\x0b-\x1f{_BEYOND_C0}]")
_JSON_CONTROLS: Final = re.compile(f"[\x00-\x08\x0b-\x1f{_BEYOND_C0}]")
"""Tab and line feed are left: JSON indentation uses them, and strings never hold them raw."""


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """Return ``text`` with every control character shown as an escape (``\\x1b``, ``\\r``).

    Printable text, including every non-ASCII letter, is unchanged; backslashes are not doubled,
    so ``a\\b`` reads as typed (a literal ``\\x1b`` typed by a user and an escaped ESC look the
    same, and neither reaches the terminal as a control).

    Args:
        text: what a user, a target or a file supplied.
        keep_newlines: keep ``\\n`` as a line break (multi-line text printed line by line);
            every other control, ``\\r`` included, is still escaped.
    """
    pattern = _CONTROLS_BUT_NEWLINE if keep_newlines else _CONTROLS
    return pattern.sub(_visible, text)


def escape_json_controls(text: str) -> str:
    """Return JSON text with the controls that JSON lets through escaped as ``\\uXXXX``.

    ``json.dumps(..., ensure_ascii=False)`` escapes C0 controls but passes DEL, C1 controls and
    bidirectional overrides through. In a valid JSON document those can only stand inside
    strings, where ``\\uXXXX`` means the same character: the value parses to the same data.
    Tab and line feed are kept (indentation); a carriage return, legal between tokens but
    never written so by Gatehouse, is escaped like the rest (the text may not be valid JSON).
    """
    return _JSON_CONTROLS.sub(_json_escape, text)


def has_controls(text: str) -> bool:
    """Tell whether :func:`escape_controls` would change ``text``."""
    return _CONTROLS.search(text) is not None


class EscapingFormatter(logging.Formatter):
    """A log formatter that escapes controls: log lines quote user names, commands, errors.

    The line itself is escaped whole (a ``\\n`` in a message cannot start a forged line); a
    traceback keeps its line breaks.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return escape_controls(super().formatException(ei), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:
        return escape_controls(super().formatStack(stack_info), keep_newlines=True)
