"""What a brokered session is handed: event sink, spawner, command policy, maskers, recorder."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Protocol

from broker.auditchain.events import Action
from broker.masking.events import MaskFailure
from broker.masking.premasked import Premasks
from broker.policy.access import Decision
from broker.upstream.base import FlowControl, OutputFilter


class EventSink(Protocol):
    """Where the broker reports what happened (the audit log)."""

    async def emit(
        self, actor: str, action: Action, target: str, details: Mapping[str, Any]
    ) -> None: ...


class SessionEvents(EventSink, Protocol):
    """An event sink that synchronous code (relay callbacks) can report to without waiting."""

    def emit_soon(
        self, actor: str, action: Action, target: str, details: Mapping[str, Any]
    ) -> None: ...


class Spawner(Protocol):
    """Runs background work that outlives its caller (kept, reaped, failures logged).

    Non-essential work (indexing a recording, which is redone on demand) may be cancelled
    at shutdown; essential work (audit records) is waited for.
    """

    def __call__(self, work: Coroutine[Any, Any, None], *, essential: bool = True) -> None: ...


class BackgroundEvents:
    """A :class:`SessionEvents` over an :class:`EventSink`: ``emit_soon`` spawns the emit."""

    def __init__(self, sink: EventSink, spawn: Spawner) -> None:
        self.sink = sink
        self.spawn = spawn

    async def emit(
        self, actor: str, action: Action, target: str, details: Mapping[str, Any]
    ) -> None:
        await self.sink.emit(actor, action, target, details)

    def emit_soon(
        self, actor: str, action: Action, target: str, details: Mapping[str, Any]
    ) -> None:
        self.spawn(self.sink.emit(actor, action, target, details))


CommandPolicy = Callable[[str], Decision]
"""Judges one command line of this session: allow, approval or deny, naming the rule."""


class MaskingStage(OutputFilter, Protocol):
    """A masking stage of the output pipeline (:class:`~broker.masking.filter.MaskingFilter`)."""

    on_failure: Callable[[MaskFailure], None] | None
    """Told of every chunk that could not be masked (and was withheld, failing closed)."""
    premasks: Premasks | None
    """Output the recording stage before it masked as whole lines, to reuse (or None)."""

    def summary(self) -> dict[str, Any]:
        """The masking summary for the audit log (empty when nothing was masked or failed)."""
        ...

    def describe(self) -> str:
        """`N values masked (…)` for the user."""
        ...

    def resize(self, cols: int, rows: int) -> None:
        """The user's terminal is now ``cols`` x ``rows`` (values drawn with cursor moves
        are found on its rows as it wraps them)."""
        ...


class Recording(OutputFilter, FlowControl, Protocol):
    """The recording stage (:class:`~broker.recording.recorder.SessionRecorder`).

    It sees output after masking; the relay must not outrun it (:class:`FlowControl`).
    """

    path: Path
    """The recording's file."""
    error: str
    """Why the recording failed; empty while it is sound."""
    nul_bytes: int
    """NUL bytes shown to the user but not written to the recording."""
    on_failure: Callable[[str], None] | None
    """Called once with the reason when the recording can no longer be written."""

    def marker(self, label: str) -> None:
        """Mark a command line in the recording."""

    def resize(self, cols: int, rows: int) -> None:
        """Record a window change."""

    async def close(self) -> str:
        """Close the file; its SHA-256 ("" if the recording failed)."""
        ...
