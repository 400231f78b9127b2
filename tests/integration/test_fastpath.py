"""The AEAD fast path (broker/patches/asyncssh_aead.py), each half against asyncssh's own other half.

An asyncssh server sends random stdout and stderr to an asyncssh client on 127.0.0.1. In the
``send`` tests only the server's sending side is the fast path and the client decrypts with
asyncssh's unpatched code; in the ``recv`` tests asyncssh sends as shipped and only the client's
receiving side is the fast path. Any framing, padding, sequence or IV mistake is a MAC failure
or corrupt data. With a rekey every 256 KiB, key exchanges land mid-stream. The integration
tests in test_spine_ssh.py run both halves against OpenSSH.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncssh
import pytest

from broker.patches import asyncssh_aead as fastpath
from broker.patches import asyncssh_source

OUT_SIZE = 3_000_000
ERR_SIZE = 700_000
REKEY_BYTES = 256 * 1024


@dataclass
class Half:
    side: str
    """``send``: only the server (sending) is enabled; ``recv``: only the client (receiving)."""
    before: dict[str, int]
    kexinit: int = 0
    """Key exchanges started, by either side."""

    @property
    def fast(self) -> int:
        """Channel-data packets this half of the fast path handled so far."""
        key = "sent" if self.side == "send" else "received"
        return fastpath.STATS[key] - self.before[key]


@pytest.fixture(params=["send", "recv"])
def installed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Half]:
    """The fast path installed, enabled on the server (``send``) or the client (``recv``)."""
    side: str = request.param
    half = Half(side, dict(fastpath.STATS))
    kexinit = asyncssh.connection.SSHConnection._send_kexinit

    def counting_kexinit(self: Any) -> None:
        half.kexinit += 1
        kexinit(self)

    monkeypatch.setattr(asyncssh.connection.SSHConnection, "_send_kexinit", counting_kexinit)
    assert fastpath.install()
    try:
        yield half
    finally:
        fastpath.uninstall()


class _Open(asyncssh.SSHServer):
    """No authentication: this test is about the data path."""

    def __init__(self, fast: bool) -> None:
        self.fast = fast

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        if self.fast:
            fastpath.enable(conn)

    def begin_auth(self, username: str) -> bool:
        return False


async def _transfer(half: Half, cipher: str, rekey_bytes: int = 1 << 30) -> int | None:
    rng = random.Random(cipher)
    out, err = rng.randbytes(OUT_SIZE), rng.randbytes(ERR_SIZE)

    async def handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
        for i in range(0, max(OUT_SIZE, ERR_SIZE), 100_000):  # interleaved, odd sizes
            process.stdout.write(out[i : i + 100_000])
            process.stderr.write(err[i : i + 100_000])
            await process.stdout.drain()
        process.exit(5)

    server = await asyncssh.create_server(
        lambda: _Open(half.side == "send"),
        "127.0.0.1",
        0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        process_factory=handle,
        encoding=None,
        encryption_algs=[cipher],
        rekey_bytes=rekey_bytes,
    )
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncssh.connect(
            "127.0.0.1",
            port,
            known_hosts=None,
            username="x",
            encryption_algs=[cipher],
            config=None,
        ) as conn:
            if half.side == "recv":
                fastpath.enable(conn)
            result = await conn.run(encoding=None, check=False)
    finally:
        server.close()
        await server.wait_closed()
    assert result.stdout == out, f"{cipher}: stdout differs"
    assert result.stderr == err, f"{cipher}: stderr differs"
    return result.exit_status


CIPHERS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"]


@pytest.mark.parametrize("cipher", CIPHERS)
async def test_fast_path_carries_channel_data(cipher: str, installed: Half) -> None:
    assert await asyncio.wait_for(_transfer(installed, cipher), 60) == 5
    if installed.side == "send":  # stdout and stderr, both ciphers
        assert installed.fast >= (OUT_SIZE + ERR_SIZE) // 32768
    elif cipher.startswith("aes"):  # receiving: stdout on AES-GCM
        assert installed.fast >= OUT_SIZE // 32768
    else:
        assert installed.fast == 0


@pytest.mark.parametrize("cipher", CIPHERS)
async def test_fast_path_output_is_intact_across_rekeys(cipher: str, installed: Half) -> None:
    """Key exchanges every 256 KiB: packets alternate between the fast path and asyncssh's."""
    assert await asyncio.wait_for(_transfer(installed, cipher, REKEY_BYTES), 60) == 5
    assert installed.kexinit >= 2 + (OUT_SIZE + ERR_SIZE) // REKEY_BYTES
    assert installed.fast > 0 or (installed.side == "recv" and cipher.startswith("chacha"))


async def test_other_ciphers_take_asyncssh_path(installed: Half) -> None:
    await asyncio.wait_for(_transfer(installed, "aes128-ctr"), 60)
    assert installed.fast == 0


async def test_connections_not_enabled_take_asyncssh_path() -> None:
    before = dict(fastpath.STATS)
    assert fastpath.install()
    try:
        unmarked = Half("neither", before)
        assert await asyncio.wait_for(_transfer(unmarked, CIPHERS[0]), 60) == 5
    finally:
        fastpath.uninstall()
    after = dict(fastpath.STATS)
    assert after == before


def test_recorded_fingerprint_matches_installed_asyncssh() -> None:
    """Fails when the installed asyncssh is not the source the fast path was checked against."""
    assert asyncssh_source.check() == []


def test_install_refuses_changed_source(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A build that keeps the version string but changes one line: asyncssh runs as shipped."""
    sources = asyncssh_source.sources()
    connection = sources["asyncssh.connection"]
    assert "        if padlen < 4:\n" in connection
    sources["asyncssh.connection"] = connection.replace(
        "        if padlen < 4:\n", "        if padlen < 8:\n", 1
    )
    monkeypatch.setattr(asyncssh_source, "sources", lambda: sources)
    caplog.set_level(logging.INFO, logger=fastpath.__name__)
    try:
        assert fastpath.install() is False
        assert asyncssh.channel.SSHChannel._flush_send_buf is fastpath._original_flush
        assert asyncssh.connection.SSHConnection._recv_pkthdr is fastpath._original_recv_pkthdr
    finally:
        fastpath.uninstall()
    lines = [r.getMessage() for r in caplog.records if r.name == fastpath.__name__]
    assert len(lines) == 1
    assert lines[0].startswith("patch asyncssh AEAD fast path: NOT active: asyncssh 2.24.1")
    assert "SSHConnection.send_packet changed" in lines[0]


def test_install_refuses_a_new_writer_of_a_relied_on_attribute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new method that writes the send window is something the fast path was not checked against."""
    sources = asyncssh_source.sources()
    marker = "    def _flush_send_buf(self) -> None:\n"
    sources["asyncssh.channel"] = sources["asyncssh.channel"].replace(
        marker, "    def _grow(self) -> None:\n        self._send_window += 1\n\n" + marker, 1
    )
    monkeypatch.setattr(asyncssh_source, "sources", lambda: sources)
    assert asyncssh_source.check() == ["asyncssh.channel.SSHChannel._grow is new"]
    assert fastpath.install() is False


def test_install_logs_one_line_when_active(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=fastpath.__name__)
    try:
        assert fastpath.install()
    finally:
        fastpath.uninstall()
    lines = [r.getMessage() for r in caplog.records if r.name == fastpath.__name__]
    assert len(lines) == 1
    assert lines[0].startswith("patch asyncssh AEAD fast path: active (asyncssh 2.24.1")


def test_install_can_be_switched_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GATEHOUSE_FASTPATH", "0")
    caplog.set_level(logging.INFO, logger=fastpath.__name__)
    try:
        assert fastpath.install() is False
        assert asyncssh.channel.SSHChannel._flush_send_buf is fastpath._original_flush
    finally:
        fastpath.uninstall()
    lines = [r.getMessage() for r in caplog.records if r.name == fastpath.__name__]
    assert lines == ["patch asyncssh AEAD fast path: NOT active: GATEHOUSE_FASTPATH=0"]
