"""Telling binary output from text, block by block as it arrives (pure; docs/decisions/020).

The rule: output is judged in blocks of at most ``BLOCK`` bytes (cut at a UTF-8 character
boundary; a character cut at the end of a chunk is judged with the next one). A block is
**not text** when at least ``MIN_UNREADABLE`` of its bytes, and at least one in
``SHARE``, are unreadable: a byte sequence that is not UTF-8 (counted once per invalid
sequence), or a control a terminal has no use for in text (NUL, SOH–ACK, DLE–SUB, FS–US,
DEL; tab, line feeds, backspace, bell, shift-in/out and ESC are text). So random bytes, a
compressed file, an executable, UTF-16 or ``/dev/zero`` are binary; UTF-8 text, coloured
output and a stray NUL or latin-1 byte in a log are text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Protocol

from broker.masking.ansi import has_hidden

BLOCK = 4096
"""Bytes judged together (a smaller chunk is judged on its own)."""
MIN_UNREADABLE = 4
"""A block with fewer unreadable bytes than this is text, however short."""
SHARE = 16
"""A block is binary when at least one byte in ``SHARE`` is unreadable."""
ODD_CONTROLS = bytes([*range(0x00, 0x07), *range(0x10, 0x1B), *range(0x1C, 0x20), 0x7F])
"""Controls that text does not carry (the display controls BS, HT, LF, VT, FF, CR, SO, SI,
BEL and ESC are not among them)."""


def unreadable(block: bytes) -> int:
    """How many bytes of ``block`` cannot be read as text (see the module docstring)."""
    bad = len(block) - len(block.translate(None, ODD_CONTROLS))
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            # Each maximal invalid sequence decodes to one U+FFFD (a real U+FFFD counts too).
            bad += block.decode("utf-8", "replace").count("\ufffd")
    return bad


def is_text(block: bytes) -> bool:
    """Whether ``block`` (at most ``BLOCK`` bytes, whole characters) reads as text."""
    bad = unreadable(block)
    return bad < MIN_UNREADABLE or bad * SHARE < len(block)


def _utf8(data: bytes) -> bool:
    """Whether ``data`` is UTF-8, but for a character cut off at its end."""
    if data.isascii():
        return True
    try:
        data[: len(data) - incomplete_tail(data)].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def incomplete_tail(data: bytes) -> int:
    """Length of a UTF-8 character cut off at the end of ``data`` (0 to 3)."""
    for have in range(1, min(3, len(data)) + 1):
        byte = data[-have]
        if byte < 0x80:
            return 0
        if byte >= 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return have if have < need else 0
    return 0


def _boundary(data: bytes, at: int) -> int:
    """``at`` moved back (by at most 3) to the start of the UTF-8 character it falls in."""
    for back in range(3):
        if at - back <= 0 or not 0x80 <= data[at - back] < 0xC0:
            return at - back
    return at - 3


Segment = tuple[bool, bytes]
"""A piece of output and whether it is text (``True``) or binary."""


class TextJudge:
    """Splits one output stream into text and binary pieces, by the rule of this module.

    With ``sticky`` (a command's output, which is one file as far as the user is concerned),
    once a block is binary the rest of the stream is binary too, so a download is passed
    whole; without it (a terminal's screen), text after binary is text again.
    """

    def __init__(self, *, sticky: bool) -> None:
        self.sticky = sticky
        self.binary = False
        """Whether any block so far was binary."""
        self.text_bytes = 0
        """Bytes judged text so far."""
        self._carry = b""
        """A character cut at the end of the last chunk, judged with the next block."""

    def split(self, data: bytes) -> list[Segment]:
        """Judge the next chunk; its pieces in order, neighbours of one kind joined."""
        if not data:
            return []
        if self.sticky and self.binary:
            return [(False, data)]
        if not self._carry and not has_hidden(data) and _utf8(data):
            # The common case, one pass or two over the chunk: no control, valid UTF-8.
            cut = incomplete_tail(data)
            self._carry = data[len(data) - cut :] if cut else b""
            self.text_bytes += len(data)
            return [(True, data)]
        kinds: list[tuple[bool, int]] = []  # (kind, end) of each run of blocks of one kind
        size = len(data)
        start = 0
        carry = self._carry
        while start < size:
            end = size if size - start <= BLOCK else _boundary(data, start + BLOCK)
            if end <= start:  # only continuation bytes: judge them as they are
                end = min(size, start + BLOCK)
            judged = carry + data[start:end] if carry else data[start:end]
            carry = b""
            if end == size:
                cut = incomplete_tail(judged)
                if cut:
                    judged, carry = judged[:-cut], judged[-cut:]
            text = is_text(judged) if judged else True
            if not text:
                self.binary = True
                if self.sticky:
                    end, carry = size, b""
            else:
                self.text_bytes += end - start
            if kinds and kinds[-1][0] == text:
                kinds[-1] = (text, end)
            else:
                kinds.append((text, end))
            start = end
        self._carry = carry
        if len(kinds) == 1:
            return [(kinds[0][0], data)]
        out: list[Segment] = []
        at = 0
        for kind, end in kinds:
            out.append((kind, data[at:end]))
            at = end
        return out


class Digest(Protocol):
    """A running SHA-256 (``hashlib.sha256()``, or one that hashes off the event loop)."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class BinaryOutput:
    """Binary output of one stream, as the audit log knows it: size and SHA-256, never bytes.

    ``digest`` makes the running SHA-256 (the relay's stages pass
    :class:`broker.common.digest.OffLoopSha256`, which hashes in a worker thread).
    """

    def __init__(
        self,
        stream: str,
        action: str,
        offset: int,
        digest: Callable[[], Digest] = hashlib.sha256,
    ) -> None:
        self.stream = stream
        self.action = action
        """``pass`` (passed byte-exact) or ``refuse`` (the session was ended)."""
        self.offset = offset
        """Stream offset of the first binary byte."""
        self.size = 0
        self._sha = digest()

    def add(self, piece: bytes) -> None:
        """``piece`` was passed."""
        self.size += len(piece)
        self._sha.update(piece)

    def summary(self) -> dict[str, Any]:
        """What the audit record holds."""
        if self.action != "pass":
            return {"action": "refused", "offset": self.offset}
        return {
            "action": "passed",
            "offset": self.offset,
            "bytes": self.size,
            "sha256": self._sha.hexdigest(),
        }
