"""The approvals queue pane's own cost per filter key, with 1,000 pending requests (in process).

Usage: .venv/bin/python bench/bench_approvals_pane.py [--queue 1000] [--runs 3] [--quick]

`bench_approvals.py` times a key over SSH end to end; on a shared machine that figure is
mostly the scheduler (a key that changes nothing on screen took 2–180 ms there). This one
runs the real pane (Textual, headless, fake services) and times the event loop itself: for
each key typed into the filter, the longest single callback the loop ran (a stall: nothing
else in the process, other sessions included, runs meanwhile) and the loop's busy time in all
until the screen has been drawn. Times are the loop thread's CPU time (``time.thread_time``),
so that other processes on a shared machine do not count. The broker's garbage-collection
policy applies (no automatic full collections; `broker/runtime/gcpolicy.py`). The filter is the one `bench_approvals.py` types; its last key cuts the list
from 1,000 to 469 requests.

Target (issue 13): filtering as you type never stalls over 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import median, table  # noqa: E402

from broker.runtime.gcpolicy import settle_startup  # noqa: E402
from broker.session.terminal import Principal  # noqa: E402
from tests.tui.fakes import FakeChannel, FakeServices  # noqa: E402
from tui.app import GatehouseApp  # noqa: E402
from tui.screens.approvals import ApprovalsScreen  # noqa: E402

FILTER = "ticket 4"
STALL_TARGET_MS = 100.0
SETTLE = 0.3
"""Seconds the app is left to draw (and to fill the rest of the table) after each key."""


class LoopClock:
    """Times every callback the event loop runs (asyncio's Handle._run, wrapped)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.busy = 0.0
        self._run: Any = None

    def install(self) -> None:
        handle = asyncio.events.Handle
        self._run = handle._run
        run, clock = self._run, self

        def timed(self: asyncio.Handle) -> None:
            start = time.thread_time()
            try:
                run(self)
            finally:
                spent = time.thread_time() - start
                clock.busy += spent
                clock.longest = max(clock.longest, spent)

        handle._run = timed  # type: ignore[method-assign]

    def uninstall(self) -> None:
        asyncio.events.Handle._run = self._run  # type: ignore[method-assign]

    def reset(self) -> None:
        self.longest = self.busy = 0.0


async def one_run(queue: int) -> list[tuple[float, float]]:
    """Per key: (longest callback, busy time) in ms."""
    services = FakeServices()
    for n in range(queue):
        services.approvals.add(requester=f"q{n % 97}", reason=f"ticket {n}")
    app = GatehouseApp(services, FakeChannel(Principal("bob", ("approvers",))))  # type: ignore[arg-type]
    out = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ApprovalsScreen())
        deadline = time.monotonic() + 30
        while not (isinstance(app.screen, ApprovalsScreen) and len(app.screen.pending) == queue):
            assert time.monotonic() < deadline, "the pane did not fill"
            await pilot.pause(0.05)
        await pilot.pause(SETTLE)
        await pilot.press("slash")
        await pilot.pause(SETTLE)
        clock = LoopClock()
        clock.install()
        try:
            for key in FILTER:
                clock.reset()
                await pilot.press("space" if key == " " else key)
                await pilot.pause(SETTLE)
                out.append((clock.longest * 1000, clock.busy * 1000))
        finally:
            clock.uninstall()
        assert isinstance(app.screen, ApprovalsScreen)
        print(f"  shown after the last key: {len(app.screen.pending)} of {queue}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, default=1000, help="pending requests in the pane")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run (CI)")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    rows = []
    worst = 0.0
    for run in range(1, args.runs + 1):
        settle_startup()  # the broker's garbage-collection policy (full collections on a timer)
        keys = asyncio.run(one_run(args.queue))
        longest = [k[0] for k in keys]
        busy = [k[1] for k in keys]
        worst = max(worst, *longest)
        rows.append(
            [
                f"run {run}",
                f"{median(longest):.1f}",
                f"{max(longest):.1f}",
                f"{median(busy):.1f}",
                f"{max(busy):.1f}",
                " ".join(f"{FILTER[i]!r}:{ms:.0f}" for i, ms in enumerate(longest)),
            ]
        )
    print(
        f"Approvals pane, {args.queue} pending, filter {FILTER!r} a key at a time; load average "
        f"{os.getloadavg()[0]:.1f}; times in ms of the loop thread's CPU time"
    )
    print(
        table(
            ["run", "stall p50", "stall max", "busy p50", "busy max", "longest stall per key"],
            rows,
        )
    )
    verdict = "met" if worst < STALL_TARGET_MS else "NOT met"
    print(f"target: no stall over {STALL_TARGET_MS:.0f} ms while filtering -> {verdict}")


if __name__ == "__main__":
    main()
