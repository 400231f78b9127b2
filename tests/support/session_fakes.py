"""Small fakes at the session core's edges: a terminal, a target, a recording, an event sink."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.common.errors import RecordingError
from broker.masking.lines import LineMask, unmasked
from broker.policy.access import Decision
from broker.session.brokered import BrokeredSession, SessionKind, SessionResult
from broker.session.factory import SessionFactory
from broker.session.ports import CommandPolicy, MaskingStage
from broker.session.recording import StreamMaskers
from broker.session.terminal import InputConsumer, Principal
from broker.upstream.base import OutputCallback
from recordings.asciicast import SessionMeta

WAIT = 5.0
"""Upper bound for every wait on a state in these tests (they never sleep)."""


class FakeTerminal:
    """A user's terminal: keeps what the user would see; the test types through its consumer."""

    def __init__(self, principal: Principal, *, term_type: str = "xterm", cols: int = 80) -> None:
        self.principal = principal
        self.cols = cols
        self.rows = 24
        self.term_type = term_type
        self.colorterm = ""
        self.send_buffer = 0
        self.congested = False
        self.screen = bytearray()
        self.stderr = bytearray()
        self.exit_status: int | None = None
        self.input_paused = False
        self._consumer: InputConsumer | None = None
        self.given_back: list[bytes] = []
        self._taken = asyncio.Event()
        self._closed = asyncio.Event()

    @property
    def has_pty(self) -> bool:
        return bool(self.term_type)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def consumer(self) -> InputConsumer | None:
        return self._consumer

    def set_consumer(self, consumer: InputConsumer | None) -> None:
        self._consumer = consumer
        if consumer is None:
            self._taken.clear()
        else:
            self._taken.set()

    async def taken(self) -> InputConsumer:
        """Wait until someone reads the user's input (the relay is running); that reader."""
        await asyncio.wait_for(self._taken.wait(), WAIT)
        assert self._consumer is not None
        return self._consumer

    def unread(self, data: bytes) -> None:
        """Input given back: to the reader now, or to the next one."""
        if self._consumer is not None:
            self._consumer.data_received(data)
        else:
            self.given_back.append(data)

    def type(self, keys: bytes) -> None:
        """The user types ``keys`` (the relay must be running)."""
        assert self._consumer is not None, "nobody reads the user's input"
        self._consumer.data_received(keys)

    def pause_input(self) -> None:
        self.input_paused = True

    def resume_input(self) -> None:
        self.input_paused = False

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.screen += data

    def write_stderr(self, data: bytes) -> None:
        if not self.closed:
            self.stderr += data

    async def drain(self) -> None:
        return None

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def hang_up(self) -> None:
        """The user's side goes away."""
        self._closed.set()

    def exit(self, status: int) -> None:
        self.exit_status = status
        self._closed.set()


class FakeUpstream:
    """A target session: keeps the user's input; the test makes it print and exit."""

    def __init__(self, on_output: OutputCallback) -> None:
        self.on_output = on_output
        self.input = bytearray()
        self.eof = False
        self.closed = False
        self.sizes: list[tuple[int, int]] = []
        self._status: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def prints(self, data: bytes, *, stderr: bool = False) -> None:
        """The target sends ``data`` (on stderr with ``stderr``)."""
        self.on_output(data, stderr)

    def exits(self, status: int) -> None:
        if not self._status.done():
            self._status.set_result(status)

    def write(self, data: bytes) -> None:
        self.input += data

    def write_eof(self) -> None:
        self.eof = True

    def resize(self, cols: int, rows: int) -> None:
        self.sizes.append((cols, rows))

    input_backlog = 0
    """User input the target has not taken (a test sets it to exercise flow control)."""

    async def drain_input(self) -> None:
        return None

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True
        self.exits(255)

    async def wait(self) -> int:
        return await self._status


@dataclass
class FakeTarget:
    """Opens :class:`FakeUpstream` sessions and notes how it was asked to."""

    fails_with: Exception | None = None
    opened: list[FakeUpstream] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(
        self,
        on_output: OutputCallback,
        *,
        command: str | None,
        term_type: str | None,
        size: tuple[int, int],
    ) -> FakeUpstream:
        self.requests.append({"command": command, "term_type": term_type, "size": size})
        if self.fails_with is not None:
            raise self.fails_with
        upstream = FakeUpstream(on_output)
        self.opened.append(upstream)
        return upstream

    @property
    def upstream(self) -> FakeUpstream:
        assert len(self.opened) == 1, f"{len(self.opened)} sessions opened"
        return self.opened[0]


class FakeRecorder:
    """A recording that keeps what it was given; :meth:`fail` breaks it like a full disk."""

    pending = False
    congested = False

    def __init__(self, meta: SessionMeta, cols: int, rows: int, term: str) -> None:
        self.meta = meta
        self.size = (cols, rows)
        self.term = term
        self.path = Path(f"/nonexistent/{meta.session_id}.cast")
        self.error = ""
        self.nul_bytes = 0
        self.on_failure: Any = None
        self.output = bytearray()
        self.markers: list[str] = []
        self.resizes: list[tuple[int, int]] = []
        self.closed = False

    def _check(self) -> None:
        if self.error:
            raise RecordingError(self.error)

    def feed(self, data: bytes, stderr: bool) -> bytes:
        self._check()
        self.output += data
        return data

    def flush(self, stderr: bool) -> bytes:
        return b""

    def end(self) -> None:
        return None

    async def drain(self) -> None:
        return None

    def marker(self, label: str) -> None:
        self._check()
        self.markers.append(label)

    def resize(self, cols: int, rows: int) -> None:
        self._check()
        self.resizes.append((cols, rows))

    def fail(self, message: str) -> None:
        self.error = f"recording failed: {message}"
        if self.on_failure is not None:
            self.on_failure(self.error)

    async def close(self) -> str:
        self.closed = True
        return "" if self.error else f"sha-of-{len(self.output)}-bytes"


@dataclass
class FakeRecorders:
    """Starts :class:`FakeRecorder` recordings, or refuses to (``fails_with``)."""

    fails_with: str = ""
    started: list[FakeRecorder] = field(default_factory=list)

    async def __call__(self, meta: SessionMeta, *, cols: int, rows: int, term: str) -> FakeRecorder:
        if self.fails_with:
            raise RecordingError(self.fails_with)
        recorder = FakeRecorder(meta, cols, rows, term)
        self.started.append(recorder)
        return recorder

    @property
    def recorder(self) -> FakeRecorder:
        assert len(self.started) == 1, f"{len(self.started)} recordings started"
        return self.started[0]


@dataclass
class ListEvents:
    """An event sink that keeps every event, in order; ``emit_soon`` keeps it at once."""

    events: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    async def emit(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
        self.events.append((actor, action, target, dict(details)))

    def emit_soon(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
        self.events.append((actor, action, target, dict(details)))

    def actions(self) -> list[str]:
        return [action for _, action, _, _ in self.events]

    def only(self, action: str) -> dict[str, Any]:
        """The details of the one event named ``action``."""
        found = [details for _, name, _, details in self.events if name == action]
        assert len(found) == 1, f"{action}: {len(found)} events in {self.actions()}"
        return found[0]


@dataclass
class Spawned:
    """A spawner that keeps what it was asked to run in the background, and runs none of it."""

    jobs: list[tuple[str, bool]] = field(default_factory=list)

    def __call__(self, work: Coroutine[Any, Any, None], *, essential: bool = True) -> None:
        self.jobs.append((getattr(work, "__name__", repr(work)), essential))
        work.close()


ALICE = Principal("alice", ("engineers",), client_addr="127.0.0.1:40022")


def allow_all(line: str) -> Decision:
    return Decision(action="allow", rule="no-command-rule")


@dataclass
class Rig:
    """A session factory wired to fakes, and the fakes, for one test."""

    strict: bool = True
    terminal: FakeTerminal = field(default_factory=lambda: FakeTerminal(ALICE))
    target: FakeTarget = field(default_factory=FakeTarget)
    recorders: FakeRecorders = field(default_factory=FakeRecorders)
    events: ListEvents = field(default_factory=ListEvents)
    spawned: Spawned = field(default_factory=Spawned)

    @property
    def factory(self) -> SessionFactory:
        return SessionFactory(
            events=self.events,
            spawn=self.spawned,
            start_recorder=self.recorders,
            strict_recording=self.strict,
        )

    async def open(
        self,
        kind: SessionKind = "terminal",
        *,
        command: str | None = None,
        policy: CommandPolicy = allow_all,
        maskers: Sequence[MaskingStage] = (),
        mask_line: LineMask = unmasked,
        record_maskers: StreamMaskers | None = None,
    ) -> BrokeredSession:
        return await self.factory.open(
            ALICE,
            "web-1",
            self.terminal,
            kind,
            open_upstream=self.target,
            command_policy=policy,
            maskers=lambda: maskers,
            command=command,
            mask_line=mask_line,
            record_maskers=record_maskers,
        )

    async def running(self, session: BrokeredSession) -> asyncio.Task[SessionResult]:
        """Start relaying ``session``; returns once the relay reads the user's input."""
        task = asyncio.create_task(session.run())
        try:
            await self.terminal.taken()
        except BaseException:
            task.cancel()
            raise
        return task
