"""Approvals: request → badge on another approver's screen, and the queue pane with 1,000 requests.

Usage: .venv/bin/python bench/bench_approvals.py [--quick] [--workers 1,2] [--queue 1000]

For each worker count a broker is started with one `approval` connection, requesters
r0 … r9 (engineers) and two approvers, bob and carol, each in the TUI (asyncssh clients
with a 120x40 pty, as a person's ssh would be). A requester's `run prod --no-wait` makes a
request over its own SSH connection; the time from sending it until the header badge with
the new count (`⏳ N pending`) has arrived on bob's screen is the badge latency (carol's
too, so a request made in one process and seen in another is in the figures with
`--workers 2`: connections land on either process). The `run` round trip (its exit status
75 came back) is shown for comparison. Then the store is filled up to ``--queue`` pending
requests and bob opens the queue pane (Ctrl+O) until its "N pending requests" line has
arrived, and types a filter a key at a time, each key timed until the list's new count is
on screen; the broker's loop watchdog counts stalls over 100 ms meanwhile.

Targets (issue 13): badge p50 < 200 ms with one process and with --workers 2; the pane with
1,000 pending opens in < 300 ms; filtering as you type never stalls over 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from _common import (
    ROOT,
    TuiClient,
    local_connection,
    median,
    open_tui,
    percentile,
    table,
)

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from broker.approvals.asks import new_id
from broker.approvals.core import Request, new_request
from broker.approvals.store import ApprovalStore
from tests.harness.process import LOOPBACK
from tests.support.broker import BrokerProcess
from tui.screens.approvals import matches

POLICY = """\
access:
  - {name: prod-needs-approval, groups: [engineers], connections: [prod], action: approval}
"""
REQUESTERS = 10
PER_REQUESTER = 15
"""Below the broker's bound of 20 pending requests per user."""
STALL = "event loop blocked"
BADGE_TARGET_MS = 200.0
OPEN_TARGET_MS = 300.0
STALL_TARGET_MS = 100.0
FILTER = "ticket 4"
"""Typed into the pane's filter a key at a time (prefixes chosen to change the count)."""


def badge(count: int) -> re.Pattern[bytes]:
    return re.compile(f"⏳ {count} pending".encode())


async def requester(port: int, key: Path, user: str) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        LOOPBACK,
        port,
        username=user,
        client_keys=[str(key)],
        known_hosts=None,
        agent_path=None,
        config=None,
    )


async def badge_rounds(
    broker: BrokerProcess, watchers: list[TuiClient], rounds: int
) -> tuple[list[float], list[float]]:
    """Make ``rounds`` requests; per request, ms until every watcher's badge showed it, and
    the `run --no-wait` round trip."""
    conns = [await requester(broker.port, broker.keys[f"r{n}"], f"r{n}") for n in range(REQUESTERS)]
    latencies: list[float] = []
    trips: list[float] = []
    try:
        for k in range(1, rounds + 1):
            conn = conns[(k - 1) % REQUESTERS]
            marks = [len(w.raw) for w in watchers]
            sent = time.perf_counter()
            run = asyncio.ensure_future(
                conn.run(f"run prod --no-wait --reason 'ticket {k}' -- true", check=False)
            )
            seen = await asyncio.gather(
                *(
                    w.wait(badge(k), since=m, timeout=10)
                    for w, m in zip(watchers, marks, strict=True)
                )
            )
            done = await run
            assert done.exit_status == 75, done.stderr
            trips.append((time.perf_counter() - sent) * 1000)
            latencies += [(at - sent) * 1000 for at in seen]
            await asyncio.sleep(random.uniform(0.05, 0.3))  # no lock-step with any poll
    finally:
        for conn in conns:
            conn.close()
    return latencies, trips


def fill_queue(broker: BrokerProcess, total: int) -> list[Request]:
    """Add pending requests straight into the store until ``total`` are pending."""
    store = ApprovalStore.in_state_dir(broker.dir / "state")
    now = time.time()
    have = store.pending_sync(now)
    for n in range(len(have), total):
        store.create_sync(
            new_request(
                new_id(),
                requester=f"q{n % 97}",
                connection="prod",
                command=None,
                reason=f"ticket {n}",
                rule="prod-needs-approval",
                approvers=("approvers",),
                needed=1,
                grant_seconds=3600,
                now=now + n * 1e-6,
            )
        )
    return store.pending_sync(time.time())


def stalls(broker: BrokerProcess) -> list[float]:
    """Every loop stall (ms) the broker's watchdog has logged so far."""
    found = re.findall(rf"{STALL} for more than (\d+) ms", broker.log())
    return [float(ms) for ms in found]


@dataclass
class Result:
    """One broker's figures (ms)."""

    workers: int
    badge: list[float] = field(default_factory=list)
    """Request sent → the new count on an approver's screen, per approver and request."""
    trip: list[float] = field(default_factory=list)
    """`run --no-wait` round trips."""
    open: float = 0.0
    """Ctrl+O → the queue's count on screen."""
    keys: list[float] = field(default_factory=list)
    """Each filter key → its echo in the filter box and, when the count changes, the new
    count on screen."""
    stalls: list[float] = field(default_factory=list)
    """Loop stalls over 100 ms the broker logged while the pane was used."""


async def pane(broker: BrokerProcess, bob: TuiClient, queue: list[Request], out: Result) -> None:
    total = len(queue)
    before = len(stalls(broker))
    mark = len(bob.raw)
    sent = bob.send(b"\x0f")  # Ctrl+O
    opened = await bob.wait(
        re.compile(f"{total} pending requests".encode()), since=mark, timeout=30
    )
    open_ms = (opened - sent) * 1000
    await bob.keystroke(b"/", re.compile(rb"."))
    keys: list[float] = []
    previous = total
    for i in range(1, len(FILTER) + 1):
        count = sum(1 for r in queue if matches(r, FILTER[:i]))
        shown = f"{count} of {total} pending" if count != total else f"{total} pending"
        mark = len(bob.raw)
        sent = bob.send(FILTER[i - 1].encode())
        # the echo: only the changed cells are sent, and typing restarts the cursor's blink,
        # so the first output after the key is its echo
        echoed = await bob.wait(re.compile(rb"[\s\S]"), since=mark)
        listed = echoed  # an unchanged count is not drawn again
        if count != previous:
            listed = await bob.wait(re.compile(shown.encode()), since=mark)
        keys.append((max(echoed, listed) - sent) * 1000)
        previous = count
    out.open, out.keys, out.stalls = open_ms, keys, stalls(broker)[before:]


async def measure(workers: int, rounds: int, queue_size: int) -> Result:
    users = {f"r{n}": ["engineers"] for n in range(REQUESTERS)}
    users |= {"bob": ["approvers"], "carol": ["approvers"]}
    shell = local_connection(["true"], accepts="none")
    with BrokerProcess(users, {"prod": shell}, POLICY, workers=workers) as broker:
        bob, _, _ = await open_tui(broker.port, broker.keys["bob"], "bob")
        carol, _, _ = await open_tui(broker.port, broker.keys["carol"], "carol")
        result = Result(workers)
        try:
            result.badge, result.trip = await badge_rounds(broker, [bob, carol], rounds)
            queue = await asyncio.to_thread(fill_queue, broker, queue_size)
            await bob.wait(badge(len(queue)), timeout=10)
            await pane(broker, bob, queue, result)
        finally:
            await bob.close()
            await carol.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 requests per broker (CI)")
    parser.add_argument("--workers", default="1,2", help="broker process counts, e.g. 1,2")
    parser.add_argument("--queue", type=int, default=1000, help="pending requests in the pane")
    args = parser.parse_args()
    rounds = 30 if args.quick else REQUESTERS * PER_REQUESTER
    results = [asyncio.run(measure(int(w), rounds, args.queue)) for w in args.workers.split(",")]
    print(
        f"Approvals, load average {os.getloadavg()[0]:.1f}; {rounds} requests per broker, "
        f"each seen by 2 approvers; queue of {args.queue}; times in ms"
    )
    rows = []
    verdicts = []
    for res in results:
        worst_stall = max(res.stalls, default=0.0)
        p50 = median(res.badge)
        rows.append(
            [
                f"--workers {res.workers}",
                f"{p50:.0f}",
                f"{percentile(res.badge, 99):.0f}",
                f"{max(res.badge):.0f}",
                f"{median(res.trip):.0f}",
                f"{p50 / BADGE_TARGET_MS:.2f}",
                f"{res.open:.0f}",
                f"{res.open / OPEN_TARGET_MS:.2f}",
                f"{median(res.keys):.0f}/{max(res.keys):.0f}",
                f"{max(res.keys) / STALL_TARGET_MS:.2f}",
                f"{len(res.stalls)} ({worst_stall:.0f})",
            ]
        )
        verdicts.append(p50 < BADGE_TARGET_MS and res.open < OPEN_TARGET_MS)
        verdicts.append(max(res.keys) < STALL_TARGET_MS and worst_stall <= STALL_TARGET_MS)
    print(
        table(
            [
                "broker",
                "badge p50",
                "p99",
                "max",
                "run trip p50",
                "p50/200",
                "pane open",
                "open/300",
                "filter key p50/max",
                "max/100",
                "stalls>100 (worst)",
            ],
            rows,
        )
    )
    for res in results:
        typed = ", ".join(f"{FILTER[i]!r} {ms:.0f}" for i, ms in enumerate(res.keys))
        print(f"--workers {res.workers}: filter keys (ms): {typed}")
    print(
        "targets: badge p50 < 200 ms; pane with 1,000 pending opens < 300 ms; filter keys and "
        f"loop stalls <= 100 ms -> {'met' if all(verdicts) else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
