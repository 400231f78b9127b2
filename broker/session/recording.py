"""What the recording gets: target output held back to whole lines, then masked with them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from broker.common.digest import OffLoopSha256
from broker.common.errors import RecordingError
from broker.masking.binary import BinaryOutput, TextJudge
from broker.masking.events import MaskCounter, MaskEvent, MaskFailure
from broker.masking.premasked import Premasked, Premasks
from broker.masking.stream import StreamMasker
from broker.session.ports import Recording

MAX_PROOFS = 200
"""Value proofs kept per detector for the audit record (the count is always exact)."""
LINE_BYTES = 4096
"""A line longer than this is masked and recorded without waiting for its end."""
LINE_SECONDS = 10.0
"""A line held this long is masked and recorded at the next output, end or not."""

_NULS = bytes(1 << 17)


def _only_nul(data: bytes) -> bool:
    """Whether ``data`` is NUL bytes only (one memcmp, not a loop over the bytes)."""
    return _NULS.startswith(data) if len(data) <= len(_NULS) else data == bytes(len(data))


StreamMaskers = Callable[[str], StreamMasker]
"""Makes the masker of one recorded stream (``recording:stdout``...), with the session's policy."""


class _Held:
    """One stream's raw output since its last line end, and the masker it is released to."""

    def __init__(self, masker: StreamMasker, *, binary_sticky: bool) -> None:
        self.masker = masker
        self.raw = b""
        self.since: float | None = None
        self.judge = TextJudge(sticky=binary_sticky)
        """Binary output never goes to the masker (docs/decisions/020)."""
        self.binary: BinaryOutput | None = None
        """The run of binary output in progress."""


class LineRecording:
    """The recording stage of a masked session: it comes *first* in the pipeline.

    It passes output on unchanged (the user's live masking is the next stage's job, within
    its latency budget) and records the target's raw output only once masked as whole lines:
    everything up to the last line end is masked and recorded; the rest (a line being typed
    key by key, or printed slowly) is held until its line ends, it grows past
    ``LINE_BYTES``, or ``LINE_SECONDS`` pass. A value typed or printed in pieces is so masked
    with the whole line as context, and never reaches the recording in part. When a bound
    passes, the held line goes to the masker, which still keeps back a tail that may be the
    start of a value (digit groups, a token) until more comes or the session ends.
    Binary output (:mod:`broker.masking.binary`) is never masked here: each run of it is
    recorded as one line with its size and SHA-256 (or that it was refused); with
    ``binary_sticky`` (a `run`, as the live masking stage does) a stream stays binary once
    it turned so.
    """

    pending = False
    """Live output is never held here."""

    def __init__(
        self,
        recorder: Recording,
        maskers: StreamMaskers,
        *,
        clock: Callable[[], float] = time.monotonic,
        line_bytes: int = LINE_BYTES,
        line_seconds: float = LINE_SECONDS,
        binary_sticky: bool = False,
        width: int = 0,
    ) -> None:
        self.recorder = recorder
        self._held = {
            False: _Held(maskers("recording:stdout"), binary_sticky=binary_sticky),
            True: _Held(maskers("recording:stderr"), binary_sticky=binary_sticky),
        }
        for held in self._held.values():
            # A `run` is replayed as a terminal shows output without a pty: LF is CR LF.
            held.masker.shown_on(width, crlf=binary_sticky)
        self._clock = clock
        self._line_bytes = line_bytes
        self._line_seconds = line_seconds
        self.counter = MaskCounter()
        self.proofs: dict[str, list[str]] = {}
        self.on_failure: Callable[[MaskFailure], None] | None = None
        """Told of every piece that could not be masked (withheld from the recording)."""
        self.premasks = Premasks()
        """Whole lines masked here, for the live masking stage that comes next to reuse."""

    def feed(self, data: bytes, stderr: bool) -> bytes:
        held = self._held[stderr]
        self.premasks.offer(stderr, None)
        if not data:
            return data
        segments = held.judge.split(data)
        if len(segments) == 1 and segments[0][0] and held.binary is None:
            self._text(held, stderr, data, share=True)
            return data
        for text, piece in segments:
            if text:
                self._end_binary(held, stderr)
                self._text(held, stderr, piece)
            else:
                self._binary(held, stderr, piece)
        return data

    def _binary(self, held: _Held, stderr: bool, piece: bytes) -> None:
        """Binary output: the text before it is recorded (masked whole), the bytes are not;
        the run is recorded as its size and SHA-256 once it ends."""
        if held.raw or held.masker.held:
            self._release(held, stderr, len(held.raw), final=True, end=True)
        if held.binary is None:
            action = held.masker.engine.policy.binary
            held.binary = BinaryOutput(held.masker.stream, action, 0, OffLoopSha256)
        held.binary.add(piece)
        held.masker.passed(len(piece))

    def _end_binary(self, held: _Held, stderr: bool) -> None:
        run, held.binary = held.binary, None
        if run is None:
            return
        facts = run.summary()
        if run.action == "pass":
            note = f"{run.size} bytes of binary output, sha256 {facts['sha256']}"
        else:  # the masking stage refused it and ended the session
            note = f"binary output refused (binary: refuse): {run.size} bytes not shown"
        self.recorder.feed(f"\r\n[gatehouse: {note}]\r\n".encode(), stderr)

    def _text(self, held: _Held, stderr: bool, data: bytes, *, share: bool = False) -> None:
        """Hold ``data`` until its line ends; with ``share``, the lines that start in ``data``
        are masked apart from the end of a line held from before, and offered to the live
        stage (``premasked``)."""
        if data:
            if held.since is None:
                held.since = self._clock()
            before = len(held.raw)
            held.raw += data
            cut = held.raw.rfind(b"\n") + 1
            if len(held.raw) - cut > self._line_bytes or self._overdue(held):
                cut = len(held.raw)  # the unfinished line is too long, or held too long
            if not cut:
                return
            first = held.raw.find(b"\n", before) + 1 if before else 0
            if share and 0 <= first < cut and (first or not before):
                if first:
                    self._release(held, stderr, first)
                self._release(held, stderr, cut - first, share_at=first - before)
                return
            self._release(held, stderr, cut)

    def resize(self, cols: int) -> None:
        """The terminal is now ``cols`` wide: values drawn with cursor moves are found on its
        rows as it wraps them (in the recording as on the screen)."""
        for held in self._held.values():
            held.masker.resize(cols)

    def flush(self, stderr: bool) -> bytes:
        held = self._held[stderr]
        if held.raw and self._overdue(held):
            self._release(held, stderr, len(held.raw))
        return b""

    def end(self) -> None:
        """The output has ended: record what is held, masked, to the last byte.

        A recording that already failed has ended the session; what is held is dropped.
        """
        for stderr, held in self._held.items():
            with contextlib.suppress(RecordingError):  # the recorder reported it already
                self._end_binary(held, stderr)
                self._release(held, stderr, len(held.raw), final=True, end=True)

    def settle(self) -> None:
        """Record the complete lines held now (before a command's marker).

        The relay feeds this stage the chunk that ends the command's echo before it captures
        the command, so the echoed line is complete and recorded by then. What follows its
        line end (the command's first output, perhaps half a value printed slowly) stays held
        until its own line ends: settling it here would record it in pieces.

        Raises:
            RecordingError: the recording has failed.
        """
        for stderr, held in self._held.items():
            self._end_binary(held, stderr)
            cut = held.raw.rfind(b"\n") + 1
            if cut:
                self._release(held, stderr, cut)

    def _overdue(self, held: _Held) -> bool:
        return held.since is not None and self._clock() - held.since >= self._line_seconds

    def _release(
        self,
        held: _Held,
        stderr: bool,
        cut: int,
        *,
        final: bool = False,
        end: bool = False,
        share_at: int = -1,
    ) -> None:
        """Mask and record the first ``cut`` bytes held; when ``share_at`` is not negative
        (where they start in the chunk being fed), offer them masked to the live stage."""
        share = share_at >= 0 and held.masker.at_rest
        piece, held.raw = held.raw[:cut], held.raw[cut:]
        held.since = self._clock() if held.raw else None
        if piece and not held.masker.held and _only_nul(piece):
            self.recorder.feed(piece, stderr)  # NULs only: nothing to mask (nor to record)
            return
        out = held.masker.feed(piece) if piece else b""
        if final:
            out += held.masker.flush(end=end)
        events, failed = self._collect(held.masker)
        if share and not failed and held.masker.at_rest:
            self.premasks.offer(stderr, Premasked(share_at, piece, out, tuple(events)))
        if out:
            self.recorder.feed(out, stderr)

    def _collect(self, masker: StreamMasker) -> tuple[list[MaskEvent], bool]:
        """Count the masker's new events; return them, and whether a piece failed."""
        events = masker.take_events()
        if events:
            self.counter.add(events)
            for event in events:
                kept = self.proofs.setdefault(event.detector, [])
                if len(kept) < MAX_PROOFS:
                    kept.append(event.value_hmac)
        failures = masker.take_failures()
        for failure in failures:
            if self.on_failure is not None:
                self.on_failure(failure)
        return events, bool(failures)

    def summary(self) -> dict[str, Any]:
        """What the recording's masking found, for the audit log (empty when nothing)."""
        if not self.counter.total:
            return {}
        return {
            "total": self.counter.total,
            "counts": self.counter.counts(),
            "value_hmacs": self.proofs,
        }
