"""The SSH front door: public-key login against config users, then TUI, `run` or `connect`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
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
from broker.frontdoor.listener import Listener, ThrottledLog
from broker.frontdoor.refusals import (
    Refusal,
    SubsystemProcess,
    exec_refusal,
    refuse_agent_and_x11,
    subsystem_refusal,
)
from broker.frontdoor.runner import SessionRunner
from broker.frontdoor.signin import sign_in_session
from broker.frontdoor.sqlverb import sql_verb
from broker.frontdoor.startups import StartupGate
from broker.identity.claims import Identity
from broker.patches import asyncssh_aead
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
_conn_ids = itertools.count(1)


class _CountedSession(SubsystemProcess):
    """A session channel that gives its place back (sessions per connection) when it closes."""

    def __init__(
        self,
        factory: Callable[[asyncssh.SSHServerProcess[bytes]], None],
        on_closed: Callable[[], None],
    ) -> None:
        super().__init__(factory)
        self._on_closed: Callable[[], None] | None = on_closed

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if self._on_closed is not None:
                self._on_closed()
                self._on_closed = None


class _Connection(asyncssh.SSHServer):
    """asyncssh callbacks for one client connection: authentication only, deny by default."""

    def __init__(self, front: FrontDoor) -> None:
        self._front = front
        self.conn_id = next(_conn_ids)
        self.peer = ""
        self.fingerprint = ""
        self.user = ""
        self._authed = False
        self.channels: list[TerminalChannel] = []
        """This connection's live sessions, told about refusals as they happen."""
        self._notices: list[str] = []
        self.source: str | None = None
        """The address this connection counts against while unauthenticated."""
        self.sessions = 0
        """Sessions (channels) of this connection running now."""
        self.provisional = False
        """The key is not in the config: the IdP must vouch for the person before any session."""
        self.identity: list[Identity] = []
        """Who the IdP said this connection is (once established, for every channel)."""
        self.signing_in = asyncio.Lock()

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        peer = conn.get_extra_info("peername") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"
        sock = conn.get_extra_info("socket")
        if sock is not None:
            self.source = self._front.admissions.pop(sock.fileno(), None)
        conn.set_extra_info(gatehouse=self)
        refuse_agent_and_x11(conn, self.refuse)
        asyncssh_aead.enable(conn)  # the user leg too, once authenticated: decision 010

    def refuse(self, refusal: Refusal, *, tell: bool = True) -> None:
        """Audit a refused request and (with ``tell``) show its message in a session."""
        log.debug(  # the audit record is the account of it; the console stays quiet
            "[conn=%d user=%s] refused %s %s",
            self.conn_id,
            self.user,
            refusal.action,
            refusal.kind,
        )
        self._front.note_event(self.user, refusal.action, refusal.details)
        if tell:
            self._notices.append(refusal.message)
            self.flush_notices()

    def flush_notices(self) -> None:
        """Write pending refusal messages to the newest live session, if there is one."""
        if self.channels and self._notices:
            notices, self._notices = self._notices, []
            for notice in notices:
                self.channels[-1].write_stderr(f"{notice}\r\n".encode())

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        refusal = Refusal(Action.FORWARDING_REFUSED, "local", f"{dest_host[:255]}:{dest_port}")
        self.refuse(refusal, tell=False)  # the client prints the open failure's reason
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, refusal.message)

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        self.refuse(
            Refusal(Action.FORWARDING_REFUSED, "remote", f"{listen_host[:255]}:{listen_port}")
        )
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        refusal = Refusal(Action.FORWARDING_REFUSED, "unix", dest_path[:255])
        self.refuse(refusal, tell=False)
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, refusal.message)

    def unix_server_requested(self, listen_path: str) -> bool:
        self.refuse(Refusal(Action.FORWARDING_REFUSED, "unix", listen_path[:255]))
        return False

    def session_requested(self) -> asyncssh.SSHServerSession[bytes]:
        """A session channel is being opened: refused beyond the limit per connection.

        Counted from the open, not from the first request: a channel that never asks for a
        shell or a command still costs memory.
        """
        limit = self._front.config.limits.sessions_per_connection
        if self.sessions >= limit:
            self._front.throttled(
                logging.WARNING,
                "sessions-per-connection",
                "[conn=%d user=%s] session refused: %d already open on this connection",
                self.conn_id,
                self.user,
                self.sessions,
            )
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                f"gatehouse: too many sessions on this connection "
                f"(limits.sessions_per_connection is {limit}); close one first",
            )
        self.sessions += 1
        return _CountedSession(self._front._process, self._session_closed)

    def _session_closed(self) -> None:
        self.sessions -= 1

    def _release(self) -> None:
        if self.source is not None:
            self._front.gate.release(self.source)
            self.source = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        if not self._authed and self.user:
            self._front.note_event(
                self.user,
                Action.LOGIN_FAILURE,
                {"client": self.peer, "key_fingerprint": self.fingerprint or "none"},
            )

    def begin_auth(self, username: str) -> bool:
        self.user = username[:64]
        return True  # always require authentication, known user or not

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        user = self._front.config.users.get(username)
        self.fingerprint = key.get_fingerprint()
        offered = key.public_data
        for line in user.keys if user is not None else ():
            try:
                if asyncssh.import_public_key(line).public_data == offered:
                    self.provisional = False
                    return True
            except (asyncssh.KeyImportError, ValueError):
                continue
        if self._front.services.signin is not None:
            self.provisional = True  # any key, but no session until the IdP vouches (signin.py)
            return True
        return False

    def auth_completed(self) -> None:
        self._authed = True
        self._release()
        details = {"client": self.peer, "key_fingerprint": self.fingerprint}
        if self.provisional:
            details["identity"] = "pending"  # the IdP decides at the first session
        self._front.note_event(self.user, Action.LOGIN_SUCCESS, details)


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
        """Serve on bound, listening ``sockets`` (see :func:`bind_sockets`); returns the port."""
        self._options = await asyncssh.SSHServerConnectionOptions.construct(
            server_factory=lambda: _Connection(self),
            server_host_keys=[str(self.host_key)],
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
            return asyncssh.SSHServerConnection(loop, options)

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

    def _process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.get_running_loop().create_task(self._session(process))
        self.sessions.add(task)
        task.add_done_callback(self._reap)
        if self.on_session_closed is not None:
            closed = self.on_session_closed
            task.add_done_callback(lambda _: closed(len(self.sessions)))

    def _principal(self, process: asyncssh.SSHServerProcess[bytes]) -> Principal:
        info: _Connection = process.get_extra_info("gatehouse")
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
        info: _Connection = process.get_extra_info("gatehouse")
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
        self, info: _Connection, channel: TerminalChannel, command: str | None
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
            info: _Connection = channel.process.get_extra_info("gatehouse")
            return self._refuse(info, channel, refusal)
        try:
            request = parse_exec(command)
        except UsageError as exc:
            channel.write_stderr(f"gatehouse: {exc}\n{USAGE}".encode())
            return 2
        return await self._exec(channel, request)

    def _refuse(self, info: _Connection, channel: TerminalChannel, refusal: Refusal) -> int:
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
            if request.verb in ("approvals", "approve", "deny"):
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
