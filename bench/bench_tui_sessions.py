"""Broker memory, first paint and keystroke responsiveness with 1 … 100 idle TUI sessions.

Usage: .venv/bin/python bench/bench_tui_sessions.py [--quick] [--levels 1,10,50,100]

Sessions are asyncssh clients with a pty (xterm-256color, 120x40), each its own SSH
connection, opened one after the other while the earlier ones sit idle in the picker. For
each level: the broker's PSS/RSS (/proc/PID/smaps_rollup), the first paint of the sessions
opened in that band, and the time from typing a filter letter to the filter's redraw, on
every open session in turn (the others idle) and on all of them at once (a burst). After the
top level every session is closed (half with ``q``, half by dropping the connection) and
memory is compared with the baseline taken after one warm-up session; a second open/close
cycle tells growth per cycle (a leak) from the allocator keeping freed pages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re

import asyncssh
from _common import (
    Memory,
    Spine,
    TuiClient,
    local_connection,
    median,
    memory,
    open_tui,
    percentile,
    spine,
    table,
)

FILTERED = re.compile(rb"2 of 3 connections")
UNFILTERED = re.compile(rb"3 of 3 connections")
STALL = "event loop blocked"
IDLE_COLLECTION = "full garbage collection (idle): "
"""The broker's debug line once the last session closed and its garbage was collected (the
watchdog's "event loop busy … full garbage collection (idle)" comes while it still runs)."""
COLLECTION_WAIT = 60.0
"""Seconds the broker has to collect 100 closed sessions (2–5 s on this machine)."""


def mib(kib: float) -> float:
    return kib / 1024


def stalls(sp: Spine) -> int:
    """How many loop stalls (> 100 ms) the broker's watchdog has logged so far."""
    return sp.broker.log().count(STALL)


async def measure_memory(pid: int, quiet: float) -> Memory:
    await asyncio.sleep(quiet)
    return memory(pid)


def idle_collections(sp: Spine) -> int:
    """How many idle full collections (every session closed) the broker has logged so far."""
    return sp.broker.log().count(IDLE_COLLECTION)


async def collected_after(sp: Spine, seen: int) -> float:
    """Wait until every worker logged its idle collection after ``seen``; seconds it took.

    Memory read before the broker collected the closed sessions is garbage not yet freed
    (a full collection of 100 sessions' objects takes seconds), not memory kept.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    while idle_collections(sp) < seen + sp.broker.workers:
        if loop.time() - started > COLLECTION_WAIT:
            print(f"  … no idle collection logged within {COLLECTION_WAIT:.0f} s", flush=True)
            break
        await asyncio.sleep(0.1)
    return loop.time() - started


async def keystrokes_each(sessions: list[TuiClient]) -> list[float]:
    """Type a filter letter on each session in turn (and clear it); redraw latencies, ms."""
    out = []
    for session in sessions:
        out.append(await session.keystroke(b"z", FILTERED) * 1000)
        await session.keystroke(b"\x7f", UNFILTERED)
    return out


async def keystrokes_burst(sessions: list[TuiClient]) -> list[float]:
    """Type a filter letter on every session at once; redraw latencies, ms."""
    got = await asyncio.gather(*(s.keystroke(b"z", FILTERED) for s in sessions))
    await asyncio.gather(*(s.keystroke(b"\x7f", UNFILTERED) for s in sessions))
    return [g * 1000 for g in got]


async def close_all(sessions: list[TuiClient]) -> None:
    await asyncio.gather(*(leave(s, quit_key=i % 2 == 0) for i, s in enumerate(sessions)))
    sessions.clear()


async def leave(session: TuiClient, *, quit_key: bool) -> None:
    """Half leave with q (waiting for the exit), half drop the connection."""
    if quit_key and not session.eof:
        with contextlib.suppress(TimeoutError, asyncssh.Error, OSError):
            await session.quit()
    await session.close()


async def open_to(
    sp: Spine, sessions: list[TuiClient], count: int
) -> tuple[list[float], list[float]]:
    logins, paints = [], []
    while len(sessions) < count:
        session, login, paint = await open_tui(sp.broker.port, sp.broker.keys["alice"])
        sessions.append(session)
        logins.append(login * 1000)
        paints.append(paint * 1000)
    return logins, paints


async def run(sp: Spine, levels: list[int], quiet: float) -> None:
    pid = sp.broker.proc.pid if sp.broker.proc else 0
    cold = memory(pid)
    sessions: list[TuiClient] = []
    await open_to(sp, sessions, 1)  # warm-up: imports, CSS parsing, first App
    seen = idle_collections(sp)
    await close_all(sessions)
    await collected_after(sp, seen)
    base = await measure_memory(pid, quiet)
    rows = []
    mem_at: dict[int, Memory] = {}
    for level in levels:
        before = stalls(sp)
        logins, paints = await open_to(sp, sessions, level)
        mem = mem_at[level] = await measure_memory(pid, quiet)
        each = await keystrokes_each(sessions)
        burst = await keystrokes_burst(sessions)
        extra = (
            f"{mib(mem.pss - mem_at[levels[0]].pss) / (level - levels[0]):.2f}"
            if level != levels[0]
            else "-"
        )
        rows.append(
            [
                level,
                mib(mem.pss),
                mib(mem.rss),
                extra,
                f"{median(logins):.0f}/{max(logins):.0f}",
                f"{median(paints):.0f}/{max(paints):.0f}",
                f"{median(each):.1f}/{percentile(each, 99):.1f}/{max(each):.0f}",
                f"{median(burst):.0f}/{percentile(burst, 99):.0f}/{max(burst):.0f}",
                stalls(sp) - before,
            ]
        )
        print(f"  … {level} sessions measured", flush=True)
    top = levels[-1]
    seen = idle_collections(sp)
    await close_all(sessions)
    collect1 = await collected_after(sp, seen)
    after1 = await measure_memory(pid, quiet)
    await open_to(sp, sessions, top)
    seen = idle_collections(sp)
    await close_all(sessions)
    collect2 = await collected_after(sp, seen)
    after2 = await measure_memory(pid, quiet)
    still = sp.broker.run_ssh("alice", "list")

    print(
        f"TUI sessions on one broker ({sp.broker.workers} worker(s); memory: the whole process "
        f"tree, recorder included; asyncssh clients, 120x40 pty), load average "
        f"{os.getloadavg()[0]:.1f}; memory MiB; times ms as p50/max or p50/p99/max"
    )
    print(
        table(
            [
                "sessions",
                "PSS",
                "RSS",
                "MiB/extra",
                "login",
                "first paint",
                "key->redraw each",
                "key->redraw burst",
                "stalls",
            ],
            rows,
        )
    )
    print(
        table(
            ["broker memory", "PSS MiB", "RSS MiB", "PSS vs base"],
            [
                ["cold (no session yet)", mib(cold.pss), mib(cold.rss), mib(cold.pss - base.pss)],
                ["base (1 session opened+closed)", mib(base.pss), mib(base.rss), 0.0],
                [
                    f"after {top} closed",
                    mib(after1.pss),
                    mib(after1.rss),
                    mib(after1.pss - base.pss),
                ],
                [
                    f"after {top} opened+closed again",
                    mib(after2.pss),
                    mib(after2.rss),
                    mib(after2.pss - base.pss),
                ],
            ],
        )
    )
    per = (mem_at[top].pss - mem_at[levels[0]].pss) / max(top - levels[0], 1)
    all_paints = [float(r[5].split("/")[0]) for r in rows]
    growth = mib(after2.pss - after1.pss)
    print(
        f"closed sessions collected {collect1:.1f} s / {collect2:.1f} s after the last close "
        "(memory read after that, once the broker's idle collection is logged)"
    )
    print(
        f"targets: <= 3 MiB per extra session -> {mib(per):.2f} MiB "
        f"({'met' if mib(per) <= 3 else 'NOT met'}); first paint < 200 ms p50 -> "
        f"{max(all_paints):.0f} ms at worst level "
        f"({'met' if max(all_paints) < 200 else 'NOT met'}); memory back to baseline -> "
        f"{mib(after1.pss - base.pss):+.1f} MiB after closing "
        f"({'met' if mib(after1.pss - base.pss) < 0.2 * mib(per) * top else 'NOT met'}); "
        f"no growth per cycle -> second cycle {growth:+.2f} MiB "
        f"({'met' if growth < 0.05 * top else 'NOT met'}); "
        f"broker still serving: {'yes' if still.returncode == 0 else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="levels 1 and 10")
    parser.add_argument("--levels", default="", help="comma-separated session counts")
    parser.add_argument("--workers", type=int, default=1, help="broker processes (serve --workers)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")] if args.levels else []
    levels = levels or ([1, 10] if args.quick else [1, 10, 50, 100])
    local = local_connection(["true"], accepts="none")
    with spine({"zeta-1": local, "zeta-2": local}, workers=args.workers, verbose=True) as sp:
        asyncio.run(run(sp, levels, quiet=0.5 if args.quick else 1.0))


if __name__ == "__main__":
    main()
