"""What the front door refuses beyond its own commands, and what it tells the person instead.

File transfer (``scp``, ``sftp`` and any other subsystem), port forwarding (``ssh -L``,
``-R``, ``-D``, Unix sockets), agent and X11 forwarding are refused: a session through the
broker is recorded and masked, and none of these could be. Each refusal is an audit record
and comes with a message that says what the broker does allow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncssh
from asyncssh.constants import EXTENDED_DATA_STDERR
from asyncssh.sftp import MIN_SFTP_VERSION
from asyncssh.stream import SSHReader, SSHWriter

from broker.auditchain.events import Action

_READ_A_FILE = "use `run CONN -- cat FILE` to read a file, or `connect CONN` for a terminal"
_SESSIONS = "open a session with `connect CONN` or run a command with `run CONN -- COMMAND`"


@dataclass(frozen=True)
class Refusal:
    """One refused request, as the audit log records it and as the person is told."""

    action: Action
    """`transfer.refused` or `forwarding.refused`."""
    kind: str
    """What was asked for: `sftp`, `scp`, `subsystem`, `local`, `remote`, `agent`, `x11`…"""
    detail: str = ""
    """The subsystem name or the forwarded address (never data from the stream)."""

    @property
    def message(self) -> str:
        """The line the person sees: what is not available and what to do instead."""
        if self.action is Action.TRANSFER_REFUSED and self.kind == "subsystem":
            return f"gatehouse: subsystems are not available through the broker; {_SESSIONS}"
        if self.action is Action.TRANSFER_REFUSED:
            return (
                "gatehouse: file transfer (scp, sftp) is not available through the broker; "
                + _READ_A_FILE
            )
        what = {
            "local": "port forwarding (ssh -L, -D)",
            "remote": "remote port forwarding (ssh -R)",
            "unix": "Unix socket forwarding",
            "agent": "agent forwarding (ssh -A)",
            "x11": "X11 forwarding (ssh -X)",
        }.get(self.kind, "forwarding")
        return f"gatehouse: {what} is not available through the broker; {_SESSIONS}"

    @property
    def details(self) -> dict[str, str]:
        """The audit record's details."""
        return {"kind": self.kind, **({"request": self.detail} if self.detail else {})}


def exec_refusal(command: str) -> Refusal | None:
    """The refusal of an exec request that is a file transfer (`scp -O`, rsync), if it is one."""
    program = command.split(maxsplit=1)[0] if command.strip() else ""
    if program in ("scp", "rsync", "sftp-server") or program.endswith("/sftp-server"):
        return Refusal(Action.TRANSFER_REFUSED, "scp" if program == "scp" else program)
    return None


def subsystem_refusal(subsystem: str) -> Refusal:
    """Every subsystem is refused; `sftp` (also what `scp` uses today) by name."""
    kind = "sftp" if subsystem == "sftp" else "subsystem"
    return Refusal(Action.TRANSFER_REFUSED, kind, subsystem[:64])


class SubsystemProcess(asyncssh.SSHServerProcess[bytes]):
    """A session whose subsystem requests reach the front door, so it can refuse them by name.

    asyncssh answers a subsystem it has no factory for with a bare failure (`subsystem
    request failed`); accepting the request lets the session tell the person why and what
    to use instead, then end with status 1.
    """

    def __init__(self, process_factory: Callable[[asyncssh.SSHServerProcess[bytes]], None]):
        super().__init__(process_factory, None, MIN_SFTP_VERSION, False)
        self.on_resize: Callable[[int, int], None] | None = None
        """Told of window changes directly; unset, they queue in the input stream."""

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        # asyncssh queues each change in the input stream, behind unread input and with no
        # bound: a client that sends thousands while its input waits would grow that queue
        if self.on_resize is not None:
            self.on_resize(width, height)
        else:
            super().terminal_size_changed(width, height, pixwidth, pixheight)

    def subsystem_requested(self, subsystem: str) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        return True

    def session_started(self) -> None:
        # asyncssh's own version starts its SFTP server for `sftp`; every session here,
        # subsystem or not, goes to the front door (asyncssh 2.24, pinned).
        chan = self._chan
        stdin = SSHReader[bytes](self, chan)
        stdout = SSHWriter[bytes](self, chan)
        stderr = SSHWriter[bytes](self, chan, EXTENDED_DATA_STDERR)
        self._start_process(stdin, stdout, stderr)


def refuse_agent_and_x11(
    conn: asyncssh.SSHServerConnection, refused: Callable[[Refusal], None]
) -> None:
    """Report this connection's agent and X11 forwarding requests before refusing them.

    asyncssh refuses both (the server runs with ``agent_forwarding=False`` and
    ``x11_forwarding=False``) without telling its owner; these per-connection hooks refuse
    them the same way and report each one.
    """

    async def agent() -> bool:
        refused(Refusal(Action.FORWARDING_REFUSED, "agent"))
        return False

    async def x11(*_: Any) -> str | None:
        refused(Refusal(Action.FORWARDING_REFUSED, "x11"))
        return None

    hooks: dict[str, Callable[..., Awaitable[Any]]] = {
        "create_agent_listener": agent,
        "attach_x11_listener": x11,
    }
    for name, hook in hooks.items():
        setattr(conn, name, hook)
