"""The pending requests as one process reads them: one read shared by every approver's badge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from broker.approvals.core import Request
from broker.approvals.store import ApprovalStore

PENDING_MAX_AGE = 0.1
"""Seconds one process reuses its read of the pending requests (changes it makes clear it)."""


class PendingReads:
    """Every pending request, read at most once per PENDING_MAX_AGE for the whole process
    (every approver's badge and queue asks each time the store changes)."""

    def __init__(
        self, store: Callable[[], Awaitable[ApprovalStore]], clock: Callable[[], float]
    ) -> None:
        self._store = store
        self._clock = clock
        self._cache: tuple[float, list[Request]] | None = None
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """The store changed: the next read goes to it."""
        self._cache = None

    def _fresh(self) -> list[Request] | None:
        cached = self._cache
        if cached is not None and time.monotonic() - cached[0] < PENDING_MAX_AGE:
            return cached[1]
        return None

    async def read(self) -> list[Request]:
        """The pending requests not yet past their expiry, oldest first."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            store = await self._store()
            read_at = time.monotonic()
            pending = await store.pending(self._clock())
            self._cache = (read_at, pending)
            return pending
