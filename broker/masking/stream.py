"""Streaming masking of one output stream: bounded hold-back, context carry-over, fail closed.

Release rule (what ``feed`` returns at once and what it holds back):

* Everything is released except a tail that could still be the start of a value:
  1. a value the detectors matched that reaches the end of the data (it may continue);
  2. a trailing token: the last run of printable non-space ASCII, plus groups of digits or
     capitals joined to it by single spaces (``4111 1111 11``, ``LI21 0881 0000 2324 013A``),
     when it is at least two bytes long and is not a pure-letter word of one to three letters
     standing on its own (so ``l``, ``ls``, ``cd`` echo at once, but ``KIA`` after a released
     ``A`` is held: it may continue a token);
  3. an open quoted value after a password-like key (``password="my secr``) or a password
     option (``mysql -p'my secr``);
  4. an incomplete escape sequence in the last ``STRAY_AFTER`` bytes, even past a hold-back
     timeout (it displays nothing until it is finished); an ESC further back that starts no
     complete sequence (malformed, or overlong) is dropped, as it is at the end of the stream;
  5. an unterminated string sequence (OSC, DCS, SOS, PM, APC) at the end, whatever its
     length up to ``max_string`` bytes: its payload is scanned once it is complete. Past that
     bound, or at the end of the stream, its introducer is dropped and the rest is text, so
     no string the target leaves open reaches the user (where it would swallow what follows,
     such as the broker's own window title).
* The tail considered never reaches into bytes already released, so a lone keystroke echo
  (one byte, or a complete escape sequence such as ``\\x1b[K``, or ``\\r\\n``) is never held.
* At most ``max_holdback`` bytes are held; a longer value is masked up to the bound and its
  continuation is masked on the next call. ``pending_since`` says since when bytes are held, so
  the caller can ``flush()`` after a short delay (e.g. 50 ms).
* The last ``CONTEXT_BYTES`` of released input are kept and rescanned with new data, so a value
  split across calls is still found; the part not yet released is masked.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from operator import itemgetter

from broker.masking.ansi import StripMap, open_string, strip_ansi
from broker.masking.cursor import CursorGuard
from broker.masking.detector import Detector
from broker.masking.engine import MaskingEngine
from broker.masking.events import MaskCounter, MaskEvent, MaskFailure
from broker.masking.policy import Strategy
from broker.masking.render import ProofCache
from broker.masking.scan import Hit

NOTICE = b"\r\n[gatehouse: output withheld: masking failed]\r\n"
CONTEXT_BYTES = 512
TAIL_WINDOW = 4096
MAX_HOLDBACK = 16384
MAX_STRING = 16384
STRAY_AFTER = 64
"""An ESC still in the text this far from its end starts no sequence that can finish."""
"""Most bytes of an unterminated string sequence held back waiting for its terminator."""
CHUNK_BYTES = 65536
_start = itemgetter(0)
_end = itemgetter(1)

# Reversed text: a token, then groups of digits or capitals (card, IBAN, NINO groups), each
# preceded (in reverse) by one space.
_REV_TAIL = re.compile(
    rb"[!-~]*(?:(?:  ?|\xa0\xc2|[\x80-\x8a\xaf\x90-\x95]\x80\xe2|\x92\x88\xe2|\x80\x80\xe3)"
    rb"[0-9A-Z()+.\-]+)*"
)
"""(Reversed) separators: one or two ASCII spaces (a card's groups may be apart by two), and the Unicode spaces and dashes numbers are written
with (:mod:`broker.masking.unisep`), in reverse byte order."""
_OPEN_QUOTE = re.compile(
    rb"(?:(?i:pass|secret|pwd|key|token)[^\r\n]*?[=:][ \t]*|(?<![A-Za-z0-9_./\-])-p[ \t]*)"
    rb"[\"']([^\"'\r\n]*)\Z",
)
"""An open quoted value after a password-like key (``password="my secr``) or a password
option (``mysql -p'my secr``, ``sshpass -p "my secr``): held until the quote closes."""


def _merge(spans: list[Hit]) -> list[Hit]:
    spans.sort(key=lambda s: (s[0], -s[1]))
    merged: list[Hit] = []
    for span in spans:
        if merged and span[0] < merged[-1][1]:
            last = merged[-1]
            if span[1] > last[1]:
                merged[-1] = (last[0], span[1], last[2])
        else:
            merged.append(span)
    return merged


def tail_start(text: bytes, floor: int) -> int:
    """Return where the held-back tail of ``text`` starts (``len(text)`` when none).

    Args:
        text: Visible text (escape sequences removed).
        floor: The tail never starts before this offset (the first unreleased byte).
    """
    size = len(text)
    lo = max(floor, size - TAIL_WINDOW)
    end = size
    esc = text.rfind(b"\x1b", max(lo, size - 64))
    if esc >= 0:
        end = esc
    hold = end
    m = _REV_TAIL.match(text[lo:end][::-1])
    n = m.end() if m is not None else 0
    start = end - n
    glued = start > 0 and 0x21 <= text[start - 1] <= 0x7E  # continues a released token
    if n >= 2 and (glued or not (n < 4 and text[start:end].isalpha())):
        hold = start
    line_start = max(0, size - TAIL_WINDOW, text.rfind(b"\n") + 1)
    if b'"' in text[line_start:] or b"'" in text[line_start:]:
        q = _OPEN_QUOTE.search(text, line_start)
        if q is not None:
            hold = min(hold, q.start(1))
    return hold


class StreamMasker:
    """Masks one byte stream (a channel's stdout or stderr) fed in arbitrary chunks."""

    def __init__(
        self,
        engine: MaskingEngine,
        *,
        stream: str,
        max_holdback: int = MAX_HOLDBACK,
        max_string: int = MAX_STRING,
        clock: Callable[[], float] = time.monotonic,
        width: int = 0,
        crlf: bool = True,
    ) -> None:
        """Start masking a stream.

        Args:
            engine: The engine (shared across streams).
            stream: Name recorded in events, e.g. ``stdout``.
            max_holdback: Most visible bytes ever held back.
            max_string: Most bytes of an unterminated string sequence held back.
            clock: Time source for ``pending_since``.
            width: The terminal's columns, 0 if not known (see :meth:`resize`).
            crlf: A line feed also returns the carriage where the output is shown (no pty);
                False for a terminal session, whose pty sends CR LF unless told not to.
        """
        self.engine = engine
        self.stream = stream
        self.max_holdback = max_holdback
        self.max_string = max_string
        self.counter = MaskCounter()
        self.pending_since: float | None = None
        self._clock = clock
        self._buf = b""
        self._ctx = b""
        self._offset = 0
        self._open: Detector | None = None
        self._events: list[MaskEvent] = []
        self._failures: list[MaskFailure] = []
        self._proofs = ProofCache()
        self._guard = CursorGuard(engine.find_hits, self._prove, width=width, crlf=crlf)
        self._on_screen = bool(engine.policy.detectors)
        """Whether a value can show on screen at all (a policy without detectors finds none)."""
        """What the user's line shows: values drawn with cursor moves are masked there."""

    def _prove(self, hit: Hit, value: bytes) -> tuple[Strategy, str, bytes]:
        det = hit[2]
        strategy = self.engine.policy.strategy_for(det.name)
        digest = self.engine.proof(det, value)
        return strategy, digest, self.engine.replacement(det.name, strategy, value, digest)

    def resize(self, width: int) -> None:
        """The terminal the output is shown on is now ``width`` columns wide (0: not known)."""
        self._guard.resize(width)

    def shown_on(self, width: int, *, crlf: bool) -> None:
        """Where the output is shown, before any is fed: the terminal's columns (0: not
        known), and whether a line feed also returns the carriage there (no pty)."""
        self._guard = CursorGuard(self.engine.find_hits, self._prove, width=width, crlf=crlf)

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet released."""
        return self._offset

    @property
    def held(self) -> int:
        """Bytes currently held back."""
        return len(self._buf)

    def feed(self, data: bytes) -> bytes:
        """Take the next chunk; return the bytes that may be released now (masked).

        Large inputs are processed in ``CHUNK_BYTES`` pieces; callers on an event loop should
        feed at most that much per call and yield between calls.
        """
        out: list[bytes] = []
        for i in range(0, len(data), CHUNK_BYTES):
            self._buf += data[i : i + CHUNK_BYTES]
            out.append(self._step(final=False))
        return b"".join(out)

    def flush(self, *, end: bool = False, verbatim: bool = False) -> bytes:
        """Release everything held (hold-back timeout, or ``end`` of the stream), masked.

        An unterminated string sequence stays held until its terminator comes, unless
        ``end``: then its introducer is dropped and the rest is released as text. With
        ``verbatim`` (binary output follows, passed byte-exact) nothing is dropped: an
        unfinished escape is released as it came, as the bytes after it will be.
        """
        return self._step(final=True, end=end, verbatim=verbatim)

    @property
    def at_rest(self) -> bool:
        """Nothing held back and no value open at the end of what was released."""
        return not self._buf and self._open is None

    def skip(self, data: bytes, shown: bytes) -> bytes:
        """``data``, the stream's next bytes, was masked as ``shown`` by another masker of the
        same engine that was at the same point (``premasked``): keep it as context only, and
        return ``shown`` as this stream's line may show it. Call only when ``at_rest``."""
        events: list[MaskEvent] = []
        try:
            shown = self._guard.apply(shown, self._offset, self.stream, events)
        except Exception as exc:
            self._buf = data  # withheld, as any chunk the masker fails on
            return self._fail(exc)
        self._record(events)
        self._offset += len(data)
        self._ctx = (self._ctx + data[-CONTEXT_BYTES:])[-CONTEXT_BYTES:]
        return shown

    def _record(self, events: list[MaskEvent]) -> None:
        if events:
            self._events.extend(events)
            self.counter.add(events)

    def passed(self, size: int) -> None:
        """``size`` bytes of the stream went around the masker (binary output): what follows
        is not the continuation of what was fed before. Call after ``flush(end=True)``."""
        self._offset += size
        self._ctx = b""
        self._open = None

    def take_events(self) -> list[MaskEvent]:
        """Return and forget the mask events produced since the last call."""
        events, self._events = self._events, []
        return events

    def take_failures(self) -> list[MaskFailure]:
        """Return and forget the masking failures since the last call (for the audit log)."""
        failures, self._failures = self._failures, []
        return failures

    def _step(self, *, final: bool, end: bool = False, verbatim: bool = False) -> bytes:
        if not self._buf:
            self.pending_since = None
            return b""
        try:
            out = self._process(final=final, closing=end, verbatim=verbatim)
        except Exception as exc:
            return self._fail(exc)
        if not self._buf:
            self.pending_since = None
        elif self.pending_since is None:
            self.pending_since = self._clock()
        return out

    def _fail(self, exc: Exception) -> bytes:
        unsafe = self.engine.unsafe_best_effort
        data, size = self._buf, len(self._buf)
        self._failures.append(
            MaskFailure(self.stream, self._offset, size, type(exc).__name__, not unsafe)
        )
        self._offset += size
        self._buf = b""
        self._ctx = b""
        self._open = None
        self.pending_since = None
        out = data if unsafe else NOTICE
        self._guard.note(out)
        return out

    def _drop_stray_escapes(
        self, scan: bytes, smap: StripMap, base: int, closing: bool
    ) -> tuple[bytes, StripMap]:
        """Drop each ESC that starts no complete sequence, unless it is in the last
        ``STRAY_AFTER`` bytes of the text (more output may finish it) and the stream goes on.

        Such an ESC is malformed or overlong: passed on, it would leave the terminal inside a
        sequence, where the broker's own title could not follow.
        """
        text = smap.text
        size = len(text)
        drop: list[int] = []
        at = text.find(b"\x1b")
        while at >= 0:
            origin = smap.orig(at)
            if origin >= base and (closing or size - at > STRAY_AFTER):
                drop.append(origin)
            at = text.find(b"\x1b", at + 1)
        if not drop:
            return scan, smap
        parts: list[bytes] = []
        prev = 0
        for origin in drop:
            parts.append(scan[prev:origin])
            prev = origin + 1
        parts.append(scan[prev:])
        self._offset += len(drop)
        scan = b"".join(parts)
        return scan, strip_ansi(scan)

    def _process(self, *, final: bool, closing: bool = False, verbatim: bool = False) -> bytes:
        scan = self._ctx + self._buf
        base = len(self._ctx)
        held = b""
        at = -1 if verbatim else open_string(scan, base)
        if at >= 0:
            if closing or len(scan) - at > self.max_string:
                scan = scan[:at] + scan[at + 2 :]
                self._offset += 2
            else:
                scan, held = scan[:at], scan[at:]
                if at == base:
                    self._buf = held
                    return b""
        smap = strip_ansi(scan)
        if b"\x1b" in smap.text and not verbatim:
            scan, smap = self._drop_stray_escapes(scan, smap, base, closing)
        text = smap.text
        size = len(text)
        sbase = bisect_left(range(size + 1), base, key=smap.orig) if smap.positions else base
        spans = self.engine.find_mapped(scan, smap)
        opened = self._open
        if opened is not None and opened.continuation is not None:
            cont = opened.continuation.match(text, sbase)
            if cont is not None and cont.end() > sbase:
                spans = _merge([*spans, (sbase, cont.end(), opened)])
        # Spans are sorted and do not overlap: their starts and ends both ascend.
        if spans and spans[0][1] <= sbase:
            spans = spans[bisect_right(spans, sbase, key=_end) :]

        hold = size
        if final and not closing:
            # An unfinished escape at the end displays nothing: it waits for the rest.
            esc = text.rfind(b"\x1b", max(sbase, size - STRAY_AFTER))
            if esc >= 0:
                hold = esc
        if not final:
            hold = tail_start(text, sbase)
            if spans and spans[-1][1] >= size and spans[-1][0] >= sbase:
                hold = min(hold, spans[-1][0])  # only the last span can reach the end
            floor = max(sbase, size - self.max_holdback)
            hold = max(hold, floor)
            for start, end, _ in reversed(spans):  # the one span around ``hold``, if any
                if end <= hold:
                    break
                if start < hold and start >= floor:
                    hold = start

        new_open: Detector | None = opened if hold <= sbase else None
        for start, end, det in reversed(spans):  # the last value cut at ``hold`` or the end
            if not (end > hold or (final and end >= size)):
                break
            if det.continuation is not None and start < hold:
                new_open = det
                break
        self._open = new_open

        hi = smap.orig(hold) if hold < size else len(scan)
        events: list[MaskEvent] = []
        live = (
            spans
            if not spans or spans[-1][0] < hold
            else spans[: bisect_left(spans, hold, key=_start)]
        )
        out = self.engine.render_hits(
            scan,
            smap,
            live,
            base,
            hi,
            stream=self.stream,
            stream_offset=self._offset - base,
            events=events,
            proofs=self._proofs,
        )
        if self._on_screen:
            out = self._guard.apply(out, self._offset, self.stream, events)
        self._record(events)
        self._offset += hi - base
        self._ctx = scan[max(0, hi - CONTEXT_BYTES) : hi]
        self._buf = scan[hi:] + held
        return out
