"""Audit sinks against real listeners on 127.0.0.1: syslog over TCP and UDP, and a file copy."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.auditlog.segments import load_checkpoints, verify_log
from broker.auditlog.sinks import FileSink, SinkDispatcher, SinkEntry, SyslogSink, sinks_from_config
from broker.auditlog.writer import AuditLog
from broker.common.errors import ConfigError

KEY = Ed25519PrivateKey.generate()
RFC5424 = re.compile(
    rb"<(\d+)>1 (\S+) (\S+) gatehouse (\d+) (\S+) - \xef\xbb\xbf(\{.*\})", re.DOTALL
)


class TcpListener:
    """Accepts one connection and splits RFC 6587 octet-counted frames."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.data = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.server.settimeout(10)
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            while chunk := conn.recv(65536):
                self.data += chunk

    def frames(self) -> list[bytes]:
        out, rest = [], self.data
        while rest:
            length, _, rest = rest.partition(b" ")
            out.append(rest[: int(length)])
            rest = rest[int(length) :]
        return out

    def close(self) -> None:
        self.server.close()
        self.thread.join(5)


@pytest.fixture
def tcp() -> Iterator[TcpListener]:
    listener = TcpListener()
    yield listener
    listener.close()


async def test_tcp_syslog_gets_every_record_and_checkpoint(
    tcp: TcpListener, tmp_path: Path
) -> None:
    sink = SyslogSink(f"tcp://127.0.0.1:{tcp.port}")
    async with await AuditLog.open(tmp_path / "audit", KEY, [sink], checkpoint_every=5) as log:
        for n in range(12):
            await log.append(
                "alice", "policy.denied" if n == 3 else "command.run", "web-1", {"n": n}
            )
    tcp.thread.join(5)
    frames = tcp.frames()
    parsed = [RFC5424.fullmatch(frame) for frame in frames]
    assert all(parsed), frames[:2]
    lines = [json.loads(m.group(6)) for m in parsed if m]
    records = [line for line in lines if line["action"] != "audit.checkpoint"]
    assert [r["seq"] for r in records] == list(range(1, 15))
    assert sum(line["action"] == "audit.checkpoint" for line in lines) >= 2
    denied = next(m for m in parsed if m and m.group(5) == b"policy.denied")
    assert int(denied.group(1)) == 13 * 8 + 5
    assert int(parsed[-1].group(1)) == 13 * 8 + 6  # type: ignore[union-attr]


async def test_udp_syslog(tmp_path: Path) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    with receiver:
        sink = SyslogSink(f"udp://127.0.0.1:{port}")
        async with await AuditLog.open(tmp_path / "audit", KEY, [sink]) as log:
            await log.append("alice", "login.success", "gatehouse", {"addr": "127.0.0.1"})
        got = [receiver.recv(65536) for _ in range(4)]  # header, start, login, checkpoint
    matches = [RFC5424.fullmatch(datagram) for datagram in got]
    assert all(matches)
    assert [m.group(5) for m in matches if m] == [
        b"audit.segment",
        b"broker.start",
        b"login.success",
        b"audit.checkpoint",
    ]


async def test_file_sink_holds_checkpoints_for_verification(tmp_path: Path) -> None:
    copy = tmp_path / "copy.jsonl"
    async with await AuditLog.open(tmp_path / "audit", KEY, [FileSink(copy)]) as log:
        for n in range(3):
            await log.append("alice", "command.run", "web-1", {"n": n})
    lines = copy.read_bytes().splitlines()
    assert (
        lines[:5]
        == b"".join(
            p.read_bytes() for p in sorted((tmp_path / "audit").glob("audit-*.jsonl"))
        ).splitlines()
    )
    points = load_checkpoints(copy)
    assert points[-1].seq == 5
    verify_log(tmp_path / "audit", KEY.public_key(), checkpoints=points)


async def test_dead_sink_never_blocks_or_fails_the_log(tmp_path: Path) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    sink = SyslogSink(f"tcp://127.0.0.1:{port}", timeout=0.2)
    async with await AuditLog.open(tmp_path / "audit", KEY, [sink]) as log:
        for n in range(50):
            await log.append("alice", "command.run", "web-1", {"n": n})
        assert log.healthy
    assert verify_log(tmp_path / "audit", KEY.public_key()).records == 52


def test_stalled_tcp_listener_times_out(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))  # accepts into the backlog, never reads
    port = server.getsockname()[1]
    with server:
        sink = SyslogSink(f"tcp://127.0.0.1:{port}", timeout=0.2)
        dispatcher = SinkDispatcher([sink])
        big = [SinkEntry(b"x" * 60_000, "2025-01-01T00:00:00.000000Z", "command.run")] * 200
        for _ in range(5):
            dispatcher.submit(big)
        dispatcher.close(timeout=10)
        assert dispatcher.failures >= 1


@pytest.mark.parametrize(
    "entry",
    [
        {"syslog": "http://127.0.0.1:1"},
        {"syslog": "tcp://127.0.0.1"},
        {"kafka": "x"},
        {"syslog": "tcp://127.0.0.1:1", "file": "x"},
        {"file": 5},
    ],
)
def test_bad_sink_config(entry: dict[str, object], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        sinks_from_config([entry], tmp_path)  # type: ignore[list-item]


def test_sink_config() -> None:
    sinks = sinks_from_config(
        [{"syslog": "tcp://127.0.0.1:5514"}, {"file": "copy.jsonl"}], Path("/srv/gh")
    )
    assert [sink.name for sink in sinks] == ["tcp://127.0.0.1:5514", "/srv/gh/copy.jsonl"]
