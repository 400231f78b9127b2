"""The approval state machine: requests, decisions and grants as values (pure, no I/O).

A request starts ``pending``; it becomes ``approved`` once ``needed`` distinct members of an
approver group have approved it, ``denied`` at the first denial, ``cancelled`` by its requester
and ``expired`` when nobody decided in time. Only a pending request can change; an approved one
yields a :class:`Grant` that lasts the rule's grant duration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

Status = Literal["pending", "approved", "denied", "cancelled", "expired"]
STATUSES: tuple[Status, ...] = ("pending", "approved", "denied", "cancelled", "expired")
DEFAULT_APPROVERS = ("approvers",)
"""The role group that approves when a rule names none."""
REQUEST_TTL = 24 * 3600
"""Seconds a request may stay pending before it expires."""
MAX_REASON = 1000
"""Longest justification or comment kept (longer text is cut)."""


class ApprovalError(Exception):
    """A transition the state machine refuses; the message says why, for the person who asked."""


@dataclass(frozen=True)
class Vote:
    """One approver's decision on a request."""

    approver: str
    """Who decided."""
    approve: bool
    """True for approve, False for deny."""
    comment: str
    """The approver's comment (required for a denial)."""
    at: float
    """When (seconds since the epoch)."""


@dataclass(frozen=True)
class Request:
    """A request for access to a connection, or for one exact command on it."""

    id: str
    """``REQ-…``, unique in the store."""
    requester: str
    """Who asked."""
    connection: str
    """The connection asked for."""
    command: str | None
    """The exact command asked for (a command rule), or None for access to the connection."""
    reason: str
    """The requester's justification."""
    rule: str
    """The policy rule that asked for the approval."""
    approvers: tuple[str, ...]
    """Groups whose members may decide."""
    needed: int
    """How many distinct approvers must approve."""
    grant_seconds: int
    """How long the grant lasts once approved."""
    created: float
    """When it was made."""
    expires: float
    """When it expires if still pending."""
    status: Status = "pending"
    """Where it is in its life."""
    votes: tuple[Vote, ...] = ()
    """Decisions so far, in order."""
    closed_at: float | None = None
    """When it left ``pending``."""
    window_closes: bool = False
    """It expires when its rule's time window closes (sooner than its lifetime would end)."""

    @property
    def approved_by(self) -> tuple[str, ...]:
        """Distinct approvers who approved, in order."""
        return tuple(v.approver for v in self.votes if v.approve)

    @property
    def final_comment(self) -> str:
        """The comment of the vote that closed the request (the denial's reason)."""
        return self.votes[-1].comment if self.votes and self.status != "pending" else ""

    def describe(self) -> str:
        """What was asked for, in one line."""
        return f"{self.connection} -- {self.command}" if self.command else self.connection


@dataclass(frozen=True)
class Grant:
    """Access that an approved request gives its requester for a while."""

    request_id: str
    """The request that was approved."""
    user: str
    """Who may use it."""
    connection: str
    """On which connection."""
    command: str | None
    """Only this exact command (a command approval), or None: any session on the connection."""
    rule: str
    """The rule that asked for the approval."""
    start: float
    """When it began."""
    end: float
    """When it ends."""

    def active(self, now: float) -> bool:
        return self.start <= now < self.end

    def covers(self, user: str, connection: str, command: str | None, now: float) -> bool:
        """Whether this grant answers the question its kind of request asked.

        ``command`` None asks for access to the connection (any session on it); a string asks
        for that exact command under a command rule. A connection grant never stands in for a
        command approval, nor the other way round.
        """
        if not self.active(now) or user != self.user or connection != self.connection:
            return False
        return self.command == command


def new_request(
    request_id: str,
    *,
    requester: str,
    connection: str,
    command: str | None,
    reason: str,
    rule: str,
    approvers: Iterable[str],
    needed: int,
    grant_seconds: int,
    now: float,
    reason_required: bool = True,
    ttl: float = REQUEST_TTL,
    until: float | None = None,
) -> Request:
    """A fresh pending request; it expires ``ttl`` seconds from ``now``, or at ``until`` (when
    the time window of the rule that asked for it closes) if that is sooner.

    Raises:
        ApprovalError: no justification where the rule requires one, or a malformed rule.
    """
    reason = reason.strip()[:MAX_REASON]
    if reason_required and not reason:
        raise ApprovalError(
            f'rule {rule!r} needs a justification (--reason "…" or GATEHOUSE_REASON)'
        )
    groups = tuple(approvers) or DEFAULT_APPROVERS
    if needed < 1 or grant_seconds < 1 or ttl <= 0:
        raise ApprovalError(f"rule {rule!r}: approvals and grant must be positive")
    if until is not None and until <= now:
        raise ApprovalError(f"rule {rule!r}: its time window has closed")
    expires = now + ttl
    window_closes = until is not None and until < expires
    if until is not None and window_closes:
        expires = until
    return Request(
        id=request_id,
        requester=requester,
        connection=connection,
        command=command,
        reason=reason,
        rule=rule,
        approvers=groups,
        needed=needed,
        grant_seconds=grant_seconds,
        created=now,
        expires=expires,
        window_closes=window_closes,
    )


def refresh(request: Request, now: float) -> Request:
    """The request as it stands at ``now``: a pending one past its time is ``expired``."""
    if request.status == "pending" and now >= request.expires:
        return replace(request, status="expired", closed_at=request.expires)
    return request


def may_decide(request: Request, approver: str, groups: Iterable[str]) -> bool:
    """Whether ``approver`` (in ``groups``) is one who may decide ``request`` (status aside)."""
    return approver != request.requester and bool(set(groups) & set(request.approvers))


def may_revoke(request: Request, who: str, groups: Iterable[str]) -> bool:
    """Whether ``who`` may end the grant of ``request`` early: one of its approver groups (the
    requester included, when they approve too), or the requester giving it up."""
    return who == request.requester or bool(set(groups) & set(request.approvers))


def _check_decider(request: Request, approver: str, groups: Iterable[str], now: float) -> Request:
    current = refresh(request, now)
    if current.status == "expired":
        raise ApprovalError(f"{request.id} expired before it was decided; nothing is granted")
    if current.status != "pending":
        raise ApprovalError(f"{request.id} is already {current.status}")
    if approver == request.requester:
        raise ApprovalError(f"{request.id}: you cannot approve or deny your own request")
    if not set(groups) & set(request.approvers):
        raise ApprovalError(
            f"{request.id}: only members of {', '.join(request.approvers)} may decide it"
        )
    if any(v.approver == approver for v in current.votes):
        raise ApprovalError(f"{request.id}: you have already decided it")
    return current


def approve(
    request: Request, approver: str, groups: Iterable[str], comment: str, now: float
) -> Request:
    """Record ``approver``'s approval; the request is ``approved`` once enough people agreed.

    Raises:
        ApprovalError: not pending, self-approval, not an approver, or already decided by them.
    """
    current = _check_decider(request, approver, groups, now)
    vote = Vote(approver=approver, approve=True, comment=comment.strip()[:MAX_REASON], at=now)
    votes = (*current.votes, vote)
    if sum(1 for v in votes if v.approve) >= current.needed:
        return replace(current, votes=votes, status="approved", closed_at=now)
    return replace(current, votes=votes)


def deny(
    request: Request, approver: str, groups: Iterable[str], comment: str, now: float
) -> Request:
    """Deny ``request`` (one denial is final); the comment, the reason, is required.

    Raises:
        ApprovalError: no comment, not pending, self-decision, not an approver, or already decided.
    """
    comment = comment.strip()[:MAX_REASON]
    if not comment:
        raise ApprovalError("a denial needs a comment (the reason the requester is shown)")
    current = _check_decider(request, approver, groups, now)
    vote = Vote(approver=approver, approve=False, comment=comment, at=now)
    return replace(current, votes=(*current.votes, vote), status="denied", closed_at=now)


def cancel(request: Request, who: str, now: float) -> Request:
    """The requester withdraws a pending request.

    Raises:
        ApprovalError: not the requester, or no longer pending.
    """
    current = refresh(request, now)
    if who != request.requester:
        raise ApprovalError(f"{request.id}: only {request.requester} may cancel it")
    if current.status != "pending":
        raise ApprovalError(f"{request.id} is already {current.status}")
    return replace(current, status="cancelled", closed_at=now)


def grant_for(request: Request) -> Grant:
    """The grant an approved request gives, from the moment it was approved.

    Raises:
        ApprovalError: the request is not approved.
    """
    if request.status != "approved" or request.closed_at is None:
        raise ApprovalError(f"{request.id} is {request.status}, not approved")
    return Grant(
        request_id=request.id,
        user=request.requester,
        connection=request.connection,
        command=request.command,
        rule=request.rule,
        start=request.closed_at,
        end=request.closed_at + request.grant_seconds,
    )
