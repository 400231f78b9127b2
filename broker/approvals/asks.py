"""The values and words of approvals that every side shares: terms, asks, refusals, records."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from broker.approvals.core import Grant, Request, new_request
from broker.auditchain.events import Action
from broker.common.errors import ApprovalRequired, PolicyDenied

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_id() -> str:
    """``REQ-`` and 10 unambiguous characters (50 bits)."""
    return "REQ-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


class ApprovalPending(ApprovalRequired):
    """The request was made and is pending; the caller chose not to wait (`--no-wait`)."""

    def __init__(self, request: Request) -> None:
        self.request = request
        super().__init__(
            f"approval requested: {request.id} (needs {request.needed} of "
            f"{', '.join(request.approvers)})",
            rule=request.rule,
        )


class ApprovalRefused(PolicyDenied):
    """The request was denied, cancelled or expired, or does not cover what was asked."""


@dataclass(frozen=True)
class Terms:
    """What a rule asks of an approval."""

    rule: str
    """The rule that asked."""
    approvers: tuple[str, ...]
    """Groups whose members may decide."""
    needed: int
    """Distinct approvals needed."""
    grant_seconds: int
    """How long the grant lasts."""
    reason_required: bool = True
    """Whether the requester must justify the request."""
    until: float | None = None
    """When the time window of the rule closes (a request still pending then expires)."""


@dataclass(frozen=True)
class Ask:
    """How a requester asks for an approval when one is needed."""

    reason: str = ""
    """The justification."""
    request_id: str | None = None
    """An existing request to use (`run --request ID`) instead of a new one."""
    wait: bool = True
    """Wait for the decision; False raises :class:`ApprovalPending` once the request exists."""
    waiting: Callable[[Request], None] | None = None
    """Told once when the wait for a pending request begins."""
    gone: Callable[[], bool] | None = None
    """Whether the requester has left (the pending request is then cancelled)."""
    decided: Callable[[Request], None] | None = None
    """Told once when the wait ends, before anything is opened (the TUI holds keys for it)."""


class Moved(Exception):
    """The stored request changed between reading it and writing the decision."""


def expecting(seen: Request, decided: Request) -> Callable[[Request], Request]:
    """A store step that writes ``decided`` only if the request is still as ``seen``."""

    def step(current: Request) -> Request:
        if current != seen:
            raise Moved(seen.id)
        return decided

    return step


def named_request(
    request: Request | None, request_id: str, user: str, connection: str, command: str
) -> Request:
    """``request`` (read for ``run --request request_id``) if it is ``user``'s and for this
    exactly.

    Raises:
        ApprovalRefused: unknown, someone else's, another connection or another command.
    """
    if request is None or request.requester != user:
        raise ApprovalRefused(f"no request {request_id} of yours", rule="approval")
    if request.connection != connection:
        raise ApprovalRefused(
            f"{request_id} is for {request.connection!r}, not {connection!r}", rule=request.rule
        )
    if request.command is not None and request.command != command:
        raise ApprovalRefused(
            f"{request_id} approves exactly `{request.command}`, not this command",
            rule=request.rule,
        )
    return request


def grant_details(grant: Grant) -> dict[str, Any]:
    return {
        "request": grant.request_id,
        "rule": grant.rule,
        "command": grant.command or "",
        "start": iso(grant.start),
        "end": iso(grant.end),
    }


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def refusal(request: Request) -> str:
    """Why a closed request gives no access, as the requester reads it."""
    if request.status == "denied":
        vote = request.votes[-1]
        return f"{request.id} was denied by {vote.approver}: {vote.comment}"
    if request.status == "cancelled":
        return f"{request.id} was cancelled"
    if request.status == "expired":
        return f"{request.id} expired: {expiry_why(request)}"
    return f"{request.id} is {request.status}"


def expiry_why(request: Request) -> str:
    """Why a pending request expired, in words."""
    if request.window_closes:
        return f"the time window of rule {request.rule!r} closed before anyone decided it"
    return "nobody decided it in time"


def expired_details(request: Request) -> dict[str, Any]:
    """The details of an ``approval.expired`` record."""
    return {
        "request": request.id,
        "requester": request.requester,
        "decision": "expired",
        "rule": request.rule,
        "command": request.command or "",
        "why": "time window closed" if request.window_closes else "not decided in time",
        "expires": iso(request.expires),
    }


def requested_details(request: Request, *, held: bool = False) -> dict[str, Any]:
    """The details of an ``approval.requested`` record."""
    details: dict[str, Any] = {
        "request": request.id,
        "requester": request.requester,
        "decision": "requested",
        "rule": request.rule,
        "command": request.command or "",
        "justification": request.reason,
        "approvers": list(request.approvers),
        "needed": request.needed,
        "grant_seconds": request.grant_seconds,
        "expires": iso(request.expires),
    }
    if held:
        details["held"] = "terminal"
    return details


def decision_record(request: Request, *, approved: bool) -> tuple[Action, dict[str, Any]]:
    """The action and details of the record of the last vote on ``request``."""
    vote = request.votes[-1]
    details = {
        "request": request.id,
        "requester": request.requester,
        "rule": request.rule,
        "command": request.command or "",
        "justification": request.reason,
        "decision": "approve" if approved else "deny",
        "comment": vote.comment,
        "approvals": f"{len(request.approved_by)}/{request.needed}",
    }
    if not approved:
        return Action.APPROVAL_DENIED, details
    if request.status == "approved":
        return Action.APPROVAL_APPROVED, details
    return Action.APPROVAL_VOTED, details


def held_request(
    user: str, connection: str, command: str, terms: Terms, now: float, ttl: float
) -> Request:
    """A request for a command line held at a terminal prompt (pure; store it separately).

    There is no one to ask for a justification at a prompt: the request has none, and its
    audit record says it was held.
    """
    return new_request(
        new_id(),
        requester=user,
        connection=connection,
        command=command,
        reason="",
        rule=terms.rule,
        approvers=terms.approvers,
        needed=terms.needed,
        grant_seconds=terms.grant_seconds,
        now=now,
        reason_required=False,
        ttl=ttl,
        until=terms.until,
    )
