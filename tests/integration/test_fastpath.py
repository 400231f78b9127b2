"""The AEAD fast path (broker/proxy/fastpath.py) against asyncssh's own receiving side.

An asyncssh server with the fast path installed sends random stdout and stderr to an asyncssh
client on 127.0.0.1, with a rekey every 256 KiB so that key exchanges land mid-stream. The
client decrypts with asyncssh's unpatched code: any framing, padding, sequence or IV mistake
is a MAC failure or corrupt data here. The broker's own tests run it against OpenSSH.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import asyncssh
import pytest

from broker.proxy import fastpath

OUT_SIZE = 3_000_000
ERR_SIZE = 700_000
REKEY_BYTES = 256 * 1024


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """The fast path installed, with counters of fast-path packets and key exchanges."""
    counts = {"sealed": 0, "kexinit": 0}
    seal = fastpath._seal
    kexinit = asyncssh.connection.SSHConnection._send_kexinit

    def counting_seal(*args: Any) -> bytes:
        counts["sealed"] += 1
        return seal(*args)

    def counting_kexinit(self: Any) -> None:
        counts["kexinit"] += 1
        kexinit(self)

    monkeypatch.setattr(fastpath, "_seal", counting_seal)
    monkeypatch.setattr(asyncssh.connection.SSHConnection, "_send_kexinit", counting_kexinit)
    assert fastpath.install()
    try:
        yield counts
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
async def test_fast_path_carries_all_channel_data(cipher: str, installed: dict[str, int]) -> None:
    assert await asyncio.wait_for(_transfer(cipher), 60) == 5
    assert installed["sealed"] >= (OUT_SIZE + ERR_SIZE) // 32768


@pytest.mark.parametrize("cipher", CIPHERS)
async def test_fast_path_output_is_intact_across_rekeys(
    cipher: str, installed: dict[str, int]
) -> None:
    """Key exchanges every 256 KiB: packets alternate between the fast path and asyncssh's."""
    assert await asyncio.wait_for(_transfer(cipher, REKEY_BYTES), 60) == 5
    assert installed["sealed"] > 0
    assert installed["kexinit"] >= 2 + (OUT_SIZE + ERR_SIZE) // REKEY_BYTES


async def test_other_ciphers_take_asyncssh_path(installed: dict[str, int]) -> None:
    await asyncio.wait_for(_transfer("aes128-ctr"), 60)
    assert installed["sealed"] == 0


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
