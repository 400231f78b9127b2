"""Nobody unauthenticated can stop or starve the broker: floods of idle and half-open connections.

Each test attacks a real `gatehouse serve` from 127.0.0.1 with thousands of TCP connections
that never log in (idle, a banner and then nothing, half-closed), then logs in for real
(asyncssh and OpenSSH) and checks that the login is quick, the broker is up, its log is
small and its audit log verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import subprocess
import time
from collections.abc import Iterator

import asyncssh
import psutil
import pytest

from tests.harness.accounts import local_connection
from tests.support.broker import BrokerProcess

POLICY = "access: [{name: all, groups: [eng], connections: ['*'], action: allow}]\n"
FLOOD = 2500
LOG_LIMIT = 64 * 1024
"""Bytes of broker log a whole flood may cause (it used to write 24 MB in 12 s)."""


@pytest.fixture(autouse=True)
def enough_descriptors() -> Iterator[None]:
    """This test process holds the flood's client sockets itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, FLOOD + 1000)), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def flood(port: int, count: int, source: str = "127.0.0.1") -> list[socket.socket]:
    """``count`` connections that never log in, opened without waiting for any of them.

    A third stay idle, a third send a banner and a torn packet, a third half-close; those
    the broker's backlog cannot take stay half-open (SYN sent, never answered).
    """
    held = []
    for n in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((source, 0))
        sock.connect_ex(("127.0.0.1", port))
        held.append(sock)
        with contextlib.suppress(OSError):  # not connected (yet), or reset: the defence
            if n % 3 == 1:
                sock.send(b"SSH-2.0-flood\r\n\x00\x00\x01")
            elif n % 3 == 2:
                sock.shutdown(socket.SHUT_WR)
    return held


async def login(broker: BrokerProcess, source: str) -> tuple[float, bytes]:
    """Seconds a real asyncssh login + `run` takes from ``source``, and its output."""
    started = time.monotonic()
    async with asyncssh.connect(
        "127.0.0.1",
        broker.port,
        local_addr=(source, 0),
        username="alice",
        client_keys=[str(broker.keys["alice"])],
        known_hosts=None,
        connect_timeout=20,
    ) as conn:
        result = await conn.run("run shell -- echo logged-in", check=False, encoding=None)
    assert isinstance(result.stdout, bytes)
    return time.monotonic() - started, result.stdout


def verify_audit(broker: BrokerProcess) -> None:
    result = broker.cli("audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()


def test_flood_from_one_address_leaves_logins_from_others_quick() -> None:
    """Default limits (MaxStartups 64:30:256, 32 per address): the flood is cut at the door."""
    broker = BrokerProcess(
        {"alice": ["eng"]}, {"shell": local_connection(["bash", "--norc"])}, POLICY
    )
    with broker:
        assert broker.proc is not None
        server = psutil.Process(broker.proc.pid)
        socks = flood(broker.port, FLOOD)
        try:
            assert server.num_fds() < 200  # the flood is not held: at most 32 from its address
            seconds, out = asyncio.run(login(broker, "127.0.0.2"))
            assert out == b"logged-in\n"
            assert seconds < 5, f"login took {seconds:.1f}s under the flood"
            ssh = subprocess.run(
                [*broker.ssh("alice", "list")[:-2], "-o", "BindAddress=127.0.0.3", "alice@127.0.0.1",
                 "list"],
                capture_output=True,
                timeout=20,
                check=False,
            )  # fmt: skip
            assert ssh.returncode == 0, ssh.stderr
            assert b"shell" in ssh.stdout
        finally:
            close_all(socks)
        # once the flood is gone, its own address gets in again at once
        seconds, out = asyncio.run(login(broker, "127.0.0.1"))
        assert out == b"logged-in\n"
        assert broker.proc.poll() is None
        log = broker.log()
        assert len(log.encode()) < LOG_LIMIT, log[-2000:]
        assert "Traceback" not in log, log[-3000:]
        assert "dropped before login (per source" in log
    verify_audit(broker)


def test_descriptor_pressure_pauses_the_door_and_ends_no_session() -> None:
    """Limits set wide open and a tiny open-file limit: the flood would take every descriptor.

    The listener stops at its reserve, a session that was already running carries on (strict
    mode ends nothing), the audit log keeps working, and logins work again once it is over.
    """
    broker = BrokerProcess(
        {"alice": ["eng"]},
        {"shell": local_connection(["bash", "--norc"])},
        POLICY,
        extra={"limits": {"max_startups": "5000:100:5000", "per_source": 5000}},
    )
    with broker:
        assert broker.proc is not None
        running = subprocess.Popen(
            broker.ssh("alice", "run", "shell", "--", "cat; echo session-survived"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert running.stdin is not None
        running.stdin.write(b"before\n")
        running.stdin.flush()
        assert running.stdout is not None
        assert running.stdout.readline() == b"before\n"
        subprocess.run(["prlimit", f"--pid={broker.proc.pid}", "--nofile=300:300"], check=True)
        socks = flood(broker.port, 1200)
        try:
            deadline = time.monotonic() + 20
            while "not accepting connections" not in broker.log():
                assert time.monotonic() < deadline, broker.log()[-3000:]
                time.sleep(0.1)
            assert broker.proc.poll() is None
            assert psutil.Process(broker.proc.pid).num_fds() <= 300
            running.stdin.write(b"during\n")
            running.stdin.flush()
            assert running.stdout.readline() == b"during\n"
        finally:
            close_all(socks)
        seconds, out = asyncio.run(login(broker, "127.0.0.1"))
        assert out == b"logged-in\n"
        assert seconds < 10, f"login took {seconds:.1f}s after the flood"
        out_rest, err = running.communicate(b"after\n", timeout=20)
        assert out_rest == b"after\nsession-survived\n", err
        assert running.returncode == 0
        assert broker.proc.poll() is None
        log = broker.log()
        assert len(log.encode()) < LOG_LIMIT, log[-2000:]
        assert "Traceback" not in log, log[-3000:]
        assert "audit log write failed" not in log
    verify_audit(broker)


def test_login_grace_frees_the_slots_of_connections_that_never_log_in() -> None:
    broker = BrokerProcess(
        {"alice": ["eng"]},
        {"shell": local_connection(["bash", "--norc"])},
        POLICY,
        extra={"limits": {"per_source": 2, "login_grace": "1s"}},
    )
    with broker:
        idle = [socket.create_connection(("127.0.0.1", broker.port)) for _ in range(2)]
        try:
            for sock in idle:  # each gets the broker's banner: it was taken
                sock.settimeout(10)
                assert sock.recv(100).startswith(b"SSH-2.0-")
            third = socket.create_connection(("127.0.0.1", broker.port))
            third.settimeout(10)
            with pytest.raises(ConnectionResetError):  # the address holds its two: reset
                third.recv(100)
            third.close()
            started = time.monotonic()
            for sock in idle:  # the broker closes them after the grace period
                while sock.recv(4096):
                    pass
            assert time.monotonic() - started < 5
        finally:
            close_all(idle)
        _seconds, out = asyncio.run(login(broker, "127.0.0.1"))
        assert out == b"logged-in\n"
