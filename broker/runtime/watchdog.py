"""Loop-lag watchdog: a thread that logs where the event loop is stuck when it blocks > 100 ms.

Work the broker itself schedules when no one is waiting (the idle garbage collection) runs
inside :meth:`LoopWatchdog.expected`: a pause there is logged at debug level, not as a stall.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class LoopWatchdog:
    """Logs the blocking stack whenever the loop answers a ping ``threshold`` late."""

    def __init__(self, threshold: float = 0.1, interval: float = 0.02) -> None:
        self.threshold = threshold
        self.interval = interval
        self.stalls: list[tuple[float, str]] = []
        """(seconds blocked, innermost frame) of each stall seen, most recent last (bounded)."""
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop_thread_id = 0
        self._expected = ""
        """Why the loop is busy on purpose right now ("" when it is not)."""

    async def _heartbeat(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(self.interval)

    def _watch(self) -> None:
        reported = 0.0
        while not self._stop.wait(self.interval):
            lag = time.monotonic() - self._beat
            if lag < self.threshold:
                reported = 0.0
                continue
            if reported:
                continue
            reported = lag
            if self._expected:
                log.debug("event loop busy for %.0f ms: %s", lag * 1000, self._expected)
                continue
            frame = sys._current_frames().get(self._loop_thread_id)
            where = "".join(traceback.format_stack(frame, limit=4)) if frame else "?"
            inner = where.strip().splitlines()[-2].strip() if where != "?" else "?"
            self.stalls.append((lag, inner))
            del self.stalls[:-100]
            log.warning("event loop blocked for more than %.0f ms at:\n%s", lag * 1000, where)

    @contextmanager
    def expected(self, reason: str) -> Iterator[None]:
        """Run the block as planned work: a pause in it is not reported as a stall.

        The heartbeat is renewed before ``reason`` is cleared, so a pause the watchdog
        thread notices only after the block (it waits for the GIL meanwhile) is not one either.
        """
        self._expected = reason
        try:
            yield
        finally:
            self._beat = time.monotonic()
            self._expected = ""

    def start(self) -> None:
        """Start watching the running loop."""
        self._loop_thread_id = threading.get_ident()
        self._beat = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._heartbeat())
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop the thread and the heartbeat task."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) and current.cancelling():
                    raise
        if self._thread is not None:
            self._thread.join(timeout=1)
