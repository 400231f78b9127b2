"""An in-memory approvals service for Pilot tests, built on the real state machine."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from typing import Any

from broker.approvals import core
from broker.approvals.asks import ApprovalPending, ApprovalRefused, Ask, refusal
from broker.approvals.core import Grant, Request
from broker.common.errors import ApprovalRequired

T0 = 1_795_000_000.0
"""2026-11-18 (UTC): when the fake requests are made."""


class FakeApprovals:
    """Requests in a dict; waiters are woken by decisions (no store, no polling)."""

    def __init__(self) -> None:
        self.requests: dict[str, Request] = {}
        self.grants: list[Grant] = []
        self.decisions: list[tuple[str, str, bool, str]] = []
        self.cancelled: list[str] = []
        self.changed = asyncio.Event()
        self.version = 0
        self._bumped = asyncio.Event()
        self._ids = itertools.count(1)

    def bump(self) -> None:
        """The requests changed: wake what waits in :meth:`changes` (the badge, the queue)."""
        self.version += 1
        event, self._bumped = self._bumped, asyncio.Event()
        event.set()
        self.changed.set()

    def expire(self, request_id: str) -> Request:
        """The request's time is up (as the broker's sweep would mark it)."""
        request = self.requests[request_id]
        self.requests[request_id] = core.refresh(request, request.expires)
        self.bump()
        return self.requests[request_id]

    async def changes(self, seen: int) -> int:
        if seen == self.version:
            await self._bumped.wait()
        return self.version

    def add(self, requester: str = "carol", connection: str = "prod-web", **kw: Any) -> Request:
        request = core.new_request(
            f"REQ-{next(self._ids):04d}",
            requester=requester,
            connection=connection,
            command=kw.pop("command", None),
            reason=kw.pop("reason", "INC-1"),
            rule=kw.pop("rule", "prod"),
            approvers=kw.pop("approvers", ("approvers",)),
            needed=kw.pop("needed", 1),
            grant_seconds=600,
            now=T0,
        )
        self.requests[request.id] = request
        self.bump()
        return request

    async def pending_for(self, approver: str, groups: Iterable[str]) -> list[Request]:
        groups = tuple(groups)
        return [
            r
            for r in self.requests.values()
            if r.status == "pending" and core.may_decide(r, approver, groups)
        ]

    async def history_for(self, approver: str, groups: Iterable[str]) -> list[Request]:
        mine = set(groups)
        return [
            r
            for r in reversed(self.requests.values())
            if r.status != "pending" and (mine & set(r.approvers) or r.requester == approver)
        ]

    async def decide(
        self, approver: str, groups: Iterable[str], request_id: str, *, approved: bool, comment: str
    ) -> Request:
        step = core.approve if approved else core.deny
        try:
            request = step(self.requests[request_id], approver, tuple(groups), comment, T0 + 1)
        except core.ApprovalError as exc:
            raise ApprovalRefused(str(exc), rule="approval") from None
        self.requests[request_id] = request
        self.decisions.append((approver, request_id, approved, comment))
        if request.status == "approved":
            self.grants.append(core.grant_for(request))
        self.bump()
        return request

    async def cancel(self, user: str, request_id: str, *, why: str = "") -> Request:
        request = core.cancel(self.requests[request_id], user, T0 + 1)
        self.requests[request_id] = request
        self.cancelled.append(request_id)
        self.bump()
        return request

    async def grant(self, user: str, connection: str, command: str | None) -> Grant | None:
        return next((g for g in self.grants if g.covers(user, connection, command, T0 + 2)), None)

    async def clear(self, user: str, connection: str, ask: Ask) -> Grant:
        """What ApprovalService.clear does, for the fake open_terminal."""
        found = await self.grant(user, connection, None)
        if found is not None:
            return found
        if not ask.reason:
            raise ApprovalRequired("needs a justification", rule="prod")
        request = self.add(requester=user, connection=connection, reason=ask.reason)
        if not ask.wait:
            raise ApprovalPending(request)
        if ask.waiting is not None:
            ask.waiting(request)
        while self.requests[request.id].status == "pending":
            self.changed.clear()
            await self.changed.wait()
        request = self.requests[request.id]
        if ask.decided is not None:
            ask.decided(request)
        if request.status != "approved":
            raise ApprovalRefused(refusal(request), rule=request.rule)
        return self.grants[-1]
