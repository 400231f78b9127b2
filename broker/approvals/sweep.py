"""Closing what ran out of time: expired requests and ended grants, each audited once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from broker.approvals.asks import grant_details
from broker.approvals.grants import Emit
from broker.approvals.store import ApprovalStore
from broker.auditchain.events import Action

log = logging.getLogger(__name__)

SWEEP_EVERY = 5.0
"""Seconds between sweeps for expired requests and ended grants."""


class Sweeper:
    """Marks overdue requests expired and over grants ended; the store hands each item to
    exactly one sweeping process, which audits it."""

    def __init__(
        self,
        store: Callable[[], Awaitable[ApprovalStore]],
        emit: Emit,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._audit = emit
        self._clock = clock
        self._last = float("-inf")

    async def sweep(self, *, force: bool = False) -> bool:
        """Sweep (at most every SWEEP_EVERY seconds unless ``force``); True if a request expired."""
        now = self._clock()
        if not force and now - self._last < SWEEP_EVERY:
            return False
        self._last = now
        store = await self._store()
        swept = await store.sweep(now)
        for request in swept.expired:
            await self._audit(
                "gatehouse",
                Action.APPROVAL_EXPIRED,
                request.connection,
                {
                    "request": request.id,
                    "requester": request.requester,
                    "decision": "expired",
                    "rule": request.rule,
                },
            )
        for grant in swept.ended:
            await self._audit(
                grant.user, Action.GRANT_EXPIRED, grant.connection, grant_details(grant)
            )
        return bool(swept.expired)

    async def forever(self, interval: float = SWEEP_EVERY) -> None:
        """Sweep until cancelled (a background task of the running broker)."""
        while True:
            try:
                await self.sweep(force=True)
            except Exception:
                log.exception("approvals: sweep failed")
            await asyncio.sleep(interval)
