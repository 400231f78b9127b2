"""Background work that outlives its caller: kept, reaped, failures logged, awaited at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("broker.services")
"""The facade's logger: its background failures were always logged there."""


class BackgroundWork:
    """Owns background tasks (audit records, recording indexes) until they finish."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._optional: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], *, essential: bool = True) -> None:
        """Run background work that outlives its caller (kept, reaped, failures logged).

        Non-essential work (e.g. indexing a recording, which is redone on demand) is
        cancelled at shutdown; essential work (audit records) is waited for.
        """
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        if not essential:
            self._optional.add(task)
        task.add_done_callback(self._reap)

    def cancel_optional(self) -> None:
        """Cancel non-essential background work (shutdown)."""
        for task in self._optional:
            task.cancel()

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._optional.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event could not be recorded: %r", task.exception())

    async def settle(self) -> None:
        """Wait for background work started with :meth:`spawn` (used at shutdown and in tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))
