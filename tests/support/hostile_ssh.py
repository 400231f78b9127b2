"""A hostile SSH peer for differential tests of broker/patches/asyncssh_aead.py.

Two asyncssh endpoints on 127.0.0.1 set up a session channel the ordinary way. Then the
hostile one writes hand-made packets (:class:`Frame`) straight to its socket, encrypted with
its own keys but with any padding, length, tag or payload, and half-closes the socket. The
victim is an asyncssh endpoint with or without the fast path; it echoes what it receives,
so its sending side runs too. :func:`run` returns everything observable: what the victim's
session received, how its connection ended, what came back to the hostile peer and how
that connection ended. The fast path must not change any of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import asyncssh

from broker.patches import asyncssh_aead as fastpath

HOST_KEY = asyncssh.generate_private_key("ssh-ed25519")
VICTIM_WINDOW = 4096
"""The victim's receive window: small, so that hostile data can exceed it."""
SETUP_TIMEOUT = 20.0

MSG_IGNORE, MSG_DEBUG = 2, 4
MSG_WINDOW_ADJUST, MSG_DATA, MSG_EXTENDED_DATA, MSG_EOF = 93, 94, 95, 96
KINDS = ("data", "ext", "ignore", "debug", "adjust", "unknown", "eof", "wrongchan", "badstring")


@dataclass(frozen=True)
class Frame:
    """One packet as the hostile peer puts it on the wire."""

    kind: str
    """One of :data:`KINDS`: what the payload is."""
    data: bytes = b""
    """The data carried (for ``adjust``: its length is the window increment)."""
    pad: int | None = None
    """Padding bytes appended; None: what asyncssh itself would append."""
    padfield: int | None = None
    """The padding_length byte; None: the true padding length (mod 256)."""
    length: int | None = None
    """The packet_length field; None: the true length plus ``length_delta``."""
    length_delta: int = 0
    flip_tag: bool = False
    """Flip one bit of the MAC/tag."""
    cut: int = 0
    """Bytes cut from the end of the packet on the wire."""


def _uint32(n: int) -> bytes:
    return (n & 0xFFFFFFFF).to_bytes(4, "big")


def _string(data: bytes) -> bytes:
    return _uint32(len(data)) + data


def payload(frame: Frame, chan: int) -> bytes:
    """The SSH payload of ``frame`` for the victim's channel number ``chan``."""
    kind, data = frame.kind, frame.data
    if kind == "data":
        return bytes((MSG_DATA,)) + _uint32(chan) + _string(data)
    if kind == "ext":
        return bytes((MSG_EXTENDED_DATA,)) + _uint32(chan) + _uint32(1) + _string(data)
    if kind == "ignore":
        return bytes((MSG_IGNORE,)) + _string(data)
    if kind == "debug":
        return bytes((MSG_DEBUG, 0)) + _string(data) + _string(b"")
    if kind == "adjust":
        return bytes((MSG_WINDOW_ADJUST,)) + _uint32(chan) + _uint32(len(data))
    if kind == "unknown":
        return bytes((200,)) + data
    if kind == "eof":
        return bytes((MSG_EOF,)) + _uint32(chan)
    if kind == "wrongchan":
        return bytes((MSG_DATA,)) + _uint32(chan + 7) + _string(data)
    if kind == "badstring":  # the string's length says three more bytes than follow
        return bytes((MSG_DATA,)) + _uint32(chan) + _uint32(len(data) + 3) + data
    raise ValueError(kind)


def seal(conn: Any, frame: Frame, chan: int) -> bytes:
    """``frame`` encrypted with ``conn``'s sending keys, advancing its sequence number."""
    body = payload(frame, chan)
    pad = frame.pad
    if pad is None:  # asyncssh's own rule (connection.py send_packet)
        pad = -(conn._send_enchdrlen + len(body)) % conn._send_blocksize
        if pad < 4:
            pad += conn._send_blocksize
    padfield = pad % 256 if frame.padfield is None else frame.padfield
    plain = bytes((padfield,)) + body + bytes(i % 251 for i in range(pad))
    length = max(0, len(plain) + frame.length_delta) if frame.length is None else frame.length
    seq = conn._send_seq
    sealed, mac = conn._send_encryption.encrypt_packet(seq, _uint32(length), plain)
    conn._send_seq = (seq + 1) & 0xFFFFFFFF
    if frame.flip_tag:
        mac = bytes((mac[0] ^ 1,)) + mac[1:]
    wire = sealed + mac
    return wire[: len(wire) - frame.cut] if frame.cut else wire


def _error(exc: Exception | None) -> tuple[str, str] | None:
    return None if exc is None else (type(exc).__name__, str(exc))


class Recorder(asyncssh.SSHClientSession[bytes], asyncssh.SSHServerSession[bytes]):
    """A session that records what it receives and, on the victim, echoes data back."""

    def __init__(self, echo: bool, react: str = "") -> None:
        self.echo = echo
        self.react = react
        """On the first data: ``close`` the channel, ``abort`` the connection, or nothing."""
        self.events: list[tuple[Any, ...]] = []
        self.chan: Any = None
        self.started = asyncio.get_running_loop().create_future()

    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def shell_requested(self) -> bool:
        return True

    def session_started(self) -> None:
        if not self.started.done():
            self.started.set_result(None)

    def data_received(self, data: bytes, datatype: int | None) -> None:
        self.events.append(("data", datatype, data))
        if self.echo:
            self.chan.write(data)
        react, self.react = self.react, ""
        if react == "close":
            self.chan.close()
        elif react == "abort":
            self.chan.get_extra_info("connection").abort()

    def eof_received(self) -> bool:
        self.events.append(("eof",))
        return False


class _Peer(asyncssh.SSHServer, asyncssh.SSHClient):
    """Connection callbacks for either end: no authentication, one recorded session."""

    def __init__(self, echo: bool, fast: bool, react: str = "") -> None:
        self.session = Recorder(echo, react)
        self.fast = fast
        self.conn: Any = None
        self.error: tuple[str, str] | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, conn: Any) -> None:
        self.conn = conn
        if self.fast:
            fastpath.enable(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = _error(exc)
        if not self.closed.done():
            self.closed.set_result(None)

    def begin_auth(self, username: str) -> bool:
        return False

    def session_requested(self) -> Recorder:
        return self.session


@dataclass(frozen=True)
class Outcome:
    """Everything observable after the hostile packets."""

    delivered: tuple[tuple[Any, ...], ...]
    """What the victim's session received, in order."""
    victim_error: tuple[str, str] | None
    """How the victim's connection ended (exception type and text)."""
    echoed: tuple[tuple[Any, ...], ...]
    """What came back to the hostile peer's session, in order."""
    hostile_error: tuple[str, str] | None
    """How the hostile peer's connection ended: the victim's disconnect reason, if any."""


async def run(
    frames: list[Frame],
    *,
    victim: str,
    cipher: str,
    fast: bool,
    window: int,
    pktsize: int,
    react: str = "",
) -> Outcome:
    """Send ``frames`` to a victim (``server`` or ``client``) with or without the fast path.

    ``window`` and ``pktsize`` are the hostile peer's receive window and maximum packet
    size, so the victim's echo is cut and paced by them. ``react``: what the victim's
    session does on its first data (see :class:`Recorder`).
    """
    options: dict[str, Any] = {"encryption_algs": [cipher], "encoding": None}
    victim_opts = {**options, "window": VICTIM_WINDOW}
    hostile_opts = {**options, "window": window, "max_pktsize": pktsize}
    server_peer = _Peer(
        victim == "server", fast and victim == "server", react * (victim == "server")
    )
    client_peer = _Peer(
        victim == "client", fast and victim == "client", react * (victim == "client")
    )
    server = await asyncssh.create_server(
        lambda: server_peer,
        "127.0.0.1",
        0,
        server_host_keys=[HOST_KEY],
        **(victim_opts if victim == "server" else hostile_opts),
    )
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(SETUP_TIMEOUT):
            conn = await asyncssh.connect(
                "127.0.0.1",
                port,
                known_hosts=None,
                username="x",
                config=None,
                client_factory=lambda: client_peer,
                **(victim_opts if victim == "client" else hostile_opts),
            )
            await conn.create_session(lambda: client_peer.session)
            await server_peer.session.started
        hostile = server_peer if victim == "client" else client_peer
        target = client_peer if victim == "client" else server_peer
        hconn, chan = hostile.conn, hostile.session.chan._send_chan
        wire = b"".join(seal(hconn, frame, chan) for frame in frames)
        hconn._transport.write(wire)
        hconn._send = lambda data: None  # nothing more from the hostile side
        hconn._transport.write_eof()
        async with asyncio.timeout(SETUP_TIMEOUT):
            await asyncio.gather(target.closed, hostile.closed)
        return Outcome(
            tuple(target.session.events),
            target.error,
            tuple(hostile.session.events),
            hostile.error,
        )
    finally:
        for peer in (server_peer, client_peer):
            if peer.conn is not None:
                peer.conn.abort()
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
