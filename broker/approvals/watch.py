"""Telling waiters that the approvals store changed, in this process or in another one.

Every broker process (``--workers``) writes the same SQLite file, so a change made elsewhere
is seen by looking at the file: one ``stat`` of the database and of its write-ahead log
every WATCH_EVERY seconds, by one task per process, and only while someone waits (an
approver's badge or queue). A change made here is told at once.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

WATCH_EVERY = 0.05
"""Seconds between two looks at the store's files."""
REFRESH_EVERY = 2.0
"""Seconds after which waiters are woken anyway (a change the files did not show)."""

Signature = tuple[tuple[int, int, int] | None, ...]


def signature(paths: Sequence[Path]) -> Signature:
    """What changes when a transaction commits: each file's inode, size and mtime."""
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


class ChangeWatch:
    """A version number that goes up on every change of the store; waiters wait for it."""

    def __init__(
        self,
        paths: Sequence[Path],
        on_change: Callable[[], None],
        *,
        every: float = WATCH_EVERY,
        refresh: float = REFRESH_EVERY,
    ) -> None:
        self._paths = tuple(paths)
        self._on_change = on_change
        self._every = every
        self._refresh = refresh
        self.version = 0
        """Goes up by one on each change seen."""
        self._event = asyncio.Event()
        self._waiters = 0
        self._task: asyncio.Task[None] | None = None

    def bump(self) -> None:
        """The store changed: wake every waiter."""
        self.version += 1
        self._on_change()
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def changed(self, seen: int) -> int:
        """Return the version once it is not ``seen`` (at once if it already is not)."""
        if seen != self.version:
            return self.version
        self._waiters += 1
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._run())
            await self._event.wait()
        finally:
            self._waiters -= 1
        return self.version

    async def _run(self) -> None:
        """Look at the files while anyone waits."""
        last = signature(self._paths)
        woke = time.monotonic()
        while self._waiters > 0:
            await asyncio.sleep(self._every)
            now = signature(self._paths)
            if now != last or time.monotonic() - woke >= self._refresh:
                last, woke = now, time.monotonic()
                self.bump()
