"""The user's side of a session as every layer sees it: who it is, and the terminal they type in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MAX_COLS = 1000
MAX_ROWS = 500


def clamp_size(cols: int, rows: int) -> tuple[int, int]:
    """Clamp a client-supplied terminal size to something sane (zero/huge sizes are user input)."""
    cols = cols if 0 < cols <= MAX_COLS else (80 if cols <= 0 else MAX_COLS)
    rows = rows if 0 < rows <= MAX_ROWS else (24 if rows <= 0 else MAX_ROWS)
    return max(cols, 10), max(rows, 3)


@dataclass(frozen=True)
class Principal:
    """An authenticated user of one SSH connection."""

    name: str
    """The login name."""
    groups: tuple[str, ...]
    """Groups from config (or OIDC)."""
    client_addr: str = ""
    """`ip:port` of the SSH client."""
    key_fingerprint: str = ""
    """SHA256 fingerprint of the key used to log in."""
    conn_id: int = 0
    """Broker-wide connection number, for log context."""
    idp_issuer: str = ""
    """The identity provider that vouched for them (empty: the config's keys did)."""
    idp_subject: str = ""
    """Their stable id at that IdP."""
    pending_user: str = ""
    """Set while the IdP has not vouched yet: the SSH login name waiting for a sign-in
    (``name`` is then a placeholder that matches no user, and ``groups`` is empty)."""


class InputConsumer(Protocol):
    """Whoever currently owns the user's keystrokes (the TUI, or a relay to a target)."""

    def data_received(self, data: bytes) -> None: ...

    def size_changed(self, cols: int, rows: int) -> None: ...

    def eof_received(self) -> None: ...


class Terminal(Protocol):
    """The user's terminal (or a `run` command's stdio): input routed to one consumer.

    The SSH front door implements it over an asyncssh channel; the session core, the relay,
    the service facade and the TUI only ever see this protocol.
    """

    principal: Principal
    """Who is at this terminal."""
    cols: int
    """Width in columns (clamped with :func:`clamp_size`)."""
    rows: int
    """Height in rows (clamped with :func:`clamp_size`)."""
    term_type: str
    """The client's TERM; empty without a pty."""
    colorterm: str
    """The client's COLORTERM, if it sent one."""

    @property
    def has_pty(self) -> bool:
        """Whether the client asked for a terminal (an interactive session)."""

    @property
    def closed(self) -> bool:
        """Whether the user's side has gone (nothing written reaches them any more)."""

    @property
    def send_buffer(self) -> int:
        """Bytes written but not yet taken by the client."""

    @property
    def congested(self) -> bool:
        """Whether frame-oriented writers should drop frames until :meth:`drain` returns."""

    @property
    def consumer(self) -> InputConsumer | None:
        """Who currently receives the user's input."""

    def set_consumer(self, consumer: InputConsumer | None) -> None:
        """Route further input to ``consumer``; with None, input waits unread (flow control)."""

    def pause_input(self) -> None:
        """Stop reading the user's input until :meth:`resume_input` (flow control to a target)."""

    def resume_input(self) -> None:
        """Read the user's input again."""

    def unread(self, data: bytes) -> None:
        """Give back input a consumer read but did not use (keys typed ahead of a session).

        The next consumer gets it before anything read since input was held.
        """

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the user's screen (stdout)."""

    def write_stderr(self, data: bytes) -> None:
        """Queue ``data`` for the user's stderr."""

    async def drain(self) -> None:
        """Wait until the client has taken what was written (flow control)."""

    async def wait_closed(self) -> None:
        """Wait until the user's side has gone."""

    def exit(self, status: int) -> None:
        """End the session with an exit status."""
