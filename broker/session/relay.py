"""The pass-through relay: user input to the target; target output through filters to the user."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from broker.common.errors import GatehouseError
from broker.session.capture import LineCapture
from broker.session.terminal import Terminal
from broker.upstream.base import INPUT_HIGH, FlowControl, OutputFilter, Upstream

log = logging.getLogger(__name__)

HIGH_WATER = 2 << 20
"""Pause the target when this much output waits for the user (the channel's drain high mark)."""
HOLDBACK_FLUSH = 0.03
"""Seconds a filter may hold output back before it is flushed anyway."""


class Relay:
    """Connects one user channel to one upstream session until the upstream ends."""

    def __init__(
        self,
        channel: Terminal,
        filters: Sequence[OutputFilter] = (),
        *,
        on_command: Callable[[str], None] | None = None,
        check_command: Callable[[str], str | None] | None = None,
        split_stderr: bool = False,
        on_resize: Callable[[int, int], None] | None = None,
        flow: Sequence[FlowControl] = (),
    ) -> None:
        self.channel = channel
        self.filters = tuple(filters)
        self.on_command = on_command
        self.check_command = check_command
        self.split_stderr = split_stderr
        self.on_resize = on_resize
        self.flow = tuple(flow)
        self.upstream: Upstream | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self._capture = LineCapture(lambda: channel.cols) if on_command else None
        self._loop = asyncio.get_running_loop()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._held: list[tuple[bytes, bool]] | None = []
        self._held_bytes = 0
        self._held_paused = False
        self._input_drainer: asyncio.Task[None] | None = None

    # -- target → user -------------------------------------------------

    def attach(self, upstream: Upstream) -> None:
        """The upstream is open; its output is held until :meth:`run` (see ``on_output``)."""
        self.upstream = upstream

    def on_output(self, data: bytes, stderr: bool) -> None:
        """Upstream callback: one chunk of target output.

        Output that arrives before :meth:`run` is held: until then the user's terminal may
        still belong to the TUI, whose leaving the alternate screen would wipe it (the
        target's first prompt, typically). Above HIGH_WATER held bytes the target is paused.
        """
        if self._failure is not None:
            return
        if self._held is not None:
            self._held.append((data, stderr))
            self._held_bytes += len(data)
            if (
                self._held_bytes > HIGH_WATER
                and self.upstream is not None
                and not self._held_paused
            ):
                self._held_paused = True
                self.upstream.pause_reading()
            return
        stderr = stderr and self.split_stderr
        try:
            raw = data
            for stage in self.filters:
                data = stage.feed(data, stderr)
            # Capture after the stages: the line recording has then taken this chunk too, so
            # the rest of a line whose echo ends here is recorded (masked) as part of that
            # line, not left over after the command's marker settled the recording.
            if self._capture is not None:  # the echoed line unmasked: the session masks it whole
                command = self._capture.feed_output(raw.decode("utf-8", "replace"))
                if command and self.on_command is not None:
                    self.on_command(command)
        except Exception as exc:  # a filter failing closes the session (fail closed)
            self._fail(exc)
            return
        self._deliver(data, stderr)
        if any(stage.pending for stage in self.filters) and self._flush_handle is None:
            self._flush_handle = self._loop.call_later(HOLDBACK_FLUSH, self._flush_filters)

    def _deliver(self, data: bytes, stderr: bool) -> None:
        if not data:
            return
        self.bytes_out += len(data)
        if stderr:
            self.channel.write_stderr(data)
        else:
            self.channel.write(data)
        if self._drainer is None and self.upstream is not None and self._congested():
            self.upstream.pause_reading()
            self._drainer = self._loop.create_task(self._drain())

    def _congested(self) -> bool:
        return self.channel.send_buffer > HIGH_WATER or any(f.congested for f in self.flow)

    async def _drain(self) -> None:
        try:
            await self.channel.drain()
            for stage in self.flow:
                await stage.drain()
        finally:
            self._drainer = None
            if self.upstream is not None:
                self.upstream.resume_reading()

    def _flush_filters(self) -> None:
        """Push held-back output through the remaining stages, in pipeline order."""
        self._flush_handle = None
        for stderr in (False, True) if self.split_stderr else (False,):
            data = b""
            try:
                for stage in self.filters:
                    data = (stage.feed(data, stderr) if data else b"") + stage.flush(stderr)
            except Exception as exc:
                self._fail(exc)
                return
            self._deliver(data, stderr)

    def abort(self, reason: str) -> None:
        """End the session now (a recording failed): fail closed, say why."""
        if self._failure is None:
            self._fail(GatehouseError(reason))

    def _fail(self, exc: BaseException) -> None:
        log.error("[%s] output filter failed, ending session: %r", self.channel.principal.name, exc)
        self._failure = exc
        if self.upstream is not None:
            self.upstream.close()

    # -- user → target (InputConsumer) ----------------------------------

    def data_received(self, data: bytes) -> None:
        if self.upstream is None:
            return
        self.bytes_in += len(data)
        if self._capture is not None:
            enter = max(data.find(b"\r"), data.find(b"\n"))
            if enter >= 0:
                typed = data[:enter].decode("utf-8", "replace")
                line = self._capture.enter_pressed(typed)
                check = self.check_command
                refusal = check(line) if line and check is not None else None
                if refusal is not None:
                    # Input-layer protection: the line is wiped on the target, never run.
                    self.upstream.write(data[:enter] + b"\x05\x15")
                    self.channel.write(f"\r\n[gatehouse: {refusal}]\r\n".encode())
                    self.upstream.write(b"\r")
                    return
        self.upstream.write(data)
        if self._input_drainer is None and self.upstream.input_backlog > INPUT_HIGH:
            # The target takes input slower than the user sends it: stop reading the
            # user's channel until it catches up (the SSH window then holds the client).
            self.channel.pause_input()
            self._input_drainer = self._loop.create_task(self._drain_input(self.upstream))

    async def _drain_input(self, upstream: Upstream) -> None:
        try:
            await upstream.drain_input()
        finally:
            self._input_drainer = None
            self.channel.resume_input()

    def size_changed(self, cols: int, rows: int) -> None:
        if self.upstream is not None:
            self.upstream.resize(cols, rows)
        if self.on_resize is not None:
            try:
                self.on_resize(cols, rows)
            except Exception as exc:
                self._fail(exc)

    def eof_received(self) -> None:
        if self.upstream is not None:
            self.upstream.write_eof()

    # -- lifetime ---------------------------------------------------------

    @property
    def failure(self) -> BaseException | None:
        """Why the relay ended the session, if a filter failed."""
        return self._failure

    async def run(self, upstream: Upstream, *, take_input: bool = True) -> int:
        """Relay until ``upstream`` ends; returns its exit status."""
        self.upstream = upstream
        if self._failure is not None:  # failed before the target opened: do not start
            upstream.close()
        held, self._held = self._held or [], None
        for data, stderr in held:
            self.on_output(data, stderr)
        if self._held_paused and self._drainer is None:
            upstream.resume_reading()
        if take_input:
            self.channel.set_consumer(self)
        closed = asyncio.ensure_future(self.channel.wait_closed())
        waiter = asyncio.ensure_future(upstream.wait())
        try:
            await asyncio.wait({closed, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                upstream.close()
            status = await waiter
        finally:
            closed.cancel()
            if not waiter.done():
                upstream.close()
                waiter.cancel()
            if take_input:
                self.channel.set_consumer(None)
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            for task in (self._drainer, self._input_drainer):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        for stage in self.filters:
            stage.end()
        self._flush_filters()
        await self.channel.drain()
        return status
