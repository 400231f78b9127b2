"""Closing what ran out of time: expired requests and ended grants, each audited once.

Every broker process runs one :meth:`Sweeper.forever` task: it sleeps until the soonest
moment a pending request expires or a grant ends (read from the store, so a request made by
another process counts), at most SWEEP_EVERY seconds, and is woken at once when this process
makes a request. Nobody has to look for a request to expire on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from broker.approvals.asks import expired_details, grant_details
from broker.approvals.grants import Emit
from broker.approvals.store import ApprovalStore
from broker.auditchain.events import Action

log = logging.getLogger(__name__)

SWEEP_EVERY = 5.0
"""Seconds between sweeps on use (``sweep()`` unforced), and the longest the timer sleeps."""
TIMER_MAX = 1.0
"""The longest the timer sleeps between two looks at the store's next deadline."""
TIMER_MIN = 0.02
"""The shortest it sleeps (a deadline just passed is swept on the next turn)."""
SWEEPS_PER_TURN = 20
"""Sweeps in a row while each one is full (a backlog after downtime is closed in batches)."""


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
        self._wake = asyncio.Event()
        self.on_expired: Callable[[], None] | None = None
        """Told when a sweep run by the timer expired a request (waiters look again)."""

    def wake(self) -> None:
        """A request was made here: the timer looks at the next deadline again now."""
        self._wake.set()

    async def sweep(self, *, force: bool = False) -> bool:
        """Sweep (at most every SWEEP_EVERY seconds unless ``force``); True if a request expired."""
        now = self._clock()
        if not force and now - self._last < SWEEP_EVERY:
            return False
        self._last = now
        store = await self._store()
        expired = False
        for _ in range(SWEEPS_PER_TURN):
            swept = await store.sweep(now)
            for request in swept.expired:
                await self._audit(
                    "gatehouse",
                    Action.APPROVAL_EXPIRED,
                    request.connection,
                    expired_details(request),
                )
            for grant in swept.ended:
                await self._audit(
                    grant.user, Action.GRANT_EXPIRED, grant.connection, grant_details(grant)
                )
            expired = expired or bool(swept.expired)
            if not swept.full:
                break
        return expired

    async def forever(self, interval: float = TIMER_MAX) -> None:
        """Sweep at each deadline until cancelled (a background task of the running broker);
        the first sweep runs at once (a restart closes what expired while it was down)."""
        due = True
        while True:
            try:
                if due and await self.sweep(force=True) and self.on_expired is not None:
                    self.on_expired()
                store = await self._store()
                deadline = await store.next_deadline()
            except Exception:
                log.exception("approvals: sweep failed")
                deadline = None
            wait = interval
            if deadline is not None:
                wait = min(interval, max(TIMER_MIN, deadline - self._clock()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            due = deadline is not None and deadline <= self._clock()
