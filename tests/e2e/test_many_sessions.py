"""End to end: 50 concurrent TUI sessions stay responsive, close cleanly, and the broker serves on."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterator

import psutil
import pytest

from tests.harness.accounts import local_connection
from tests.harness.pty_client import PtyClient
from tests.support.broker import BrokerProcess
from tests.support.tui_client import TuiClient

SESSIONS = 50
REAL_CLIENTS = 3
"""How many of the sessions are the real OpenSSH client on a pty (the rest: asyncssh)."""
ANSWER_WITHIN = 0.2
PICKER = re.compile(rb"to filter connections")
FILTERED = re.compile(rb"2 of 3 connections")
UNFILTERED = re.compile(rb"3 of 3 connections")
POLICY = "access:\n  - {name: eng, groups: [engineers], connections: ['*'], action: allow}\n"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    local = local_connection(["true"], accepts="none")
    connections = {"web-1": local, "zeta-1": local, "zeta-2": local}
    with BrokerProcess({"alice": ["engineers"]}, connections, POLICY) as proc:
        yield proc


def real_keystroke(client: PtyClient, key: bytes, expect: re.Pattern[bytes]) -> float:
    mark = client.raw_length
    sent = client.send_bytes(key)
    return client.wait_raw(expect, since=mark, timeout=10) - sent


def established(pid: int, port: int) -> int:
    """Client connections the broker process still holds open on ``port``."""
    conns = psutil.Process(pid).net_connections(kind="tcp")
    return sum(1 for c in conns if c.laddr and c.laddr.port == port and c.status == "ESTABLISHED")


async def open_many(broker: BrokerProcess, count: int, batch: int = 8) -> list[TuiClient]:
    sessions: list[TuiClient] = []
    try:
        for start in range(0, count, batch):
            async with asyncio.timeout(60):
                opened = await asyncio.gather(
                    *(
                        TuiClient.connect(broker.port, broker.keys["alice"])
                        for _ in range(min(batch, count - start))
                    )
                )
            sessions += opened
            for session in opened:
                await session.wait(PICKER, timeout=30)
    except BaseException:
        for session in sessions:
            session.conn.close()
        raise
    return sessions


async def test_fifty_sessions_stay_responsive_and_close_cleanly(
    broker: BrokerProcess, pty_client: Callable[..., PtyClient]
) -> None:
    assert broker.proc is not None
    pid = broker.proc.pid
    real = [pty_client(broker.ssh("alice", tty=True)) for _ in range(REAL_CLIENTS)]
    sessions = await open_many(broker, SESSIONS - REAL_CLIENTS)
    for client in real:
        await asyncio.to_thread(client.wait_for, "type to filter connections", 30)
    assert established(pid, broker.port) == SESSIONS

    # Each session, in turn, with all the others open: a filter letter is answered in time.
    slow: list[tuple[str, float]] = []
    for n, session in enumerate(sessions):
        answered = await session.keystroke(b"z", FILTERED)
        if answered > ANSWER_WITHIN:
            slow.append((f"asyncssh #{n}", answered))
        await session.keystroke(b"\x7f", UNFILTERED)
    for n, client in enumerate(real):
        answered = await asyncio.to_thread(real_keystroke, client, b"z", FILTERED)
        if answered > ANSWER_WITHIN:
            slow.append((f"ssh #{n}", answered))
        await asyncio.to_thread(real_keystroke, client, b"\x7f", UNFILTERED)
    load = os.getloadavg()[0]
    assert not slow, f"answered later than {ANSWER_WITHIN}s (load average {load:.1f}): {slow}"
    for client in real:
        assert "3 of 3 connections" in client.capture()

    # Half leave with q (exit status 0), half drop the connection, the real clients press q.
    leavers, droppers = sessions[::2], sessions[1::2]
    statuses = await asyncio.gather(*(s.quit() for s in leavers))
    assert statuses == [0] * len(leavers)
    await asyncio.gather(*(s.close() for s in droppers))
    for client in real:
        client.send_bytes(b"q")
        assert await asyncio.to_thread(client.wait_exit, 10) == 0
    for _ in range(100):
        if established(pid, broker.port) == 0:
            break
        await asyncio.sleep(0.1)
    assert established(pid, broker.port) == 0

    # The broker serves on: a new session paints the picker and answers; nothing failed.
    fresh = await TuiClient.connect(broker.port, broker.keys["alice"])
    await fresh.wait(PICKER, timeout=15)
    assert await fresh.keystroke(b"z", FILTERED) < ANSWER_WITHIN
    await fresh.keystroke(b"\x7f", UNFILTERED)  # q quits only with an empty filter
    assert await fresh.quit() == 0
    listing = await asyncio.to_thread(broker.run_ssh, "alice", "list")
    assert listing.returncode == 0
    assert b"zeta-1" in listing.stdout
    log = broker.log()
    assert "session failed" not in log
    assert "Traceback" not in log


async def test_a_client_that_stops_reading_does_not_stall_the_others(
    broker: BrokerProcess,
) -> None:
    """One client stops reading (its window fills); the others still answer in time."""
    stalled, *others = await open_many(broker, 6)
    assert stalled.proc is not None
    stalled.conn._transport.pause_reading()  # type: ignore[attr-defined]
    for _ in range(200):  # flood its output: every keystroke redraws the table
        stalled.proc.stdin.write(b"z\x7f")
    await asyncio.sleep(0.3)
    for session in others:
        assert await session.keystroke(b"z", FILTERED) < ANSWER_WITHIN
        await session.keystroke(b"\x7f", UNFILTERED)
    stalled.conn._transport.resume_reading()  # type: ignore[attr-defined]
    mark = len(stalled.raw)
    await stalled.wait(UNFILTERED, since=mark, timeout=15)  # it catches up with a repaint
    assert await stalled.quit() == 0
    for session in others:
        assert await session.quit() == 0
