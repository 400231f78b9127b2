"""Bounds on a TUI session's input before Textual parses it: overlong sequences and pacing.

Textual's xterm parser gives up on a sequence longer than 32 characters and reissues every
character of it as a key, and whatever it parses lands in the app's unbounded message queue.
A user who sends megabytes of `ESC [ 9999…` would make one app parse and dispatch millions of
keys on the loop every other session shares. :class:`EscapeLimiter` drops control sequences
that no terminal sends for a key (without looking at each byte in Python), and
:class:`InputBudget` paces what reaches the parser: bytes and events per second for each
session, within a budget for all of one user's sessions. Both are pure: bytes and times in, bytes and numbers out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_SEQUENCE = 64
"""Longest control sequence (``ESC [`` … final byte) passed on; longer ones are dropped.

The longest a terminal sends for a key or a mouse report is about 20 bytes (SGR mouse at
column 1000: ``ESC [ < 35 ; 1000 ; 500 M``); Textual itself gives up at 32."""

_ESC = 0x1B
_CSI_BODY = re.compile(rb"[\x20-\x3f]*")
"""Parameter and intermediate bytes of a CSI (ECMA-48 5.4): what comes before its final byte."""


def _is_final(byte: int) -> bool:
    return 0x40 <= byte <= 0x7E


class EscapeLimiter:
    """Passes a terminal's input through, minus CSI sequences longer than :data:`MAX_SEQUENCE`.

    A sequence split across reads is held until it ends (so it can still be dropped whole),
    except a lone ESC at the end of a read, which is passed at once: it may be the Escape
    key, and the parser times it out. A CSI cut short by a byte that cannot be part of it is
    passed as it came (the parser copes, as it did before). Everything else passes
    unchanged, in order.
    """

    def __init__(self, max_sequence: int = MAX_SEQUENCE) -> None:
        self.max_sequence = max_sequence
        self.dropped = 0
        """Overlong sequences dropped so far."""
        self.dropped_bytes = 0
        """Bytes of them."""
        self._held = bytearray()
        """The sequence read so far (without its ESC when that was passed already)."""
        self._length = 0
        """Length of the current sequence, ESC included; 0 outside a sequence."""
        self._discarding = False

    @property
    def holding(self) -> bool:
        """Whether part of a sequence waits for more input (see :meth:`flush`)."""
        return bool(self._held)

    def flush(self) -> bytes:
        """Give up waiting for the end of the current sequence: what was held, as it came."""
        held = bytes(self._held)
        self._held.clear()
        self._length = 0
        return held

    def feed(self, data: bytes) -> bytes:
        """The part of ``data`` to pass on (possibly with held bytes of an earlier read)."""
        out = bytearray()
        i, n = 0, len(data)
        while i < n:
            if self._discarding:
                i = self._skip(data, i)
            elif self._length == 0:
                j = data.find(b"\x1b", i)
                if j < 0:
                    out += data[i:]
                    break
                out += data[i:j]
                self._held.append(_ESC)
                self._length = 1
                i = j + 1
            elif self._length == 1:  # ESC seen: only `[` starts what we bound
                if data[i] == 0x5B:
                    self._held.append(0x5B)
                    self._length = 2
                    i += 1
                else:  # Alt+key, SS3, Esc Esc: the parser's business
                    out += self.flush()
            else:
                i = self._csi(data, i, out)
        if self._length == 1 and self._held:  # a lone ESC at the end: maybe the Escape key
            out += self._held
            self._held.clear()
        return bytes(out)

    def _csi(self, data: bytes, i: int, out: bytearray) -> int:
        match = _CSI_BODY.match(data, i)
        assert match is not None  # `*` always matches
        end = match.end()
        if self._length + end - i >= self.max_sequence:  # the final byte would pass the cap
            self.dropped += 1
            self.dropped_bytes += self._length
            self._held.clear()
            self._length = 0
            self._discarding = True
            return i
        self._held += data[i:end]
        self._length += end - i
        if end < len(data):
            if _is_final(data[end]):
                self._held.append(data[end])
                end += 1
            out += self.flush()
        return end

    def _skip(self, data: bytes, i: int) -> int:
        match = _CSI_BODY.match(data, i)
        assert match is not None
        end = match.end()
        self.dropped_bytes += end - i
        if end < len(data):
            self._discarding = False
            if _is_final(data[end]):
                self.dropped_bytes += 1
                end += 1
        return end


@dataclass
class Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved; it may go into debt."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    stamp: float | None = None

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def refill(self, now: float) -> float:
        if self.stamp is not None and now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now if self.stamp is None else max(self.stamp, now)
        return self.tokens

    def wait(self, now: float, want: float = 1.0) -> float:
        """Seconds until ``want`` tokens are there (0: now)."""
        missing = min(want, self.burst) - self.refill(now)
        return max(0.0, missing / self.rate)


BYTES_PER_SECOND = 32 << 10
"""Input bytes a TUI session may hand to the parser per second (its user's: four times that).

Parsing costs ~6 µs a byte: 32 KiB/s is ~0.2 s of the loop per second at most. A person types
tens of bytes a second, a mouse sends ~1.5 KiB/s, a bracketed paste of 32 KiB goes at once."""
EVENTS_PER_SECOND = 400.0
"""Parsed events (keys, mouse reports, pastes) a TUI session may dispatch per second."""
SLICE = 512
"""Bytes parsed at a time: the events of one slice are dispatched before the next is parsed."""
RESIZE_COST = 100.0
"""Events one applied window size costs up to :data:`LARGE_SCREEN` cells: a resize lays out
and repaints the whole screen, so a session gets 4 sizes a second, the last one always."""
LARGE_SCREEN = 240 * 60
"""Cells beyond which a size costs more, in proportion (500x300 repaints in ~0.2 s)."""


def resize_cost(cols: int, rows: int) -> float:
    """What applying a window of ``cols`` x ``rows`` costs in events."""
    return RESIZE_COST * max(1.0, cols * rows / LARGE_SCREEN)


USER_SHARE = 4
"""A user's TUI sessions together get this many times one session's budget."""


class InputBudget:
    """What one TUI session may hand to Textual, within what its user's sessions may together.

    The caller asks how many bytes it may parse now (:meth:`allowance`), parses them, then
    charges what that cost (:meth:`charge`); when nothing is allowed, :meth:`wait` says for
    how long. Input not yet allowed stays unread in the SSH channel: the window closes and
    the client waits, so a flood costs the sender, not the broker's memory. With a ``user``
    budget (shared by the user's sessions, see :meth:`for_user`) both must allow, and both are
    charged: one flooding session cannot starve the user's others, many cannot add up.
    """

    def __init__(
        self,
        bytes_per_second: float = BYTES_PER_SECOND,
        events_per_second: float = EVENTS_PER_SECOND,
        user: InputBudget | None = None,
    ) -> None:
        self.bytes = Bucket(bytes_per_second, bytes_per_second)
        self.events = Bucket(events_per_second, events_per_second)
        self.user = user

    @classmethod
    def for_user(cls) -> InputBudget:
        """The budget a user's sessions share (:data:`USER_SHARE` sessions' worth)."""
        return cls(BYTES_PER_SECOND * USER_SHARE, EVENTS_PER_SECOND * USER_SHARE)

    def allowance(self, now: float, pending: int, most: int = SLICE) -> int:
        """Bytes of ``pending`` that may be parsed now, at most ``most`` (0: wait)."""
        if self.events.refill(now) < 1:
            return 0
        allowed = max(0, min(pending, most, int(self.bytes.refill(now))))
        return allowed if self.user is None else self.user.allowance(now, allowed, most)

    def affords(self, now: float, events: float) -> bool:
        """Whether ``events`` may be spent now (a cost above the burst: once it is full)."""
        mine = self.events.refill(now) >= min(events, self.events.burst)
        return mine and (self.user is None or self.user.affords(now, events))

    def charge(self, now: float, nbytes: int, events: float) -> None:
        self.bytes.refill(now)
        self.events.refill(now)
        self.bytes.tokens -= nbytes
        self.events.tokens -= events
        if self.user is not None:
            self.user.charge(now, nbytes, events)

    def wait(self, now: float, nbytes: int = 1, events: float = 1.0) -> float:
        """Seconds until ``nbytes`` bytes and ``events`` events are allowed."""
        mine = max(self.bytes.wait(now, nbytes), self.events.wait(now, events))
        return mine if self.user is None else max(mine, self.user.wait(now, nbytes, events))
