"""Memory bounded in both directions, sessions per connection, recording quotas: a real broker."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator

import asyncssh
import psutil
import pytest

from tests.harness.accounts import local_connection
from tests.harness.sshd import SshdTarget
from tests.support.broker import BrokerProcess

POLICY = "access: [{name: all, groups: [eng], connections: ['*'], action: allow}]\n"
CHUNK = bytes(1 << 16)
RSS_GROWTH_LIMIT = 8 << 20
"""An endless input stream may cost the broker this much at most (it used to be +410 MB)."""


@pytest.fixture(scope="module")
def broker(sshd_target: SshdTarget) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {"alice": ["eng"]},
        {
            "web-1": sshd_target.connection("web-1"),
            "shell": local_connection(["bash", "--norc"]),
        },
        POLICY,
        extra={"limits": {"sessions_per_connection": 3}},
    )
    proc.set_secret("web-1", sshd_target.client_key.read_bytes())
    with proc:
        yield proc


class Feeder:
    """Writes zeros to a client's stdin from a thread, counting what the pipe took."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        assert self.proc.stdin is not None
        try:
            while self.sent < 400 << 20:
                self.proc.stdin.write(CHUNK)
                self.sent += len(CHUNK)
        except (BrokenPipeError, ValueError, OSError):
            pass

    def wait_stalled(self, quiet: float = 1.0, timeout: float = 30.0) -> int:
        """Wait until no byte was taken for ``quiet`` seconds (backpressure held); the count."""
        deadline = time.monotonic() + timeout
        last, since = self.sent, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if self.sent != last:
                last, since = self.sent, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return last
            assert self.sent < 400 << 20, "the whole stream was taken: no backpressure"
        raise AssertionError(f"input never stalled ({self.sent} bytes taken)")


def rss(broker: BrokerProcess) -> int:
    assert broker.proc is not None
    return int(psutil.Process(broker.proc.pid).memory_info().rss)


@pytest.mark.parametrize("connection", ["web-1", "shell"])
def test_endless_input_to_a_command_that_never_reads_costs_no_memory(
    broker: BrokerProcess, connection: str
) -> None:
    """`head -c 400M /dev/zero | ssh … run web-1 -- sleep 30` once took the broker +410 MB."""
    client = subprocess.Popen(
        broker.ssh("alice", "run", connection, "--", "echo started; sleep 60"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline() == b"started\n"  # the session itself is set up
        before = rss(broker)
        feeder = Feeder(client)
        taken = feeder.wait_stalled()
        growth = rss(broker) - before
        print(f"{connection}: {taken / 2**20:.1f} MiB taken, broker RSS +{growth / 2**20:.1f} MiB")
        assert growth < RSS_GROWTH_LIMIT, f"broker RSS grew {growth / 2**20:.1f} MiB"
        assert taken < 64 << 20
    finally:
        client.kill()
        client.communicate(timeout=30)
    assert broker.proc is not None
    assert broker.proc.poll() is None


def test_paused_input_still_arrives_complete(broker: BrokerProcess) -> None:
    """Flow control loses nothing: a slow reader gets every byte."""
    size = 24 << 20
    result = broker.run_ssh(
        "alice", "run", "web-1", "--", "sleep 1; wc -c", stdin=bytes(size), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(size).encode()
    local = broker.run_ssh(
        "alice", "run", "shell", "--", "sleep 1; wc -c", stdin=bytes(size), timeout=60
    )
    assert local.stdout.strip() == str(size).encode(), local.stderr


async def _sessions_on_one_connection(broker: BrokerProcess, limit: int) -> str:
    """Open ``limit`` sessions on one connection, then one more; the refusal's reason."""
    async with asyncssh.connect(
        "127.0.0.1",
        broker.port,
        username="alice",
        client_keys=[str(broker.keys["alice"])],
        known_hosts=None,
    ) as conn:
        running = [
            await conn.create_process("run shell -- cat", encoding=None) for _ in range(limit - 1)
        ]
        idle, _ = await conn.create_session(asyncssh.SSHClientSession)  # open, never started
        with pytest.raises(asyncssh.ChannelOpenError) as refused:
            await conn.create_process("run shell -- echo one-too-many", encoding=None)
        for proc in running:
            proc.stdin.write_eof()
        for proc in running:
            done = await asyncio.wait_for(proc.wait(), 20)
            assert done.exit_status == 0
        idle.close()
        await idle.wait_closed()
        again = await conn.run("run shell -- echo room-again", encoding=None, check=False)
        assert again.stdout == b"room-again\n"
    return refused.value.reason


def test_sessions_beyond_the_limit_on_one_connection_are_refused(broker: BrokerProcess) -> None:
    reason = asyncio.run(_sessions_on_one_connection(broker, 3))
    assert "too many sessions on this connection" in reason
    assert "sessions_per_connection is 3" in reason


def test_a_session_past_its_recording_quota_ends_and_others_carry_on() -> None:
    quota_broker = BrokerProcess(
        {"alice": ["eng"]},
        {"shell": local_connection(["bash", "--norc"])},
        POLICY,
        extra={"recording": {"max_session_bytes": "256KiB"}},
    )
    with quota_broker:
        other = subprocess.Popen(
            quota_broker.ssh("alice", "run", "shell", "--", "cat; echo other-finished"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert other.stdin is not None
        assert other.stdout is not None
        other.stdin.write(b"before\n")
        other.stdin.flush()
        assert other.stdout.readline() == b"before\n"
        big = quota_broker.run_ssh(
            "alice", "run", "shell", "--", "head -c 20000000 /dev/urandom | base64", timeout=60
        )
        assert big.returncode != 0
        assert b"recording.max_session_bytes: 256 KiB" in big.stderr, big.stderr
        assert len(big.stdout) < 20_000_000  # ended, not run to the end
        out, err = other.communicate(b"after\n", timeout=30)
        assert out == b"after\nother-finished\n", err
        assert other.returncode == 0
        small = quota_broker.run_ssh("alice", "run", "shell", "--", "echo next-session")
        assert small.stdout == b"next-session\n", small.stderr
    verify = quota_broker.cli("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_recordings_never_take_the_disk_kept_for_the_audit_log() -> None:
    """A reserve larger than the free space: the first recorded output ends the session."""
    full_disk = BrokerProcess(
        {"alice": ["eng"]},
        {"shell": local_connection(["bash", "--norc"])},
        POLICY,
        extra={"recording": {"reserve_bytes": "1000000GiB"}},
    )
    with full_disk:
        ended = full_disk.run_ssh("alice", "run", "shell", "--", "echo hi; sleep 20", timeout=15)
        assert ended.returncode != 0
        assert b"kept for the audit log (recording.reserve_bytes)" in ended.stderr, ended.stderr
        assert full_disk.proc is not None
        assert full_disk.proc.poll() is None
        assert "audit log write failed" not in full_disk.log()
    verify = full_disk.cli("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
