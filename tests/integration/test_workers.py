"""`gatehouse serve --workers 2`: one port, connections spread over two processes, one
audit chain; a worker that dies is started again; SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from tests.support.broker import ROOT, BrokerProcess, shell_broker
from tests.support.tui_client import TuiClient
from tests.support.waiting import async_wait_until, wait_until


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = shell_broker(workers=2)
    with proc:
        yield proc


def workers(broker: BrokerProcess) -> list[psutil.Process]:
    """The live worker processes (a killed one is a zombie until the supervisor reaps it)."""
    assert broker.proc is not None
    found = []
    for child in psutil.Process(broker.proc.pid).children():
        try:
            if "--worker" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            continue
    return found


def serving(proc: psutil.Process, port: int) -> int:
    conns = proc.net_connections(kind="tcp")
    return sum(1 for c in conns if c.laddr and c.laddr.port == port and c.status == "ESTABLISHED")


def test_connections_are_spread_over_the_workers(broker: BrokerProcess) -> None:
    async def open_many() -> list[TuiClient]:
        return list(
            await asyncio.gather(
                *(TuiClient.connect(broker.port, broker.keys["alice"]) for _ in range(16))
            )
        )

    async def scenario() -> list[int]:
        clients = await open_many()
        try:

            def spread() -> list[int] | None:
                counts = [serving(w, broker.port) for w in workers(broker)]
                return counts if sum(counts) == 16 else None

            return await async_wait_until(spread, 10, "16 connections served by the workers")
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    counts = asyncio.run(scenario())
    assert len(counts) == 2
    assert sum(counts) == 16
    assert min(counts) >= 1, counts  # all 16 on one worker: 1 in 32768 by chance


def test_one_audit_chain_from_both_workers(broker: BrokerProcess) -> None:
    for n in range(6):
        result = broker.run_ssh("alice", "run", "shell", "--", f"echo w{n}")
        assert result.returncode == 0, result.stderr
    verify = broker.cli("audit", "verify", "--every-signature")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    starts = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        for line in seg.read_text().splitlines():
            record = json.loads(line)
            if record["action"] in ("broker.start", "broker.restart"):
                starts.append(record["details"].get("worker"))
    assert sorted(starts) == [0, 1]


def test_a_dead_worker_is_started_again(broker: BrokerProcess) -> None:
    before = {w.pid for w in workers(broker)}
    victim = sorted(before)[0]
    psutil.Process(victim).kill()

    def replaced() -> bool:
        now = {w.pid for w in workers(broker)}
        return len(now) == 2 and victim not in now

    wait_until(replaced, 30, f"a replacement for worker {victim}")
    for _ in range(4):  # whichever worker the kernel picks, it serves
        assert broker.run_ssh("alice", "run", "shell", "--", "true").returncode == 0
    assert "starting it again" in broker.log()


def test_sigterm_stops_every_worker() -> None:
    proc = shell_broker(workers=2)
    with proc:
        pids = [w.pid for w in workers(proc)]
        assert len(pids) == 2
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(timeout=30) == 0
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def test_workers_must_be_a_sane_number() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "serve", "--workers", "0"],
        capture_output=True,
        cwd=ROOT,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"--workers: must be a whole number from 1 to 64" in result.stderr
