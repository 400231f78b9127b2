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
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncssh
import pytest

from broker.patches import asyncssh_aead as fastpath

OUT_SIZE = 3_000_000
ERR_SIZE = 700_000
REKEY_BYTES = 256 * 1024


@dataclass
class Half:
    side: str
    """``send``: only the sending side is the fast path; ``recv``: only the receiving side."""
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
    """Half the fast path installed (``send`` or ``recv``), with its counters."""
    side: str = request.param
    half = Half(side, dict(fastpath.STATS))
    kexinit = asyncssh.connection.SSHConnection._send_kexinit

    def counting_kexinit(self: Any) -> None:
        half.kexinit += 1
        kexinit(self)

    monkeypatch.setattr(asyncssh.connection.SSHConnection, "_send_kexinit", counting_kexinit)
    assert fastpath.install()
    if side == "send":
        asyncssh.connection.SSHConnection._recv_pkthdr = fastpath._original_recv_pkthdr  # type: ignore[method-assign]
    else:
        asyncssh.channel.SSHChannel._flush_send_buf = fastpath._original_flush  # type: ignore[method-assign]
    try:
        yield half
    finally:
        fastpath.uninstall()


class _Open(asyncssh.SSHServer):
    """No authentication: this test is about the data path."""

    def begin_auth(self, username: str) -> bool:
        return False


async def _transfer(cipher: str, rekey_bytes: int = 1 << 30) -> int | None:
    rng = random.Random(cipher)
    out, err = rng.randbytes(OUT_SIZE), rng.randbytes(ERR_SIZE)

    async def handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
        for i in range(0, max(OUT_SIZE, ERR_SIZE), 100_000):  # interleaved, odd sizes
            process.stdout.write(out[i : i + 100_000])
            process.stderr.write(err[i : i + 100_000])
            await process.stdout.drain()
        process.exit(5)

    server = await asyncssh.create_server(
        _Open,
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
    assert await asyncio.wait_for(_transfer(cipher), 60) == 5
    if installed.side == "send":  # stdout and stderr, both ciphers
        assert installed.fast >= (OUT_SIZE + ERR_SIZE) // 32768
    elif cipher.startswith("aes"):  # receiving: stdout on AES-GCM
        assert installed.fast >= OUT_SIZE // 32768
    else:
        assert installed.fast == 0


@pytest.mark.parametrize("cipher", CIPHERS)
async def test_fast_path_output_is_intact_across_rekeys(cipher: str, installed: Half) -> None:
    """Key exchanges every 256 KiB: packets alternate between the fast path and asyncssh's."""
    assert await asyncio.wait_for(_transfer(cipher, REKEY_BYTES), 60) == 5
    assert installed.kexinit >= 2 + (OUT_SIZE + ERR_SIZE) // REKEY_BYTES
    assert installed.fast > 0 or (installed.side == "recv" and cipher.startswith("chacha"))


async def test_other_ciphers_take_asyncssh_path(installed: Half) -> None:
    await asyncio.wait_for(_transfer("aes128-ctr"), 60)
    assert installed.fast == 0


def test_install_refuses_another_asyncssh_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncssh, "__version__", "9.9.9")
    try:
        assert fastpath.install() is False
        assert asyncssh.channel.SSHChannel._flush_send_buf is fastpath._original_flush
    finally:
        fastpath.uninstall()


def test_install_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEHOUSE_FASTPATH", "0")
    try:
        assert fastpath.install() is False
        assert asyncssh.channel.SSHChannel._flush_send_buf is fastpath._original_flush
    finally:
        fastpath.uninstall()
