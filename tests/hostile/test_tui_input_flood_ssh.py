"""Hostile: one ordinary user floods TUI sessions with input; everyone else is locked out.

One asyncssh connection opens TUI sessions (pty) and sends window changes and long escape
sequences as fast as the channel takes them. Another user's `ssh … list` through OpenSSH
must still be answered within seconds, during the flood and after the flooder has gone.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

import asyncssh

from tests.harness.accounts import local_connection
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
"""
ANSWER_WITHIN = 5.0


def _probe(broker: BrokerProcess) -> float:
    start = time.monotonic()
    try:
        result = subprocess.run(
            broker.ssh("bob", "list"), capture_output=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return time.monotonic() - start  # no answer at all: the caller's assert reports it
    assert result.returncode == 0, result
    return time.monotonic() - start


async def _flood(broker: BrokerProcess) -> None:
    conn = await asyncssh.connect(
        "127.0.0.1",
        broker.port,
        username="alice",
        client_keys=[str(broker.keys["alice"])],
        known_hosts=None,
    )
    async with conn:
        channels = []
        for _ in range(3):
            chan, _session = await conn.create_session(
                asyncssh.SSHClientSession, term_type="xterm", term_size=(200, 50)
            )
            channels.append(chan)

        async def resize(chan: asyncssh.SSHClientChannel[str]) -> None:
            for i in range(10_000):
                chan.change_terminal_size(10 + i % 500, 10 + i % 300)
                if i % 500 == 0:
                    await asyncio.sleep(0)

        async def type_(chan: asyncssh.SSHClientChannel[str]) -> None:
            for i in range(1_000):
                chan.write("\x1b[" + "9" * 4000 + "A")
                if i % 50 == 0:
                    await asyncio.sleep(0)

        await asyncio.gather(*(resize(c) for c in channels), *(type_(c) for c in channels))
        await asyncio.sleep(1)
        during = await asyncio.to_thread(_probe, broker)
        assert during < ANSWER_WITHIN, f"bob waited {during:.1f} s during alice's flood"
    after = await asyncio.to_thread(_probe, broker)
    assert after < ANSWER_WITHIN, f"bob waited {after:.1f} s after alice had gone"


def test_input_flood_on_tui_sessions_does_not_lock_out_others() -> None:
    proc = BrokerProcess(
        {"alice": ["engineers"], "bob": ["engineers"]},
        {"shell": local_connection(["bash", "--norc"])},
        POLICY,
    )
    with proc:
        assert _probe(proc) < ANSWER_WITHIN  # the control
        asyncio.run(asyncio.wait_for(_flood(proc), timeout=180))
