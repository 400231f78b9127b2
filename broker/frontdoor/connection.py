"""One client's SSH connection: its authentication callbacks, refusals and session count."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Protocol

import asyncssh

from broker.auditchain.events import Action
from broker.config.model import Config
from broker.frontdoor.channel import TerminalChannel
from broker.frontdoor.listener import ThrottledLog
from broker.frontdoor.pacing import LoopShare, PacedConnection
from broker.frontdoor.refusals import Refusal, SubsystemProcess, refuse_agent_and_x11
from broker.frontdoor.startups import StartupGate
from broker.identity.claims import Identity
from broker.identity.signin import SignIn
from broker.patches import asyncssh_aead


class SignInService(Protocol):
    @property
    def signin(self) -> SignIn | None: ...


class Front(Protocol):
    """What a connection needs of the front door that accepted it."""

    config: Config

    @property
    def services(self) -> SignInService: ...

    admissions: dict[int, str]
    gate: StartupGate
    throttled: ThrottledLog

    def note_event(self, actor: str, action: Action, details: dict[str, str]) -> None: ...

    def start_session(self, process: asyncssh.SSHServerProcess[bytes]) -> None: ...

    def share_of(self, user: str) -> LoopShare: ...


log = logging.getLogger("broker.frontdoor.ssh_server")

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


class ClientConnection(asyncssh.SSHServer):
    """asyncssh callbacks for one client connection: authentication only, deny by default."""

    def __init__(self, front: Front) -> None:
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
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
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
        return _CountedSession(self._front.start_session, self._session_closed)

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
        if isinstance(self._conn, PacedConnection):  # more connections buy no more of the loop
            self._conn.share = self._front.share_of(self.user)
        details = {"client": self.peer, "key_fingerprint": self.fingerprint}
        if self.provisional:
            details["identity"] = "pending"  # the IdP decides at the first session
        self._front.note_event(self.user, Action.LOGIN_SUCCESS, details)
