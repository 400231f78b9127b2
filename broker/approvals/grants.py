"""Grants in force: listing them, revoking one early (audited), and what a session asks of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from broker.approvals.asks import ApprovalRefused, grant_details
from broker.approvals.core import Grant, Request, may_revoke
from broker.approvals.store import ApprovalStore
from broker.auditchain.events import Action

Emit = Callable[[str, Action, str, Mapping[str, Any]], Awaitable[None]]


class GrantKeeper:
    """The grants side of approvals: who holds what now, and ending a grant before its time."""

    def __init__(
        self,
        store: Callable[[], Awaitable[ApprovalStore]],
        emit: Emit,
        clock: Callable[[], float],
        mask: Callable[[str], str],
    ) -> None:
        self._store = store
        self._audit = emit
        self._clock = clock
        self._mask = mask

    async def revocable_by(self, who: str, groups: Iterable[str]) -> list[tuple[Grant, Request]]:
        """Grants in force that ``who`` may revoke (with the request each answers)."""
        groups = tuple(groups)
        store = await self._store()
        now = self._clock()
        out = []
        for grant in await store.active_grants(now):
            request = await store.get(grant.request_id, now)
            if request is not None and may_revoke(request, who, groups):
                out.append((grant, request))
        return out

    async def revoke(self, who: str, groups: Iterable[str], request_id: str, comment: str) -> Grant:
        """End the grant of ``request_id`` now (audited ``grant.revoked``, with the comment).

        Sessions under it notice within a second (:meth:`revoked`), warn their user and end.

        Raises:
            ApprovalRefused: no grant of that request in force, or ``who`` may not revoke it.
        """
        comment = self._mask(comment.strip())[:1000]
        if not comment:
            raise ApprovalRefused(
                "a revocation needs a comment (the holder is shown it)", rule="grant"
            )
        store = await self._store()
        now = self._clock()
        request = await store.get(request_id, now)
        if request is None or not may_revoke(request, who, groups):
            raise ApprovalRefused(f"no grant {request_id} that you may revoke", rule="grant")
        try:
            grant = await store.revoke(request_id, who, comment, now)
        except KeyError:
            raise ApprovalRefused(f"{request_id} grants nothing now", rule=request.rule) from None
        await self._audit(
            who,
            Action.GRANT_REVOKED,
            grant.connection,
            {
                **grant_details(grant),
                "holder": grant.user,
                "revoked_by": who,
                "comment": comment,
                "ended_early_by_s": round(grant.end - now),
            },
        )
        return grant

    async def revoked(self, request_id: str) -> str | None:
        """Why the grant of ``request_id`` was revoked, for its holder; None while it stands."""
        store = await self._store()
        revocation = await store.revocation(request_id)
        if revocation is None:
            return None
        return f"{request_id} was revoked by {revocation.by}: {revocation.comment}"
