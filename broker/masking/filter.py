"""The masker as an output stage of a session: per-stream StreamMaskers, proof, fail closed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from broker.common.digest import OffLoopSha256
from broker.common.errors import MaskingError
from broker.masking import MaskCounter, MaskFailure, MaskingEngine, MaskingPolicy, StreamMasker
from broker.masking.binary import BinaryOutput, TextJudge
from broker.masking.events import MaskEvent
from broker.masking.premasked import Premasked, Premasks
from broker.masking.rules import (
    DEFAULT_SCOPE,
    MaskingRules,
    load_masking_rules,
)
from broker.policy.loader import PolicySet

__all__ = [
    "MAX_PROOFS",
    "TITLE_INTERVAL",
    "BinaryOutputRefused",
    "MaskingEngines",
    "MaskingFilter",
    "OutputBoundary",
    "load_engine",
    "load_engines",
    "load_masking_policy",
]

MAX_PROOFS = 200
"""HMACs kept per detector and session for the audit record (the count is always exact)."""
TITLE_INTERVAL = 1.0
"""Seconds between two window-title updates of the live masked-count indicator, at least."""
MAX_TITLE = 200
"""Characters of the indicator title kept (the per-detector counts can be long)."""


class BinaryOutputRefused(MaskingError):
    """The target sent output that is not text, and the masking policy refuses binary output."""


def load_masking_policy(policies: PolicySet) -> MaskingPolicy:
    """The base masking policy (overrides are validated too, so `gatehouse check` sees them).

    Raises:
        ConfigError: the section is invalid (file:line named).
    """
    return load_masking_rules(policies).base


class MaskingEngines:
    """The deployment's masking engines: one per resolved policy, built once, shared by sessions.

    Building an engine compiles its prefilter, so sessions never build one: the engine of a
    scope (the base policy, or one override) is built on first use and kept.
    """

    def __init__(self, rules: MaskingRules, *, key: bytes) -> None:
        self.rules = rules
        self._key = key
        self._engines: dict[str, MaskingEngine] = {}
        self._strictest: MaskingEngine | None = None

    def _engine(self, scope: str, policy: MaskingPolicy) -> MaskingEngine:
        engine = self._engines.get(scope)
        if engine is None:
            engine = self._engines[scope] = MaskingEngine(policy, key=self._key)
        return engine

    def for_session(self, connection: str, groups: Iterable[str]) -> tuple[str, MaskingEngine]:
        """The name of the policy that applies to this session, and its engine."""
        chosen = self.rules.select(connection, groups)
        if chosen is None:
            return DEFAULT_SCOPE, self._engine(DEFAULT_SCOPE, self.rules.base)
        return chosen.name, self._engine(chosen.name, chosen.policy)

    def warm(self) -> None:
        """Build the default scope's engine now, at startup: its Hyperscan databases take
        ~100 ms to compile, which the first session would otherwise wait for (with all others)."""
        self._engine(DEFAULT_SCOPE, self.rules.base)

    @property
    def strictest(self) -> MaskingEngine:
        """An engine with every detector any scope enables, for text of no known session."""
        if self._strictest is None:
            if self.rules.overrides:
                self._strictest = MaskingEngine(self.rules.strictest(), key=self._key)
            else:
                self._strictest = self._engine(DEFAULT_SCOPE, self.rules.base)
        return self._strictest


def load_engines(policies: PolicySet, key_path: Path) -> MaskingEngines:
    """The deployment's masking engines (the key makes value HMACs stable and private).

    Raises:
        ConfigError: the masking section or one of its overrides is invalid.
    """
    return MaskingEngines(load_masking_rules(policies), key=key_path.read_bytes())


load_engine = load_engines
"""The name the composition root (broker/server/app.py) imports."""


# -- where a window-title sequence may be inserted -----------------------------------------

_CSI_DONE = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]")
_ESC_DONE = re.compile(rb"\x1b[ -/]*[0-~]")
_STRING_INTRO = frozenset(b"]PX^_")
_OSC_END = re.compile(rb"[\x07\x18\x1a]")
"""OSC strings end at BEL (or ST, which starts with ESC); CAN and SUB abort any string."""
_STRING_END = re.compile(rb"[\x18\x1a]")
"""DCS, SOS, PM and APC strings end only at ST (or CAN/SUB), not at BEL."""
_MAX_OPEN = 64


class OutputBoundary:
    """Tracks whether a terminal byte stream is at rest: not inside an escape sequence or a
    UTF-8 character, so that bytes inserted there cannot change how the rest is understood.

    Only the end of each chunk matters, so the work per chunk is one ``rfind`` for ESC (an ESC
    starts a new sequence in any state) and a look at the last bytes. When unsure (a malformed
    or overlong sequence) it says "not at rest" until the next ESC settles it.
    """

    def __init__(self) -> None:
        self._open = b""
        """The unfinished sequence (from its ESC) at the end of the stream, if any."""
        self._string: re.Pattern[bytes] | None = None
        """Inside an OSC/DCS/SOS/PM/APC string: what ends it (besides ST)."""
        self._last = b""
        """The stream's last bytes (up to 3), for an unfinished UTF-8 character."""

    @property
    def at_rest(self) -> bool:
        """True when nothing is unfinished at the end of what was fed."""
        return not self._open and self._string is None and _utf8_complete(self._last)

    def feed(self, data: bytes) -> None:
        """Note ``data`` as the stream's next bytes."""
        if not data:
            return
        self._last = (self._last + data)[-3:] if len(data) < 3 else data[-3:]
        esc = data.rfind(b"\x1b")
        if esc >= 0:
            self._string = None
            self._settle(data[esc:])
        elif self._string is not None:
            if self._string.search(data) is not None:
                self._string = None
        elif self._open:
            self._settle(self._open + data[:_MAX_OPEN])

    def _settle(self, seq: bytes) -> None:
        """``seq`` starts with the stream's last ESC: is that sequence finished?"""
        self._open = b""
        if len(seq) >= 2 and seq[1] in _STRING_INTRO:
            end = _OSC_END if seq[1] == 0x5D else _STRING_END
            self._string = end if end.search(seq, 2) is None else None
            return
        done = _CSI_DONE if seq[1:2] == b"[" else _ESC_DONE
        if done.match(seq) is None:
            # Unfinished, or malformed (then no later bytes finish it: the match is anchored
            # and fails at the bad byte, so it stays "not at rest" until the next ESC).
            self._open = seq[:_MAX_OPEN]


def _utf8_complete(tail: bytes) -> bool:
    """Whether ``tail`` (a stream's last bytes) does not end inside a UTF-8 character."""
    for have, byte in enumerate(reversed(tail), start=1):
        if byte < 0x80:
            return have == 1
        if byte >= 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return have >= need
    return True  # only continuation bytes seen: a character that began earlier, or garbage


def _title(counter: MaskCounter) -> bytes:
    """OSC 2 (window title) with the counts by detector name; never a value."""
    text = f"gatehouse: {counter.summary()}"[:MAX_TITLE]
    safe = "".join(c for c in text if c.isprintable())
    return b"\x1b]2;" + safe.encode("utf-8", "replace") + b"\x07"


class MaskingFilter:
    """Masks a session's stdout and stderr; keeps counts and value HMACs, never values.

    It also tells the user, without touching what the target sent, that values were masked:
    in a pty session (``pty``) by setting the window title (OSC 2) after its own output when
    the count grew, at most every ``TITLE_INTERVAL`` seconds, only where the stream is at rest,
    and once more after ``end()``; without a pty (``run``) by one line on stderr after ``end()``.

    Output that is not text (:mod:`broker.masking.binary`) never reaches the masker: under
    the policy's ``binary: pass`` it is passed byte-exact and its size and SHA-256 go into
    the audit summary; under ``binary: refuse`` :meth:`feed` raises
    :class:`BinaryOutputRefused` (the relay then ends the session). In a ``run`` the first
    binary block makes the rest of that stream binary; on a terminal, text after it is
    masked again.
    """

    def __init__(
        self,
        engine: MaskingEngine,
        on_failure: Callable[[MaskFailure], None] | None = None,
        *,
        pty: bool = False,
        scope: str = DEFAULT_SCOPE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        """The engine of the session's policy (SQL results mask cells with it directly)."""
        self._streams = {
            False: StreamMasker(engine, stream="stdout", crlf=not pty),
            True: StreamMasker(engine, stream="stderr", crlf=not pty),
        }
        self._judges = {False: TextJudge(sticky=not pty), True: TextJudge(sticky=not pty)}
        self.binary_policy = engine.policy.binary
        """``refuse`` or ``pass``: what happens to output that is not text."""
        self.binary: dict[str, BinaryOutput] = {}
        """Binary output seen, by stream name (for the audit summary)."""
        self.counter = MaskCounter()
        self.proofs: dict[str, list[str]] = {}
        self.failures: list[MaskFailure] = []
        self.pty = pty
        """Set the window title while the session runs (a terminal session, never `run`)."""
        self.scope = scope
        """The masking policy that applies: ``default`` or an override's name."""
        self.on_failure = on_failure
        """Told of every chunk that could not be masked (the session audits it)."""
        self._clock = clock
        self._boundary = OutputBoundary()
        self._titled = 0
        self._titled_at = float("-inf")
        self._ended = False
        self._noticed = False
        self._stderr_last = b"\n"
        self.premasks: Premasks | None = None
        """Lines the stage before this one (the recording's) masked whole: reused, not redone."""

    @property
    def pending(self) -> bool:
        return any(m.held for m in self._streams.values())

    def resize(self, cols: int, rows: int) -> None:
        """The user's terminal is now ``cols`` wide: values drawn with cursor moves are
        found on its rows as it wraps them."""
        for masker in self._streams.values():
            masker.resize(cols)

    def _collect(self, masker: StreamMasker, reused: tuple[MaskEvent, ...] = ()) -> None:
        events = masker.take_events()
        if reused:
            events = [*reused, *events]
        if events:
            self.counter.add(events)
            for event in events:
                kept = self.proofs.setdefault(event.detector, [])
                if len(kept) < MAX_PROOFS:
                    kept.append(event.value_hmac)
        for failure in masker.take_failures():
            self.failures.append(failure)
            if self.on_failure is not None:
                self.on_failure(failure)

    def feed(self, data: bytes, stderr: bool) -> bytes:
        """Mask the next chunk of a stream; what may be shown now.

        Raises:
            BinaryOutputRefused: the chunk holds binary output and the policy refuses it.
        """
        masker = self._streams[stderr]
        done = self.premasks.take(stderr, data) if self.premasks is not None else None
        segments = self._judges[stderr].split(data)
        if len(segments) == 1 and segments[0][0]:
            if done is not None:
                return self._indicate(self._reuse(masker, data, done), stderr)
            out = masker.feed(data)
        else:
            out = b"".join(
                masker.feed(piece) if text else self._pass_binary(masker, piece)
                for text, piece in segments
            )
        self._collect(masker)
        return self._indicate(out, stderr)

    def _reuse(self, masker: StreamMasker, data: bytes, done: Premasked) -> bytes:
        """Mask ``data`` taking ``done`` (its whole lines, masked by the recording stage) as
        they are, when this stream's masker holds nothing back where they start."""
        head = masker.feed(data[: done.start]) if done.start else b""
        rest = data[done.start :]
        if masker.at_rest:
            shown = masker.skip(done.raw, done.out)
            out = head + shown + masker.feed(rest[len(done.raw) :])
            self._collect(masker, done.events)
        else:
            out = head + masker.feed(rest)
            self._collect(masker)
        return out

    def _pass_binary(self, masker: StreamMasker, piece: bytes) -> bytes:
        """Binary output: refused, or passed byte-exact after the text held before it."""
        seen = self.binary.get(masker.stream)
        if seen is None:
            seen = self.binary[masker.stream] = BinaryOutput(
                masker.stream, self.binary_policy, masker.offset + masker.held, OffLoopSha256
            )
        if self.binary_policy != "pass":
            raise BinaryOutputRefused(
                f"the target's {masker.stream} is binary output (not text), and binary "
                "output is refused on this connection (masking policy: binary: refuse)"
            )
        held = masker.flush(end=True, verbatim=True)  # all of it, nothing dropped: the bytes follow
        masker.passed(len(piece))
        seen.add(piece)
        return held + piece

    def flush(self, stderr: bool) -> bytes:
        masker = self._streams[stderr]
        out = masker.flush(end=self._ended)
        self._collect(masker)
        return self._indicate(out, stderr)

    def end(self) -> None:
        """The target's output has ended: the next flush carries the final indicator."""
        self._ended = True

    def _indicate(self, out: bytes, stderr: bool) -> bytes:
        """``out``, followed by the indicator when one is due."""
        if self.pty:
            return out if stderr else self._title_after(out)
        if not stderr:
            return out
        if out:
            self._stderr_last = out[-1:]
        if not self._ended or self._noticed or not self.counter.total:
            return out
        if "stderr" in self.binary:  # a line added to binary output would alter it
            return out
        self._noticed = True
        newline = b"" if self._stderr_last == b"\n" else b"\n"
        return out + newline + f"gatehouse: {self.counter.summary()}\n".encode()

    def _title_after(self, out: bytes) -> bytes:
        self._boundary.feed(out)
        total = self.counter.total
        if total == self._titled or not self._boundary.at_rest:
            return out
        now = self._clock()
        if not self._ended and now - self._titled_at < TITLE_INTERVAL:
            return out
        self._titled, self._titled_at = total, now
        return out + _title(self.counter)

    def summary(self) -> dict[str, Any]:
        """The masking summary for the audit log (empty when nothing was masked or failed)."""
        if not self.counter.total and not self.failures and not self.binary:
            return {}
        report: dict[str, Any] = {
            "policy": self.scope,
            "total": self.counter.total,
            "counts": self.counter.counts(),
            "value_hmacs": self.proofs,
            "failures": [asdict(f) for f in self.failures],
        }
        if self.binary:
            report["binary"] = {name: seen.summary() for name, seen in self.binary.items()}
        return report

    def describe(self) -> str:
        """`N values masked (…)` for the user."""
        return self.counter.summary()
