"""The SSH front door: public-key login against config users, then TUI, `run` or `connect`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import weakref
from collections.abc import Callable
from pathlib import Path

import asyncssh

from broker.approvals.asks import ApprovalPending
from broker.auditchain.context import open_session_stamp
from broker.auditchain.events import Action
from broker.common.errors import ApprovalRequired, GatehouseError, PolicyDenied, RecordingError
from broker.config.model import Config
from broker.frontdoor.approvals import EX_TEMPFAIL, approval_verb, ask_for
from broker.frontdoor.channel import TerminalChannel
from broker.frontdoor.commands import USAGE, ExecRequest, UsageError, parse_exec
from broker.frontdoor.connection import ClientConnection
from broker.frontdoor.listener import Listener, ThrottledLog
from broker.frontdoor.pacing import LoopShare, PacedConnection
from broker.frontdoor.refusals import (
    Refusal,
    SubsystemProcess,
    exec_refusal,
    subsystem_refusal,
)
from broker.frontdoor.runner import SessionRunner
from broker.frontdoor.signin import sign_in_session
from broker.frontdoor.sqlverb import sql_verb
from broker.frontdoor.startups import StartupGate
from broker.services import Services
from broker.session.terminal import Principal

log = logging.getLogger(__name__)

KEEPALIVE = 30
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)


class FrontDoor:
    """The listening SSH server and the dispatch of each session it accepts."""

    def __init__(
        self,
        config: Config,
        services: Services,
        runner: SessionRunner,
        host_key: Path,
        *,
        on_session_closed: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self.services = services
        self.runner = runner
        self.host_key = host_key
        self.sessions: set[asyncio.Task[None]] = set()
        self._event_tasks: set[asyncio.Task[None]] = set()
        self.listener: Listener | None = None
        limits = config.limits
        self.gate = StartupGate(limits.max_startups, limits.per_source)
        self.admissions: dict[int, str] = {}
        """Admitted sockets (by descriptor) whose SSH connection has not started yet."""
        self._options: asyncssh.SSHServerConnectionOptions | None = None
        self._starting: set[asyncio.Task[None]] = set()
        self.throttled = ThrottledLog(logger=log)
        """For what a client can repeat at will: one line per kind and interval, with a count."""
        self.closing_reason = ""
        self.on_session_closed = on_session_closed
        """Told how many sessions are still live each time one closes (the runtime frees memory)."""
        self._shares: weakref.WeakValueDictionary[str, LoopShare] = weakref.WeakValueDictionary()
        """User → the loop share their logged-in connections hold (gone with the last one)."""

    def share_of(self, user: str) -> LoopShare:
        """The share of the loop that ``user``'s connections spend together (see pacing.py)."""
        share = self._shares.get(user)
        if share is None:
            share = self._shares[user] = LoopShare()
        return share

    def note_event(self, actor: str, action: Action, details: dict[str, str]) -> None:
        """Record an event from a synchronous asyncssh callback (kept, reaped, logged)."""
        task = asyncio.get_running_loop().create_task(
            self.services.events.emit(actor, action, "gatehouse", details)
        )
        self._event_tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._event_tasks.discard(task)
        self.sessions.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed: %r", task.exception())

    async def start(self, sockets: list[socket.socket]) -> int:
        """Serve on bound, listening ``sockets`` (see :func:`bind_sockets`); returns the port.

        Raises:
            GatehouseError: the host key cannot be read (naming its file).
        """
        try:
            host_key = asyncssh.read_private_key(self.host_key)
        except (OSError, asyncssh.KeyImportError) as exc:
            raise GatehouseError(f"cannot read the host key {self.host_key}: {exc}") from None
        self._options = await asyncssh.SSHServerConnectionOptions.construct(
            server_factory=lambda: ClientConnection(self),
            server_host_keys=[host_key],
            # no process_factory: asyncssh would then open sessions without asking
            # `session_requested`, where refusals and the limit per connection are kept
            encoding=None,
            line_editor=False,
            login_timeout=self.config.limits.login_grace,
            keepalive_interval=KEEPALIVE,
            keepalive_count_max=4,
            encryption_algs=list(CIPHERS),
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )
        self.listener = Listener(sockets, self.gate, self._handoff)
        self.listener.start()
        return self.listener.port

    def _handoff(self, sock: socket.socket, source: str) -> None:
        """Start the SSH protocol on an admitted connection (as asyncssh's own listener does)."""
        options = self._options
        assert options is not None
        loop = asyncio.get_running_loop()
        fd = sock.fileno()
        self.admissions[fd] = source

        def protocol() -> asyncssh.SSHServerConnection:
            return PacedConnection(loop, options)

        task = loop.create_task(self._connect(loop, protocol, sock, fd, source))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _connect(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: Callable[[], asyncssh.SSHServerConnection],
        sock: socket.socket,
        fd: int,
        source: str,
    ) -> None:
        try:
            await loop.connect_accepted_socket(protocol, sock)
        except Exception as exc:
            if self.admissions.pop(fd, None) is not None:
                self.gate.release(source)
            sock.close()
            log.info("connection from %s could not start: %s", source, exc)

    async def close(self, reason: str = "the broker is shutting down") -> None:
        """Stop listening and end every session, telling each user ``reason``."""
        self.closing_reason = reason
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for task in list(self.sessions):
            task.cancel()
        if self.sessions:
            await asyncio.wait(self.sessions, timeout=5)

    def start_session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.get_running_loop().create_task(self._session(process))
        self.sessions.add(task)
        task.add_done_callback(self._reap)
        if self.on_session_closed is not None:
            closed = self.on_session_closed
            task.add_done_callback(lambda _: closed(len(self.sessions)))

    def _principal(self, process: asyncssh.SSHServerProcess[bytes]) -> Principal:
        info: ClientConnection = process.get_extra_info("gatehouse")
        user = self.config.users.get(info.user)
        return Principal(
            name=info.user,
            groups=() if user is None or info.provisional else user.groups,
            client_addr=info.peer,
            key_fingerprint=info.fingerprint,
            conn_id=info.conn_id,
        )

    async def _session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """Own everything one session starts; whatever goes wrong ends this session only."""
        open_session_stamp()  # every record of this session will carry its IdP identity
        channel = TerminalChannel(process, self._principal(process))
        if isinstance(process, SubsystemProcess):
            process.on_resize = channel.resized
        info: ClientConnection = process.get_extra_info("gatehouse")
        info.channels.append(channel)
        info.flush_notices()
        reader = asyncio.get_running_loop().create_task(channel.read_loop())
        reader.add_done_callback(self._reap)  # a reader that failed is logged, not lost
        status = 255
        try:
            if process.subsystem is not None:
                status = self._refuse(info, channel, subsystem_refusal(process.subsystem))
            elif info.provisional and not await self._sign_in(info, channel, process.command):
                status = 1
            else:
                status = await self._dispatch(channel, process.command)
        except asyncio.CancelledError:
            channel.write_stderr(f"\r\ngatehouse: {self.closing_reason}\r\n".encode())
            raise
        except Exception:
            log.exception(
                "[conn=%d user=%s] session failed",
                channel.principal.conn_id,
                channel.principal.name,
            )
            channel.write_stderr(b"gatehouse: internal error; the session was ended\r\n")
        finally:
            info.channels.remove(channel)
            reader.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(channel.drain(), timeout=2)
            channel.exit(status)

    async def _sign_in(
        self, info: ClientConnection, channel: TerminalChannel, command: str | None
    ) -> bool:
        signin = self.services.signin
        assert signin is not None  # provisional only when oidc is configured
        return await sign_in_session(signin, channel, info.identity, info.signing_in, command)

    async def _dispatch(self, channel: TerminalChannel, command: str | None) -> int:
        if command is None:
            if not channel.has_pty:
                channel.write_stderr(
                    b"gatehouse: the interface needs a terminal (ssh -t), "
                    b"or use `run CONN -- COMMAND`\r\n" + USAGE.encode()
                )
                return 2
            await self.runner.run(channel, self.services)
            return 0
        refusal = exec_refusal(command)
        if refusal is not None:
            info: ClientConnection = channel.process.get_extra_info("gatehouse")
            return self._refuse(info, channel, refusal)
        try:
            request = parse_exec(command)
        except UsageError as exc:
            channel.write_stderr(f"gatehouse: {exc}\n{USAGE}".encode())
            return 2
        return await self._exec(channel, request)

    def _refuse(self, info: ClientConnection, channel: TerminalChannel, refusal: Refusal) -> int:
        """Refuse the session's request; the message goes to this session's stderr."""
        info.refuse(refusal, tell=False)
        channel.write_stderr(f"{refusal.message}\r\n".encode())
        return 1

    def _mask(self, exc: Exception, connection: str, principal: Principal) -> str:
        """An error for the user, masked by the policy of the connection it is about."""
        return self.services.mask_message(
            str(exc), connection=connection or None, groups=principal.groups
        )

    async def _exec(self, channel: TerminalChannel, request: ExecRequest) -> int:
        principal = channel.principal
        out = channel.write_stderr
        try:
            if request.verb == "help":
                channel.write(USAGE.encode())
                return 0
            if request.verb == "list":
                for view in self.services.connections_for(principal):
                    mark = " (approval)" if view.needs_approval else ""
                    channel.write(f"{view.name}\t{view.type}\t{view.target}{mark}\n".encode())
                return 0
            if request.verb in ("approvals", "approve", "deny", "grants", "revoke"):
                return await approval_verb(self.services.approvals, channel, request)
            if request.verb == "run":
                result = await self.services.run(
                    principal,
                    request.connection,
                    request.command,
                    channel,
                    ask_for(channel, request),
                )
                return result.exit_status
            if request.verb == "connect":
                if not channel.has_pty:
                    out(b"gatehouse: connect needs a terminal (ssh -t)\n")
                    return 2
                result = await self.services.terminal(
                    principal, request.connection, channel, ask_for(channel, request)
                )
                return result.exit_status
            return await sql_verb(self.services, channel, request)
        except ApprovalPending as exc:
            channel.write(f"{exc.request.id}\n".encode())
            out(f"gatehouse: {exc}\n".encode())
            return EX_TEMPFAIL
        except (ApprovalRequired, PolicyDenied) as exc:
            out(f"gatehouse: {self._mask(exc, request.connection, principal)}\n".encode())
            return 1
        except (GatehouseError, RecordingError) as exc:
            out(f"gatehouse: {self._mask(exc, request.connection, principal)}\n".encode())
            return 255
