"""Approvals as the broker's services use them: ask, wait, decide, sweep (audited; store edge)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from broker.approvals.asks import (
    ApprovalPending,
    ApprovalRefused,
    Ask,
    Moved,
    Terms,
    decision_record,
    expecting,
    grant_details,
    held_request,
    named_request,
    new_id,
    refusal,
    requested_details,
)
from broker.approvals.core import (
    REQUEST_TTL,
    ApprovalError,
    Grant,
    Request,
    approve,
    cancel,
    deny,
    grant_for,
    may_decide,
    new_request,
)
from broker.approvals.grants import Emit, GrantKeeper
from broker.approvals.pending import PendingReads
from broker.approvals.store import FILENAME, ApprovalStore
from broker.approvals.sweep import Sweeper
from broker.approvals.watch import ChangeWatch
from broker.approvals.webhook import describe_decision, describe_request
from broker.auditchain.events import Action
from broker.common.errors import ApprovalRequired

log = logging.getLogger(__name__)

POLL = 0.25
"""Seconds between looks at the store while a requester waits (other processes decide too)."""
MAX_PENDING_PER_USER = 20
"""Pending requests one user may have at a time (the approvers' queue stays workable)."""
DECIDE_ATTEMPTS = 5
"""Decisions re-read and retried when another one was stored in between."""
MASKED_COMMAND = (
    "this command holds a value the broker masks; a request cannot carry it "
    "(pass the value another way, e.g. a file on the target)"
)


class ApprovalService:
    """Requests, decisions and grants, each step audited, shared by every broker process."""

    def __init__(
        self,
        state_dir: Path,
        emit: Emit,
        *,
        clock: Callable[[], float] = time.time,
        poll: float = POLL,
        notify: Callable[[str], None] | None = None,
        mask: Callable[[str], str] = str,
        expire_after: float = REQUEST_TTL,
    ) -> None:
        self._state_dir = state_dir
        self._audit = emit
        self._clock = clock
        self._poll = poll
        self._notify = notify
        """Told a line of text on each new request and decision (the webhook), never awaited."""
        self._mask = mask
        """Masks free text (justifications, comments) before it is stored, audited or posted."""
        self._expire_after = expire_after
        """Seconds a request may stay pending (`approvals: {expire_after: …}`)."""
        self.stopping = False
        """Set at broker shutdown: a wait cancelled then leaves its request pending."""
        self._leaving: set[asyncio.Task[Request | None]] = set()
        self.grants = GrantKeeper(self.store, emit, clock, mask)
        """Grants in force: listing and revoking them."""
        self._store: ApprovalStore | None = None
        self._sweeper = Sweeper(self.store, emit, clock)
        self._sweeper.on_expired = self._changed
        db = state_dir / FILENAME
        self._pending = PendingReads(self.store, clock)
        self._watch = ChangeWatch((db, db.with_name(db.name + "-wal")), self._pending.forget)

    async def store(self) -> ApprovalStore:
        """The store, opened on first use (the state dir may not exist before the broker runs)."""
        if self._store is None:
            self._store = await asyncio.to_thread(ApprovalStore.in_state_dir, self._state_dir)
        return self._store

    # -- requester ------------------------------------------------------------

    async def grant(self, user: str, connection: str, command: str | None) -> Grant | None:
        """An active grant for this question (``command`` None: access to ``connection``)."""
        store = await self.store()
        return await store.grant(user, connection, command, self._clock())

    async def get(self, request_id: str) -> Request | None:
        store = await self.store()
        return await store.get(request_id, self._clock())

    async def check_request(
        self, user: str, connection: str, command: str, request_id: str
    ) -> Request:
        """The request ``run --request ID`` names, if it is ``user``'s and for this exactly.

        Raises:
            ApprovalRefused: unknown, someone else's, another connection or another command.
        """
        return named_request(await self.get(request_id), request_id, user, connection, command)

    async def clear(
        self, user: str, connection: str, command: str | None, terms: Terms, ask: Ask
    ) -> Grant:
        """Return once a grant answers the question; ask for an approval and wait if needed.

        Raises:
            ApprovalPending: the request is pending and ``ask.wait`` is False.
            ApprovalRefused: denied, cancelled or expired (naming who and why).
            ApprovalRequired: the request cannot be made (e.g. no justification).
        """
        request = None
        if ask.request_id is not None:
            named = await self.get(ask.request_id)
            if named is not None and named.command == command:
                request = named
        if request is None:
            found = await self.grant(user, connection, command)
            if found is not None:
                await self._used(found)
                return found
            request = await self.request(user, connection, command, terms, ask.reason)
        if request.status == "pending":
            if not ask.wait:
                raise ApprovalPending(request)
            if ask.waiting is not None:
                ask.waiting(request)
            try:
                request = await self.wait(request.id, ask.gone)
            finally:
                if ask.decided is not None:
                    ask.decided(request)
        if request.status != "approved":
            raise ApprovalRefused(refusal(request), rule=request.rule)
        found = await self.grant(user, connection, command)
        if found is None or found.request_id != request.id:
            raise ApprovalRefused(f"the grant of {request.id} has ended", rule=request.rule)
        await self._used(found)
        return found

    async def request(
        self, user: str, connection: str, command: str | None, terms: Terms, reason: str
    ) -> Request:
        """Create and audit a pending request.

        Raises:
            ApprovalRequired: the rule needs a justification and none was given.
        """
        try:
            request = new_request(
                new_id(),
                requester=user,
                connection=connection,
                command=command,
                reason=self._mask(reason),
                rule=terms.rule,
                approvers=terms.approvers,
                needed=terms.needed,
                grant_seconds=terms.grant_seconds,
                now=self._clock(),
                reason_required=terms.reason_required,
                ttl=self._expire_after,
                until=terms.until,
            )
        except ApprovalError as exc:
            raise ApprovalRequired(str(exc), rule=terms.rule) from None
        if command is not None and self.carries_masked(command):
            raise ApprovalRequired(MASKED_COMMAND, rule=terms.rule)
        store = await self.store()
        if await store.pending_count(user, request.created) >= MAX_PENDING_PER_USER:
            raise ApprovalRequired(
                f"you have {MAX_PENDING_PER_USER} requests pending already; "
                "wait for them or cancel one",
                rule=terms.rule,
            )
        await self._audit(user, Action.APPROVAL_REQUESTED, connection, requested_details(request))
        await store.create(request)
        self._changed()
        self._sweeper.wake()  # its expiry may be the next deadline
        if self._notify is not None:
            self._notify(describe_request(request))
        return request

    def carries_masked(self, command: str) -> bool:
        """Whether ``command`` holds a value the broker masks (it is then never stored)."""
        return self._mask(command) != command

    def hold(self, user: str, connection: str, command: str, terms: Terms) -> Request:
        """A request for a line held at a terminal prompt (see :func:`held_request`)."""
        return held_request(user, connection, command, terms, self._clock(), self._expire_after)

    async def store_held(self, request: Request) -> None:
        """Audit and store a held request (over the per-user bound it is dropped and logged)."""
        store = await self.store()
        if await store.pending_count(request.requester, request.created) >= MAX_PENDING_PER_USER:
            log.warning("approvals: %s has too many pending requests; %s dropped",
                        request.requester, request.id)  # fmt: skip
            return
        await self._audit(
            request.requester,
            Action.APPROVAL_REQUESTED,
            request.connection,
            requested_details(request, held=True),
        )
        await store.create(request)
        self._changed()
        self._sweeper.wake()
        if self._notify is not None:
            self._notify(describe_request(request))

    async def wait(self, request_id: str, gone: Callable[[], bool] | None = None) -> Request:
        """Poll the store until the request leaves ``pending`` (any process may decide it).

        A requester who leaves (``gone``, or the wait is cancelled: the TUI closed) cancels the
        request, unless the broker is shutting down. Bounded by the request's own expiry.
        """
        try:
            return await self._wait(request_id, gone)
        except asyncio.CancelledError:
            if not self.stopping:
                await self._left(request_id)
            raise

    async def _left(self, request_id: str) -> None:
        """Cancel the request of a requester whose wait was cancelled (runs to its end, even
        if the caller is cancelled again)."""
        task = asyncio.ensure_future(self._cancel_pending(request_id))
        self._leaving.add(task)
        task.add_done_callback(self._reap_leaving)
        with contextlib.suppress(Exception):  # logged by _reap_leaving
            await asyncio.shield(task)

    async def _cancel_pending(self, request_id: str) -> Request | None:
        request = await self.get(request_id)
        if request is None or request.status != "pending":
            return request
        return await self.cancel(request.requester, request_id, why="requester left")

    def _reap_leaving(self, task: asyncio.Task[Request | None]) -> None:
        self._leaving.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None and not isinstance(exc, ApprovalRefused):  # refused: decided already
            log.error("approvals: cancelling a left request failed: %r", exc)

    async def _wait(self, request_id: str, gone: Callable[[], bool] | None) -> Request:
        while True:
            request = await self.get(request_id)
            if request is None:
                raise ApprovalRefused(f"request {request_id} is gone", rule="approval")
            if request.status != "pending":
                if request.status == "expired":
                    await self.sweep(force=True)
                return request
            if gone is not None and gone():
                return await self.cancel(request.requester, request_id, why="requester left")
            await self.sweep()
            await asyncio.sleep(self._poll)

    async def cancel(self, user: str, request_id: str, *, why: str = "") -> Request:
        """The requester withdraws a pending request (audited).

        Raises:
            ApprovalRefused: not theirs, unknown, or no longer pending.
        """
        store = await self.store()
        now = self._clock()
        try:
            request = await store.update(request_id, lambda r: cancel(r, user, now), now)
        except KeyError:
            raise ApprovalRefused(f"no request {request_id}", rule="approval") from None
        except ApprovalError as exc:
            raise ApprovalRefused(str(exc), rule="approval") from None
        self._changed()
        details = {
            "request": request.id,
            "requester": request.requester,
            "decision": "cancelled",
            "rule": request.rule,
        }
        if why:
            details["why"] = why
        await self._audit(user, Action.APPROVAL_CANCELLED, request.connection, details)
        return request

    # -- approver -------------------------------------------------------------

    async def pending_for(self, approver: str, groups: Iterable[str]) -> list[Request]:
        """Pending requests ``approver`` may decide (none of their own), oldest first."""
        groups = tuple(groups)
        await self.sweep()
        now = self._clock()
        pending = await self._pending.read()
        return [r for r in pending if r.expires > now and may_decide(r, approver, groups)]

    async def changes(self, seen: int) -> int:
        """Wait until the requests changed since version ``seen`` (any process may change
        them); returns the new version. ``-1`` returns at once."""
        return await self._watch.changed(seen)

    def _changed(self) -> None:
        """This process changed the store: waiters look again now."""
        self._watch.bump()

    async def history_for(
        self, approver: str, groups: Iterable[str], limit: int = 500
    ) -> list[Request]:
        """Decided, cancelled and expired requests ``approver``'s groups could decide, newest
        first (their own included: the history is a record, not a queue)."""
        mine = set(groups)
        store = await self.store()
        closed = await store.history(limit)
        return [r for r in closed if mine & set(r.approvers) or r.requester == approver]

    async def decide(
        self,
        approver: str,
        groups: Iterable[str],
        request_id: str,
        *,
        approved: bool,
        comment: str,
    ) -> Request:
        """Approve or deny (audited, with the comment); the grant starts on the last approval.

        Raises:
            ApprovalRefused: unknown request, or the state machine refused the decision.
        """
        groups = tuple(groups)
        store = await self.store()
        step = approve if approved else deny
        comment = self._mask(comment)
        for _ in range(DECIDE_ATTEMPTS):
            now = self._clock()
            seen = await store.get(request_id, now)
            if seen is None:
                raise ApprovalRefused(f"no request {request_id}", rule="approval")
            try:
                decided = step(seen, approver, groups, comment, now)
            except ApprovalError as exc:
                raise ApprovalRefused(str(exc), rule="approval") from None
            # audit first: the records are written before the decision is, and withdrawn
            # (approval.discarded) if another decision was stored in between
            await self._audit_decision(approver, decided, approved=approved)
            try:
                stored = await store.update(request_id, expecting(seen, decided), now)
                self._changed()
                if self._notify is not None:
                    self._notify(describe_decision(stored))
                return stored
            except (Moved, ApprovalError, KeyError):
                await self._audit(
                    approver,
                    Action.APPROVAL_DISCARDED,
                    decided.connection,
                    {
                        "request": decided.id,
                        "requester": decided.requester,
                        "decision": "discarded",
                        "why": "another decision on this request was recorded first",
                    },
                )
        raise ApprovalRefused(f"{request_id} keeps changing; try again", rule="approval")

    async def _audit_decision(self, approver: str, request: Request, *, approved: bool) -> None:
        action, details = decision_record(request, approved=approved)
        await self._audit(approver, action, request.connection, details)
        if request.status == "approved":
            await self._audit(
                request.requester,
                Action.GRANT_CREATED,
                request.connection,
                {**grant_details(grant_for(request)), "approved_by": list(request.approved_by)},
            )

    # -- housekeeping -----------------------------------------------------------

    async def sweep(self, *, force: bool = False) -> None:
        """Close overdue requests and grants, auditing each once (across processes)."""
        if await self._sweeper.sweep(force=force):
            self._changed()

    async def sweeper(self) -> None:
        """Sweep at each deadline, forever (a background task of the running broker)."""
        await self._sweeper.forever()

    async def _used(self, grant: Grant) -> None:
        await self._audit(grant.user, Action.GRANT_USED, grant.connection, grant_details(grant))
