"""One user's broken session (odd sizes, vanishing client, garbage input) never affects others."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import asyncssh
import pyte
import pytest

from broker.frontdoor.channel import clamp_size
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


_MOVE = re.compile(rb"\x1b\[(\d+);(\d+)H")


async def drawn(
    proc: asyncssh.SSHClientProcess[bytes], cols: int, rows: int, timeout: float = 15
) -> tuple[pyte.Screen, list[tuple[int, int]]]:
    """Read until the picker's frame is drawn on a ``cols``×``rows`` screen (bounded).

    Returns the emulated screen and every cursor position the output addressed, (row, col).
    """
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    raw = b""

    def framed() -> bool:
        """The box's top edge spans the screen's width, and a line was drawn on the last row."""
        top = screen.display[1]
        reached_bottom = any(int(row) == rows for row, _ in _MOVE.findall(raw))
        return reached_bottom and top.lstrip().startswith("╭") and top.rfind("╮") > cols // 2

    async with asyncio.timeout(timeout):
        while not framed():
            chunk = await proc.stdout.read(65536)
            assert chunk, "the session ended before its screen was drawn"
            raw += chunk
            stream.feed(chunk)
    return screen, [(int(r), int(c)) for r, c in _MOVE.findall(raw)]


@pytest.mark.parametrize("size", [(0, 0), (100000, 100000), (1, 1), (5000, 2)])
async def test_odd_terminal_sizes(broker: BrokerProcess, size: tuple[int, int]) -> None:
    """The app draws its screen at the clamped size, and again after odd resizes."""
    conn, proc = await open_tui(broker, "alice", size)
    cols, rows = clamp_size(*size)
    screen, moves = await drawn(proc, cols, rows)
    assert max(r for r, _ in moves) == rows  # drawn down to the last row, not past it
    assert max(c for _, c in moves) <= cols
    if rows >= 10 and cols >= 60:  # room for the picker's filter line
        assert any("type to filter" in line for line in screen.display)
    proc.change_terminal_size(0, 0)  # → 80×24
    proc.change_terminal_size(99999, 3)  # → 1000×3, before the first resize was drawn
    screen, moves = await drawn(proc, *clamp_size(99999, 3))
    assert max(r for r, _ in moves) >= 3
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
    async with asyncio.timeout(10):
        await proc.stdin.drain()  # the whole flood was taken by the broker
    await healthy(broker)
    assert not proc.is_closing()  # alice's session is still there, only unread
    conn.close()


FAILURE_SIGNS = (
    "Traceback (most recent call last)",
    "exception was never retrieved",
    "Exception in callback",
    " ERROR ",
    " CRITICAL ",
)
"""What an unhandled error leaves in the broker's log (stderr, `%(levelname)s` format)."""


async def test_broker_survives_and_logs_no_tracebacks(broker: BrokerProcess) -> None:
    # Abuse of its own, so the test holds when run alone: a client that sends garbage at
    # an odd size and vanishes mid-frame.
    conn, proc = await open_tui(broker, "alice", (0, 0))
    await proc.stdout.read(100)
    proc.stdin.write(b"\x1b[<1;99999;99999M\x1b[?\xff\x00\x1bP" * 20)
    conn.abort()
    await healthy(broker)
    assert broker.proc is not None
    assert broker.proc.poll() is None, "the broker process died"
    log = broker.log()
    # This is the broker's log, written while it ran: its start-up lines are in it.
    assert "INFO tui.patches.gate: patch textual.app" in log, log[-3000:]
    found = [line for line in log.splitlines() if any(sign in line for sign in FAILURE_SIGNS)]
    assert found == [], log[-3000:]
