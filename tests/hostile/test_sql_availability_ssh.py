"""Hostile: an ordinary user tries to tie up the broker or the database through `ssh … sql`, or
to read the connection's credential from an error.

A huge result cut off midway, a client that stops reading, a sleeping statement whose client
leaves, many requests at once; a database that is down or refuses the stored credential. The
server's backends of the broker must go away with their clients, the broker's memory must stay
bounded, other users must still be served, and no error names the password.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_masking_disk_ssh import unpacked
from tests.harness import PostgresServer
from tests.harness.process import free_port
from tests.support.broker import BrokerProcess
from tests.support.waiting import wait_until

POLICY = "access:\n  - {name: all, groups: [engineers], connections: ['*'], action: allow}\n"
HUGE = "select g, md5(g::text) from generate_series(1, 10000000) g"
WRONG = "Wr0ng-planted-Passw0rd-7Qx"


@pytest.fixture(scope="module")
def broker(postgres_server: PostgresServer) -> Iterator[BrokerProcess]:
    conn = postgres_server.connection(read_only=True)
    proc = BrokerProcess(
        {"alice": ["engineers"], "bob": ["engineers"]},
        {
            "shop-ro": conn,
            "shop-wrong": {**conn, "credential": "wrong"},
            "shop-down": {**conn, "port": free_port(), "credential": "shop"},
        },
        POLICY,
    )
    proc.set_secret("shop-ro", postgres_server.password.encode())
    proc.set_secret("shop-wrong", WRONG.encode())
    with proc:
        yield proc


def backends(server: PostgresServer, like: str = "") -> int:
    """The broker's sessions on the server (running ``like``, when given)."""
    where = "application_name = 'gatehouse' and pid <> pg_backend_pid()"
    if like:
        where += f" and query like '%{like}%'"
    return int(server.app_psql(f"select count(*) from pg_stat_activity where {where}").strip())


def rss_kib(broker: BrokerProcess) -> int:
    assert broker.proc is not None
    status = Path(f"/proc/{broker.proc.pid}/status").read_text()
    return int(next(ln for ln in status.splitlines() if ln.startswith("VmRSS:")).split()[1])


def start(broker: BrokerProcess, *remote: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        broker.ssh("alice", *remote), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def stop(client: subprocess.Popen[bytes]) -> None:
    client.kill()
    client.communicate(timeout=10)


def other_user_is_served(broker: BrokerProcess) -> float:
    began = time.monotonic()
    done = broker.run_ssh("bob", "sql", "shop-ro", "--csv", "--", "select 7 as n", timeout=20)
    assert done.stdout == b"n\n7\n", done.stderr
    return time.monotonic() - began


def test_a_huge_result_cut_off_midway_ends_on_the_server(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    client = start(broker, "sql", "shop-ro", "--csv", "--", HUGE)
    assert client.stdout is not None
    got = b""
    while len(got) < 256 * 1024:  # bounded: the result is hundreds of MB
        chunk = client.stdout.read1(65536)
        assert chunk, client.stderr.read() if client.stderr else b""
        got += chunk
    assert got.startswith(b"g,md5\n1,c4ca4238a0b923820dcc509a6f75849b\n")
    stop(client)
    wait_until(lambda: backends(postgres_server) == 0, 15, "the server's backend to end")
    assert other_user_is_served(broker) < 5


def test_a_client_that_stops_reading_costs_bounded_memory(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    before = rss_kib(broker)
    client = start(broker, "sql", "shop-ro", "--csv", "--", HUGE)
    assert client.stdout is not None
    assert client.stdout.read1(65536).startswith(b"g,md5\n")  # the result flows
    client.send_signal(signal.SIGSTOP)  # reads nothing more: its socket and the SSH window fill
    try:
        wait_until(lambda: backends(postgres_server, "generate_series") == 1, 15, "the query")
        peak = before
        deadline = time.monotonic() + 4  # the time it takes the server to send ~100 MB
        while time.monotonic() < deadline:
            peak = max(peak, rss_kib(broker))
            time.sleep(0.1)
        assert peak - before < 96 * 1024, f"broker grew {peak - before} KiB"
        assert other_user_is_served(broker) < 5
    finally:
        client.send_signal(signal.SIGCONT)
        stop(client)
    wait_until(lambda: backends(postgres_server) == 0, 15, "the server's backend to end")


def test_a_sleeping_statement_ends_when_its_client_leaves(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    client = start(broker, "sql", "shop-ro", "--", "select pg_sleep(120)")
    wait_until(lambda: backends(postgres_server, "pg_sleep") == 1, 15, "the sleep to run")
    stop(client)
    wait_until(lambda: backends(postgres_server) == 0, 15, "the sleeping backend to end")


def test_many_requests_at_once_are_served_and_leave_nothing(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    results: list[subprocess.CompletedProcess[bytes]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        done = broker.run_ssh(
            "alice", "sql", "shop-ro", "--csv", "--", f"select {i} as n, pg_sleep(0.3)", timeout=90
        )
        with lock:
            results.append(done)

    # below the front door's per-address cap of connections not yet logged in (32)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 24
    assert [r.stderr for r in results if r.returncode] == []
    assert sorted(int(r.stdout.split(b"\n")[1].split(b",")[0]) for r in results) == list(range(24))
    wait_until(lambda: backends(postgres_server) == 0, 15, "every backend to end")
    assert other_user_is_served(broker) < 5


@pytest.mark.parametrize("conn", ["shop-wrong", "shop-down"])
def test_a_database_that_refuses_or_is_down_gives_an_error_without_the_credential(
    broker: BrokerProcess, postgres_server: PostgresServer, conn: str
) -> None:
    result = broker.run_ssh("alice", "sql", conn, "--", "select 1", timeout=40)
    assert result.returncode != 0
    assert b"cannot connect" in result.stderr, result.stderr
    assert b"Traceback" not in result.stderr
    for secret in (WRONG, postgres_server.password):
        assert secret.encode() not in result.stdout + result.stderr
    assert other_user_is_served(broker) < 5


def test_no_file_the_broker_wrote_holds_a_credential(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    written = [p for p in broker.dir.rglob("*") if p.is_file()]
    for path in written:
        for blob in unpacked(path.read_bytes()):
            for secret in (WRONG, postgres_server.password):
                assert secret.encode() not in blob, f"a credential in {path}"
    records = [
        json.loads(line)
        for seg in (broker.dir / "state" / "audit").glob("audit-*.jsonl")
        for line in seg.read_text().splitlines()
        if line.strip()
    ]
    failed = [r for r in records if r["target"] in ("shop-wrong", "shop-down")]
    assert failed, "the failed connections were not audited"
