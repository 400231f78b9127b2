"""Pre-auth admission (MaxStartups, per source), the limits config, and the listener's pause."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
from pathlib import Path

import pytest

from broker.common.descriptors import DescriptorBudget, is_exhaustion, open_descriptors
from broker.common.errors import ConfigError
from broker.config.limits import Limits, MaxStartups, RecordingQuota, parse_duration, parse_size
from broker.config.model import load_config
from broker.frontdoor.listener import Listener, ThrottledLog, bind_sockets
from broker.frontdoor.startups import StartupGate

# -- MaxStartups and the gate ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10:30:100", MaxStartups(10, 30, 100)), ("5", MaxStartups(5, 100, 5))],
)
def test_max_startups_parses(text: str, expected: MaxStartups) -> None:
    assert MaxStartups.parse(text) == expected
    assert MaxStartups.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "10:30", "a:b:c", "10:30:5", "10:101:100", "0:30:100"])
def test_max_startups_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match=r"START:RATE:FULL|start <= full"):
        MaxStartups.parse(text)


def test_every_connection_is_taken_below_start() -> None:
    gate = StartupGate(MaxStartups(3, 30, 10), per_source=100)
    for n in range(3):
        assert gate.admit(f"10.0.0.{n}", draw=0.0) is None
    assert gate.total == 3


def test_early_drop_rises_linearly_from_rate_to_certainty() -> None:
    gate = StartupGate(MaxStartups(10, 30, 110), per_source=1000)
    for _ in range(10):
        assert gate.admit("a", 0.99) is None
    assert gate.drop_chance() == pytest.approx(0.30)
    refusal = gate.admit("a", 0.29)
    assert refusal is not None
    assert refusal.reason == "early_drop"
    assert gate.admit("a", 0.30) is None  # the draw was above the chance: taken
    for _ in range(49):
        gate.admit("a", 0.9999)
    assert gate.total == 60
    assert gate.drop_chance() == pytest.approx(0.30 + 0.70 * 50 / 100)


def test_full_drops_everything() -> None:
    gate = StartupGate(MaxStartups(2, 0, 2), per_source=10)
    assert gate.admit("a", 0.5) is None
    assert gate.admit("b", 0.5) is None
    refusal = gate.admit("c", 0.999)
    assert refusal is not None
    assert refusal.reason == "full"


def test_one_address_cannot_take_every_slot() -> None:
    gate = StartupGate(MaxStartups(100, 30, 100), per_source=3)
    for _ in range(3):
        assert gate.admit("192.0.2.1", 0.5) is None
    refusal = gate.admit("192.0.2.1", 0.5)
    assert refusal is not None
    assert refusal.reason == "per_source"
    assert gate.admit("192.0.2.2", 0.5) is None  # another address still gets in


def test_release_frees_the_slot_once() -> None:
    gate = StartupGate(MaxStartups(10, 30, 10), per_source=1)
    assert gate.admit("a", 0.0) is None
    gate.release("a")
    gate.release("a")  # a second release (lost after login) changes nothing
    assert gate.total == 0
    assert gate.held_by("a") == 0
    assert gate.admit("a", 0.0) is None


# -- config --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [(1024, 1024), ("64KiB", 65536), ("512M", 512 << 20), ("10GB", 10 << 30), ("7", 7)],
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten", "-1", "1.5G", "5 parsecs"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@pytest.mark.parametrize(("text", "seconds"), [(30, 30.0), ("30s", 30.0), ("2m", 120.0)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "gatehouse.yaml"
    path.write_text(body)
    return path


def test_limits_and_quotas_have_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "listen: 127.0.0.1:2222\n"))
    assert config.limits == Limits()
    assert config.limits.max_startups == MaxStartups(64, 30, 256)
    assert config.limits.per_source < config.limits.max_startups.start
    assert config.recording.quota == RecordingQuota()


def test_limits_and_quotas_load(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "limits: {max_startups: '5:50:20', per_source: 3, login_grace: 10s,\n"
            "         sessions_per_connection: 4}\n"
            "recording: {max_session_bytes: 1MiB, max_total_bytes: 1GiB, reserve_bytes: 0}\n",
        )
    )
    assert config.limits == Limits(MaxStartups(5, 50, 20), 3, 10.0, 4)
    assert config.recording.quota == RecordingQuota(1 << 20, 1 << 30, 0)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("limits: {max_startups: '1:2'}\n", "limits.max_startups"),
        ("limits: {per_source: 0}\n", "limits.per_source"),
        ("limits: {login_grace: forever}\n", "limits.login_grace"),
        ("limits: {login_grace: 0s}\n", "limits.login_grace"),
        ("limits: {sessions: 3}\n", "limits.sessions"),
        ("recording: {max_session_bytes: lots}\n", "recording.max_session_bytes"),
    ],
)
def test_bad_limits_name_file_line_and_key(tmp_path: Path, body: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, body))
    assert key in err.value.render()
    assert ":1:" in err.value.render()


# -- descriptors and the listener ---------------------------------------------------


def test_exhaustion_is_recognised_through_causes() -> None:
    inner = OSError(24, "Too many open files")
    outer = RuntimeError("wrapped")
    outer.__cause__ = inner
    assert is_exhaustion(outer)
    assert not is_exhaustion(OSError(28, "No space left on device"))


def test_budget_counts_and_reserves() -> None:
    open_now = open_descriptors()
    budget = DescriptorBudget(reserve=8, limit=open_now + 12)
    assert budget.headroom == 4
    assert not budget.low()
    fds = []
    try:
        for _ in range(3):
            fds.append(os.open(os.devnull, os.O_RDONLY))
            assert budget.taken()
        fds.append(os.open(os.devnull, os.O_RDONLY))
        assert not budget.taken()  # the fourth reaches the reserve
        assert budget.low()
    finally:
        for fd in fds:
            os.close(fd)
    assert budget.ample() is False  # room again, but not a reserve's worth beyond the reserve
    assert budget.headroom == 4


def test_throttled_log_says_how_many_were_quiet(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    note = ThrottledLog(interval=10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for _ in range(500):
            note(logging.WARNING, "k", "accept failed: %s", "EMFILE")
        now[0] = 11.0
        note(logging.WARNING, "k", "accept failed: %s", "EMFILE")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "accept failed: EMFILE",
        "accept failed: EMFILE (499 more since the last report)",
    ]


async def _connect_many(port: int, count: int) -> list[socket.socket]:
    clients = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port))
        clients.append(client)
    return clients


async def test_listener_drops_beyond_the_gate_and_hands_off_the_rest() -> None:
    sockets = bind_sockets("127.0.0.1", 0, reuse_port=False)
    taken: list[socket.socket] = []
    got_all = asyncio.Event()

    def handoff(conn: socket.socket, source: str) -> None:
        assert source == "127.0.0.1"
        taken.append(conn)
        if len(taken) == 3:
            got_all.set()

    gate = StartupGate(MaxStartups(100, 30, 100), per_source=3)
    listener = Listener(sockets, gate, handoff, draw=lambda: 0.5)
    listener.start()
    clients = await _connect_many(listener.port, 8)
    try:
        async with asyncio.timeout(5):
            await got_all.wait()
            while sum(listener.dropped.values()) < 5:
                await asyncio.sleep(0.01)
        assert listener.dropped == {"per_source": 5}
        assert gate.total == 3
    finally:
        listener.close()
        for conn in [*taken, *clients]:
            conn.close()


async def test_listener_pauses_at_the_reserve_and_resumes() -> None:
    sockets = bind_sockets("127.0.0.1", 0, reuse_port=False)
    port = int(sockets[0].getsockname()[1])
    clients = await _connect_many(port, 12)  # they wait in the kernel's backlog
    taken: list[socket.socket] = []
    budget = DescriptorBudget(reserve=8, limit=open_descriptors() + 8 + 4)
    gate = StartupGate(MaxStartups(1000, 30, 1000), per_source=1000)
    listener = Listener(sockets, gate, lambda conn, _: taken.append(conn), budget=budget)
    listener.start()
    try:
        async with asyncio.timeout(5):
            while not listener.paused:
                await asyncio.sleep(0.01)
        held = len(taken)
        assert held == 4  # it stopped at the reserve, the rest wait in the backlog
        for conn in [*taken, *clients]:  # descriptors come free
            conn.close()
        clients.clear()
        async with asyncio.timeout(10):
            while len(taken) < 12:  # resumed: the backlog is served
                await asyncio.sleep(0.02)
        assert listener.pauses == 1
        assert not listener.paused
    finally:
        listener.close()
        for conn in [*taken, *clients]:
            conn.close()


async def test_accept_out_of_descriptors_pauses_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The process limit is hit before the budget notices (lowered from outside)."""
    sockets = bind_sockets("127.0.0.1", 0, reuse_port=False)
    port = int(sockets[0].getsockname()[1])
    clients = await _connect_many(port, 20)
    taken: list[socket.socket] = []
    budget = DescriptorBudget(reserve=8, limit=1 << 16)  # believes there is plenty
    gate = StartupGate(MaxStartups(1000, 30, 1000), per_source=1000)
    listener = Listener(sockets, gate, lambda conn, _: taken.append(conn), budget=budget)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_descriptors() + 3, hard))
    try:
        with caplog.at_level(logging.INFO, logger="broker.frontdoor.listener"):
            listener.start()
            async with asyncio.timeout(5):
                while not listener.paused:
                    await asyncio.sleep(0.01)
            assert len(taken) < 20  # it stopped at the limit, the rest wait in the backlog
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            for conn in [*taken, *clients]:
                conn.close()
            clients.clear()
            async with asyncio.timeout(10):
                while listener.paused:
                    await asyncio.sleep(0.02)
        messages = [r.getMessage() for r in caplog.records]
        assert sum("accept failed: Too many open files" in m for m in messages) == 1, messages
        assert not any(r.exc_info for r in caplog.records)  # no traceback
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        listener.close()
        for conn in [*taken, *clients]:
            conn.close()
