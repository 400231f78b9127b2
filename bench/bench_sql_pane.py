"""The SQL console pane on a large table, through a real broker and an SSH client.

A private PostgreSQL gets a table of N rows (10,000,000; ``--quick``: 200,000) with an e-mail
in every row (masking on). An SSH client opens the TUI, picks the postgres connection and runs
``select * from pane_bench`` several times: the time from F5 to the first page on its screen
(``N+ rows · … ms`` in the status line) is the pane's first-page time (target < 300 ms). Then it
scrolls on page after page (End reads the next page from the server-side cursor) while the
broker process's memory is sampled: it must stay flat, since the pane keeps a few pages whatever
it has read. Last, F7 counts the rows on the server.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import time

import psutil
from _common import median, memory, percentile, table

from tests.harness import PostgresServer
from tests.support.broker import BrokerProcess
from tests.support.tui_client import TuiClient

POLICY = """\
access:
  - {name: bench-all, groups: [bench], connections: ['*'], action: allow}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
"""
F5 = b"\x1b[15~"
F6 = b"\x1b[17~"
F7 = b"\x1b[18~"
END = b"\x1b[F"
CTRL_L = b"\x0c"
STATEMENT = b"select * from pane_bench"
ROWS_SHOWN = re.compile(rb"([0-9,]+)(\+)? rows \xc2\xb7 (\d+) ms")


def build_table(server: PostgresServer, rows: int) -> float:
    began = time.perf_counter()
    server.app_psql(
        "create table pane_bench as select n, 'user' || n || '@example.com' as email,"
        " md5(n::text) as note, now() - n * interval '1 second' as seen"
        f" from generate_series(1, {rows}) n"
    )
    server.app_psql("vacuum analyze pane_bench")
    return time.perf_counter() - began


async def first_page(client: TuiClient) -> tuple[float, int]:
    """Seconds from F5 to the first page on the client's screen, and the broker's own ms."""
    mark = len(client.raw)
    client.send(CTRL_L)
    client.send(STATEMENT)
    await client.wait(re.compile(rb"pane_bench"), since=mark, timeout=30)  # typed, highlighted
    mark = len(client.raw)
    sent = client.send(F5)
    arrived = await client.wait(ROWS_SHOWN, since=mark, timeout=60)
    found = ROWS_SHOWN.search(client.raw, mark)
    assert found is not None
    return arrived - sent, int(found.group(3))


async def scroll(
    client: TuiClient, pid: int, pages: int, samples: int
) -> list[tuple[int, float, float, float]]:
    """Read ``pages`` more pages with End; returns samples of (rows read, RSS MiB, PSS MiB of
    the broker and its children, RSS MiB of the broker process alone)."""
    client.send(F6)  # from the editor to the results
    out = []
    loaded = 200
    every = max(1, pages // samples)
    for step in range(1, pages + 1):
        mark = len(client.raw)
        client.send(END)
        loaded += 200
        await client.wait(re.compile(f"{loaded:,}\\+ rows".encode()), since=mark, timeout=30)
        if step % every == 0 or step == pages:
            mem = memory(pid)
            own = psutil.Process(pid).memory_info().rss / 2**20
            out.append((loaded, mem.rss / 1024, mem.pss / 1024, own))
        if step % 500 == 0:
            client.raw.clear()  # the client's copy of the output, not the broker's
            client.chunks.clear()
    return out


async def measure(broker: BrokerProcess, reps: int, pages: int) -> None:
    assert broker.proc is not None
    pid = broker.proc.pid
    client = await TuiClient.connect(broker.port, broker.keys["alice"], "alice", (160, 45))
    try:
        await client.wait(re.compile(rb"to filter connections"), timeout=30)
        client.send(b"bench-db\r")
        await client.wait(re.compile(rb"F5 or Ctrl\+Enter runs"), timeout=30)
        firsts = []
        broker_ms = []
        for _ in range(reps):
            seconds, ms = await first_page(client)
            firsts.append(seconds * 1000)
            broker_ms.append(ms)
        print()
        print(
            table(
                [
                    "first page of select * (F5 to screen)",
                    "median ms",
                    "p95 ms",
                    "max ms",
                    "target",
                ],
                [
                    [
                        "over ssh, as the user sees it",
                        median(firsts),
                        percentile(firsts, 95),
                        max(firsts),
                        "< 300",
                    ],
                    [
                        "the broker's own timing (status line)",
                        median(broker_ms),
                        percentile(broker_ms, 95),
                        max(broker_ms),
                        "",
                    ],
                ],
            )
        )
        before = memory(pid)
        alone = psutil.Process(pid).memory_info().rss / 2**20
        samples = await scroll(client, pid, pages, 10)
        print()
        rows = [["after the first page", 200, before.rss / 1024, before.pss / 1024, alone]]
        rows += [[f"scrolled on ({s[0]:,} rows read)", *s] for s in samples]
        heads = ["broker memory while scrolling", "rows read", "RSS MiB", "PSS MiB", "main RSS"]
        print(table(heads, rows))
        print("(RSS and PSS: the broker and its children, the recorder among them; main: the")
        print(" broker process alone)")
        growth = samples[-1][1] - min(s[1] for s in samples[: max(1, len(samples) // 3)])
        print(f"RSS growth over the last two thirds of the scroll: {growth:+.1f} MiB (flat: < 10)")
        mark = len(client.raw)
        sent = client.send(F7)
        await client.wait(re.compile(rb"[0-9,]+ rows \xc2\xb7"), since=mark, timeout=600)
        print(f"F7 (count every row on the server): {time.perf_counter() - sent:.2f} s")
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run for CI")
    parser.add_argument("--rows", type=int, default=None, help="rows in the table")
    parser.add_argument("--pages", type=int, default=None, help="pages to scroll through")
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 10_000_000)
    reps, pages = (5, 200) if args.quick else (9, 2_500)
    pages = args.pages or pages
    with PostgresServer() as server:
        built = build_table(server, rows)
        print(f"sql pane bench: table of {rows:,} rows built in {built:.1f} s")
        conn = {
            "type": "postgres",
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "database": server.database,
            "credential": "bench-db",
            "read_only": True,
        }
        broker = BrokerProcess({"alice": ["bench"]}, {"bench-db": conn}, POLICY)
        try:
            broker.set_secret("bench-db", server.password.encode())
            with broker:
                asyncio.run(measure(broker, reps, pages))
        finally:
            broker.stop()
            shutil.rmtree(broker.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
