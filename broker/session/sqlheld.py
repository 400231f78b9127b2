"""The SQL console's approvals: a statement an `approval` SQL rule holds, asked for and waited for.

The same requests, terms and grants as the `sql` verb's (:meth:`SqlEntry.sql`): a request is
for one user, one connection and exactly one statement text (a text holding a value the broker
masks is refused, never stored), decided by the rule's approvers; once approved, the grant
runs exactly that text for as long as the rule's `grant` says, and any other text needs a new
request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from broker.approvals.asks import ApprovalPending, Ask
from broker.approvals.core import Request
from broker.approvals.service import ApprovalService
from broker.approvals.terms import sql_terms
from broker.policy.loader import PolicySet
from broker.session.sqlresult import Held

WITHDRAWN = "withdrawn in the SQL console"
"""The `why` of the `approval.cancelled` record when the requester withdraws from the pane."""

Note = Callable[[str], None]
"""Adds a line to the console's transcript (the recording)."""


class StatementApprovals:
    """Approvals of one console's statements: one user on one connection."""

    def __init__(
        self, service: ApprovalService, policies: PolicySet, user: str, connection: str
    ) -> None:
        self.service = service
        self.policies = policies
        self.user = user
        self.connection = connection
        self.waiting: Request | None = None
        """The request being waited for, if any."""
        self.asked: Request | None = None
        """The request the last :meth:`clear` waited for (None: it waited for none)."""

    async def held(self, text: str, rule: str) -> Held | None:
        """What asking for ``text`` takes; None when a grant covers exactly ``text`` already."""
        if await self.service.grant(self.user, self.connection, text) is not None:
            return None
        terms = sql_terms(self.policies, rule)
        return Held(terms.rule, terms.approvers, terms.needed, terms.reason_required)

    async def clear(self, text: str, rule: str, ask: Ask | None, note: Note) -> str:
        """The id of the approved request that covers exactly ``text``.

        Without ``ask`` only a grant in force answers. With one, a request is made and waited
        for; the transcript notes the wait and an approval.

        Raises:
            ApprovalRequired: no grant and no ``ask``, the request cannot be made (e.g. no
                justification), or ApprovalRefused: denied, cancelled or expired.
        """
        terms = sql_terms(self.policies, rule)
        self.asked = None
        if ask is None:
            try:
                grant = await self.service.clear(
                    self.user, self.connection, text, terms, Ask(wait=False)
                )
            except ApprovalPending as exc:  # the grant ended a moment ago: ask again properly
                await self.withdraw(exc.request.id, why="no grant covered it any more")
                raise
            return grant.request_id

        def waiting(request: Request) -> None:
            self.waiting = self.asked = request
            note(
                f"waiting for approval {request.id} (needs {request.needed} of "
                f"{', '.join(request.approvers)}, rule {request.rule})"
            )
            if ask.waiting is not None:
                ask.waiting(request)

        def decided(request: Request) -> None:
            self.waiting = None
            if request.status == "approved":  # a refusal is noted by the console
                note(f"{request.id} approved by {', '.join(request.approved_by)}")
            if ask.decided is not None:
                ask.decided(request)

        asking = replace(ask, request_id=None, wait=True, waiting=waiting, decided=decided)
        grant = await self.service.clear(self.user, self.connection, text, terms, asking)
        return grant.request_id

    async def withdraw(self, request_id: str | None = None, *, why: str = WITHDRAWN) -> bool:
        """Cancel the pending request (audited as `approval.cancelled` with ``why``).

        Returns:
            Whether there was one to withdraw.

        Raises:
            ApprovalRefused: it was decided (or expired) in the meantime.
        """
        request_id = request_id or (self.waiting.id if self.waiting else None)
        if request_id is None:
            return False
        await self.service.cancel(self.user, request_id, why=why)
        return True
