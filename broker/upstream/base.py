"""What every upstream (ssh target, local pty) offers the relay, and the output pipeline type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

OutputCallback = Callable[[bytes, bool], None]
"""Called with (data, is_stderr) for every chunk the target sends."""
INPUT_HIGH = 512 << 10
"""User input queued for a target above which the relay stops reading the user's channel."""
INPUT_LOW = 128 << 10
"""...until the queue is down to this."""


class Upstream(Protocol):
    """A running session on a target: a shell in a pty, or one command."""

    def write(self, data: bytes) -> None:
        """Send the user's input to the target."""

    def write_eof(self) -> None:
        """Tell the target the user's input has ended."""

    def resize(self, cols: int, rows: int) -> None:
        """Forward a window change."""

    def pause_reading(self) -> None:
        """Stop reading target output (the user is slow)."""

    def resume_reading(self) -> None:
        """Resume reading target output."""

    @property
    def input_backlog(self) -> int:
        """Bytes of user input written but not yet taken by the target."""
        ...

    async def drain_input(self) -> None:
        """Wait until the target has taken the user's input down to a low mark."""

    def close(self) -> None:
        """End the session now."""

    async def wait(self) -> int:
        """Wait for the session to end; its exit status (255 if unknown)."""
        ...


class OutputFilter(Protocol):
    """A stage that sees target output before the user does (the masker, the recorder)."""

    @property
    def pending(self) -> bool:
        """Whether output is held back, waiting for more input or a flush."""

    def feed(self, data: bytes, stderr: bool) -> bytes:
        """Return what may be passed on now."""

    def flush(self, stderr: bool) -> bytes:
        """Return what was held back (end of stream or hold-back timeout)."""

    def end(self) -> None:
        """The target's output has ended; one last :meth:`flush` follows."""


class FlowControl(Protocol):
    """A stage the relay must not outrun (the recorder): pause the target while congested."""

    @property
    def congested(self) -> bool:
        """Whether the target should pause until :meth:`drain` returns."""

    async def drain(self) -> None:
        """Wait until the backlog is down again."""
