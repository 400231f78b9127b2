"""SSH targets: asyncssh client with the vault credential and the pinned host key."""

from __future__ import annotations

import asyncio
import logging

import asyncssh

from broker.common.errors import HostKeyMismatch, UpstreamError
from broker.config.model import Connection
from broker.patches import asyncssh_aead
from broker.upstream.base import INPUT_HIGH, INPUT_LOW, OutputCallback
from broker.vault import Secret

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
# AES-GCM first on the broker→target leg: measured fastest on this machine class.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)


async def connect(conn: Connection, secret: Secret) -> asyncssh.SSHClientConnection:
    """Open an SSH connection to ``conn`` as its login user.

    Raises:
        HostKeyMismatch: the target's host key is not the pinned one.
        UpstreamError: unreachable, refused, or the credential was rejected.
    """
    try:
        pinned = asyncssh.import_public_key(conn.host_key)
    except (asyncssh.KeyImportError, ValueError):
        raise UpstreamError(f"{conn.name}: the pinned host_key in config is not valid") from None
    options: dict[str, object] = {}
    if secret.is_private_key:
        try:
            key = asyncssh.import_private_key(secret.reveal())
        except (asyncssh.KeyImportError, ValueError):
            raise UpstreamError(
                f"{conn.name}: the stored credential is not a usable private key"
            ) from None
        options.update(client_keys=[key], password=None, preferred_auth="publickey")
    else:
        options.update(
            client_keys=None,
            password=secret.reveal_text(),
            preferred_auth="password,keyboard-interactive",
        )
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            client = await asyncssh.connect(
                conn.host,
                conn.port,
                username=conn.user,
                known_hosts=([pinned], [], []),
                agent_path=None,
                config=None,
                encryption_algs=list(CIPHERS),
                kex_algs=["curve25519-sha256", "curve25519-sha256@libssh.org"],
                keepalive_interval=30,
                connect_timeout=CONNECT_TIMEOUT,
                **options,
            )
        asyncssh_aead.enable(client)  # the target leg: decision 010
        return client
    except asyncssh.HostKeyNotVerifiable:
        raise HostKeyMismatch(
            f"{conn.name}: the target's host key does not match the pinned key; "
            "connection refused (possible interception, or the host was rebuilt)"
        ) from None
    except asyncssh.PermissionDenied:
        raise UpstreamError(
            f"{conn.name}: the target refused the stored credential for user {conn.user!r}"
        ) from None
    except TimeoutError:
        raise UpstreamError(
            f"{conn.name}: no answer from {conn.host}:{conn.port} within {CONNECT_TIMEOUT:.0f}s"
        ) from None
    except (OSError, asyncssh.Error) as exc:
        reason = (
            getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__
        )
        raise UpstreamError(
            f"{conn.name}: cannot connect to {conn.host}:{conn.port}: {reason}"
        ) from None


class _Session(asyncssh.SSHClientSession[bytes]):
    def __init__(self, on_output: OutputCallback) -> None:
        self._on_output = on_output
        self.done = asyncio.get_running_loop().create_future()
        self.status: int | None = None
        self.signal: str | None = None
        self.writable = asyncio.Event()
        """Clear while asyncssh holds more than INPUT_HIGH of input for the target."""
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._on_output(data, datatype == asyncssh.EXTENDED_DATA_STDERR)

    def exit_status_received(self, status: int) -> None:
        self.status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.signal = signal

    def connection_lost(self, exc: Exception | None) -> None:
        self.writable.set()
        if not self.done.done():
            self.done.set_result(None)


class SshUpstream:
    """A session on an SSH target (a pty shell or one command)."""

    def __init__(
        self,
        conn: asyncssh.SSHClientConnection,
        chan: asyncssh.SSHClientChannel[bytes],
        session: _Session,
    ) -> None:
        self._conn = conn
        self._chan = chan
        self._session = session

    @classmethod
    async def open(
        cls,
        conn: asyncssh.SSHClientConnection,
        on_output: OutputCallback,
        *,
        command: str | None = None,
        term_type: str | None = None,
        size: tuple[int, int] = (80, 24),
    ) -> SshUpstream:
        """Start a shell (``command`` None) or one command on an open connection."""
        holder: list[_Session] = []

        def factory() -> _Session:
            holder.append(_Session(on_output))
            return holder[0]

        try:
            chan, _ = await conn.create_session(
                factory,
                command,
                term_type=term_type,
                term_size=size if term_type else None,
                encoding=None,
                window=8 * 1024 * 1024,
                max_pktsize=65536,
            )
        except (asyncssh.Error, OSError) as exc:
            conn.close()
            raise UpstreamError(f"the target refused the session: {exc}") from None
        chan.set_write_buffer_limits(high=INPUT_HIGH, low=INPUT_LOW)
        return cls(conn, chan, holder[0])

    def write(self, data: bytes) -> None:
        self._chan.write(data)

    def write_eof(self) -> None:
        if self._chan.can_write_eof():
            self._chan.write_eof()

    def resize(self, cols: int, rows: int) -> None:
        self._chan.change_terminal_size(cols, rows)

    @property
    def input_backlog(self) -> int:
        return int(self._chan.get_write_buffer_size())

    async def drain_input(self) -> None:
        await self._session.writable.wait()

    def pause_reading(self) -> None:
        self._chan.pause_reading()

    def resume_reading(self) -> None:
        self._chan.resume_reading()

    def close(self) -> None:
        self._chan.close()
        self._conn.close()

    async def wait(self) -> int:
        await self._session.done
        self._conn.close()
        if self._session.status is not None:
            return self._session.status
        return 255
