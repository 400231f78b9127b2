"""One user's broken session (odd sizes, vanishing client, garbage input) never affects others."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncssh
import pytest

from tests.harness.accounts import local_connection
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
"""


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {"alice": ["engineers"], "bob": ["engineers"]},
        {"shell": local_connection(["bash", "--norc"])},
        POLICY,
    )
    with proc:
        yield proc


async def open_tui(
    broker: BrokerProcess, user: str, size: tuple[int, int]
) -> tuple[asyncssh.SSHClientConnection, asyncssh.SSHClientProcess[bytes]]:
    conn = await asyncssh.connect(
        "127.0.0.1",
        broker.port,
        username=user,
        client_keys=[str(broker.keys[user])],
        known_hosts=None,
    )
    proc = await conn.create_process(term_type="xterm-256color", term_size=size, encoding=None)
    return conn, proc


async def read_until(
    proc: asyncssh.SSHClientProcess[bytes], marker: bytes, timeout: float = 10
) -> bytes:
    seen = b""
    async with asyncio.timeout(timeout):
        while marker not in seen:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                break
            seen += chunk
    return seen


async def healthy(broker: BrokerProcess) -> None:
    conn, proc = await open_tui(broker, "bob", (100, 30))
    assert b"type to filter" in await read_until(proc, b"type to filter")
    proc.stdin.write(b"she")
    assert b"1 of 1" in await read_until(proc, b"1 of 1")
    conn.close()


@pytest.mark.parametrize("size", [(0, 0), (100000, 100000), (1, 1), (5000, 2)])
async def test_odd_terminal_sizes(broker: BrokerProcess, size: tuple[int, int]) -> None:
    conn, proc = await open_tui(broker, "alice", size)
    screen = b""
    async with asyncio.timeout(10):
        while len(screen) < 300:  # the app took the screen and painted, at a clamped size
            screen += await proc.stdout.read(65536)
    assert b"\x1b[?1049h" in screen
    proc.change_terminal_size(0, 0)
    proc.change_terminal_size(99999, 3)
    await asyncio.sleep(0.3)
    conn.close()
    await healthy(broker)


async def test_client_vanishing_mid_frame(broker: BrokerProcess) -> None:
    for _ in range(5):
        conn, proc = await open_tui(broker, "alice", (200, 60))
        await proc.stdout.read(100)  # the first bytes of the first frame
        conn.abort()  # gone without a goodbye
    await healthy(broker)


async def test_garbage_input_and_stalled_reader(broker: BrokerProcess) -> None:
    conn, proc = await open_tui(broker, "alice", (120, 40))
    await read_until(proc, b"type to filter")
    proc.stdin.write(b"\x1b[<999999;1;1M\x1b[99999999999~\xff\xfe\x00\x1b]52;c;AAAA\x07" * 50)
    for _ in range(200):  # a flood of keys while never reading the output
        proc.stdin.write(b"x\x7f")
    await asyncio.sleep(0.5)
    await healthy(broker)
    conn.close()


async def test_broker_survives_and_logs_no_tracebacks(broker: BrokerProcess) -> None:
    await healthy(broker)
    log = broker.log()
    assert "Traceback" not in log, log[-3000:]
