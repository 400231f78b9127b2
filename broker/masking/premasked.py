"""Output masked once for both the recording and the user: whole lines handed on, not redone.

A masked session with a recording runs two maskers over the same output: the recording's,
which masks whole lines (``broker.session.recording.LineRecording``), and the user's live one
(``broker.masking.filter.MaskingFilter``), which keeps its latency budget. When a chunk of
output starts at a line start and its lines are complete, the recording's masker has masked
them with the whole line as context the moment they arrived: the live stage takes that result
for those bytes instead of masking them again, and masks only the rest (the end of a line
begun in the chunk before, and a line still being printed). Nothing is reused when either masker holds anything back, when the recording's
masker failed, or when the bytes differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.masking.events import MaskEvent


@dataclass(frozen=True)
class Premasked:
    """Whole lines of a chunk of one stream, and what the recording's masker made of them."""

    start: int
    """Where in the chunk they start (after the end of a line begun before the chunk)."""
    raw: bytes
    """The bytes as the target sent them."""
    out: bytes
    """The same bytes masked, all released (nothing held back)."""
    events: tuple[MaskEvent, ...]
    """One per value masked in them."""


class Premasks:
    """A mailbox of at most one :class:`Premasked` per stream, for the next stage's next chunk."""

    def __init__(self) -> None:
        self._offers: dict[bool, Premasked | None] = {False: None, True: None}
        self.reused = 0
        """Bytes the live stage took from here instead of masking them."""

    def offer(self, stderr: bool, done: Premasked | None) -> None:
        """Leave ``done`` for the chunk being fed (None withdraws the last offer)."""
        self._offers[stderr] = done

    def take(self, stderr: bool, data: bytes) -> Premasked | None:
        """The offer for ``data`` (it must hold the offered bytes where offered); forgotten."""
        done, self._offers[stderr] = self._offers[stderr], None
        if done is None or not data.startswith(done.raw, done.start):
            return None
        self.reused += len(done.raw)
        return done
