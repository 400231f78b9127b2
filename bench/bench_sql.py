"""`sql CONN --csv` through the broker, masking on, against `psql --csv` direct: rows/s and ratio.

Usage: .venv/bin/python bench/bench_sql.py [--quick] [--rows N] [--reps N]

A private PostgreSQL 15 cluster (tests/harness/postgres.py) gets a table of ``--rows`` rows
(default 1,000,000) of fake personal data: an id, a name, an e-mail address (which the masking
engine replaces in every row), an amount, a timestamp and a flag. Each rep times, interleaved,
``psql --csv -c SELECT …`` direct to the server and ``ssh … sql bench --csv -- SELECT …`` through
the broker (user alice: masked), connection set-up included, reading both outputs through a pipe
and counting their lines. The broker's memory (RSS of it and its workers) is sampled while it
streams: flat means it does not grow with the result.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from _common import Memory, median, memory, settle, table

from tests.harness.postgres import PG_BIN, PostgresServer
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: bench-all, groups: [bench], connections: ['*'], action: allow}
masking:
  detectors: {enable: all}
"""
STATEMENT = "SELECT id, name, email, amount, created_at, active FROM bench_rows ORDER BY id"
TABLE_SQL = """\
CREATE TABLE bench_rows (
  id integer PRIMARY KEY, name text, email text, amount numeric(10,2),
  created_at timestamptz, active boolean);
INSERT INTO bench_rows
SELECT i, 'Customer ' || i, 'user' || i || '@example.com', (i % 100000) / 100.0,
       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second', i % 3 = 0
FROM generate_series(1, {rows}) AS i;
ANALYZE bench_rows;
"""


@dataclass
class Run:
    """One way of running the statement and its timings."""

    label: str
    argv: list[str]
    env: dict[str, str]
    seconds: list[float] = field(default_factory=list)
    peak: list[Memory] = field(default_factory=list)


def timed(argv: Sequence[str], env: dict[str, str], rows: int) -> float:
    """Seconds to run ``argv`` to its end, reading its stdout; checks it printed every row."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    lines = 0
    while chunk := proc.stdout.read(1 << 20):
        lines += chunk.count(b"\n")
    _, err = proc.communicate(timeout=600)
    seconds = time.perf_counter() - began
    if proc.returncode != 0 or lines != rows + 1:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}, {lines} lines): {err.decode()}")
    return seconds


class Sampler:
    """Samples a process tree's memory every 50 ms in a thread; keeps the largest RSS."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = Memory(0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            now = memory(self.pid)
            if now.rss > self.peak.rss:
                self.peak = now

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one rep (CI)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    reps = 1 if args.quick else args.reps
    if not (PG_BIN / "postgres").exists():
        raise SystemExit(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    with PostgresServer(customers=5) as server:
        server.superuser_psql(
            f"\\connect {server.database} {server.user}\n" + TABLE_SQL.format(rows=rows)
        )
        conn = {
            "type": "postgres",
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "database": server.database,
            "credential": "bench",
            "read_only": True,
        }
        broker = BrokerProcess({"alice": ["bench"]}, {"bench": conn}, POLICY)
        try:
            broker.set_secret("bench", server.password.encode())
            with broker:
                assert broker.proc is not None
                report(server, broker, rows, reps)
        finally:
            broker.stop()
            shutil.rmtree(broker.dir, ignore_errors=True)


def report(server: PostgresServer, broker: BrokerProcess, rows: int, reps: int) -> None:
    assert broker.proc is not None
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    psql = [str(PG_BIN / "psql"), "-X", "--csv", "-h", server.host, "-p", str(server.port)]
    psql += ["-U", server.user, "-d", server.database, "-c", STATEMENT]
    runs = [
        Run("psql --csv, direct", psql, {**clean, "PGPASSWORD": server.password}),
        Run(
            "sql --csv via broker, masked",
            broker.ssh("alice", "sql", "bench", "--csv", "--", STATEMENT),
            clean,
        ),
    ]
    idle = memory(broker.proc.pid)
    for _ in range(reps):
        for run in runs:
            settle(0.5)
            with Sampler(broker.proc.pid) as sampler:
                run.seconds.append(timed(run.argv, run.env, rows))
            run.peak.append(sampler.peak)
    direct = median(runs[0].seconds)
    lines = []
    for run in runs:
        seconds = median(run.seconds)
        growth = max(p.rss for p in run.peak) - idle.rss
        lines.append(
            [run.label, seconds, rows / seconds, direct / seconds, f"{growth / 1024:+.1f}"]
        )
    print(f"{rows:,} rows, {reps} rep(s), median; broker idle RSS {idle.rss / 1024:.1f} MiB")
    print(table(["path", "seconds", "rows/s", "× psql", "broker RSS MiB"], lines))


if __name__ == "__main__":
    main()
